"""The ports a workflow reaches the outside world through, and the plain data they exchange.

The step interpreter never talks to a connector: it calls a `Ports` object the caller
hands it. The Django side implements Ports with the real connectors (and the record-link
table for `linked_id`); tests and previews implement it with dicts.

Error contract: a port reports a record the system refused in its result (`WriteResult`
with ok=False, `Delivery` with ok=False, an HTTP status of 400 or more) and the step
fails with that message. A port raises `connectors.base.ConnectorError` when it couldn't
reach the system; the step fails too, and the execution says whether retrying may help
(`permanent=False`). Any other exception is a bug in the port and is not caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from connectors.base import WriteItem, WriteResult
from workflows.engine.lookups import ConnectionRef, LookupPort

Operation = Literal["create", "update", "upsert", "delete", "archive"]
OPERATIONS: tuple[Operation, ...] = ("create", "update", "upsert", "delete", "archive")
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
HTTP_METHODS: tuple[HttpMethod, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class FoundRecord:
    """A record a lookup found in another connection."""

    id: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """The result of sending a chat message or an outbound webhook."""

    ok: bool
    id: str | None = None
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class HttpRequest:
    method: HttpMethod
    url: str
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # The connection whose authentication to use, if any.
    connection: ConnectionRef | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any = None


class Ports(LookupPort, Protocol):
    """Everything a workflow step may ask of the outside world.

    `idempotency_key` is stable for one step of one version of one source record, so a
    port that passes it on (or remembers it) makes a repeated execution write nothing twice.
    """

    def lookup(
        self, connection: ConnectionRef, object_name: str, field: str, value: Any
    ) -> FoundRecord | None:
        """The first `object_name` record in `connection` whose `field` equals `value`, or None."""
        ...

    def write(
        self,
        connection: ConnectionRef,
        object_name: str,
        operation: Operation,
        item: WriteItem,
        match_field: str | None,
        *,
        idempotency_key: str,
    ) -> WriteResult:
        """Create, update, upsert, delete or archive one record.

        `item.target_id` names the record when it is known; otherwise update, upsert,
        delete and archive find it by `item.fields[match_field]`.
        """
        ...

    def notify(
        self, connection: ConnectionRef, channel: str | None, message: str, *, idempotency_key: str
    ) -> Delivery:
        """Post a chat message."""
        ...

    def http(self, request: HttpRequest, *, idempotency_key: str) -> HttpResponse:
        """Make an HTTP request through the shared HTTP layer (SSRF guard, retries, redaction)."""
        ...

    def webhook(
        self, url: str, event: str | None, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> Delivery:
        """Deliver a signed outbound webhook."""
        ...
