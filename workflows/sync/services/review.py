"""The review queue: a person's decisions on conflicts and duplicate holds, and writing them to both systems.

Deciding is quick and local (the view calls `conflict_resolve` / `hold_resolve`): the item is marked
"resolving", the decision is audited, and a Celery task is queued on commit. The task runs the sync with the
"review" trigger, which applies every decided item under the sync's one-run-at-a-time claim, so a decision
never races a poll over the same link.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any, Literal, cast

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import WriteItem
from integrations_hub.accounts.models import Team
from workflows.engine.diff import canonical
from workflows.engine.sync.compare import same_value
from workflows.engine.sync.reconcile import plan_create, translate
from workflows.engine.sync.spec import SIDES, FieldPair, Side, other
from workflows.sync.models import (
    DuplicateHold,
    SyncConflict,
    SyncLink,
    SyncOutcome,
    SyncRecord,
    SyncRecordKey,
)
from workflows.sync.services.context import RunContext
from workflows.sync.services.ingest import reindex
from workflows.sync.services.process import record_view
from workflows.sync.services.references import LinkReferences


class ReviewError(ValueError):
    """The decision can't be taken (the item was already decided, the candidate is linked elsewhere...)."""


def _audit(
    *, team: Team | int, actor: Any, action: str, obj: Any, summary: str, changes: dict[str, Any]
) -> None:
    from integrations_hub.audit.services import audit_record

    audit_record(team=team, actor=actor, action=action, obj=obj, summary=summary, changes=changes)


def _enqueue_apply(sync_ids: Iterable[int]) -> None:
    from workflows.sync.tasks import apply_review

    def send(sync_id: int) -> None:
        apply_review.delay(sync_id)

    for sync_id in sorted(set(sync_ids)):
        transaction.on_commit(partial(send, sync_id))


@transaction.atomic
def conflicts_resolve(
    *,
    conflicts: list[SyncConflict],
    choice: Literal["a", "b", "value"],
    value: Any = None,
    actor: Any,
    enqueue: bool = True,
) -> int:
    """Decide several open conflicts the same way (one is a list of one). Returns how many were decided."""
    if choice not in ("a", "b", "value"):
        raise ReviewError("Choose A's value, B's value or type a value.")
    decided = 0
    syncs: set[int] = set()
    now = timezone.now()
    for conflict in conflicts:
        claimed = SyncConflict.objects.filter(pk=conflict.pk, status=SyncConflict.Status.OPEN).update(
            status=SyncConflict.Status.RESOLVING,
            choice=choice,
            resolved_value=canonical(value) if choice == "value" else None,
            resolved_by=actor if getattr(actor, "is_authenticated", False) else None,
            resolved_at=now,
            updated_at=now,
        )
        if not claimed:
            continue
        decided += 1
        syncs.add(conflict.sync_id)
        chosen = {"a": conflict.a_value, "b": conflict.b_value, "value": value}[choice]
        _audit(
            team=conflict.sync.team_id,
            actor=actor,
            action="conflict.resolved",
            obj=conflict,
            summary=f"{conflict.sync.name}: {conflict.a_field}/{conflict.b_field} of A {conflict.link.a_id} ↔ "
            f"B {conflict.link.b_id} set to {SyncConflict.Choice(choice).label.lower()}",
            changes={
                "choice": choice,
                "a_value": conflict.a_value,
                "b_value": conflict.b_value,
                "chosen": canonical(chosen),
            },
        )
    if enqueue:
        _enqueue_apply(syncs)
    return decided


@transaction.atomic
def hold_resolve(
    *,
    hold: DuplicateHold,
    choice: Literal["link", "create"],
    candidate_id: str = "",
    actor: Any,
    enqueue: bool = True,
) -> DuplicateHold:
    if choice == "link" and candidate_id not in [str(c) for c in hold.candidates]:
        raise ReviewError("Choose one of the candidates to link to.")
    if choice not in ("link", "create"):
        raise ReviewError("Link to a candidate or create a new record.")
    other_side = other(cast(Side, hold.side))
    if choice == "create" and _key_taken_on(hold, other_side):
        # The other system would match the "new" record to that one by its key and change it instead.
        raise ReviewError(
            "The other side already has a record with this record's match key; link to it, or resolve that "
            "record first."
        )
    linked_elsewhere = SyncLink.objects.filter(
        sync_id=hold.sync_id, status=SyncLink.Status.ACTIVE, **{f"{other_side}_id": candidate_id}
    )
    if choice == "link" and linked_elsewhere.exists():
        raise ReviewError("That candidate is already linked to another record; unlink it first.")
    claimed = DuplicateHold.objects.filter(pk=hold.pk, status=DuplicateHold.Status.OPEN).update(
        status=DuplicateHold.Status.RESOLVING,
        choice=choice,
        chosen_id=candidate_id if choice == "link" else "",
        resolved_by=actor if getattr(actor, "is_authenticated", False) else None,
        resolved_at=timezone.now(),
    )
    if not claimed:
        raise ReviewError("This item was already decided.")
    _audit(
        team=hold.sync.team_id,
        actor=actor,
        action="duplicate.resolved",
        obj=hold,
        summary=f"{hold.sync.name}: {hold.side.upper()} {hold.record_id} "
        + (f"linked to {candidate_id}" if choice == "link" else "created as a new record"),
        changes={"choice": choice, "candidate": candidate_id, "candidates": hold.candidates},
    )
    if enqueue:
        _enqueue_apply([hold.sync_id])
    hold.refresh_from_db()
    return hold


def _key_taken_on(hold: DuplicateHold, side: Side) -> bool:
    own = SyncRecordKey.objects.filter(
        sync_id=hold.sync_id, side=hold.side, record__record_id=hold.record_id
    ).values_list("rule", "value")
    query = Q()
    for rule, value in own:
        query |= Q(rule=rule, value=value)
    return bool(query) and SyncRecordKey.objects.filter(query, sync_id=hold.sync_id, side=side).exists()


# ---------------------------------------------------------------------------------------------
# Applying decisions (inside a run of the sync)
# ---------------------------------------------------------------------------------------------


def apply_hold_decisions(ctx: RunContext, refs: LinkReferences) -> None:
    """Link or create what people decided for duplicate holds; the new pairs are reconciled by this run."""
    holds = list(DuplicateHold.objects.filter(sync=ctx.sync, status=DuplicateHold.Status.RESOLVING))
    for hold in holds:
        side = cast(Side, hold.side)
        target = other(side)
        row = SyncRecord.objects.filter(sync=ctx.sync, side=side, record_id=hold.record_id).first()
        if row is None:
            _hold_failed(hold, "the record is no longer known to the sync")
            continue
        if hold.choice == DuplicateHold.Choice.LINK:
            a_id, b_id = (hold.record_id, hold.chosen_id) if side == "a" else (hold.chosen_id, hold.record_id)
            with transaction.atomic():
                if (
                    SyncLink.objects.filter(sync=ctx.sync, status=SyncLink.Status.ACTIVE)
                    .filter(a_id=a_id)
                    .exists()
                    or SyncLink.objects.filter(
                        sync=ctx.sync, status=SyncLink.Status.ACTIVE, b_id=b_id
                    ).exists()
                ):
                    _hold_failed(hold, "one of the two records was linked in the meantime")
                    continue
                SyncLink.objects.create(sync=ctx.sync, a_id=a_id, b_id=b_id, matched_by="linked by a person")
                # Both records are reconciled by this run as a new pair (first-sight rules per field).
                SyncRecord.objects.filter(sync=ctx.sync, side="a", record_id=a_id).update(pending=True)
                SyncRecord.objects.filter(sync=ctx.sync, side="b", record_id=b_id).update(pending=True)
                DuplicateHold.objects.filter(pk=hold.pk).update(status=DuplicateHold.Status.LINKED)
                ctx.count("linked")
                SyncOutcome.objects.create(
                    run=ctx.run,
                    a_id=a_id,
                    b_id=b_id,
                    outcome=SyncOutcome.Outcome.LINKED,
                    notes=["linked by a person"],
                )
                ctx.flush_counters()
            continue
        view = record_view(ctx, row)
        assert view is not None
        plan = plan_create(ctx.spec, side, view, refs)
        results = ctx.write(target, [WriteItem("create", plan.fields, None)])
        result = results[0]
        with transaction.atomic():
            if not result.ok or not result.target_id:
                _hold_failed(hold, result.error or "the system reported no id for the new record")
                continue
            target_id = str(result.target_id)
            a_id, b_id = (hold.record_id, target_id) if side == "a" else (target_id, hold.record_id)
            if SyncLink.objects.filter(
                sync=ctx.sync, status=SyncLink.Status.ACTIVE, **{f"{target}_id": target_id}
            ).exists():
                _hold_failed(
                    hold, f"{target.upper()} matched the new record to {target_id}, which is already linked"
                )
                continue
            link = SyncLink(sync=ctx.sync, a_id=a_id, b_id=b_id, matched_by="created by a person")
            written = {name: canonical(value) for name, value in plan.fields.items()}
            setattr(link, f"{side}_values", plan.source_values)
            setattr(link, f"{target}_values", dict(written))
            setattr(link, f"{target}_expect", dict(written))
            link.save()
            row, _ = SyncRecord.objects.update_or_create(
                sync=ctx.sync, side=target, record_id=target_id, defaults={"values": written}
            )
            reindex(ctx, target, [row])
            DuplicateHold.objects.filter(pk=hold.pk).update(
                status=DuplicateHold.Status.CREATED, chosen_id=target_id
            )
            ctx.count(f"created_{target}")
            SyncOutcome.objects.create(
                run=ctx.run,
                a_id=a_id,
                b_id=b_id,
                outcome=SyncOutcome.Outcome.CREATED,
                changes={target: {name: [None, value] for name, value in written.items()}},
                notes=["created by a person from the review queue"],
            )
            ctx.flush_counters()


def _hold_failed(hold: DuplicateHold, message: str) -> None:
    # Back to the queue with the reason, so a person sees that the decision could not be applied.
    DuplicateHold.objects.filter(pk=hold.pk).update(status=DuplicateHold.Status.OPEN, error=message[:500])


def _resolved_values(
    ctx: RunContext,
    pair: FieldPair,
    conflict: SyncConflict,
    fields: dict[Side, dict[str, Any]],
    refs: LinkReferences,
) -> dict[Side, Any] | str:
    """The value each side gets: the chosen side keeps its value, the other gets it translated."""
    if conflict.choice == SyncConflict.Choice.VALUE:
        # A typed value is A's value; B gets it through the A→B transforms, like any A value.
        chosen: Side = "a"
        value = conflict.resolved_value
    else:
        chosen = cast(Side, conflict.choice)
        value = conflict.a_value if chosen == "a" else conflict.b_value
    source_fields = {**fields[chosen], pair.field(chosen): value}
    translated = translate(pair, chosen, source_fields, refs)
    if not translated.ok:
        return (
            translated.note.message if translated.note else "the value can't be translated to the other side"
        )
    return {chosen: value, other(chosen): translated.value}


def apply_conflict_decisions(ctx: RunContext, refs: LinkReferences) -> None:
    """Write decided conflicts to both systems. Runs after both sides were read: a side that changed since
    the person decided sends the conflict back to the queue with its new value, rather than overwrite it."""
    conflicts = list(
        SyncConflict.objects.filter(sync=ctx.sync, status=SyncConflict.Status.RESOLVING).select_related(
            "link"
        )
    )
    if not conflicts:
        return
    records = {
        (row.side, row.record_id): row
        for row in SyncRecord.objects.filter(
            sync=ctx.sync, record_id__in={c.link.a_id for c in conflicts} | {c.link.b_id for c in conflicts}
        )
    }
    planned: list[tuple[SyncConflict, FieldPair, dict[Side, Any]]] = []
    items: dict[Side, list[WriteItem]] = {"a": [], "b": []}
    for conflict in conflicts:
        pair = ctx.spec.pair(conflict.pair_key)
        link = conflict.link
        if pair is None or link.status != SyncLink.Status.ACTIVE:
            SyncConflict.objects.filter(pk=conflict.pk).update(
                status=SyncConflict.Status.CLOSED, error="the field pair or the link no longer exists"
            )
            continue
        fields: dict[Side, dict[str, Any]] = {
            side: dict(getattr(records.get((side, link.record_id(side))), "values", {}) or {})
            for side in SIDES
        }
        stale = [
            side.upper()
            for side in SIDES
            if not same_value(fields[side].get(pair.field(side)), getattr(conflict, f"{side}_value"))
        ]
        if stale:
            SyncConflict.objects.filter(pk=conflict.pk).update(
                status=SyncConflict.Status.OPEN,
                a_value=canonical(fields["a"].get(pair.a_field)),
                b_value=canonical(fields["b"].get(pair.b_field)),
                error=f"{' and '.join(stale)} changed after the decision; decide again.",
                updated_at=timezone.now(),
            )
            continue
        values = _resolved_values(ctx, pair, conflict, fields, refs)
        if isinstance(values, str):
            SyncConflict.objects.filter(pk=conflict.pk).update(
                status=SyncConflict.Status.OPEN, error=values[:500]
            )
            continue
        planned.append((conflict, pair, values))
        for side in SIDES:
            current = fields[side].get(pair.field(side))
            if not same_value(current, values[side]):
                items[side].append(
                    WriteItem(f"r{conflict.pk}", {pair.field(side): values[side]}, link.record_id(side))
                )
    results = {
        side: {
            item.key: result for item, result in zip(items[side], ctx.write(side, items[side]), strict=True)
        }
        for side in SIDES
    }
    now = timezone.now()
    with transaction.atomic():
        for conflict, pair, values in planned:
            key = f"r{conflict.pk}"
            failures = [
                f"{side.upper()}: {results[side][key].error}"
                for side in SIDES
                if key in results[side] and not results[side][key].ok
            ]
            if failures:
                SyncConflict.objects.filter(pk=conflict.pk).update(error="; ".join(failures)[:500])
                ctx.count("failed")
                SyncOutcome.objects.create(
                    run=ctx.run,
                    a_id=conflict.link.a_id,
                    b_id=conflict.link.b_id,
                    outcome=SyncOutcome.Outcome.FAILED,
                    error="; ".join(failures),
                )
                continue
            link = SyncLink.objects.select_for_update().get(pk=conflict.link_id)
            changes: dict[str, Any] = {}
            for side in SIDES:
                name = pair.field(side)
                value = canonical(values[side])
                getattr(link, f"{side}_values")[name] = value
                for read in pair.reads(side):
                    row = records.get((side, link.record_id(side)))
                    if read != name and row is not None and read in row.values:
                        getattr(link, f"{side}_values")[read] = row.values[read]
                if key in results[side]:
                    row = records.get((side, link.record_id(side)))
                    getattr(link, f"{side}_expect")[name] = value
                    setattr(link, f"{side}_expect_since", row.updated_at if row is not None else None)
                    ctx.count(f"updated_{side}")
                    old = None if row is None else row.values.get(name)
                    if row is not None:
                        # What we wrote is the record's value now, until the system's rendering is read back.
                        row.values = {**row.values, name: value}
                        SyncRecord.objects.filter(pk=row.pk).update(values=row.values)
                    changes[side] = {name: [old, value]}
            link.save()
            SyncConflict.objects.filter(pk=conflict.pk).update(
                status=SyncConflict.Status.RESOLVED, applied_at=now, error="", updated_at=now
            )
            SyncOutcome.objects.create(
                run=ctx.run,
                a_id=link.a_id,
                b_id=link.b_id,
                outcome=SyncOutcome.Outcome.RESOLVED,
                changes=changes,
                notes=[f"{pair.key}: {conflict.get_choice_display()}"],
            )
        ctx.flush_counters()
