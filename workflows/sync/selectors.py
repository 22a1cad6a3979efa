"""Reads for the sync pages and the review queue. Every read is scoped to a team."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from integrations_hub.accounts.models import Team
from workflows.sync.models import (
    DuplicateHold,
    Sync,
    SyncConflict,
    SyncLink,
    SyncOutcome,
    SyncRecordKey,
    SyncRun,
)


def sync_list(*, team: Team) -> QuerySet[Sync]:
    last_run = SyncRun.objects.filter(sync=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        Sync.objects.filter(team=team)
        .select_related("a_connection", "b_connection")
        .annotate(last_run_id=Subquery(last_run.values("id")[:1]))
    )


def sync_get(*, team: Team, sync_id: int) -> Sync:
    return get_object_or_404(
        Sync.objects.select_related("a_connection", "b_connection"), team=team, pk=sync_id
    )


def sync_runs(*, sync: Sync, limit: int = 20) -> list[SyncRun]:
    return list(SyncRun.objects.filter(sync=sync).order_by("-created_at", "-id")[:limit])


def run_outcomes(*, run: SyncRun) -> QuerySet[SyncOutcome]:
    return SyncOutcome.objects.filter(run=run).order_by("id")


def open_conflicts(*, team: Team, sync_id: int | None = None) -> QuerySet[SyncConflict]:
    conflicts = SyncConflict.objects.filter(sync__team=team, status=SyncConflict.Status.OPEN).select_related(
        "sync", "link", "sync__a_connection", "sync__b_connection"
    )
    if sync_id:
        conflicts = conflicts.filter(sync_id=sync_id)
    return conflicts.order_by("opened_at", "id")


def open_holds(*, team: Team, sync_id: int | None = None) -> QuerySet[DuplicateHold]:
    holds = DuplicateHold.objects.filter(sync__team=team, status=DuplicateHold.Status.OPEN).select_related(
        "sync", "sync__a_connection", "sync__b_connection"
    )
    if sync_id:
        holds = holds.filter(sync_id=sync_id)
    return holds.order_by("opened_at", "id")


def conflict_get(*, team: Team, conflict_id: int) -> SyncConflict:
    """Another team's conflict is a 404, never a 403: its existence is not theirs to know."""
    return get_object_or_404(
        SyncConflict.objects.select_related("sync", "link"), sync__team=team, pk=conflict_id
    )


def hold_get(*, team: Team, hold_id: int) -> DuplicateHold:
    return get_object_or_404(DuplicateHold.objects.select_related("sync"), sync__team=team, pk=hold_id)


def review_queue_size(*, team: Team) -> int:
    return open_conflicts(team=team).count() + open_holds(team=team).count()


@dataclass(frozen=True)
class MatchConsistency:
    """How well the two sides' records line up, for the sync page and health."""

    linked: int
    held: int
    duplicates_a: int
    duplicates_b: int
    open_conflicts: int

    @property
    def duplicates(self) -> int:
        return self.duplicates_a + self.duplicates_b


def match_consistency(*, sync: Sync) -> MatchConsistency:
    """Linked pairs, records held as ambiguous, and match keys that two live records share on one side."""
    duplicated = (
        SyncRecordKey.objects.filter(sync=sync)
        .values("side", "rule", "value")
        .annotate(records=Count("record", distinct=True))
        .filter(records__gt=1)
    )
    per_side = {"a": 0, "b": 0}
    for row in duplicated:
        per_side[row["side"]] += 1
    return MatchConsistency(
        linked=SyncLink.objects.filter(sync=sync, status=SyncLink.Status.ACTIVE).count(),
        held=DuplicateHold.objects.filter(sync=sync, status=DuplicateHold.Status.OPEN).count(),
        duplicates_a=per_side["a"],
        duplicates_b=per_side["b"],
        open_conflicts=SyncConflict.objects.filter(sync=sync, status=SyncConflict.Status.OPEN).count(),
    )
