"""Reads for the pages and the API. Every read is scoped to a team."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from integrations_hub.accounts.models import Team
from workflows.models import Run, RunRecord, Workflow

M = TypeVar("M", bound=Model)


def workflow_list(*, team: Team) -> QuerySet[Workflow]:
    """Workflows with the id of their last run annotated, in one query."""
    last_run = Run.objects.filter(workflow=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        Workflow.objects.filter(team=team)
        .select_related("source_connection", "target_connection")
        .annotate(last_run_id=Subquery(last_run.values("id")[:1]))
    )


def workflow_get(*, team: Team, workflow_id: int) -> Workflow:
    return get_object_or_404(
        Workflow.objects.select_related("source_connection", "target_connection"), team=team, pk=workflow_id
    )


def runs_by_id(*, ids: list[int]) -> dict[int, Run]:
    return {run.pk: run for run in Run.objects.filter(pk__in=[i for i in ids if i])}


def run_list(
    *, team: Team, workflow_id: int | None = None, status: str | None = None, record_key: str | None = None
) -> QuerySet[Run]:
    runs = Run.objects.filter(workflow__team=team).select_related("workflow")
    if workflow_id:
        runs = runs.filter(workflow_id=workflow_id)
    if status:
        runs = runs.filter(status=status)
    if record_key:
        # Exact keys (as typed, or lower-cased like a normalised email) so runrecord_key_idx finds them.
        keys = {record_key, record_key.lower()}
        runs = runs.filter(pk__in=RunRecord.objects.filter(record_key__in=keys).values("run_id"))
    return runs.order_by("-created_at", "-id")


def run_get(*, team: Team, run_id: int) -> Run:
    return get_object_or_404(Run.objects.select_related("workflow"), workflow__team=team, pk=run_id)


def run_records(*, run: Run, outcome: str | None = None, query: str | None = None) -> QuerySet[RunRecord]:
    """A run's records in id order. `query` matches the start of the record key (as typed, or lower-cased
    like a normalised email) or a source id exactly: each through an index, so a search costs the same in
    a run of a million records as in a run of ten."""
    records = RunRecord.objects.filter(run=run)
    if outcome:
        records = records.filter(outcome=outcome)
    if query:
        match = Q(source_id=query)
        for prefix in {query, query.lower()}:
            match |= Q(record_key__startswith=prefix)
        records = records.filter(match)
    return records.order_by("id")


@dataclass(frozen=True)
class KeysetPage(Generic[M]):
    """One page of a list read after (or before) the id of a row shown, never with OFFSET: a deep page
    costs what the first one does."""

    object_list: list[M]
    has_previous: bool
    has_next: bool

    @property
    def first_id(self) -> int | None:
        return self.object_list[0].pk if self.object_list else None

    @property
    def last_id(self) -> int | None:
        return self.object_list[-1].pk if self.object_list else None


def keyset_page(
    rows: QuerySet[M],
    *,
    size: int,
    after: int | None = None,
    before: int | None = None,
    descending: bool = False,
) -> KeysetPage[M]:
    """`size` rows of `rows` in id order (newest first when `descending`) that come after the row `after`,
    or the `size` rows just before the row `before`."""
    forward, backward = ("-pk", "pk") if descending else ("pk", "-pk")
    beyond, behind = ("pk__lt", "pk__gt") if descending else ("pk__gt", "pk__lt")
    if before is not None:
        found = list(rows.filter(**{behind: before}).order_by(backward)[: size + 1])
        found.reverse()
        return KeysetPage(found[-size:] if len(found) > size else found, len(found) > size, True)
    if after is not None:
        rows = rows.filter(**{beyond: after})
    found = list(rows.order_by(forward)[: size + 1])
    return KeysetPage(found[:size], after is not None, len(found) > size)


def run_records_total(*, run: Run, outcome: str | None = None) -> int:
    """How many records a run has (with an outcome), from the run's counters rather than COUNT(*)."""
    counts: dict[str, int] = {
        RunRecord.Outcome.CREATED: run.created_count,
        RunRecord.Outcome.UPDATED: run.updated_count,
        RunRecord.Outcome.UNCHANGED: run.unchanged_count,
        RunRecord.Outcome.SKIPPED: run.skipped_count,
        RunRecord.Outcome.FAILED: run.failed_count,
        RunRecord.Outcome.WAITING: run.waiting_count,
    }
    return counts.get(outcome, 0) if outcome else sum(counts.values())
