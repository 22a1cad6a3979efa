"""Reading one side's change feed into SyncRecords, page by page.

Each page is stored, with the cursor that follows it, in one transaction: a crash before the commit leaves
the page unread (it is read again), a crash after it leaves the records pending (they are reconciled by the
next run). Nothing is written to the other system here, so reading never has to be undone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.base import ChangePage, ConnectorError, SourceRecord
from workflows.engine.sync.compare import same_value
from workflows.engine.sync.matching import all_keys
from workflows.engine.sync.ports import ReportsArchived, ReportsFieldTimes
from workflows.engine.sync.spec import Side
from workflows.sync.models import SyncCursor, SyncRecord, SyncRecordKey
from workflows.sync.services.associations import with_associations
from workflows.sync.services.context import RunContext, SideError, iso, parse_iso


def ingest_side(ctx: RunContext, side: Side) -> None:
    cursor, _ = SyncCursor.objects.get_or_create(sync=ctx.sync, side=side)
    for page in _pages(ctx, side, cursor.value):
        if not page.records and page.cursor == cursor.value:
            continue  # an idle poll: nothing read, nothing to record
        records = _with_associations(ctx, side, page.records)
        cursor.value = page.cursor
        with transaction.atomic():
            store_records(ctx, side, records)
            SyncCursor.objects.filter(pk=cursor.pk).update(value=page.cursor, updated_at=timezone.now())
            ctx.count(f"read_{side}", len(page.records))
            ctx.flush_counters(heartbeat_at=timezone.now())
    ingest_archived(ctx, side)


def ingest_archived(ctx: RunContext, side: Side) -> None:
    """Deletions a change feed leaves out: a system that keeps deleted records in a recycle bin (HubSpot's
    search feed never returns archived records) is asked for the bin, and the records of it the sync knows
    as live are stored as read, marked as the bin marks them, so the deletion policy applies to them."""
    client = ctx.clients[side]
    if not isinstance(client, ReportsArchived):
        return
    try:
        binned = list(client.archived(ctx.object_name(side), page_size=ctx.batch_size[side]))
    except ConnectorError as exc:
        raise SideError(ctx.connection(side), exc) from exc
    if not binned:
        return
    live = set(
        SyncRecord.objects.filter(
            sync=ctx.sync, side=side, deleted=False, record_id__in=[record.id for record in binned]
        ).values_list("record_id", flat=True)
    )
    records = [record for record in binned if record.id in live]
    if not records:
        return
    with transaction.atomic():
        store_records(ctx, side, records)
        ctx.count(f"read_{side}", len(records))
        ctx.flush_counters(heartbeat_at=timezone.now())


def _pages(ctx: RunContext, side: Side, cursor: str | None) -> Iterator[ChangePage]:
    client = ctx.clients[side]
    try:
        iterator = iter(client.list_changes(ctx.object_name(side), cursor, page_size=ctx.batch_size[side]))
    except ConnectorError as exc:
        raise SideError(ctx.connection(side), exc) from exc
    while True:
        try:
            page = next(iterator)
        except StopIteration:
            return
        except ConnectorError as exc:
            raise SideError(ctx.connection(side), exc) from exc
        yield page


def _with_associations(ctx: RunContext, side: Side, records: list[SourceRecord]) -> list[SourceRecord]:
    try:
        return with_associations(
            ctx.clients[side], ctx.object_name(side), records, ctx.spec.stored_fields(side)
        )
    except ConnectorError as exc:
        raise SideError(ctx.connection(side), exc) from exc


def _latest(records: list[SourceRecord]) -> list[SourceRecord]:
    latest: dict[str, SourceRecord] = {}
    for record in records:
        seen = latest.get(record.id)
        if seen is None or record.updated_at >= seen.updated_at:
            latest[record.id] = record
    return list(latest.values())


def store_records(ctx: RunContext, side: Side, records: list[SourceRecord]) -> None:
    """Remember what the sync needs of each record, mark the changed ones pending and index their keys."""
    if not records:
        return
    spec = ctx.spec
    stored_names = spec.stored_fields(side)
    deleted_when = spec.deleted_when.get(side)
    client = ctx.clients[side]
    reports_times = isinstance(client, ReportsFieldTimes)
    # "Start from now": records last changed before the sync was switched on are known (for matching)
    # but not synced until they change again.
    not_before = ctx.sync.started_at if spec.first_sync == "start_from_now" else None
    records = _latest(records)
    existing = {
        row.record_id: row
        for row in SyncRecord.objects.filter(sync=ctx.sync, side=side, record_id__in=[r.id for r in records])
    }
    new_rows: list[SyncRecord] = []
    changed_rows: list[SyncRecord] = []
    rekey: list[SyncRecord] = []
    for record in records:
        values = {name: record.fields[name] for name in stored_names if name in record.fields}
        values = _json_ready(values)
        deleted = bool(deleted_when.evaluate(record.fields)) if deleted_when is not None else False
        reported: Mapping[str, datetime] = (
            client.field_times(ctx.object_name(side), record) if reports_times else {}  # type: ignore[attr-defined]
        )
        row = existing.get(record.id)
        if row is not None and row.updated_at is not None and record.updated_at < row.updated_at:
            continue  # an older version than one already read (a repeat from the feed)
        if (
            row is not None
            and row.updated_at == record.updated_at
            and row.deleted == deleted
            and _same_values(row.values, values)
        ):
            continue  # a repeat the cursor allows; nothing new to reconcile
        times = dict(row.field_times) if row is not None else {}
        previous = row.values if row is not None else {}
        for name, value in values.items():
            if name not in previous or not same_value(previous[name], value):
                times[name] = iso(reported.get(name) or record.updated_at)
        pending = not (not_before is not None and record.updated_at < not_before and row is None)
        if row is None:
            row = SyncRecord(sync=ctx.sync, side=side, record_id=record.id)
            new_rows.append(row)
            rekey.append(row)
        else:
            changed_rows.append(row)
            if deleted != row.deleted or _keys_changed(ctx, side, record.id, row.values, values):
                rekey.append(row)
        row.values = values
        row.field_times = times
        row.updated_at = record.updated_at
        row.deleted = deleted
        row.pending = row.pending or pending
    SyncRecord.objects.bulk_create(new_rows, batch_size=500)
    SyncRecord.objects.bulk_update(
        changed_rows, ["values", "field_times", "updated_at", "deleted", "pending", "seen_at"], batch_size=500
    )
    reindex(ctx, side, rekey)


def reindex(ctx: RunContext, side: Side, rows: list[SyncRecord]) -> None:
    """Replace the match keys of `rows`; deleted records hold no keys (they match nothing)."""
    if not rows:
        return
    SyncRecordKey.objects.filter(record__in=[row.pk for row in rows]).delete()
    keys = [
        SyncRecordKey(record=row, sync=ctx.sync, side=side, rule=position, value=value[:255])
        for row in rows
        if not row.deleted
        for position, values in enumerate(all_keys(ctx.spec.match, side, row.record_id, row.values))
        for value in values
    ]
    SyncRecordKey.objects.bulk_create(keys, batch_size=500)


def _keys_changed(
    ctx: RunContext, side: Side, record_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> bool:
    rules = ctx.spec.match
    return all_keys(rules, side, record_id, old) != all_keys(rules, side, record_id, new)


def _same_values(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return old.keys() == new.keys() and all(same_value(old[name], new[name]) for name in new)


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    """SyncRecord.values is JSON: dates become ISO text (as every connector already sends them)."""
    from workflows.engine.diff import canonical

    return {name: canonical(value) for name, value in values.items()}


def parse_times(raw: Mapping[str, Any]) -> dict[str, datetime]:
    times = {name: parse_iso(value) for name, value in raw.items()}
    return {name: moment for name, moment in times.items() if moment is not None}
