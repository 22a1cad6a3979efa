"""The connector contract: a provider describes a kind of system, a client talks to one connection.

Everything here is plain data so the engine and the services can use it without
knowing which system is on the other side.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

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


class AuthenticationError(ConnectorError):
    def __init__(self, message: str, *, status: int | None = 401) -> None:
        super().__init__(message, permanent=True, status=status)


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
    action: Literal["created", "updated", "failed"] = "failed"
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


class ConnectionConfig(BaseModel):
    """The non-secret settings every connection has. Providers extend it."""

    base_url: str


@dataclass
class ConnectionSettings:
    """What a client is built from: the connection's id (for metrics/limits), its config and its secrets."""

    connection_id: int | None
    config: Mapping[str, Any]
    credentials: Mapping[str, str] = field(default_factory=dict)


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

    @classmethod
    def client(cls, settings: ConnectionSettings) -> ConnectorClient:
        cls.config_model.model_validate(dict(settings.config))
        return cls.client_class(settings)
