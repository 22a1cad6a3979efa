"""The real `Ports` of the step interpreter: lookups, writes and messages through the team's connections."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from connectors.base import ConnectorClient, ConnectorError, WriteItem, WriteResult
from connectors.http import HttpClient
from connectors.models import Connection
from connectors.services import client_for
from workflows.engine.lookups import ConnectionRef
from workflows.engine.ports import Delivery, FoundRecord, HttpRequest, HttpResponse, Operation
from workflows.models import RecordLink, Workflow


class ConnectorPorts:
    """One per run: connections are resolved within the workflow's team only, clients are reused."""

    def __init__(
        self, *, workflow: Workflow, clients: list[ConnectorClient], webhook_secret: str = ""
    ) -> None:
        self.workflow = workflow
        self._clients: dict[int, ConnectorClient] = {}
        self._all_clients = clients
        self._webhook_secret = webhook_secret

    def _client(self, ref: ConnectionRef) -> ConnectorClient:
        try:
            connection_id = int(ref)
        except (TypeError, ValueError):
            raise ConnectorError(f"{ref!r} is not a connection of this team.", permanent=True) from None
        if connection_id not in self._clients:
            connection = Connection.objects.filter(pk=connection_id, team_id=self.workflow.team_id).first()
            if connection is None:
                raise ConnectorError(f"Connection {connection_id} is not one of this team's.", permanent=True)
            client = client_for(connection)
            self._clients[connection_id] = client
            self._all_clients.append(client)
        return self._clients[connection_id]

    def linked_id(self, connection: ConnectionRef, object_name: str, source_id: str) -> str | None:
        link = (
            RecordLink.objects.filter(
                workflow__team_id=self.workflow.team_id,
                workflow__target_connection_id=int(connection),
                workflow__target_object=object_name,
                source_id=source_id,
            )
            .values_list("target_id", flat=True)
            .first()
        )
        return link

    def lookup(
        self, connection: ConnectionRef, object_name: str, field: str, value: Any
    ) -> FoundRecord | None:
        found = self._client(connection).find(object_name, field, value)
        return None if found is None else FoundRecord(id=found.id, fields=dict(found.fields))

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
        client = self._client(connection)
        if operation in ("delete", "archive"):
            target_id = item.target_id
            if not target_id and match_field:
                found = client.find(object_name, match_field, item.fields.get(match_field))
                target_id = found.id if found else None
            if not target_id:
                return WriteResult(key=item.key, ok=False, error="No record to delete was found.")
            return client.delete(object_name, target_id)
        return client.upsert_batch(object_name, [item], match_field=match_field or "")[0]

    def notify(
        self, connection: ConnectionRef, channel: str | None, message: str, *, idempotency_key: str
    ) -> Delivery:
        fields: dict[str, Any] = {"text": message}
        if channel:
            fields["channel"] = channel
        result = self._client(connection).upsert_batch(
            "messages", [WriteItem(key=idempotency_key, fields=fields)], match_field=""
        )[0]
        return Delivery(ok=result.ok, id=result.target_id, error=result.error)

    def http(self, request: HttpRequest, *, idempotency_key: str) -> HttpResponse:
        headers = {**dict(request.headers), "Idempotency-Key": idempotency_key}
        statuses = range(100, 600)
        if request.connection is not None:
            client = self._client(request.connection)
            http = getattr(client, "http", None)
            if not isinstance(http, HttpClient):
                raise ConnectorError("This connection cannot make plain HTTP requests.", permanent=True)
            response = http.request(
                request.method, request.url, json=request.body, headers=headers, expected=statuses
            )
        else:
            with HttpClient(request.url, system="The HTTP step's server") as plain:
                response = plain.request(
                    request.method, request.url, json=request.body, headers=headers, expected=statuses
                )
        return HttpResponse(
            status=response.status, body=response.data if response.data is not None else response.text
        )

    def webhook(
        self, url: str, event: str | None, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> Delivery:
        from connectors.webhooks import standard_headers

        body = json.dumps({"type": event, "data": dict(payload)}, default=str, separators=(",", ":"))
        headers = {"Content-Type": "application/json"}
        if self._webhook_secret:
            headers.update(
                standard_headers(self._webhook_secret, f"msg_{idempotency_key[:32]}", int(time.time()), body)
            )
        with HttpClient(url, system="The webhook receiver") as client:
            response = client.request(
                "POST", url, data=body.encode(), headers=headers, expected=range(100, 600)
            )
        if response.status >= 400:
            return Delivery(
                ok=False, status=response.status, error=f"The receiver answered {response.status}."
            )
        return Delivery(ok=True, id=idempotency_key, status=response.status)
