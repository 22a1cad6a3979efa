"""Multi-step workflows: each record walks the steps (filters, branches, lookups, actions, delays)
through the step interpreter, and what every step did is recorded with the record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.base import SourceRecord
from workflows.engine.plan import LinkState
from workflows.engine.steps import RecordExecution, execute_record, resume_record
from workflows.models import DelayedRecord, Run, RunRecord, StepLink
from workflows.services.webhooks import link_note_applied, source_changed_later, split_older_than_applied

if TYPE_CHECKING:
    from workflows.services.runs import RunContext

_OUTCOMES = {
    "created": RunRecord.Outcome.CREATED,
    "updated": RunRecord.Outcome.UPDATED,
    "unchanged": RunRecord.Outcome.UNCHANGED,
    "skipped": RunRecord.Outcome.SKIPPED,
    "failed": RunRecord.Outcome.FAILED,
    "suspended": RunRecord.Outcome.WAITING,
}


class RetryLater(Exception):
    """A step could not reach a system (a transient error): the page is not marked read, so it is retried."""


# A multi-step workflow remembers, per source record, when the source made the change it last applied,
# in a step link under this id: step ids are identifiers, so it names no step.
SOURCE_MARK = "@source"


@dataclass
class SourceMark:
    """The change last applied to one source record of a multi-step workflow (see `AppliedChange`)."""

    target_id: str = ""
    match_value: str = ""
    source_updated_at: datetime | None = None

    @classmethod
    def from_link(cls, link: StepLink) -> SourceMark:
        values = link.last_values or {}
        moment = parse_datetime(str(values.get("source_updated_at") or ""))
        return cls(
            target_id=link.target_id, match_value=str(values.get("record_key", "")), source_updated_at=moment
        )


def process_step_records(
    context: RunContext,
    records: list[SourceRecord],
    mark_read: Callable[[], None],
    *,
    already_counted: int = 0,
) -> None:
    assert context.compiled is not None and context.ports is not None
    workflow = context.workflow
    links, marks = _links_and_marks(workflow.pk, list({record.id for record in records}))
    # As for a single mapping: a webhook change older than the one already applied to its record, or
    # superseded by a later one in this page, is skipped with its reason (and still recorded).
    records, older = split_older_than_applied(context.run, records, marks)
    latest: dict[str, SourceRecord] = {}
    for record in records:
        if record.id not in latest or record.updated_at >= latest[record.id].updated_at:
            latest[record.id] = record
    executions = [
        (record, execute_record(context.compiled, record, context.ports, links=links.get(record.id, {})))
        for record in latest.values()
    ]
    _record(
        context,
        executions,
        mark_read,
        read=len(records) + len(older) + already_counted,
        skipped_before=already_counted,
        older=older,
        marks=marks,
    )


def _links(workflow_id: int, source_ids: list[str]) -> dict[str, dict[str, LinkState]]:
    return _links_and_marks(workflow_id, source_ids)[0]


def _links_and_marks(
    workflow_id: int, source_ids: list[str]
) -> tuple[dict[str, dict[str, LinkState]], dict[str, SourceMark]]:
    links: dict[str, dict[str, LinkState]] = {}
    marks: dict[str, SourceMark] = {}
    for link in StepLink.objects.filter(workflow_id=workflow_id, source_id__in=source_ids):
        if link.step_id == SOURCE_MARK:
            marks[link.source_id] = SourceMark.from_link(link)
            continue
        links.setdefault(link.source_id, {})[link.step_id] = LinkState(
            target_id=link.target_id, last_fingerprint=link.last_fingerprint, last_values=link.last_values
        )
    return links, marks


def _noted_marks(
    workflow: Any,
    executions: list[tuple[SourceRecord, RecordExecution]],
    marks: dict[str, SourceMark],
    record_keys: dict[str, tuple[str, str]],
) -> list[StepLink]:
    """The source marks that learn of a change applied now (any outcome but a failure)."""
    rows: list[StepLink] = []
    for record, execution in executions:
        if execution.outcome == "failed":
            continue
        mark = marks.get(record.id) or SourceMark()
        if not source_changed_later(mark, record):
            continue
        link_note_applied(mark, record)
        target_id, record_key = record_keys[record.id]
        assert mark.source_updated_at is not None
        rows.append(
            StepLink(
                workflow=workflow,
                step_id=SOURCE_MARK,
                source_id=record.id,
                target_id=(target_id or mark.target_id)[:120],
                last_values={
                    "source_updated_at": mark.source_updated_at.isoformat(),
                    "record_key": record_key or mark.match_value,
                },
            )
        )
    return rows


def _record(
    context: RunContext,
    executions: list[tuple[SourceRecord, RecordExecution]],
    mark_read: Callable[[], None],
    *,
    read: int,
    skipped_before: int,
    delayed_done: list[int] | None = None,
    older: list[RunRecord] | None = None,
    marks: dict[str, SourceMark] | None = None,
) -> None:
    workflow = context.workflow
    outcomes: list[RunRecord] = list(older or [])
    record_keys: dict[str, tuple[str, str]] = {}
    step_links: list[StepLink] = []
    delayed: list[DelayedRecord] = []
    counts: dict[str, int] = {RunRecord.Outcome.SKIPPED: len(older)} if older else {}
    retry = [
        execution for _, execution in executions if execution.outcome == "failed" and execution.retryable
    ]
    for record, execution in executions:
        for step in execution.steps:
            if step.link is not None:
                step_links.append(
                    StepLink(
                        workflow=workflow,
                        step_id=step.step_id,
                        source_id=record.id,
                        target_id=step.link.target_id or "",
                        last_fingerprint=step.link.last_fingerprint or "",
                        last_values=dict(step.link.last_values or {}),
                    )
                )
        outcome = _OUTCOMES[execution.outcome]
        counts[outcome] = counts.get(outcome, 0) + 1
        first_write = next((s for s in execution.steps if s.kind == "action" and s.outputs.get("id")), None)
        diff = {
            f"{s.step_id}.{name}": list(change) for s in execution.steps for name, change in s.diff.items()
        }
        run_record = RunRecord(
            run=context.run,
            source_id=record.id,
            target_id=str(first_write.outputs.get("id")) if first_write else "",
            record_key=_record_key(record)[:255],
            outcome=outcome,
            diff=diff,
            dropped=[[f"{s.step_id}.{name}", why] for s in execution.steps for name, why in s.dropped],
            error=execution.message
            if outcome in {RunRecord.Outcome.FAILED, RunRecord.Outcome.SKIPPED}
            else "",
            steps=[s.to_dict() for s in execution.steps],
        )
        record_keys[record.id] = (run_record.target_id, run_record.record_key)
        if outcome == RunRecord.Outcome.FAILED:
            run_record.source_fields = dict(record.fields)
            run_record.source_updated_at = record.updated_at
        outcomes.append(run_record)
        if execution.suspended is not None and context.run.version is not None:
            delayed.append(
                DelayedRecord(
                    workflow=workflow,
                    version=context.run.version,
                    source_id=record.id,
                    resume_at=execution.suspended.until,
                    state=execution.suspended.state,
                )
            )
    with transaction.atomic():
        # What steps wrote is kept even when the page is retried, so a retry never creates twice.
        _save_step_links(step_links)
        if retry:
            transaction.on_commit(lambda: None)
        else:
            if marks is not None:
                _save_step_links(_noted_marks(workflow, executions, marks, record_keys))
            RunRecord.objects.bulk_create(outcomes, batch_size=500)
            DelayedRecord.objects.bulk_create(delayed, batch_size=500)
            if delayed_done:
                DelayedRecord.objects.filter(pk__in=delayed_done).delete()
            mark_read()
            if skipped_before:
                counts[RunRecord.Outcome.SKIPPED] = counts.get(RunRecord.Outcome.SKIPPED, 0) + skipped_before
            Run.objects.filter(pk=context.run.pk).update(
                records_read=F("records_read") + read,
                heartbeat_at=timezone.now(),
                **{f"{outcome}_count": F(f"{outcome}_count") + n for outcome, n in counts.items()},
            )
    if retry:
        raise RetryLater(f"{retry[0].message} (the page will be read again)")


def _record_key(record: SourceRecord) -> str:
    for name in ("email", "Email", "domain", "external_id"):
        value = record.fields.get(name)
        if value:
            return str(value)
    return record.id


def _save_step_links(links: list[StepLink]) -> None:
    if links:
        StepLink.objects.bulk_create(
            links,
            update_conflicts=True,
            unique_fields=["workflow", "source_id", "step_id"],
            update_fields=["target_id", "last_fingerprint", "last_values", "updated_at"],
            batch_size=500,
        )


def resume_due(context: RunContext, *, limit: int = 100) -> None:
    """Continue records whose delay is over (the run's version must be the one they waited in)."""
    assert context.compiled is not None and context.ports is not None
    now = timezone.now()
    due = list(
        DelayedRecord.objects.filter(
            workflow=context.workflow,
            version=context.run.version,
            resume_at__lte=now,
            claimed_at__isnull=True,
        ).values_list("id", flat=True)[:limit]
    )
    claimed = DelayedRecord.objects.filter(pk__in=due, claimed_at__isnull=True).update(claimed_at=now)
    if not claimed:
        return
    items = list(DelayedRecord.objects.filter(pk__in=due, claimed_at=now))
    links = _links(context.workflow.pk, [item.source_id for item in items])
    executions: list[tuple[SourceRecord, RecordExecution]] = []
    for item in items:
        state: dict[str, Any] = item.state
        record = SourceRecord(
            id=item.source_id, updated_at=item.created_at, fields=state.get("record", {}).get("fields", {})
        )
        executions.append(
            (
                record,
                resume_record(context.compiled, state, context.ports, links=links.get(item.source_id, {})),
            )
        )
    _record(
        context,
        executions,
        lambda: None,
        read=len(items),
        skipped_before=0,
        delayed_done=[i.pk for i in items],
    )


def resume_workflow(*, workflow_id: int) -> list[int]:
    """One resume run per version that has records due (a record always continues in its own version)."""
    from workflows.models import Workflow, WorkflowVersion
    from workflows.services.runs import run_execute, run_request

    workflow = Workflow.objects.filter(pk=workflow_id, enabled=True).first()
    if workflow is None:
        return []
    version_ids = set(
        DelayedRecord.objects.filter(
            workflow=workflow, resume_at__lte=timezone.now(), claimed_at__isnull=True
        ).values_list("version_id", flat=True)
    )
    runs: list[int] = []
    for version in WorkflowVersion.objects.filter(pk__in=version_ids).order_by("number"):
        run = run_request(workflow=workflow, trigger=Run.Trigger.RESUME, enqueue=False, version=version)
        if run is None:
            break
        run_execute(run_id=run.pk)
        runs.append(run.pk)
    return runs
