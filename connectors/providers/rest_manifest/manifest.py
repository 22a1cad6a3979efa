"""The declarative manifest that describes a REST API to the generic REST connector.

A manifest is JSON or YAML text kept in the connection's config. It says where the API is, how to
authenticate (naming the connection's secrets, never holding them), and per object: how to list
records and page through them, where the records, their id and their modification time are in the
JSON, how to read incrementally, what the fields are, and which endpoints write. Paths into JSON
are JMESPath; bodies are built by plain key mapping. Nothing in a manifest is evaluated as code.

`parse_manifest` validates everything once and raises `ManifestError` whose messages each name the
offending key (`objects.users.list.pagination.cursor_path: ...`), so a person can fix the text.
See docs/manifests/README.md for the format with examples.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from connectors.base import FieldType

MAX_MANIFEST_CHARS = 200_000
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_DEFAULT_PENDING = ("queued", "working", "pending", "running", "in_progress")


class ManifestError(ValueError):
    """The manifest cannot be used; `messages` lists every problem, each starting with its key."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _jmespath(value: str) -> str:
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        raise ValueError(f"not a valid JMESPath expression ({exc})") from None
    return value


JMESPath = Annotated[str, AfterValidator(_jmespath)]


def _relative_path(value: str) -> str:
    # Paths stay relative to the base URL, so overriding the base URL (e.g. a sandbox) moves everything.
    if not value.startswith("/"):
        raise ValueError("must be a path starting with '/', relative to base_url")
    return value


ApiPath = Annotated[str, AfterValidator(_relative_path)]
ParamValue = str | int | float | bool


class _Model(BaseModel):
    # Unknown keys are errors: a misspelt key would otherwise be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- auth --------------------------------------------------------------------------------------------


class BearerAuth(_Model):
    type: Literal["bearer"]
    token_secret: str = Field(description="Name of the connection secret holding the token.")


class BasicAuth(_Model):
    type: Literal["basic"]
    username: str | None = None
    username_secret: str | None = None
    password_secret: str

    @model_validator(mode="after")
    def _one_username(self) -> BasicAuth:
        if (self.username is None) == (self.username_secret is None):
            raise ValueError("give exactly one of username (text) or username_secret (a secret's name)")
        return self


class ApiKeyAuth(_Model):
    type: Literal["api_key"]
    secret: str = Field(description="Name of the connection secret holding the key.")
    location: Literal["header", "query"] = Field(default="header", alias="in")
    name: str = Field(description="Header or query parameter name, e.g. X-API-Key or api_key.")
    prefix: str = ""


class NoAuth(_Model):
    type: Literal["none"]


Auth = Annotated[BearerAuth | BasicAuth | ApiKeyAuth | NoAuth, Field(discriminator="type")]


# -- reading -----------------------------------------------------------------------------------------


class NoPagination(_Model):
    type: Literal["none"]


class PageNumberPagination(_Model):
    type: Literal["page_number"]
    param: str = "page"
    start: int = Field(default=1, ge=0)
    has_more_path: JMESPath | None = None
    total_pages_path: JMESPath | None = None


class OffsetPagination(_Model):
    type: Literal["offset"]
    param: str = "offset"
    has_more_path: JMESPath | None = None


class CursorPagination(_Model):
    """The next page is named by the response: a token (`cursor_path`) or a URL (`next_url_path`)."""

    type: Literal["cursor"]
    cursor_path: JMESPath | None = None
    next_url_path: JMESPath | None = None
    cursor_param: str | None = None
    has_more_path: JMESPath | None = None
    end_path: JMESPath | None = None

    @model_validator(mode="after")
    def _token_or_url(self) -> CursorPagination:
        if (self.cursor_path is None) == (self.next_url_path is None):
            raise ValueError("give exactly one of cursor_path (a token) or next_url_path (a URL)")
        if self.cursor_path is not None and not self.cursor_param:
            raise ValueError("cursor_path needs cursor_param: the query parameter that sends the token back")
        if self.has_more_path is not None and self.end_path is not None:
            raise ValueError("give has_more_path or end_path, not both")
        return self


class LinkHeaderPagination(_Model):
    type: Literal["link_header"]
    rel: str = "next"


Pagination = Annotated[
    NoPagination | PageNumberPagination | OffsetPagination | CursorPagination | LinkHeaderPagination,
    Field(discriminator="type"),
]


class ListEndpoint(_Model):
    path: ApiPath
    params: dict[str, ParamValue] = Field(default_factory=dict)
    record_path: JMESPath = Field(description="Where the list of records is in the response body.")
    page_size_param: str | None = None
    max_page_size: int = Field(default=100, ge=1, le=10_000)
    pagination: Pagination = Field(default_factory=lambda: NoPagination(type="none"))


TimeFormat = Literal["iso8601", "epoch_s", "epoch_ms"]


class Incremental(_Model):
    """How to read only what changed.

    - `client_filter`: read every page, keep records whose updated field is past the watermark.
    - `query_param`: send the watermark in `param` (formatted per `format`), and also filter.
    - `resume_cursor`: the API's pagination cursor is itself a change feed position (e.g. an
      incremental export); it is stored at the end of the stream and continued from next time.
      `param`/`initial` are sent on the very first read only (e.g. start_time=0).
    - `none`: read everything every time.
    """

    mode: Literal["client_filter", "query_param", "resume_cursor", "none"]
    param: str | None = None
    format: TimeFormat = "iso8601"
    initial: ParamValue | None = None
    lookback_seconds: int = Field(default=300, ge=0, le=7 * 86_400)


class DeclaredOption(_Model):
    value: str
    label: str | None = None


class DeclaredField(_Model):
    name: str
    label: str | None = None
    type: FieldType = "string"
    required: bool = False
    read_only: bool = False
    options: list[str | DeclaredOption] = Field(default_factory=list)


class SchemaSpec(_Model):
    fields: list[DeclaredField] | None = None
    infer: bool = False
    sample_size: int = Field(default=100, ge=1, le=1000)

    @model_validator(mode="after")
    def _fields_or_infer(self) -> SchemaSpec:
        if self.fields is None and not self.infer:
            raise ValueError("declare fields, or set infer: true to infer them from a sample")
        if self.fields is not None:
            names = [f.name for f in self.fields]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"fields repeat the name(s) {', '.join(duplicates)}")
        return self


# -- writing -----------------------------------------------------------------------------------------


class BodySpec(_Model):
    """How one record becomes JSON: plain key mapping, no templates.

    `fields` maps API keys to record field names (default: the record's fields as they are);
    `constants` are always sent; a dotted key ("user_fields.tier") nests when `expand_dotted_keys`.
    `wrap` puts the record (or, for a batch, the list) under one key. `id_key` carries the target id.
    """

    wrap: str | None = None
    fields: dict[str, str] | None = None
    constants: dict[str, Any] = Field(default_factory=dict)
    id_key: str | None = None
    id_type: Literal["auto", "string", "number"] = "auto"
    expand_dotted_keys: bool = True


class ItemResults(_Model):
    """Where a batch response reports each item."""

    path: JMESPath
    index_path: JMESPath | None = None
    ok_path: JMESPath | None = None
    error_path: JMESPath | None = None
    id_path: JMESPath | None = None
    created_path: JMESPath | None = None


class JobSpec(_Model):
    """A batch answered with a job to poll until it is done (e.g. Zendesk's job_status)."""

    status_path: JMESPath
    url_path: JMESPath
    pending: list[str] = Field(default_factory=lambda: list(_DEFAULT_PENDING))
    max_wait_seconds: float = Field(default=120.0, gt=0, le=3600)


class WriteOp(_Model):
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    path: ApiPath
    batch: bool = False
    max_batch: int = Field(default=100, ge=1, le=1000)
    body: BodySpec = Field(default_factory=BodySpec)
    id_path: JMESPath | None = None
    created_path: JMESPath | None = None
    results: ItemResults | None = None
    job: JobSpec | None = None
    match_fields: list[str] | None = None
    on_batch_error: Literal["split", "fail_all"] = "split"

    @model_validator(mode="after")
    def _consistent(self) -> WriteOp:
        placeholders = _PLACEHOLDER.findall(self.path)
        if any(name != "id" for name in placeholders) or self.path.count("{") != len(placeholders):
            raise ValueError("path may only contain the placeholder {id} (the target record's id)")
        if self.batch:
            if self.results is None:
                raise ValueError("a batch endpoint needs results: where the response reports each item")
            if placeholders:
                raise ValueError("a batch endpoint cannot use {id} in its path; use body.id_key")
        elif self.results is not None or self.job is not None:
            raise ValueError("results and job are for batch endpoints (batch: true)")
        return self


class WriteSpec(_Model):
    create: WriteOp | None = None
    update: WriteOp | None = None
    upsert: WriteOp | None = None

    @model_validator(mode="after")
    def _something(self) -> WriteSpec:
        if self.create is None and self.update is None and self.upsert is None:
            raise ValueError("declare at least one of create, update, upsert")
        update = self.update
        if update is not None and "{id}" not in update.path and not update.body.id_key:
            raise ValueError("update must say where the record's id goes: {id} in its path or body.id_key")
        return self


class ObjectSpec(_Model):
    label: str | None = None
    list_endpoint: ListEndpoint = Field(alias="list")
    id_field: JMESPath = "id"
    updated_field: JMESPath | None = None
    updated_format: Literal["auto", "iso8601", "epoch_s", "epoch_ms"] = "auto"
    incremental: Incremental
    schema_spec: SchemaSpec = Field(default_factory=lambda: SchemaSpec(infer=True), alias="schema")
    write: WriteSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_mode(cls, data: Any) -> Any:
        """Without an explicit mode: filter on the updated field when there is one, else read all."""
        if not isinstance(data, dict):
            return data
        incremental = data.get("incremental")
        if incremental is None or (isinstance(incremental, dict) and "mode" not in incremental):
            mode = "client_filter" if data.get("updated_field") else "none"
            data = {**data, "incremental": {**(incremental or {}), "mode": mode}}
        return data

    @model_validator(mode="after")
    def _incremental_fits(self) -> ObjectSpec:
        mode = self.incremental.mode
        if mode in ("client_filter", "query_param") and self.updated_field is None:
            raise ValueError(f"incremental mode {mode} needs updated_field (where the modification time is)")
        if mode == "query_param" and not self.incremental.param:
            raise ValueError("incremental mode query_param needs incremental.param (the query parameter)")
        if mode == "resume_cursor" and self.list_endpoint.pagination.type not in ("cursor", "link_header"):
            raise ValueError("incremental mode resume_cursor needs cursor or link_header pagination")
        return self


class TestSpec(_Model):
    path: ApiPath
    params: dict[str, ParamValue] = Field(default_factory=dict)
    label_path: JMESPath | None = None


class Manifest(_Model):
    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=120)
    base_url: str
    auth: Auth = Field(default_factory=lambda: NoAuth(type="none"))
    headers: dict[str, str] = Field(default_factory=dict)
    error_message_path: JMESPath | None = None
    test: TestSpec | None = None
    objects: dict[str, ObjectSpec] = Field(min_length=1)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL, e.g. https://api.example.com/v2")
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _no_auth_headers(cls, value: dict[str, str]) -> dict[str, str]:
        # Credentials belong in `auth` (from secrets), never as text in the manifest.
        if any(name.lower() in ("authorization", "proxy-authorization", "cookie") for name in value):
            raise ValueError("put credentials in auth (referencing a secret), not in headers")
        return value

    def secret_names(self) -> list[str]:
        auth = self.auth
        if isinstance(auth, BearerAuth):
            return [auth.token_secret]
        if isinstance(auth, BasicAuth):
            return [name for name in (auth.username_secret, auth.password_secret) if name]
        if isinstance(auth, ApiKeyAuth):
            return [auth.secret]
        return []


@lru_cache(maxsize=2048)
def compiled(expression: str) -> ParsedResult:
    """A JMESPath expression compiled once per process (manifest paths are checked when parsing)."""
    return jmespath.compile(expression)


def _location(loc: tuple[int | str, ...], data: Any) -> str:
    """The key path of a pydantic error as the manifest's author wrote it.

    Pydantic names the member of a tagged union by its tag (`pagination.cursor.cursor_path`); the tag
    is the value of `type`, not a key of the text, so it is left out (`pagination.cursor_path`).
    """
    parts: list[str] = []
    current: Any = data
    for part in loc:
        if isinstance(current, dict) and part not in current and current.get("type") == part:
            continue
        parts.append(f"[{part}]" if isinstance(part, int) else str(part))
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
    return ".".join(parts).replace(".[", "[") or "manifest"


def _load_text(text: str) -> Any:
    stripped = text.strip()
    if not stripped:
        raise ManifestError(["manifest: is empty; paste the JSON or YAML manifest"])
    if len(stripped) > MAX_MANIFEST_CHARS:
        raise ManifestError([f"manifest: is longer than {MAX_MANIFEST_CHARS} characters"])
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except ValueError as exc:
            raise ManifestError([f"manifest: is not valid JSON ({exc})"]) from None
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML is installed with the connector
        raise ManifestError(["manifest: YAML manifests need PyYAML installed; use JSON instead"]) from None
    try:
        # safe_load builds only plain data (no Python objects from tags).
        return yaml.safe_load(stripped)
    except yaml.YAMLError as exc:
        raise ManifestError([f"manifest: is not valid YAML ({exc})"]) from None


def parse_manifest(text: str) -> Manifest:
    """Parse and validate manifest text (JSON or YAML)."""
    data = _load_text(text)
    if not isinstance(data, dict):
        raise ManifestError(["manifest: must be an object with name, base_url and objects"])
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            message = " ".join(error["msg"].removeprefix("Value error, ").split())
            messages.append(f"{_location(tuple(error['loc']), data)}: {message}")
        raise ManifestError(list(dict.fromkeys(messages))) from None
