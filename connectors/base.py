"""The connector contract: a provider describes a kind of system, a client talks to one connection.

Everything here is plain data so the engine and the services can use it without
knowing which system is on the other side.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import quote

from pydantic import BaseModel

FieldType = Literal[
    "string", "number", "boolean", "date", "datetime", "enumeration", "email", "phone", "json"
]


class ConnectorError(Exception):
    """An error from an external system, already turned into a message a person can act on.

    `permanent` errors (bad credentials, a rejected record) are not retried; transient ones
    (timeouts, 5xx, throttling) are.
    """

    def __init__(self, message: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status


def path_segment(value: object) -> str:
    """A record id made safe as one URL path segment: '/', '?', '#' and '%' are escaped, and the
    dot segments '.' and '..' (which a URL treats as moves between folders) are refused.

    Ids reach paths from webhook bodies and mapped fields, so an id such as "1/../../deals/5" must stay
    one segment of the resource it names and never address another one.
    """
    text = str(value)
    if text.strip() in ("", ".", ".."):
        raise ConnectorError(f"{text!r} is not a record id.", permanent=True)
    return quote(text, safe="")


class AuthenticationError(ConnectorError):
    def __init__(self, message: str, *, status: int | None = 401) -> None:
        super().__init__(message, permanent=True, status=status)


class ReconnectRequired(AuthenticationError):
    """The system no longer accepts the connection's grant (e.g. a revoked OAuth refresh token): only a
    person signing in again can fix it, so the connection shows "Needs reconnect" rather than "Failing"."""


@dataclass(frozen=True)
class PicklistOption:
    value: str
    label: str


@dataclass(frozen=True)
class FieldSchema:
    name: str
    label: str
    type: FieldType
    required: bool = False
    read_only: bool = False
    custom: bool = False
    options: tuple[PicklistOption, ...] = ()


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    label: str
    fields: tuple[FieldSchema, ...]

    def field(self, name: str) -> FieldSchema | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class SourceRecord:
    """One record as read from a system: its id, when it last changed, and its field values."""

    id: str
    updated_at: datetime
    fields: Mapping[str, Any]


@dataclass
class ChangePage:
    """One page of changed records, in change order.

    `cursor` is the opaque position to resume from once this page has been recorded;
    storing it and re-reading from it must never skip a record (repeats are allowed).
    """

    records: list[SourceRecord]
    cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class WriteItem:
    """A record to write. `key` is the caller's reference (the source record id)."""

    key: str
    fields: Mapping[str, Any]
    target_id: str | None = None


@dataclass(frozen=True)
class WriteResult:
    key: str
    ok: bool
    target_id: str | None = None
    action: Literal["created", "updated", "deleted", "failed"] = "failed"
    error: str | None = None


@dataclass(frozen=True)
class Capabilities:
    read: bool = True
    incremental: bool = True
    create: bool = True
    update: bool = True
    upsert_key: str | None = None
    batch_size: int = 100
    webhooks: bool = False
    # Off unless the client really implements `delete` (and `find` for lookups by a field): feasibility must
    # not promise what the connector cannot do (connectors/feasibility.py).
    delete: bool = False
    find: bool = False


@dataclass(frozen=True)
class RateLimit:
    """A system's documented request budget: at most `requests` in any window of `interval_seconds`.

    The governor (connectors/ratelimit.py) lets a request go as soon as fewer than `requests` others fall
    in the window ending at its moment (a log of the window's requests, shared by every worker): a
    window's whole allowance at once, then one request each time the oldest leaves the window, and no
    window of `interval_seconds` ever above the limit. `burst` is no longer used by the governor; it is
    still accepted (and validated) so that stored overrides keep working.
    """

    requests: int
    interval_seconds: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0:
            raise ValueError("interval_seconds must be more than 0")
        if not 1 <= self.burst < self.requests:
            raise ValueError(
                f"burst must be at least 1 and less than requests ({self.requests}); got {self.burst}"
            )

    @property
    def refill_per_second(self) -> float:
        return (self.requests - self.burst) / self.interval_seconds

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RateLimit:
        """From a stored override: {"requests": 190, "interval_seconds": 10, "burst": 10}."""
        unknown = set(data) - {"requests", "interval_seconds", "burst"}
        if unknown:
            raise ValueError(f"unknown rate limit keys: {', '.join(sorted(unknown))}")
        try:
            requests = data["requests"]
            interval = data["interval_seconds"]
        except KeyError as exc:
            raise ValueError(f"a rate limit needs {exc.args[0]!r}") from None
        burst = data.get("burst", 1)
        if isinstance(requests, bool) or not isinstance(requests, int):
            raise ValueError("requests must be a whole number")
        if isinstance(burst, bool) or not isinstance(burst, int):
            raise ValueError("burst must be a whole number")
        if isinstance(interval, bool) or not isinstance(interval, int | float):
            raise ValueError("interval_seconds must be a number")
        return cls(requests=requests, interval_seconds=float(interval), burst=burst)


@dataclass(frozen=True)
class OAuthSpec:
    """How a provider's OAuth 2.0 authorization-code flow works, with the real system's endpoints.

    The app credentials (client id and secret) are not here: they belong to the installation and come
    from settings (see docs/connectors.md), which may also point the endpoints at a sandbox.
    """

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()


class TokenSource(Protocol):
    """Hands a client the connection's current OAuth access token and gets a new one when needed."""

    def access_token(self) -> str:
        """A token that is not about to expire (refreshed first if it is). Raises AuthenticationError."""
        ...

    def refresh(self, *, rejected: str | None) -> str:
        """A new token after the system refused `rejected` (401). Raises AuthenticationError."""
        ...


class ConnectionConfig(BaseModel):
    """The non-secret settings every connection has. Providers extend it."""

    base_url: str


@dataclass
class ConnectionSettings:
    """What a client is built from: the connection's id (for metrics/limits), its config and its secrets.

    `rate_limit`: the budget the HTTP layer's governor enforces (None: the provider's documented one).
    `token_source`: set for OAuth connections; the client asks it for access tokens instead of reading
    `credentials`.
    """

    connection_id: int | None
    config: Mapping[str, Any]
    # Kept out of repr: settings end up in tracebacks and log lines, secrets must not.
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    rate_limit: RateLimit | None = None
    token_source: TokenSource | None = field(default=None, repr=False)


class ConnectorClient(abc.ABC):
    """Talks to one configured connection. All HTTP goes through `connectors.http`."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def test(self) -> str:
        """Check the connection works; return a short description (account name). Raise ConnectorError."""

    @abc.abstractmethod
    def discover_schema(self, object_name: str) -> ObjectSchema: ...

    @abc.abstractmethod
    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        """Yield pages of records changed since `cursor` (None: from the beginning), oldest first."""

    @abc.abstractmethod
    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        """Create or update each item, matched by `target_id` when given, else by `match_field`.

        Returns one result per item, in the same order. A record the system rejects is a
        failed result with the system's message; other items still go through.
        """

    def find(self, object_name: str, field: str, value: Any) -> SourceRecord | None:
        """The first record whose `field` equals `value`, or None. Connectors that can search override it."""
        raise ConnectorError(f"This connector cannot look {object_name} up by {field}.", permanent=True)

    def delete(self, object_name: str, target_id: str) -> WriteResult:
        """Delete (or archive, where the system only archives) one record by id."""
        raise ConnectorError(f"This connector cannot delete {object_name}.", permanent=True)


class Provider:
    """Describes one kind of system. Subclasses set the class attributes."""

    key: ClassVar[str]
    label: ClassVar[str]
    auth_scheme: ClassVar[Literal["bearer", "basic", "api_key", "oauth2", "none"]]
    config_model: ClassVar[type[ConnectionConfig]] = ConnectionConfig
    # Names of the secret fields the connection form asks for (stored encrypted).
    credential_fields: ClassVar[tuple[str, ...]] = ()
    objects: ClassVar[dict[str, str]] = {}
    capabilities: ClassVar[dict[str, Capabilities]] = {}
    client_class: ClassVar[type[ConnectorClient]]
    # The system's documented request budget per account; a connection may override it.
    rate_limit: ClassVar[RateLimit | None] = None
    # Endpoints with a documented budget of their own, drawn from as well: (regular expression searched
    # in the request path, budget), e.g. HubSpot's search endpoints.
    path_rate_limits: ClassVar[tuple[tuple[str, RateLimit], ...]] = ()
    # Set when the system supports "Connect with ..." (OAuth 2.0 authorization code with PKCE).
    oauth: ClassVar[OAuthSpec | None] = None

    # Kinds whose objects or secrets come from each connection's settings (a manifest, a table) override
    # these three; callers pass the connection's config and get the fixed lists otherwise.
    @classmethod
    def secret_names(cls, config: Mapping[str, Any]) -> tuple[str, ...]:
        """The secrets a connection with this config needs."""
        return cls.credential_fields

    @classmethod
    def objects_for(cls, config: Mapping[str, Any]) -> dict[str, str]:
        """The objects (name -> label) a connection with this config exposes; {} when it cannot tell."""
        return dict(cls.objects)

    @classmethod
    def capabilities_for(cls, config: Mapping[str, Any], object_name: str) -> Capabilities | None:
        """What a connection with this config can do with the object; None when nothing is declared."""
        return cls.capabilities.get(object_name)

    # Set when the system can fill in some settings itself (the connection form's discover button).
    discover_label: ClassVar[str] = ""

    @classmethod
    def discover_config(cls, settings: ConnectionSettings) -> dict[str, Any]:
        """Settings read from the system with the connection's secrets (e.g. HubSpot's custom objects), for
        a person to review and save; {} when there is nothing to discover. Raises ConnectorError."""
        return {}

    @classmethod
    def client(cls, settings: ConnectionSettings) -> ConnectorClient:
        cls.config_model.model_validate(dict(settings.config))
        # A connection's own budget (an override) replaces all the documented ones, endpoints' included.
        paths = cls.path_rate_limits if settings.rate_limit is None else ()
        if settings.rate_limit is None and cls.rate_limit is not None:
            settings = replace(settings, rate_limit=cls.rate_limit)
        # Imported here: the governor's module needs this one (RateLimit).
        from connectors.ratelimit import connection_budget

        with connection_budget(settings.connection_id, settings.rate_limit, paths):
            return cls.client_class(settings)
