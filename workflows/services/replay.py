"""The dead-letter list and replays: failed records keep their source values and can be written again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from connectors.base import SourceRecord
from workflows.models import Run, RunRecord, Workflow, WorkflowVersion

PAGE = 100


def dead_letters(*, workflow: Workflow) -> QuerySet[RunRecord]:
    """Failed records not yet replayed, newest first."""
    return (
        RunRecord.objects.filter(
            run__workflow=workflow, outcome=RunRecord.Outcome.FAILED, replayed_at__isnull=True
        )
        .exclude(source_fields=None)
        .select_related("run")
        .order_by("-id")
    )


def run_replay(
    *, run: Run, record_ids: list[int] | None = None, on_current_version: bool = False, enqueue: bool = True
) -> Run | None:
    """Queue a replay of a run's failed records (or some of them) on the version that ran or the current one."""
    from workflows.services.runs import run_request

    workflow = run.workflow
    version: WorkflowVersion | None = workflow.published_version if on_current_version else run.version
    replay = run_request(
        workflow=workflow, trigger=Run.Trigger.REPLAY, enqueue=False, replay_of=run, version=version
    )
    if replay is None:
        return None
    if record_ids:
        replay.replay_record_ids = sorted(set(record_ids))
        replay.save(update_fields=["replay_record_ids"])
    if enqueue:
        from django.db import transaction

        from workflows.tasks import execute_run

        transaction.on_commit(lambda: execute_run.delay(replay.pk))
    return replay


def replay_pages(run: Run) -> Iterator[tuple[list[SourceRecord], Callable[[], None]]]:
    """Pages of the original run's failed records; marking a page read takes them off the dead-letter list."""
    original = run.replay_of
    if original is None:
        return
    failed = RunRecord.objects.filter(
        run=original, outcome=RunRecord.Outcome.FAILED, replayed_at__isnull=True
    ).exclude(source_fields=None)
    if run.replay_record_ids:
        failed = failed.filter(pk__in=run.replay_record_ids)
    last_id = 0
    while True:
        batch = list(failed.filter(pk__gt=last_id).order_by("pk")[:PAGE])
        if not batch:
            return
        last_id = batch[-1].pk
        records = [_source_record(item) for item in batch]
        ids = [item.pk for item in batch]

        def mark_read(ids: list[int] = ids) -> None:
            RunRecord.objects.filter(pk__in=ids).update(replayed_at=timezone.now())

        yield records, mark_read


def _source_record(item: RunRecord) -> SourceRecord:
    fields: dict[str, Any] = dict(item.source_fields or {})
    return SourceRecord(
        id=item.source_id, updated_at=item.source_updated_at or item.run.created_at, fields=fields
    )
