"""A REST API described by a manifest (see manifest.py and docs/manifests/README.md).

Reading keeps a resumable cursor in one of two shapes:

* A *pass* (incremental modes `client_filter`, `query_param`, `none`): every page of the list is read,
  and only records changed after the watermark are handed on. Mid-pass the cursor holds the page
  position, so a crash resumes on the same page. At the end the watermark moves to the newest change
  seen, but never past "pass start - lookback": a record edited while we were paging (on a page we
  had already read) has a newer time than the pass start, so the next pass still finds it. Ids read at
  exactly the watermark are remembered so an idle poll does not hand them on again.
* A *feed* (`resume_cursor`): the API's own pagination cursor is a change-feed position (an
  incremental export). The cursor of every page is the API's next position, and at the end of the
  stream the last position is kept, so the next read returns only newer changes.

Writing routes each item to the manifest's endpoints: linked records (with a target id) to
`update`, others to `upsert` (matched by the API on the match field) or else `create`. Batch
endpoints report per-item results at JMESPath locations; a batch the API rejects as a whole is split
to isolate the rejected items, which get the API's own message while the rest are written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from jmespath.exceptions import JMESPathError
from pydantic import Field, field_validator

from connectors.base import (
    AuthenticationError,
    ChangePage,
    ConnectionConfig,
    ConnectionSettings,
    ConnectorClient,
    ConnectorError,
    FieldSchema,
    FieldType,
    ObjectSchema,
    PicklistOption,
    SourceRecord,
    WriteItem,
    WriteResult,
)
from connectors.http import (
    HttpAuthenticationError,
    HttpClient,
    HttpError,
    HttpResponse,
    basic_auth_header,
    default_error_message,
)
from connectors.providers.rest_manifest.manifest import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CursorPagination,
    DeclaredOption,
    ItemResults,
    JobSpec,
    LinkHeaderPagination,
    Manifest,
    ManifestError,
    NoPagination,
    ObjectSpec,
    OffsetPagination,
    PageNumberPagination,
    ParamValue,
    TimeFormat,
    WriteOp,
    WriteSpec,
    compiled,
    parse_manifest,
)

Position = int | str | None
WriteKind = Literal["create", "update", "upsert"]
CURSOR_VERSION = 1
# Ids read at the watermark's exact time are remembered so idle polls skip them; past this many the
# list is dropped and those few records are simply handed on once more.
MAX_SEEN_AT_WATERMARK = 500
_JOB_POLL_FIRST_SECONDS = 0.5
_JOB_POLL_MAX_SECONDS = 5.0
_LINK_PART = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


class RestManifestConfig(ConnectionConfig):
    base_url: str = Field(
        default="",
        title="Base URL override",
        description="Optional: replaces the manifest's base_url (e.g. to point at a sandbox or a region).",
    )
    manifest: str = Field(
        description="The API's manifest, JSON or YAML (see docs/manifests/README.md).",
        json_schema_extra={"form_widget": "textarea"},
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
            raise ValueError("must be an http(s) URL, or empty to use the manifest's base_url")
        return value

    @field_validator("manifest")
    @classmethod
    def _valid_manifest(cls, value: str) -> str:
        parse_manifest(value)  # ManifestError is a ValueError: each message names the bad key
        return value


# -- small helpers ------------------------------------------------------------------------------------


def _truthy(value: Any) -> bool:
    """JMESPath's notion of true: false, null, "", [] and {} are false; 0 is true."""
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | dict) and not value)


def _text(value: Any) -> str | None:
    """A value found in a response, as a message a person can read."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        parts = [_text(v) for v in value]
        return "; ".join(p for p in parts if p) or None
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _scalar_id(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def parse_time(value: Any, fmt: str) -> datetime | None:
    """A modification time from a record: ISO 8601 text or epoch seconds/milliseconds."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    numeric = isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value.strip())
    )
    if fmt in ("epoch_s", "epoch_ms") or (fmt == "auto" and numeric):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        # In "auto", a number too large to be seconds of this era is milliseconds.
        if fmt == "epoch_ms" or (fmt == "auto" and abs(number) > 1e11):
            number /= 1000
        return datetime.fromtimestamp(number, tz=UTC)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(moment: datetime, fmt: TimeFormat) -> str:
    """A watermark as an API parameter. Rounded down, so an API with coarser times repeats, never skips."""
    moment = moment.astimezone(UTC)
    if fmt == "epoch_s":
        return str(int(moment.timestamp() // 1))
    if fmt == "epoch_ms":
        delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        return str((delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _from_iso(value: Any, what: str) -> datetime:
    parsed = parse_time(value, "iso8601") if isinstance(value, str) else None
    if parsed is None:
        raise ConnectorError(f"The stored cursor has a bad {what}: {value!r}", permanent=True)
    return parsed


def parse_link_header(value: str | None, rel: str) -> str | None:
    """The URL of the `rel` link in an RFC 8288 Link header."""
    if not value:
        return None
    for match in _LINK_PART.finditer(value):
        url, params = match.group(1), match.group(2)
        for param in params.split(";"):
            name, _, raw = param.strip().partition("=")
            if name.strip().lower() == "rel" and rel in raw.strip().strip('"').split():
                return url.strip()
    return None


def _json_ready(value: Any) -> Any:
    """Values the engine may hand us (dates, decimals, tuples) as JSON the API can take."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_ready(v) for v in value]
    return value


def _put(payload: MutableMapping[str, Any], key: str, value: Any, expand: bool) -> None:
    """Set `key` in the body; "a.b" nests as {"a": {"b": ...}} when `expand`."""
    parts = key.split(".") if expand else [key]
    target = payload
    for part in parts[:-1]:
        existing = target.get(part)
        if not isinstance(existing, dict):
            existing = {}
            target[part] = existing
        target = existing
    last = parts[-1]
    if isinstance(value, dict) and isinstance(target.get(last), dict):
        # A whole object and dotted keys into it both arrive: keep both.
        target[last] = {**target[last], **value}
    else:
        target[last] = value


def _typed_id(target_id: str, id_type: str) -> Any:
    if id_type == "number" or (id_type == "auto" and target_id.isdigit()):
        try:
            return int(target_id)
        except ValueError:
            return target_id
    return target_id


def _infer_type(values: Sequence[Any]) -> FieldType:
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return "string"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "number"
    if all(isinstance(v, dict | list) for v in present):
        return "json"
    if all(isinstance(v, str) for v in present):
        if all(_DATETIME.match(v) and parse_time(v, "iso8601") for v in present):
            return "datetime"
        if all(_DATE.match(v) for v in present):
            return "date"
        if all(_EMAIL.match(v) for v in present):
            return "email"
    return "string"


# -- cursors ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pass:
    """A read of every page in progress."""

    start: datetime
    position: Position = None
    newest: datetime | None = None
    newest_ids: frozenset[str] = frozenset()

    def observe(self, records: Sequence[SourceRecord]) -> _Pass:
        newest, ids = self.newest, set(self.newest_ids)
        for record in records:
            if newest is None or record.updated_at > newest:
                newest, ids = record.updated_at, {record.id}
            elif record.updated_at == newest:
                ids.add(record.id)
        return replace(self, newest=newest, newest_ids=frozenset(ids))


@dataclass(frozen=True)
class _PassCursor:
    watermark: datetime | None = None
    seen: frozenset[str] = frozenset()
    current: _Pass | None = None

    def is_new(self, record: SourceRecord) -> bool:
        if self.watermark is None:
            return True
        if record.updated_at != self.watermark:
            return record.updated_at > self.watermark
        return record.id not in self.seen

    def finished(self, done: _Pass, lookback: timedelta) -> _PassCursor:
        """The cursor after a complete pass (see the module docstring for why it stops at start - lookback)."""
        if done.newest is None:
            return _PassCursor(self.watermark, self.seen)
        cap = done.start - lookback
        candidate, ids = (done.newest, done.newest_ids) if done.newest <= cap else (cap, frozenset())
        if self.watermark is not None:
            if candidate < self.watermark:
                return _PassCursor(self.watermark, self.seen)
            if candidate == self.watermark:
                ids = ids | self.seen
        return _PassCursor(candidate, ids)

    def encode(self) -> str:
        data: dict[str, Any] = {"v": CURSOR_VERSION}
        if self.watermark is not None:
            data["w"] = _iso(self.watermark)
            if self.seen and len(self.seen) <= MAX_SEEN_AT_WATERMARK:
                data["seen"] = sorted(self.seen)
        if self.current is not None:
            current: dict[str, Any] = {"start": _iso(self.current.start), "pos": self.current.position}
            if self.current.newest is not None:
                current["newest"] = _iso(self.current.newest)
                if len(self.current.newest_ids) <= MAX_SEEN_AT_WATERMARK:
                    current["ids"] = sorted(self.current.newest_ids)
            data["pass"] = current
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> _PassCursor:
        watermark = _from_iso(data["w"], "watermark") if data.get("w") is not None else None
        seen = frozenset(str(i) for i in data.get("seen") or [])
        raw = data.get("pass")
        if raw is None:
            return cls(watermark, seen)
        if not isinstance(raw, dict) or not isinstance(raw.get("pos"), int | str | type(None)):
            raise ConnectorError(f"The stored cursor has a bad page position: {raw!r}", permanent=True)
        current = _Pass(
            start=_from_iso(raw.get("start"), "pass start"),
            position=raw.get("pos"),
            newest=_from_iso(raw["newest"], "newest time") if raw.get("newest") is not None else None,
            newest_ids=frozenset(str(i) for i in raw.get("ids") or []),
        )
        return cls(watermark, seen, current)


def _decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None or not cursor.strip():
        return None
    try:
        data = json.loads(cursor)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        raise ConnectorError(f"Not a REST manifest cursor: {cursor!r}", permanent=True)
    return data


def _feed_cursor(position: Position) -> str:
    return json.dumps({"v": CURSOR_VERSION, "feed": position}, separators=(",", ":"))


@dataclass(frozen=True)
class _Entry:
    index: int
    item: WriteItem


# -- the client ---------------------------------------------------------------------------------------


class RestManifestClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = RestManifestConfig.model_validate(dict(settings.config))
        try:
            self.manifest: Manifest = parse_manifest(self.config.manifest)
        except ManifestError as exc:  # pragma: no cover - the config validator already parsed it
            raise ConnectorError(f"The manifest is not valid: {exc}", permanent=True) from None
        self.base_url = (self.config.base_url or self.manifest.base_url).rstrip("/")
        self._secrets = {
            name: settings.credentials.get(name, "") or "" for name in self.manifest.secret_names()
        }
        secret_values = [value for value in self._secrets.values() if value]
        auth = self.manifest.auth
        if isinstance(auth, BasicAuth):
            # The encoded header embeds the password too; keep it out of anything we log.
            username = self._username(auth)
            password = self._secrets.get(auth.password_secret, "")
            if password:
                secret_values.append(basic_auth_header(username, password).removeprefix("Basic "))
        self.http = HttpClient(
            self.base_url,
            auth=self._authenticate,
            secrets=secret_values,
            headers=dict(self.manifest.headers),
            system=self.manifest.name,
            error_message=self._error_message,
        )
        self._origin = _origin(self.base_url)
        self._schemas: dict[str, ObjectSchema] = {}

    def object_labels(self) -> dict[str, str]:
        """The objects this connection's manifest declares (the provider class cannot know them)."""
        return {
            name: spec.label or name.replace("_", " ").capitalize()
            for name, spec in self.manifest.objects.items()
        }

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        self._require_secrets()
        label: str | None = None
        try:
            if self.manifest.test is not None:
                response = self._call("GET", self.manifest.test.path, params=dict(self.manifest.test.params))
                if self.manifest.test.label_path:
                    label = _text(
                        self._search(self.manifest.test.label_path, response.data, "test.label_path")
                    )
            else:
                name, spec = next(iter(self.manifest.objects.items()))
                self._fetch(name, spec, None, page_size=1, extra_params={})
        except HttpAuthenticationError as exc:
            detail = self._error_message(exc.response) or default_error_message(exc.response) or exc.message
            raise AuthenticationError(
                f"{self.manifest.name} rejected the credentials: {detail}", status=exc.status
            ) from None
        host = urlsplit(self.base_url).hostname or self.base_url
        return f"{label or self.manifest.name} at {host}"

    def discover_schema(self, object_name: str) -> ObjectSchema:
        spec = self._object(object_name)
        cached = self._schemas.get(object_name)
        if cached is not None:
            return cached
        declared = spec.schema_spec.fields
        if declared is not None:
            fields = tuple(
                FieldSchema(
                    name=f.name,
                    label=f.label or f.name.replace("_", " ").capitalize(),
                    type=f.type,
                    required=f.required,
                    read_only=f.read_only,
                    options=tuple(
                        PicklistOption(value=o.value, label=o.label or o.value)
                        if isinstance(o, DeclaredOption)
                        else PicklistOption(value=o, label=o)
                        for o in f.options
                    ),
                )
                for f in declared
            )
        else:
            fields = self._inferred_fields(object_name, spec)
        schema = ObjectSchema(name=object_name, label=self.object_labels()[object_name], fields=fields)
        self._schemas[object_name] = schema
        return schema

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        spec = self._object(object_name)
        self._require_secrets()
        data = _decode_cursor(cursor)
        mode = spec.incremental.mode
        if mode == "resume_cursor":
            if data is not None and "feed" not in data:
                raise ConnectorError(
                    f"The stored cursor of {object_name} is from another incremental mode; reset the "
                    "workflow's cursor to read again.",
                    permanent=True,
                )
            position = data.get("feed") if data is not None else None
            if not isinstance(position, int | str | type(None)):
                raise ConnectorError(
                    f"The stored cursor has a bad feed position: {position!r}", permanent=True
                )
            yield from self._read_feed(object_name, spec, position, page_size)
            return
        if data is not None and "feed" in data:
            raise ConnectorError(
                f"The stored cursor of {object_name} is from the resume_cursor mode; reset the workflow's "
                "cursor to read again.",
                permanent=True,
            )
        state = _PassCursor.decode(data) if data is not None else _PassCursor()
        yield from self._read_pass(object_name, spec, state, page_size)

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        spec = self._object(object_name)
        if spec.write is None:
            raise ConnectorError(
                f"The manifest declares no write endpoints for {object_name}; it can only be a source.",
                permanent=True,
            )
        self._require_secrets()
        write = spec.write
        results: dict[int, WriteResult] = {}
        routed: dict[WriteKind, list[_Entry]] = {"update": [], "upsert": [], "create": []}
        for index, item in enumerate(items):
            kind = self._route(object_name, write, item, match_field)
            if isinstance(kind, WriteResult):
                results[index] = kind
            else:
                routed[kind].append(_Entry(index, item))
        for kind, entries in routed.items():
            op = getattr(write, kind)
            if not entries or op is None:
                continue
            if op.batch:
                for start in range(0, len(entries), op.max_batch):
                    results.update(self._send_batch(kind, op, entries[start : start + op.max_batch]))
            else:
                for entry in entries:
                    results[entry.index] = self._send_one(kind, op, entry)
        return [results[i] for i in range(len(items))]

    # -- HTTP --------------------------------------------------------------------------------------

    def _username(self, auth: BasicAuth) -> str:
        if auth.username is not None:
            return auth.username
        return self._secrets.get(auth.username_secret or "", "")

    def _require_secrets(self) -> None:
        missing = [name for name, value in self._secrets.items() if not value]
        if missing:
            raise AuthenticationError(
                f"The manifest's auth uses the secret(s) {', '.join(missing)}, which this connection does "
                "not have; add them to the connection's credentials.",
                status=None,
            )

    def _authenticate(self, headers: MutableMapping[str, str]) -> None:
        auth = self.manifest.auth
        if isinstance(auth, BearerAuth):
            headers["Authorization"] = f"Bearer {self._secret(auth.token_secret)}"
        elif isinstance(auth, BasicAuth):
            headers["Authorization"] = basic_auth_header(
                self._username(auth), self._secret(auth.password_secret)
            )
        elif isinstance(auth, ApiKeyAuth) and auth.location == "header":
            headers[auth.name] = f"{auth.prefix}{self._secret(auth.secret)}"

    def _secret(self, name: str) -> str:
        value = self._secrets.get(name, "")
        if not value:
            self._require_secrets()
        return value

    def _call(
        self,
        method: str,
        target: str,
        *,
        params: Mapping[str, ParamValue] | None = None,
        json_body: Any = None,
    ) -> HttpResponse:
        url = self.http.url_for(target)
        if _origin(url) != self._origin:
            # A link from a response may point anywhere; following it off the API's origin would let
            # the API (or whoever controls its data) steer our requests.
            raise ConnectorError(
                f"{self.manifest.name} pointed to another host ({urlsplit(url).hostname}); not following it.",
                permanent=True,
            )
        query: dict[str, Any] = {
            k: ("true" if v is True else "false" if v is False else v) for k, v in (params or {}).items()
        }
        auth = self.manifest.auth
        # A next-page link may already carry the key; sending it twice confuses some APIs.
        if (
            isinstance(auth, ApiKeyAuth)
            and auth.location == "query"
            and auth.name not in parse_qs(urlsplit(url).query)
        ):
            query[auth.name] = f"{auth.prefix}{self._secret(auth.secret)}"
        return self.http.request(method, target, params=query or None, json=json_body)

    def _error_message(self, response: HttpResponse) -> str | None:
        path = self.manifest.error_message_path
        if not path or response.data is None:
            return None
        try:
            return _text(compiled(path).search(response.data))
        except JMESPathError:
            return None

    def _failure_text(self, exc: HttpError) -> str:
        if exc.response is None:
            return exc.message
        return self._error_message(exc.response) or default_error_message(exc.response) or exc.message

    def _search(self, expression: str, data: Any, key: str) -> Any:
        try:
            return compiled(expression).search(data)
        except JMESPathError as exc:
            raise ConnectorError(
                f"Manifest {key} ({expression}) failed on the response: {exc}", permanent=True
            ) from None

    # -- reading -----------------------------------------------------------------------------------

    def _object(self, object_name: str) -> ObjectSpec:
        spec = self.manifest.objects.get(object_name)
        if spec is None:
            raise ConnectorError(
                f"The manifest has no object {object_name!r}; it declares {', '.join(self.manifest.objects)}.",
                permanent=True,
            )
        return spec

    @staticmethod
    def _url_positions(spec: ObjectSpec) -> bool:
        pagination = spec.list_endpoint.pagination
        if isinstance(pagination, LinkHeaderPagination):
            return True
        return (
            isinstance(pagination, CursorPagination)
            and pagination.next_url_path is not None
            and not pagination.cursor_param
        )

    def _fetch(
        self,
        object_name: str,
        spec: ObjectSpec,
        position: Position,
        *,
        page_size: int,
        extra_params: Mapping[str, ParamValue],
    ) -> tuple[list[Any], HttpResponse]:
        endpoint = spec.list_endpoint
        pagination = endpoint.pagination
        if isinstance(position, str) and self._url_positions(spec):
            # The API's own next-page URL already carries every parameter of the first request.
            response = self._call("GET", position)
        else:
            params: dict[str, ParamValue] = {**endpoint.params, **extra_params}
            if endpoint.page_size_param:
                params[endpoint.page_size_param] = page_size
            if isinstance(pagination, PageNumberPagination):
                params[pagination.param] = position if isinstance(position, int) else pagination.start
            elif isinstance(pagination, OffsetPagination):
                params[pagination.param] = position if isinstance(position, int) else 0
            elif (
                isinstance(pagination, CursorPagination) and pagination.cursor_param and position is not None
            ):
                params[pagination.cursor_param] = str(position)
            response = self._call("GET", endpoint.path, params=params)
        found = self._search(endpoint.record_path, response.data, f"objects.{object_name}.list.record_path")
        if found is None:
            return [], response
        if not isinstance(found, list):
            raise ConnectorError(
                f"objects.{object_name}.list.record_path ({endpoint.record_path}) selected "
                f"{type(found).__name__}, not a list of records.",
                permanent=True,
            )
        return found, response

    def _advance(
        self, spec: ObjectSpec, response: HttpResponse, position: Position, count: int, page_size: int
    ) -> tuple[Position, bool]:
        """(where the API says the next page is, whether to read it)."""
        pagination = spec.list_endpoint.pagination
        data = response.data
        sized = spec.list_endpoint.page_size_param is not None
        if isinstance(pagination, NoPagination):
            return None, False
        if isinstance(pagination, PageNumberPagination):
            current = position if isinstance(position, int) else pagination.start
            more = count > 0
            if pagination.has_more_path:
                more = more and _truthy(
                    self._search(pagination.has_more_path, data, "pagination.has_more_path")
                )
            elif pagination.total_pages_path:
                total = self._search(pagination.total_pages_path, data, "pagination.total_pages_path")
                more = more and isinstance(total, int | float) and current - pagination.start + 1 < total
            elif sized:
                more = more and count >= page_size
            return current + 1, more
        if isinstance(pagination, OffsetPagination):
            current = position if isinstance(position, int) else 0
            more = count > 0
            if pagination.has_more_path:
                more = more and _truthy(
                    self._search(pagination.has_more_path, data, "pagination.has_more_path")
                )
            elif sized:
                more = more and count >= page_size
            return current + count, more
        if isinstance(pagination, LinkHeaderPagination):
            link = parse_link_header(response.header("Link"), pagination.rel)
            return link, link is not None
        token: str | None
        if pagination.cursor_path:
            token = _scalar_id(self._search(pagination.cursor_path, data, "pagination.cursor_path"))
        else:
            url = _scalar_id(self._search(pagination.next_url_path or "", data, "pagination.next_url_path"))
            token = url
            if url and pagination.cursor_param:
                values = parse_qs(urlsplit(url).query).get(pagination.cursor_param)
                token = values[-1] if values else None
        if pagination.has_more_path:
            more = _truthy(self._search(pagination.has_more_path, data, "pagination.has_more_path"))
        elif pagination.end_path:
            more = not _truthy(self._search(pagination.end_path, data, "pagination.end_path"))
        else:
            more = token is not None and count > 0
        if more and (token is None or token == position):
            raise ConnectorError(
                f"{self.manifest.name} said there are more pages but gave no new cursor.", permanent=False
            )
        return token, more

    def _record(self, object_name: str, spec: ObjectSpec, raw: Any, read_at: datetime) -> SourceRecord:
        if not isinstance(raw, dict):
            raise ConnectorError(
                f"objects.{object_name}.list.record_path selected a {type(raw).__name__} where a record "
                "(a JSON object) was expected.",
                permanent=True,
            )
        record_id = _scalar_id(self._search(spec.id_field, raw, f"objects.{object_name}.id_field"))
        if record_id is None:
            raise ConnectorError(
                f"A {object_name} record has no id at {spec.id_field}: {json.dumps(raw, default=str)[:200]}",
                permanent=True,
            )
        updated: datetime | None = None
        if spec.updated_field is not None:
            value = self._search(spec.updated_field, raw, f"objects.{object_name}.updated_field")
            updated = parse_time(value, spec.updated_format)
            if updated is None and spec.incremental.mode in ("client_filter", "query_param"):
                raise ConnectorError(
                    f"{object_name} {record_id} has no readable modification time at {spec.updated_field} "
                    f"({value!r}), so it cannot be read incrementally.",
                    permanent=True,
                )
        # Without a modification time, when we read the record is the honest stand-in.
        return SourceRecord(id=record_id, updated_at=updated or read_at, fields=dict(raw))

    def _read_pass(
        self, object_name: str, spec: ObjectSpec, state: _PassCursor, page_size: int
    ) -> Iterator[ChangePage]:
        incremental = spec.incremental
        size = max(1, min(page_size, spec.list_endpoint.max_page_size))
        current = state.current or _Pass(start=datetime.now(UTC))
        state = replace(state, current=current)
        extra: dict[str, ParamValue] = {}
        if incremental.mode == "query_param" and incremental.param:
            if state.watermark is not None:
                extra[incremental.param] = format_time(state.watermark, incremental.format)
            elif incremental.initial is not None:
                extra[incremental.param] = incremental.initial
        while True:
            raws, response = self._fetch(
                object_name, spec, current.position, page_size=size, extra_params=extra
            )
            read_at = datetime.now(UTC)
            records = [self._record(object_name, spec, raw, read_at) for raw in raws]
            if incremental.mode != "none":
                current = current.observe(records)
                records = [r for r in records if state.is_new(r)]
            following, more = self._advance(spec, response, current.position, len(raws), size)
            if more:
                current = replace(current, position=following)
                state = replace(state, current=current)
                yield ChangePage(records=records, cursor=state.encode(), has_more=True)
                continue
            if incremental.mode == "none":
                # A full read every time: the next read starts again from the first page.
                yield ChangePage(records=records, cursor=None, has_more=False)
                return
            done = state.finished(current, timedelta(seconds=incremental.lookback_seconds))
            yield ChangePage(records=records, cursor=done.encode(), has_more=False)
            return

    def _read_feed(
        self, object_name: str, spec: ObjectSpec, position: Position, page_size: int
    ) -> Iterator[ChangePage]:
        incremental = spec.incremental
        size = max(1, min(page_size, spec.list_endpoint.max_page_size))
        while True:
            extra: dict[str, ParamValue] = {}
            if position is None and incremental.param and incremental.initial is not None:
                extra[incremental.param] = incremental.initial
            raws, response = self._fetch(object_name, spec, position, page_size=size, extra_params=extra)
            read_at = datetime.now(UTC)
            records = [self._record(object_name, spec, raw, read_at) for raw in raws]
            following, more = self._advance(spec, response, position, len(raws), size)
            # At the end of the stream the API's last position (or ours) is where newer changes start.
            resume = following if following is not None else position
            yield ChangePage(records=records, cursor=_feed_cursor(resume), has_more=more)
            if not more:
                return
            position = following

    def _inferred_fields(self, object_name: str, spec: ObjectSpec) -> tuple[FieldSchema, ...]:
        size = max(1, min(spec.schema_spec.sample_size, spec.list_endpoint.max_page_size))
        raws, _ = self._fetch(object_name, spec, None, page_size=size, extra_params={})
        samples = [raw for raw in raws if isinstance(raw, dict)][: spec.schema_spec.sample_size]
        values: dict[str, list[Any]] = {}
        for raw in samples:
            for key, value in raw.items():
                values.setdefault(str(key), []).append(value)
        fixed = {spec.id_field, spec.updated_field}
        return tuple(
            FieldSchema(
                name=name,
                label=name.replace("_", " ").capitalize(),
                type=_infer_type(found),
                read_only=name in fixed,
            )
            for name, found in values.items()
        )

    # -- writing -----------------------------------------------------------------------------------

    def _route(
        self, object_name: str, write: WriteSpec, item: WriteItem, match_field: str
    ) -> WriteKind | WriteResult:
        match_value = item.fields.get(match_field)
        has_match = match_value is not None and str(match_value).strip() != ""
        if item.target_id:
            if write.update is not None:
                return "update"
            if write.upsert is not None and has_match:
                return "upsert"
            return WriteResult(
                key=item.key,
                ok=False,
                error=f"The manifest has no update endpoint for {object_name}, and the record has no "
                f"{match_field} to upsert it by.",
            )
        if write.upsert is not None:
            accepted = write.upsert.match_fields
            if accepted is not None and match_field not in accepted:
                return WriteResult(
                    key=item.key,
                    ok=False,
                    error=f"{self.manifest.name} upserts {object_name} by {' or '.join(accepted)}, not {match_field}.",
                )
            if not has_match:
                return WriteResult(
                    key=item.key,
                    ok=False,
                    error=f"No {match_field} to match the {self.manifest.name} record on; it was not written.",
                )
            return "upsert"
        if write.create is not None:
            return "create"
        return WriteResult(
            key=item.key,
            ok=False,
            error=f"The manifest has no create or upsert endpoint for new {object_name}.",
        )

    @staticmethod
    def _payload(op: WriteOp, item: WriteItem) -> dict[str, Any]:
        body = op.body
        if body.fields is not None:
            pairs = [
                (api_key, item.fields[source])
                for api_key, source in body.fields.items()
                if source in item.fields
            ]
        else:
            pairs = list(item.fields.items())
        payload: dict[str, Any] = {}
        # Constants come last: a value the manifest fixes is always sent as written.
        for key, value in [*pairs, *body.constants.items()]:
            _put(payload, key, _json_ready(value), body.expand_dotted_keys)
        if item.target_id and body.id_key:
            _put(payload, body.id_key, _typed_id(item.target_id, body.id_type), body.expand_dotted_keys)
        return payload

    def _send_one(self, kind: WriteKind, op: WriteOp, entry: _Entry) -> WriteResult:
        item = entry.item
        path = op.path
        if "{id}" in path:
            if not item.target_id:
                return WriteResult(
                    key=item.key, ok=False, error=f"The {kind} endpoint needs the record's id."
                )
            path = path.replace("{id}", quote(item.target_id, safe=""))
        payload = self._payload(op, item)
        body = {op.body.wrap: payload} if op.body.wrap else payload
        try:
            response = self._call(op.method, path, json_body=body)
        except HttpError as exc:
            if exc.permanent and exc.response is not None:
                return WriteResult(key=item.key, ok=False, error=self._failure_text(exc))
            raise
        target = item.target_id
        if op.id_path:
            target = _scalar_id(self._search(op.id_path, response.data, f"{kind}.id_path")) or target
        if op.created_path:
            created = _truthy(self._search(op.created_path, response.data, f"{kind}.created_path"))
        else:
            created = kind == "create" or (kind == "upsert" and response.status == 201)
        return WriteResult(
            key=item.key, ok=True, target_id=target, action="created" if created else "updated"
        )

    def _send_batch(self, kind: WriteKind, op: WriteOp, entries: Sequence[_Entry]) -> dict[int, WriteResult]:
        payloads = [self._payload(op, entry.item) for entry in entries]
        body: Any = {op.body.wrap: payloads} if op.body.wrap else payloads
        try:
            response = self._call(op.method, op.path, json_body=body)
        except HttpError as exc:
            if not exc.permanent or exc.response is None:
                raise
            if op.on_batch_error == "split" and len(entries) > 1:
                # The API refused the whole batch for what may be one item; halving isolates the bad
                # items in O(bad * log n) calls while the good ones are written.
                middle = len(entries) // 2
                results = self._send_batch(kind, op, entries[:middle])
                results.update(self._send_batch(kind, op, entries[middle:]))
                return results
            message = self._failure_text(exc)
            return {e.index: WriteResult(key=e.item.key, ok=False, error=message) for e in entries}
        data = response.data
        if op.job is not None:
            data = self._wait_for_job(op.job, data)
        if op.results is None:  # pragma: no cover - the manifest validator requires results for batches
            raise ConnectorError(f"The {kind} batch endpoint declares no results.", permanent=True)
        return self._map_results(kind, op.results, entries, data)

    def _wait_for_job(self, job: JobSpec, data: Any) -> Any:
        pending = {p.lower() for p in job.pending}
        waited = 0.0
        delay = _JOB_POLL_FIRST_SECONDS
        while str(self._search(job.status_path, data, "job.status_path") or "").lower() in pending:
            if waited >= job.max_wait_seconds:
                raise ConnectorError(
                    f"{self.manifest.name}'s job was still running after {job.max_wait_seconds:.0f} s; "
                    "the batch will be retried.",
                    permanent=False,
                )
            url = _scalar_id(self._search(job.url_path, data, "job.url_path"))
            if url is None:
                raise ConnectorError(
                    f"{self.manifest.name}'s job has no URL at {job.url_path} to poll.", permanent=False
                )
            self.http.sleep(delay)
            waited += delay
            delay = min(delay * 2, _JOB_POLL_MAX_SECONDS)
            data = self._call("GET", url).data
        return data

    def _map_results(
        self, kind: WriteKind, spec: ItemResults, entries: Sequence[_Entry], data: Any
    ) -> dict[int, WriteResult]:
        raw_results = self._search(spec.path, data, f"{kind}.results.path")
        results: dict[int, WriteResult] = {}
        if isinstance(raw_results, list):
            for position, raw in enumerate(raw_results):
                index: Any = position
                if spec.index_path is not None:
                    index = self._search(spec.index_path, raw, f"{kind}.results.index_path")
                if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(entries):
                    continue
                entry = entries[index]
                if entry.index not in results:
                    results[entry.index] = self._item_result(kind, spec, entry, raw)
        for entry in entries:
            if entry.index not in results:
                results[entry.index] = WriteResult(
                    key=entry.item.key,
                    ok=False,
                    error=f"{self.manifest.name} reported no result for this record.",
                )
        return results

    def _item_result(self, kind: WriteKind, spec: ItemResults, entry: _Entry, raw: Any) -> WriteResult:
        error = (
            _text(self._search(spec.error_path, raw, f"{kind}.results.error_path"))
            if spec.error_path
            else None
        )
        if spec.ok_path is not None:
            ok = _truthy(self._search(spec.ok_path, raw, f"{kind}.results.ok_path"))
        else:
            ok = error is None
        if not ok:
            return WriteResult(
                key=entry.item.key, ok=False, error=error or f"Rejected by {self.manifest.name}."
            )
        target = entry.item.target_id
        if spec.id_path is not None:
            target = _scalar_id(self._search(spec.id_path, raw, f"{kind}.results.id_path")) or target
        if spec.created_path is not None:
            created = _truthy(self._search(spec.created_path, raw, f"{kind}.results.created_path"))
        else:
            created = kind == "create"
        return WriteResult(
            key=entry.item.key, ok=True, target_id=target, action="created" if created else "updated"
        )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)
