"""Running a workflow: claim the run, read changes page by page, write them, record every outcome.

Each page is read, written to the target, and then recorded in one transaction together with
the cursor that follows it. A crash anywhere before that commit leaves the cursor where it was,
so the page is read again; writes are upserts matched by link or key, so reading again never
duplicates a record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from connectors.base import ChangePage, ConnectorClient, ConnectorError, WriteItem, WriteResult
from connectors.models import Connection
from connectors.registry import get_provider
from connectors.services import client_for, connection_record_error, connection_record_success
from workflows.engine.mapping import CompiledMapping, MappingSpecError, compile_mapping
from workflows.engine.plan import LinkState, PlannedRecord, plan_batch
from workflows.models import RecordLink, Run, RunRecord, TriggerCursor, Workflow

logger = logging.getLogger(__name__)

# A running run whose heartbeat is older than this was lost with its worker and may be replaced.
STALE_RUN_AFTER = timedelta(minutes=10)


class _SideError(Exception):
    """A connector error, tagged with the connection it came from."""

    def __init__(self, connection: Connection, error: ConnectorError) -> None:
        super().__init__(error.message)
        self.connection = connection
        self.error = error


def run_request(*, workflow: Workflow, trigger: str, enqueue: bool = True) -> Run | None:
    """Queue a run unless one is already queued or running. Returns the new run, or None."""
    with transaction.atomic():
        # Lock the workflow row so two requests cannot both see "no active run".
        Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
        _fail_stale_runs(workflow=workflow)
        if Run.objects.filter(workflow=workflow, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).exists():
            return None
        run = Run.objects.create(workflow=workflow, trigger=trigger)
        if enqueue:
            from workflows.tasks import execute_run

            transaction.on_commit(lambda: execute_run.delay(run.pk))
    return run


def _fail_stale_runs(*, workflow: Workflow) -> None:
    cutoff = timezone.now() - STALE_RUN_AFTER
    Run.objects.filter(workflow=workflow, status=Run.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    ).update(
        status=Run.Status.FAILED,
        finished_at=timezone.now(),
        error="The worker running this run stopped; a new run picks up from the last recorded page.",
    )
    Run.objects.filter(workflow=workflow, status=Run.Status.QUEUED, created_at__lt=cutoff).update(
        status=Run.Status.FAILED,
        finished_at=timezone.now(),
        error="This run was never picked up by a worker.",
    )


def workflow_poll(*, workflow_id: int) -> Run | None:
    """What the periodic task does: start a poll run now, in this worker, unless one is active."""
    workflow = Workflow.objects.filter(pk=workflow_id, enabled=True).first()
    if workflow is None:
        return None
    run = run_request(workflow=workflow, trigger=Run.Trigger.POLL, enqueue=False)
    if run is None:
        return None
    run_execute(run_id=run.pk)
    return Run.objects.filter(pk=run.pk).first()


def run_claim(*, run_id: int) -> bool:
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    return claimed == 1


@dataclass
class _Stats:
    api_requests: int = 0
    retries: int = 0
    throttle_wait_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def run_execute(*, run_id: int) -> None:
    """Claim and execute a queued run. A run already claimed (a redelivered task) is left alone."""
    if not run_claim(run_id=run_id):
        logger.info("run %s already claimed; nothing to do", run_id)
        return
    run = Run.objects.select_related("workflow__source_connection", "workflow__target_connection").get(
        pk=run_id
    )
    workflow = run.workflow
    source_connection = workflow.source_connection
    target_connection = workflow.target_connection
    clients: list[ConnectorClient] = []
    try:
        mapping = compile_mapping(workflow.mapping)
        source = client_for(source_connection)
        target = client_for(target_connection)
        clients = [source, target]
        cursor, _ = TriggerCursor.objects.get_or_create(workflow=workflow)
        batch_size = _batch_size(target_connection, workflow.target_object)
        for page in _pages(source_connection, source, workflow.source_object, cursor.value, batch_size):
            _process_page(
                run=run, workflow=workflow, page=page, mapping=mapping, target=target, batch_size=batch_size
            )
            _record_http_stats(run, clients)
    except _SideError as exc:
        connection_record_error(connection=exc.connection, error=exc.error)
        _finish(run, clients, error=f"{exc.connection.name}: {exc.error.message}")
        return
    except MappingSpecError as exc:
        _finish(run, clients, error="The mapping is not valid: " + "; ".join(exc.messages))
        return
    except Exception as exc:
        logger.exception("run %s crashed", run_id)
        _finish(run, clients, error=f"Unexpected error: {type(exc).__name__}: {exc}")
        raise
    connection_record_success(connection=source_connection)
    if run.records_read:
        connection_record_success(connection=target_connection)
    _finish(run, clients, error="")


def _batch_size(connection: Connection, object_name: str) -> int:
    capabilities = get_provider(connection.kind).capabilities.get(object_name)
    return capabilities.batch_size if capabilities else 100


def _pages(
    connection: Connection, client: ConnectorClient, object_name: str, cursor: str | None, page_size: int
) -> Iterator[ChangePage]:
    iterator = iter(client.list_changes(object_name, cursor, page_size=page_size))
    while True:
        try:
            page = next(iterator)
        except StopIteration:
            return
        except ConnectorError as exc:
            raise _SideError(connection, exc) from exc
        yield page


def _process_page(
    *,
    run: Run,
    workflow: Workflow,
    page: ChangePage,
    mapping: CompiledMapping,
    target: ConnectorClient,
    batch_size: int,
) -> None:
    source_ids = [record.id for record in page.records]
    existing = {
        link.source_id: link
        for link in RecordLink.objects.filter(workflow=workflow, source_id__in=source_ids)
    }
    link_states = {
        source_id: LinkState(
            target_id=link.target_id, last_fingerprint=link.last_fingerprint, last_values=link.last_values
        )
        for source_id, link in existing.items()
    }
    planned = plan_batch(page.records, mapping, link_states, match_field=workflow.match_field)
    writes = [item.write for item in planned if item.write is not None]
    results: dict[str, WriteResult] = {}
    for start in range(0, len(writes), batch_size):
        chunk = writes[start : start + batch_size]
        results.update(_write_chunk(workflow, target, chunk))

    outcomes: list[RunRecord] = []
    link_updates: list[RecordLink] = []
    counts: dict[str, int] = {}
    for item in planned:
        record, link = _outcome(
            run, workflow, item, results.get(item.source_id), existing.get(item.source_id)
        )
        outcomes.append(record)
        counts[record.outcome] = counts.get(record.outcome, 0) + 1
        if link is not None:
            link_updates.append(link)

    with transaction.atomic():
        RunRecord.objects.bulk_create(outcomes, batch_size=500)
        _save_links(workflow, link_updates)
        TriggerCursor.objects.filter(workflow=workflow).update(value=page.cursor, updated_at=timezone.now())
        Run.objects.filter(pk=run.pk).update(
            records_read=F("records_read") + len(page.records),
            heartbeat_at=timezone.now(),
            **{f"{outcome}_count": F(f"{outcome}_count") + n for outcome, n in counts.items()},
        )


def _write_chunk(
    workflow: Workflow, target: ConnectorClient, chunk: list[WriteItem]
) -> dict[str, WriteResult]:
    try:
        results = target.upsert_batch(workflow.target_object, chunk, match_field=workflow.match_field)
    except ConnectorError as exc:
        if not exc.permanent:
            # Transient after the HTTP layer's retries: stop the run without advancing the cursor.
            raise _SideError(workflow.target_connection, exc) from exc
        if exc.status in {401, 403}:
            raise _SideError(workflow.target_connection, exc) from exc
        # A permanent error for the whole batch fails these records, with the system's message.
        return {item.key: WriteResult(key=item.key, ok=False, error=exc.message) for item in chunk}
    return {result.key: result for result in results}


def _outcome(
    run: Run, workflow: Workflow, item: PlannedRecord, result: WriteResult | None, link: RecordLink | None
) -> tuple[RunRecord, RecordLink | None]:
    dropped: list[Any] = [list(entry) for entry in item.dropped]
    base = {"run": run, "source_id": item.source_id, "record_key": str(item.match_value or "")[:255]}
    if item.write is None:
        outcome = {"unchanged": "unchanged", "skipped": "skipped"}.get(item.outcome, "failed")
        return (
            RunRecord(
                **base,
                target_id=link.target_id if link else "",
                outcome=outcome,
                dropped=dropped,
                error=item.error or "",
            ),
            None,
        )
    if result is None or not result.ok:
        message = (result.error if result else None) or "The target did not report a result for this record."
        return RunRecord(**base, outcome=RunRecord.Outcome.FAILED, dropped=dropped, error=message), None
    target_id = str(result.target_id or (link.target_id if link else ""))
    outcome = RunRecord.Outcome.CREATED if result.action == "created" else RunRecord.Outcome.UPDATED
    diff = {name: [old, new] for name, (old, new) in item.diff.items()}
    new_link = link or RecordLink(workflow=workflow, source_id=item.source_id)
    new_link.target_id = target_id
    new_link.match_value = str(item.match_value or "")[:255]
    new_link.last_fingerprint = item.fingerprint or ""
    new_link.last_values = dict(item.values)
    return RunRecord(**base, target_id=target_id, outcome=outcome, diff=diff, dropped=dropped), new_link


def _save_links(workflow: Workflow, links: list[RecordLink]) -> None:
    if not links:
        return
    RecordLink.objects.bulk_create(
        links,
        update_conflicts=True,
        unique_fields=["workflow", "source_id"],
        update_fields=["target_id", "match_value", "last_fingerprint", "last_values", "updated_at"],
        batch_size=500,
    )


def _record_http_stats(run: Run, clients: list[ConnectorClient]) -> None:
    totals = _Stats()
    for client in clients:
        stats = getattr(getattr(client, "http", None), "stats", None)
        if stats is None:
            continue
        totals.api_requests += int(getattr(stats, "requests", 0))
        totals.retries += int(getattr(stats, "retries", 0))
        totals.throttle_wait_seconds += float(getattr(stats, "throttle_wait_seconds", 0.0))
    Run.objects.filter(pk=run.pk).update(
        api_requests=totals.api_requests,
        retries=totals.retries,
        throttle_wait_seconds=totals.throttle_wait_seconds,
    )


def _finish(run: Run, clients: list[ConnectorClient], *, error: str) -> None:
    _record_http_stats(run, clients)
    run.refresh_from_db()
    if error:
        status = Run.Status.FAILED
    elif run.failed_count:
        status = Run.Status.PARTIAL
    else:
        status = Run.Status.SUCCEEDED
    now = timezone.now()
    Workflow.objects.filter(pk=run.workflow_id).update(last_checked_at=now)
    if run.trigger == Run.Trigger.POLL and not error and run.records_read == 0:
        # A poll that found nothing is not a run worth a row: the workflow's "last checked" shows it.
        run.delete()
        return
    Run.objects.filter(pk=run.pk).update(status=status, finished_at=now, error=error)
    run.refresh_from_db()
