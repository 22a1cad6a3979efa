"""Reads for the pages and the API. Every read is scoped to a team."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from integrations_hub.accounts.models import Team
from workflows.models import Run, RunRecord, Workflow


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
    records = RunRecord.objects.filter(run=run)
    if outcome:
        records = records.filter(outcome=outcome)
    if query:
        records = records.filter(Q(record_key__icontains=query) | Q(source_id=query) | Q(target_id=query))
    return records.order_by("id")
