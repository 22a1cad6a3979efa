"""In-memory Ports for engine tests: a few "connections" of records held in dicts."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import ConnectorError, WriteItem, WriteResult
from workflows.engine.lookups import ConnectionRef
from workflows.engine.ports import Delivery, FoundRecord, HttpRequest, HttpResponse, Operation


@dataclass
class Message:
    connection: ConnectionRef
    channel: str | None
    text: str
    key: str


@dataclass
class InMemoryPorts:
    """Records per (connection, object); writes honour idempotency keys like a careful port.

    `fail`: (method name, object or url) -> the ConnectorError to raise, to inject faults.
    `refuse`: object names whose writes come back as refused results.
    """

    records: dict[tuple[ConnectionRef, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    links: dict[tuple[str, str], str] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    requests: list[tuple[HttpRequest, str]] = field(default_factory=list)
    webhooks: list[tuple[str, str | None, dict[str, Any], str]] = field(default_factory=list)
    http_status: int = 200
    http_body: Any = None
    fail: dict[tuple[str, str], ConnectorError] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)
    writes: list[tuple[Operation, str, WriteItem, str]] = field(default_factory=list)
    _done: dict[str, WriteResult] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def table(self, connection: ConnectionRef, object_name: str) -> dict[str, dict[str, Any]]:
        return self.records.setdefault((connection, object_name), {})

    def add(self, connection: ConnectionRef, object_name: str, record_id: str, **fields: Any) -> None:
        self.table(connection, object_name)[record_id] = fields

    def _maybe_fail(self, method: str, what: str) -> None:
        error = self.fail.get((method, what))
        if error is not None:
            raise error

    # -- Ports ---------------------------------------------------------------------------------

    def linked_id(self, connection: ConnectionRef, object_name: str, source_id: str) -> str | None:
        self._maybe_fail("linked_id", object_name)
        return self.links.get((object_name, source_id))

    def lookup(
        self, connection: ConnectionRef, object_name: str, field: str, value: Any
    ) -> FoundRecord | None:
        self._maybe_fail("lookup", object_name)
        for record_id, fields in self.table(connection, object_name).items():
            if fields.get(field) == value:
                return FoundRecord(record_id, dict(fields))
        return None

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
        self._maybe_fail("write", object_name)
        if idempotency_key in self._done:  # the same work again: answer as before, do nothing
            return self._done[idempotency_key]
        self.writes.append((operation, object_name, item, idempotency_key))
        if object_name in self.refuse:
            return WriteResult(item.key, False, error=f"{object_name} says no")
        table = self.table(connection, object_name)
        target_id = item.target_id
        if target_id is None and match_field is not None and operation != "create":
            target_id = next(
                (
                    rid
                    for rid, fields in table.items()
                    if fields.get(match_field) == item.fields.get(match_field)
                ),
                None,
            )
        if operation in ("delete", "archive"):
            if target_id not in table:
                return WriteResult(item.key, False, error="no such record")
            if operation == "delete":
                del table[target_id]
            else:
                table[target_id]["archived"] = True
            result = WriteResult(item.key, True, target_id, "updated")
        elif target_id is None:
            if operation == "update":
                return WriteResult(item.key, False, error="no record to update")
            target_id = f"{object_name[:3]}-{next(self._ids)}"
            table[target_id] = dict(item.fields)
            result = WriteResult(item.key, True, target_id, "created")
        else:
            table.setdefault(target_id, {}).update(item.fields)
            result = WriteResult(item.key, True, target_id, "updated")
        self._done[idempotency_key] = result
        return result

    def notify(
        self, connection: ConnectionRef, channel: str | None, message: str, *, idempotency_key: str
    ) -> Delivery:
        self._maybe_fail("notify", str(channel))
        if all(sent.key != idempotency_key for sent in self.messages):
            self.messages.append(Message(connection, channel, message, idempotency_key))
        return Delivery(True, f"msg-{len(self.messages)}")

    def http(self, request: HttpRequest, *, idempotency_key: str) -> HttpResponse:
        self._maybe_fail("http", request.url)
        self.requests.append((request, idempotency_key))
        return HttpResponse(self.http_status, self.http_body)

    def webhook(
        self, url: str, event: str | None, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> Delivery:
        self._maybe_fail("webhook", url)
        self.webhooks.append((url, event, dict(payload), idempotency_key))
        return Delivery(True, f"wh-{len(self.webhooks)}", 202)
