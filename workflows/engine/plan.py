"""Planning a batch: decide, per source record, whether and what to write to the target.

Pure decisions over plain data: the caller loads the links, runs the writes the plan
asks for, and records each written record's fingerprint and values on its link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from connectors.base import SourceRecord, WriteItem
from workflows.engine.diff import diff, fingerprint
from workflows.engine.mapping import ApplyContext, CompiledMapping, MappedRecord
from workflows.engine.transforms import is_empty

Outcome = Literal["create", "update", "unchanged", "skipped", "failed"]


class LinkState(NamedTuple):
    """What we know about a source record already linked to a target record."""

    target_id: str
    last_fingerprint: str | None
    last_values: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class PlannedRecord:
    """The plan for one source record.

    `error` says why nothing is written: the joined field errors of a failed record, or
    the reason a record is skipped. `fingerprint` and `values` are what to record on the
    link once the write succeeds (they are also set for unchanged records).
    """

    source_id: str
    match_value: Any
    outcome: Outcome
    write: WriteItem | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    diff: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    dropped: tuple[tuple[str, str], ...] = ()
    error: str | None = None


def latest_by_id(records: list[SourceRecord]) -> list[SourceRecord]:
    """One record per id: the newest by updated_at, the later one in the batch on a tie.

    For records whose updated_at is the source's own clock (a poll's). Webhook events arrive here already
    one per id: their updated_at is the source's time or the receipt time, two clocks not to be compared
    (see workflows.services.webhooks.split_older_than_applied).
    """
    latest: dict[str, SourceRecord] = {}
    for record in records:
        seen = latest.get(record.id)
        if seen is None or record.updated_at >= seen.updated_at:
            latest[record.id] = record
    return list(latest.values())


def plan_batch(
    records: list[SourceRecord],
    mapping: CompiledMapping,
    links: Mapping[str, LinkState],
    *,
    match_field: str,
    update_fields: Literal["changed", "all"] = "changed",
    context: ApplyContext | None = None,
) -> list[PlannedRecord]:
    """Plan every record of a batch, in order of each id's first appearance.

    Updates write only the changed fields by default, so an edit made in the target to a
    field whose source didn't change survives; "all" rewrites every mapped field. `context` gives
    transforms such as lookup_link (the id a linked record has in another connection) their ports.
    """
    # An empty match field: the target has no natural key, so an unlinked record is created.
    if match_field and match_field not in mapping.targets:
        raise ValueError(f"the match field '{match_field}' is not a target of the mapping")
    latest = latest_by_id(records)
    # The whole batch through the mapping at once: a row at a time costs far less than a record at a time.
    mapped = mapping.apply_many([record.fields for record in latest], context)
    return [
        _plan_one(record, each, links.get(record.id), match_field, update_fields)
        for record, each in zip(latest, mapped, strict=True)
    ]


def _plan_one(
    record: SourceRecord,
    mapped: MappedRecord,
    link: LinkState | None,
    match_field: str,
    update_fields: str,
) -> PlannedRecord:
    values = mapped.values
    match_value = values.get(match_field)
    dropped = tuple(mapped.dropped)
    if mapped.errors:
        error = "; ".join(f"{target}: {message}" for target, message in mapped.errors)
        return PlannedRecord(record.id, match_value, "failed", values=values, dropped=dropped, error=error)
    if link is None and match_field and is_empty(match_value):
        reason = f"no {match_field} to match on"
        return PlannedRecord(record.id, match_value, "skipped", values=values, dropped=dropped, error=reason)

    digest = fingerprint(values)
    if link is None:
        write = WriteItem(key=record.id, fields=dict(values), target_id=None)
        return PlannedRecord(
            record.id, match_value, "create", write, values, digest, diff(None, values), dropped
        )

    if digest == link.last_fingerprint:
        return PlannedRecord(record.id, match_value, "unchanged", None, values, digest, {}, dropped)
    changes = diff(link.last_values, values)
    # A differing fingerprint with an empty diff means the only change is a field now left
    # alone (dropped as empty): the write would change nothing in the target.
    if link.last_values is not None and not changes:
        return PlannedRecord(record.id, match_value, "unchanged", None, values, digest, {}, dropped)
    if update_fields == "changed" and link.last_values is not None:
        fields = {name: new for name, (_, new) in changes.items()}
    else:
        fields = dict(values)
    write = WriteItem(key=record.id, fields=fields, target_id=link.target_id)
    return PlannedRecord(record.id, match_value, "update", write, values, digest, changes, dropped)
