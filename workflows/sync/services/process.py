"""Reconciling pending records: identity first, then field by field, then the writes, then one record of it all.

Records are taken in batches. For each batch:

1. Unlinked records are matched (workflows.engine.sync.matching): linked, held as a duplicate risk, or
   created on the other side where the sync creates records.
2. Every link touched is reconciled (workflows.engine.sync.reconcile) or, when a record was deleted,
   handled by the deletion policy.
3. The writes go out, in the systems' batch sizes.
4. One transaction stores the links' new state, conflicts, holds, outcomes and clears `pending`.

A crash between 3 and 4 leaves the records pending: the next run plans the same writes again, and they are
updates by id or creates matched by a unique key, so doing them twice changes nothing. A record whose write
failed stays pending and is tried again by the next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import WriteItem, WriteResult
from workflows.engine.sync.matching import KeyHolder, MatchDecision, all_keys, decide_match
from workflows.engine.sync.reconcile import (
    CreatePlan,
    DeletePlan,
    LinkPlan,
    LinkState,
    Note,
    OpenConflict,
    RecordView,
    plan_create,
    plan_delete,
    reconcile,
)
from workflows.engine.sync.spec import SIDES, Side, other
from workflows.sync.models import (
    DuplicateHold,
    Sync,
    SyncConflict,
    SyncLink,
    SyncOutcome,
    SyncRecord,
    SyncRecordKey,
)
from workflows.sync.services.context import RunContext, iso
from workflows.sync.services.ingest import parse_times, reindex
from workflows.sync.services.references import LinkReferences

BATCH = 200
Ref = tuple[Side, str]


def process_pending(ctx: RunContext, refs: LinkReferences) -> None:
    """Reconcile every pending record of the sync, a batch at a time, oldest first."""
    last_id = 0
    while True:
        batch = list(
            SyncRecord.objects.filter(sync=ctx.sync, pending=True, id__gt=last_id).order_by("id")[:BATCH]
        )
        if not batch:
            return
        last_id = batch[-1].pk
        Batch(ctx, refs, batch).run()


def record_view(ctx: RunContext, row: SyncRecord | None) -> RecordView | None:
    if row is None:
        return None
    side = cast(Side, row.side)
    condition = ctx.spec.filters.get(side)
    return RecordView(
        id=row.record_id,
        fields=row.values,
        updated_at=row.updated_at,
        field_times=parse_times(row.field_times),
        deleted=row.deleted,
        in_scope=condition is None or condition.evaluate(row.values),
    )


def link_state(link: SyncLink, conflicts: dict[str, SyncConflict]) -> LinkState:
    return LinkState(
        a_id=link.a_id,
        b_id=link.b_id,
        a_values=link.a_values,
        b_values=link.b_values,
        a_expect=link.a_expect,
        b_expect=link.b_expect,
        a_expect_since=link.a_expect_since,
        b_expect_since=link.b_expect_since,
        conflicts={key: OpenConflict(c.a_value, c.b_value) for key, c in conflicts.items()},
    )


def apply_plan_to_link(link: SyncLink, plan: LinkPlan) -> None:
    link.a_values, link.b_values = plan.values["a"], plan.values["b"]
    link.a_expect, link.b_expect = plan.expect["a"], plan.expect["b"]
    link.a_expect_since, link.b_expect_since = plan.expect_since["a"], plan.expect_since["b"]
    for side in SIDES:
        times = dict(link.a_times if side == "a" else link.b_times)
        times.update({name: iso(moment) for name, moment in plan.times[side].items()})
        if side == "a":
            link.a_times = times
        else:
            link.b_times = times


@dataclass
class _Unit:
    """One link to reconcile in this batch and what came of it."""

    link: SyncLink
    new: bool = False
    plan: LinkPlan | None = None
    deletion: DeletePlan | None = None
    keys: dict[Side, str] = field(default_factory=dict)  # write item keys per side
    failed: list[str] = field(default_factory=list)


@dataclass
class _Create:
    row: SyncRecord
    target: Side
    plan: CreatePlan
    key: str = ""


class Batch:
    def __init__(self, ctx: RunContext, refs: LinkReferences, rows: list[SyncRecord]) -> None:
        self.ctx = ctx
        self.refs = refs
        self.rows = rows
        self.records: dict[Ref, SyncRecord] = {(cast(Side, r.side), r.record_id): r for r in rows}
        self.links: dict[Ref, SyncLink] = {}
        self.units: dict[Ref, _Unit] = {}
        self.creates: list[_Create] = []
        self.outcomes: list[SyncOutcome] = []
        self.keep_pending: set[int] = set()
        self.hold_updates: list[tuple[SyncRecord, MatchDecision]] = []
        self.holds_dismissed: list[int] = []
        self.conflicts: dict[int, dict[str, SyncConflict]] = {}
        self.open_holds: dict[Ref, DuplicateHold] = {}
        # Records whose stored values now include what this batch wrote to them.
        self.believed: list[SyncRecord] = []
        # Per related sync: the sides whose new records it creates on the other side.
        self.related_creates: dict[int, set[Side]] = {}

    # -- loading -------------------------------------------------------------------------------

    def _load(self) -> None:
        sync = self.ctx.sync
        ids = {side: [rid for (s, rid) in self.records if s == side] for side in SIDES}
        for link in SyncLink.objects.filter(sync=sync, status=SyncLink.Status.ACTIVE).filter(
            Q(a_id__in=ids["a"]) | Q(b_id__in=ids["b"])
        ):
            self._add_link(link, new=False)
        if all(ref in self.links for ref in self.records):
            return
        for hold in DuplicateHold.objects.filter(
            sync=sync, status__in=[DuplicateHold.Status.OPEN, DuplicateHold.Status.RESOLVING]
        ).filter(Q(side="a", record_id__in=ids["a"]) | Q(side="b", record_id__in=ids["b"])):
            self.open_holds[(cast(Side, hold.side), hold.record_id)] = hold

    def _add_link(self, link: SyncLink, *, new: bool) -> None:
        unit = _Unit(link, new=new)
        for side in SIDES:
            self.links[(side, link.record_id(side))] = link
        self.units[("a", link.a_id)] = unit

    def _load_counterparts(self) -> None:
        wanted = [(side, unit.link.record_id(side)) for unit in self.units.values() for side in SIDES]
        missing = [ref for ref in wanted if ref not in self.records]
        if missing:
            query = Q()
            for side, record_id in missing:
                query |= Q(side=side, record_id=record_id)
            for row in SyncRecord.objects.filter(query, sync=self.ctx.sync):
                self.records[(cast(Side, row.side), row.record_id)] = row
        link_ids = [unit.link.pk for unit in self.units.values() if unit.link.pk]
        for conflict in SyncConflict.objects.filter(
            link_id__in=link_ids, status__in=[SyncConflict.Status.OPEN, SyncConflict.Status.RESOLVING]
        ):
            self.conflicts.setdefault(conflict.link_id, {})[conflict.pair_key] = conflict

    # -- identity ------------------------------------------------------------------------------

    def _identify(self) -> None:
        spec = self.ctx.spec
        for row in self.rows:
            hold = self.open_holds.get((cast(Side, row.side), row.record_id))
            if row.deleted and hold is not None and hold.status == DuplicateHold.Status.OPEN:
                self.holds_dismissed.append(hold.pk)  # a deleted record is nobody's duplicate any more
        unlinked = [
            row for row in self.rows if (row.side, row.record_id) not in self.links and not row.deleted
        ]
        if not unlinked:
            return
        keys = {
            row.pk: all_keys(spec.match, cast(Side, row.side), row.record_id, row.values) for row in unlinked
        }
        index = self._key_index(keys.values())
        # A first, then B: a B record linked to an A record of this batch is then skipped.
        for row in sorted(unlinked, key=lambda r: r.side):
            side = cast(Side, row.side)
            ref = (side, row.record_id)
            if ref in self.links:
                continue
            hold = self.open_holds.get(ref)
            if hold is not None and hold.status == DuplicateHold.Status.RESOLVING:
                continue  # a person decided; the review step applies it
            decision = decide_match(spec.match, side, row.record_id, keys[row.pk], index)
            if decision.outcome == "hold":
                self.hold_updates.append((row, decision))
                continue
            if hold is not None:
                self.holds_dismissed.append(hold.pk)
            if decision.outcome == "link":
                assert decision.target_id is not None
                a_id, b_id = (
                    (row.record_id, decision.target_id)
                    if side == "a"
                    else (decision.target_id, row.record_id)
                )
                link = SyncLink(
                    sync=self.ctx.sync,
                    a_id=a_id,
                    b_id=b_id,
                    matched_by=f"{decision.reason}: {decision.key}"[:120],
                )
                self._add_link(link, new=True)
                _mark_linked(index, {("a", a_id), ("b", b_id)})
                continue
            self._maybe_create(row)

    def _key_index(self, key_sets: Iterable[list[frozenset[str]]]) -> dict[tuple[int, str], list[KeyHolder]]:
        wanted: dict[int, set[str]] = {}
        for per_rule in key_sets:
            for position, values in enumerate(per_rule):
                wanted.setdefault(position, set()).update(v[:255] for v in values)
        query = Q()
        for position, wanted_values in wanted.items():
            if wanted_values:
                query |= Q(rule=position, value__in=wanted_values)
        if not query:
            return {}
        found = list(
            SyncRecordKey.objects.filter(query, sync=self.ctx.sync).values_list(
                "rule", "value", "side", "record__record_id"
            )
        )
        holders = {(side, rid) for _, _, side, rid in found}
        linked = set()
        by_side = {side: [rid for s, rid in holders if s == side] for side in SIDES}
        for a_id, b_id in (
            SyncLink.objects.filter(sync=self.ctx.sync, status=SyncLink.Status.ACTIVE)
            .filter(Q(a_id__in=by_side["a"]) | Q(b_id__in=by_side["b"]))
            .values_list("a_id", "b_id")
        ):
            linked.update({("a", a_id), ("b", b_id)})
        index: dict[tuple[int, str], list[KeyHolder]] = {}
        for rule, value, side, rid in found:
            holder = KeyHolder(cast(Side, side), rid, (side, rid) in linked)
            index.setdefault((rule, value), []).append(holder)
        return index

    def _maybe_create(self, row: SyncRecord) -> None:
        source = cast(Side, row.side)
        target = other(source)
        view = record_view(self.ctx, row)
        assert view is not None
        if not view.in_scope:
            self._outcome(
                source, row.record_id, "", SyncOutcome.Outcome.SKIPPED, error="left out by the filter"
            )
            self.ctx.count("skipped")
            return
        if not self.ctx.can_create_on(target):
            reason = (
                "the first sync only matches existing records"
                if self.ctx.spec.creates_on(target)
                else f"the sync doesn't create records on side {target.upper()}"
            )
            self._outcome(source, row.record_id, "", SyncOutcome.Outcome.SKIPPED, error=f"no match; {reason}")
            self.ctx.count("skipped")
            return
        plan = plan_create(self.ctx.spec, source, view, self.refs)
        waiting = self._create_waits_for(plan.notes)
        if waiting:
            # The related record comes first: the counterpart is created with its reference once the related
            # sync has linked it (that sync runs first in every poll), never without it and patched later.
            self.keep_pending.add(row.pk)
            self._outcome(
                source,
                row.record_id,
                "",
                SyncOutcome.Outcome.SKIPPED,
                error="not created yet: " + "; ".join(f"{n.pair_key}: {n.message}" for n in waiting),
            )
            self.ctx.count("skipped")
            return
        self.creates.append(_Create(row, target, plan))

    # -- planning ------------------------------------------------------------------------------

    def _plan(self) -> None:
        for unit in self.units.values():
            a = self.records.get(("a", unit.link.a_id))
            b = self.records.get(("b", unit.link.b_id))
            deleted = [side for side, row in (("a", a), ("b", b)) if row is not None and row.deleted]
            if deleted:
                side = cast(Side, deleted[0])
                unit.deletion = plan_delete(self.ctx.spec, side, len(deleted) == 2)
                continue
            conflicts = self.conflicts.get(unit.link.pk or -1, {})
            unit.plan = reconcile(
                self.ctx.spec,
                link_state(unit.link, conflicts),
                record_view(self.ctx, a),
                record_view(self.ctx, b),
                self.refs,
            )

    # -- writing -------------------------------------------------------------------------------

    def _write(self) -> dict[Side, dict[str, WriteResult]]:
        items: dict[Side, list[WriteItem]] = {"a": [], "b": []}
        deletes: dict[Side, list[str]] = {"a": [], "b": []}
        for number, unit in enumerate(self.units.values()):
            if unit.plan is not None:
                for side in SIDES:
                    if unit.plan.writes[side]:
                        unit.keys[side] = f"u{number}"
                        items[side].append(
                            WriteItem(
                                unit.keys[side], dict(unit.plan.writes[side]), unit.link.record_id(side)
                            )
                        )
            elif unit.deletion is not None and unit.deletion.target is not None:
                target = unit.deletion.target
                record_id = unit.link.record_id(target)
                unit.keys[target] = f"u{number}" if unit.deletion.action == "archive" else record_id
                if unit.deletion.action == "archive":
                    items[target].append(WriteItem(unit.keys[target], dict(unit.deletion.fields), record_id))
                elif unit.deletion.action == "delete":
                    deletes[target].append(record_id)
        for number, create in enumerate(self.creates):
            create.key = f"c{number}"
            items[create.target].append(WriteItem(create.key, create.plan.fields, None))
        results: dict[Side, dict[str, WriteResult]] = {"a": {}, "b": {}}
        for side in SIDES:
            if items[side]:
                for item, result in zip(items[side], self.ctx.write(side, items[side]), strict=True):
                    results[side][item.key] = result
            if deletes[side]:
                for record_id, result in zip(
                    deletes[side], self.ctx.delete(side, deletes[side]), strict=True
                ):
                    results[side][record_id] = result
        return results

    # -- recording -----------------------------------------------------------------------------

    def run(self) -> None:
        self._load()
        self._identify()
        self._load_counterparts()
        self._plan()
        results = self._write()
        with transaction.atomic():
            self._record_units(results)
            self._record_creates(results)
            self._record_holds()
            SyncOutcome.objects.bulk_create(self.outcomes, batch_size=500)
            SyncRecord.objects.bulk_update(self.believed, ["values"], batch_size=500)
            done = [row.pk for row in self.rows if row.pk not in self.keep_pending]
            SyncRecord.objects.filter(pk__in=done).update(pending=False)
            self.ctx.flush_counters(heartbeat_at=timezone.now())

    def _failures(self, unit: _Unit, results: dict[Side, dict[str, WriteResult]]) -> list[str]:
        errors = []
        for side, key in unit.keys.items():
            result = results[side].get(key)
            if result is None or not result.ok:
                message = (result.error if result else None) or "the system reported no result"
                errors.append(f"{side.upper()}: {message}")
        return errors

    def _keep_pending(self, link: SyncLink) -> None:
        for side in SIDES:
            row = self.records.get((side, link.record_id(side)))
            if row is not None:
                self.keep_pending.add(row.pk)

    def _record_units(self, results: dict[Side, dict[str, WriteResult]]) -> None:
        for unit in self.units.values():
            link = unit.link
            errors = self._failures(unit, results)
            if unit.new:
                link.save()
                self.ctx.count("linked")
            if errors:
                self._keep_pending(link)
                self.ctx.count("failed")
                self._outcome_link(link, SyncOutcome.Outcome.FAILED, error="; ".join(errors))
                continue
            if unit.deletion is not None:
                self._record_deletion(unit)
                continue
            assert unit.plan is not None
            self._record_plan(unit, unit.plan)

    def _record_deletion(self, unit: _Unit) -> None:
        link, deletion = unit.link, unit.deletion
        assert deletion is not None
        SyncLink.objects.filter(pk=link.pk).update(
            status=SyncLink.Status.ENDED, ended_reason=deletion.message[:200], updated_at=timezone.now()
        )
        SyncConflict.objects.filter(
            link=link, status__in=[SyncConflict.Status.OPEN, SyncConflict.Status.RESOLVING]
        ).update(status=SyncConflict.Status.CLOSED, updated_at=timezone.now())
        changes: dict[str, Any] = {}
        if deletion.action == "archive" and deletion.target is not None:
            changes = {deletion.target: {name: [None, value] for name, value in deletion.fields.items()}}
        self.ctx.count("deleted")
        self._outcome_link(link, SyncOutcome.Outcome.DELETED, changes=changes, notes=[deletion.message])

    def _record_plan(self, unit: _Unit, plan: LinkPlan) -> None:
        link = unit.link
        state = (
            "a_values",
            "b_values",
            "a_expect",
            "b_expect",
            "a_expect_since",
            "b_expect_since",
            "a_times",
            "b_times",
        )
        before = [getattr(link, name) for name in state]
        apply_plan_to_link(link, plan)
        if unit.new or before != [getattr(link, name) for name in state]:
            link.save()
        for side in SIDES:
            written = plan.writes[side]
            row = self.records.get((side, link.record_id(side)))
            if written and row is not None:
                # What we wrote is the record's value now, until the system's own rendering is read back.
                row.values = {**row.values, **_json_ready(written)}
                self.believed.append(row)
        opened = self._record_conflicts(link, plan)
        if self._waits_for_related(plan.notes):
            self._keep_pending(link)
        notes = [f"{note.pair_key}: {note.message}" for note in plan.notes]
        if plan.writes_anything:
            for side in SIDES:
                if plan.writes[side]:
                    self.ctx.count(f"updated_{side}")
            changes = {
                side: {name: [old, new] for name, (old, new) in plan.changes[side].items()}
                for side in SIDES
                if plan.changes[side]
            }
            self._outcome_link(
                link,
                SyncOutcome.Outcome.UPDATED,
                changes=changes,
                notes=notes + list(plan.decisions.values()),
            )
        elif unit.new:
            self._outcome_link(link, SyncOutcome.Outcome.LINKED, notes=[link.matched_by, *notes])
        elif notes and not opened:
            self._outcome_link(link, SyncOutcome.Outcome.SKIPPED, notes=notes)
            self.ctx.count("skipped")
        elif not opened:
            self.ctx.count("unchanged")
        if opened:
            self.ctx.count("conflicts", opened)
            self._outcome_link(
                link,
                SyncOutcome.Outcome.CONFLICT,
                notes=[change.pair_key for change in plan.conflicts if change.action == "open"],
            )

    def _record_conflicts(self, link: SyncLink, plan: LinkPlan) -> int:
        opened = 0
        existing = self.conflicts.get(link.pk, {})
        for change in plan.conflicts:
            pair = self.ctx.spec.pair(change.pair_key)
            if pair is None:
                continue
            values = {
                "a_value": _json_ready_value(change.a_value),
                "b_value": _json_ready_value(change.b_value),
                "a_changed_at": change.a_changed_at,
                "b_changed_at": change.b_changed_at,
            }
            held = existing.get(change.pair_key)
            if change.action == "open" and held is None:
                SyncConflict.objects.create(
                    sync=self.ctx.sync,
                    link=link,
                    pair_key=pair.key,
                    a_field=pair.a_field,
                    b_field=pair.b_field,
                    **values,
                )
                opened += 1
            elif change.action == "update" and held is not None and held.status == SyncConflict.Status.OPEN:
                SyncConflict.objects.filter(pk=held.pk).update(**values, updated_at=timezone.now())
            elif change.action == "close" and held is not None:
                SyncConflict.objects.filter(pk=held.pk, status=SyncConflict.Status.OPEN).update(
                    status=SyncConflict.Status.CONVERGED, updated_at=timezone.now()
                )
        return opened

    def _record_creates(self, results: dict[Side, dict[str, WriteResult]]) -> None:
        for create in self.creates:
            source = cast(Side, create.row.side)
            result = results[create.target].get(create.key)
            if result is None or not result.ok or not result.target_id:
                self.keep_pending.add(create.row.pk)
                self.ctx.count("failed")
                message = (result.error if result else None) or "the system reported no id for the new record"
                self._outcome(source, create.row.record_id, "", SyncOutcome.Outcome.FAILED, error=message)
                continue
            target_id = str(result.target_id)
            if SyncLink.objects.filter(
                sync=self.ctx.sync, status=SyncLink.Status.ACTIVE, **{f"{create.target}_id": target_id}
            ).exists():
                # The system matched our create to a record that is already linked: a duplicate to review.
                self.hold_updates.append(
                    (
                        create.row,
                        MatchDecision(
                            "hold",
                            candidates=(target_id,),
                            reason=f"{create.target.upper()} matched the new record to {target_id}, which is "
                            "already linked to another record",
                        ),
                    )
                )
                continue
            self._link_created(create, source, target_id, result.action == "created")

    def _link_created(self, create: _Create, source: Side, target_id: str, created: bool) -> None:
        written = _json_ready(create.plan.fields)
        a_id, b_id = (create.row.record_id, target_id) if source == "a" else (target_id, create.row.record_id)
        link = SyncLink(
            sync=self.ctx.sync,
            a_id=a_id,
            b_id=b_id,
            matched_by=f"created in {create.target.upper()}"
            if created
            else f"matched by {create.target.upper()} on write",
        )
        setattr(link, f"{source}_values", create.plan.source_values)
        setattr(link, f"{create.target}_values", dict(written))
        setattr(link, f"{create.target}_expect", dict(written))
        link.save()
        row, made = SyncRecord.objects.get_or_create(
            sync=self.ctx.sync, side=create.target, record_id=target_id, defaults={"values": written}
        )
        if not made:
            row.values = {**row.values, **written}
            SyncRecord.objects.filter(pk=row.pk).update(values=row.values)
        reindex(self.ctx, create.target, [row])
        if self._waits_for_related(create.plan.notes):
            self.keep_pending.add(create.row.pk)
        self.ctx.count(f"created_{create.target}")
        notes = [f"{note.pair_key}: {note.message}" for note in create.plan.notes]
        changes = {create.target: {name: [None, value] for name, value in written.items()}}
        self._outcome_link(link, SyncOutcome.Outcome.CREATED, changes=changes, notes=notes)

    def _record_holds(self) -> None:
        if self.holds_dismissed:
            DuplicateHold.objects.filter(
                pk__in=self.holds_dismissed, status=DuplicateHold.Status.OPEN
            ).update(status=DuplicateHold.Status.DISMISSED, resolved_at=timezone.now())
        for row, decision in self.hold_updates:
            side = cast(Side, row.side)
            existing = self.open_holds.get((side, row.record_id))
            rule = self.ctx.spec.match[decision.rule].kind if decision.rule is not None else "write"
            fields = {
                "rule": rule,
                "key": (decision.key or "")[:255],
                "reason": decision.reason[:300],
                "candidates": list(decision.candidates),
                "label": _label(row.values)[:255],
            }
            if existing is None:
                DuplicateHold.objects.create(sync=self.ctx.sync, side=side, record_id=row.record_id, **fields)
                self.ctx.count("held")
                self._outcome(side, row.record_id, "", SyncOutcome.Outcome.HELD, error=decision.reason)
            elif existing.status == DuplicateHold.Status.OPEN:
                DuplicateHold.objects.filter(pk=existing.pk).update(**fields)

    def _waits_for_related(self, notes: list[Note]) -> bool:
        """A reference left unwritten because its related record has no counterpart yet, where the related
        sync creates that counterpart: the record stays pending, so the next run (after the related sync,
        which runs first) carries the reference without waiting for the record to change again."""
        for note in notes:
            if note.kind != "reference" or note.source is None:
                continue
            pair = self.ctx.spec.pair(note.pair_key)
            if pair is None or pair.reference is None:
                continue
            if note.source in self._related_creates_from(pair.reference.sync_id):
                return True
        return False

    def _create_waits_for(self, notes: list[Note]) -> list[Note]:
        """The references a new record's counterpart must not be created without: those whose related record
        the related sync will link (it creates counterparts from that side), and those marked `required`."""
        waiting = []
        for note in notes:
            if note.kind != "reference" or note.source is None:
                continue
            pair = self.ctx.spec.pair(note.pair_key)
            if pair is None or pair.reference is None:
                continue
            if pair.reference.required or note.source in self._related_creates_from(pair.reference.sync_id):
                waiting.append(note)
        return waiting

    def _related_creates_from(self, sync_id: int) -> set[Side]:
        """The sides whose new records the related sync gives a counterpart on the other side."""
        if sync_id not in self.related_creates:
            create = (
                Sync.objects.filter(pk=sync_id, team_id=self.ctx.sync.team_id)
                .values_list("create", flat=True)
                .first()
            )
            sides: set[Side] = set()
            if create in (Sync.Create.A_TO_B, Sync.Create.BOTH):
                sides.add("a")
            if create in (Sync.Create.B_TO_A, Sync.Create.BOTH):
                sides.add("b")
            self.related_creates[sync_id] = sides
        return self.related_creates[sync_id]

    # -- outcomes ------------------------------------------------------------------------------

    def _outcome(self, side: Side, record_id: str, other_id: str, outcome: str, *, error: str = "") -> None:
        a_id, b_id = (record_id, other_id) if side == "a" else (other_id, record_id)
        self.outcomes.append(
            SyncOutcome(run=self.ctx.run, a_id=a_id, b_id=b_id, outcome=outcome, error=error[:2000])
        )

    def _outcome_link(
        self,
        link: SyncLink,
        outcome: str,
        *,
        changes: Mapping[Any, Any] | None = None,
        notes: list[str] | None = None,
        error: str = "",
    ) -> None:
        self.outcomes.append(
            SyncOutcome(
                run=self.ctx.run,
                a_id=link.a_id,
                b_id=link.b_id,
                outcome=outcome,
                changes=_json_ready(dict(changes or {})),
                notes=[note for note in (notes or []) if note],
                error=error[:2000],
            )
        )


def _mark_linked(index: dict[tuple[int, str], list[KeyHolder]], refs: set[Ref]) -> None:
    for key, holders in index.items():
        if any((holder.side, holder.record_id) in refs for holder in holders):
            index[key] = [
                KeyHolder(
                    holder.side, holder.record_id, holder.linked or (holder.side, holder.record_id) in refs
                )
                for holder in holders
            ]


def _label(values: dict[str, Any]) -> str:
    for name in ("email", "name", "domain", "firstname"):
        if values.get(name):
            return str(values[name])
    return ""


def _json_ready(values: dict[str, Any]) -> dict[str, Any]:
    from workflows.engine.diff import canonical

    return {name: canonical(value) for name, value in values.items()}


def _json_ready_value(value: Any) -> Any:
    from workflows.engine.diff import canonical

    return canonical(value)
