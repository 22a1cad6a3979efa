"""What a run of a sync works with, resolved once: the compiled definition, both clients, the run row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F

from connectors.base import ConnectorClient, ConnectorError, WriteItem, WriteResult
from connectors.models import Connection
from connectors.registry import get_provider
from workflows.engine.sync.ports import DeletesInBatches
from workflows.engine.sync.spec import RECORD_ID, CompiledSync, Side, other
from workflows.sync.models import Sync, SyncRun
from workflows.sync.services.deletions import connector_can_delete


class SideError(Exception):
    """A connector error that stops the run, tagged with the connection it came from."""

    def __init__(self, connection: Connection, error: ConnectorError) -> None:
        super().__init__(error.message)
        self.connection = connection
        self.error = error


@dataclass
class RunContext:
    run: SyncRun
    sync: Sync
    spec: CompiledSync
    clients: Mapping[Side, ConnectorClient]
    batch_size: Mapping[Side, int]
    # Until the first run has read both sides to the end, "match only" creates nothing.
    first_run: bool
    counters: dict[str, int] = field(default_factory=dict)

    def object_name(self, side: Side) -> str:
        return self.sync.object_name(side)

    def connection(self, side: Side) -> Connection:
        return self.sync.connection(side)

    def can_create_on(self, target: Side) -> bool:
        if not self.spec.creates_on(target):
            return False
        return not (self.first_run and self.spec.first_sync == "match_only")

    def create_match_field(self, target: Side, fields: Mapping[str, Any]) -> str:
        """The field a create is matched on by the target system (an upsert), so a retry never duplicates."""
        for rule in self.spec.match:
            names = rule.fields(target)
            if rule.kind in ("email", "external_id") and names[0] != RECORD_ID and names[0] in fields:
                return names[0]
        capabilities = get_provider(self.connection(target).kind).capabilities.get(self.object_name(target))
        return (capabilities.upsert_key if capabilities else None) or ""

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    def flush_counters(self, **extra: Any) -> None:
        """Add this batch's counts to the run row (in the caller's transaction)."""
        updates = {name: F(name) + amount for name, amount in self.counters.items() if amount}
        SyncRun.objects.filter(pk=self.run.pk).update(**updates, **extra)
        self.counters = {}

    def write(self, side: Side, items: list[WriteItem]) -> list[WriteResult]:
        """Write in the system's batch size. A transient failure stops the run; a rejected batch fails its items."""
        results: list[WriteResult] = []
        size = self.batch_size[side]
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            match_field = self._chunk_match_field(side, chunk)
            try:
                results.extend(
                    self.clients[side].upsert_batch(self.object_name(side), chunk, match_field=match_field)
                )
            except ConnectorError as exc:
                if not exc.permanent or exc.status in {401, 403}:
                    raise SideError(self.connection(side), exc) from exc
                results.extend(WriteResult(key=item.key, ok=False, error=exc.message) for item in chunk)
        return results

    def _chunk_match_field(self, side: Side, chunk: list[WriteItem]) -> str:
        for item in chunk:
            if item.target_id is None:
                return self.create_match_field(side, item.fields)
        return self.create_match_field(side, {})

    def delete(self, side: Side, ids: list[str]) -> list[WriteResult]:
        """Delete records through the connector, where its Capabilities say it can: in batches when the client
        deletes in batches, else one by one (`ConnectorClient.delete`).

        A record the system no longer has (404) is already what we wanted. A transient failure stops the run
        (the records stay pending); a rejected delete fails that record only.
        """
        if not connector_can_delete(self.connection(side), self.object_name(side)):
            message = (
                f"{self.connection(side).name} can't delete {self.object_name(side)} through its connector"
            )
            return [WriteResult(key=record_id, ok=False, error=message) for record_id in ids]
        client = self.clients[side]
        if isinstance(client, DeletesInBatches):
            return self._delete_batches(side, client, ids)
        results: list[WriteResult] = []
        for record_id in ids:
            try:
                result = client.delete(self.object_name(side), record_id)
            except ConnectorError as exc:
                if exc.status == 404:
                    result = WriteResult(key=record_id, ok=True, target_id=record_id, action="deleted")
                elif not exc.permanent or exc.status in {401, 403}:
                    raise SideError(self.connection(side), exc) from exc
                else:
                    result = WriteResult(key=record_id, ok=False, error=exc.message)
            results.append(WriteResult(record_id, result.ok, record_id, result.action, result.error))
        return results

    def _delete_batches(self, side: Side, client: DeletesInBatches, ids: list[str]) -> list[WriteResult]:
        results: list[WriteResult] = []
        size = self.batch_size[side]
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            try:
                answered = client.delete_batch(self.object_name(side), chunk)
            except ConnectorError as exc:
                if not exc.permanent or exc.status in {401, 403}:
                    raise SideError(self.connection(side), exc) from exc
                answered = [WriteResult(key=record_id, ok=False, error=exc.message) for record_id in chunk]
            results.extend(
                WriteResult(record_id, result.ok, record_id, result.action, result.error)
                for record_id, result in zip(chunk, answered, strict=True)
            )
        return results


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def parse_iso(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def other_side(side: Side) -> Side:
    return other(side)
