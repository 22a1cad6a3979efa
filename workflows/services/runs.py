"""Running a workflow: claim the run, read what changed, write it, record every outcome.

Records arrive in pages (a poll's pages, a batch of webhook events, the failed records of a run
being replayed). Each page is written to the target and then recorded in one transaction together
with what marks it as read: the poll cursor that follows it, or the events' processed state. A
crash anywhere before that commit leaves the page unread, so it is read again; writes are upserts
matched by link or key, so reading again never duplicates a record.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import (
    AuthenticationError,
    ChangePage,
    ConnectorClient,
    ConnectorError,
    SourceRecord,
    WriteItem,
    WriteResult,
)
from connectors.models import Connection
from connectors.registry import get_provider
from connectors.schemas import schema_prime
from connectors.services import client_for, connection_record_error, connection_record_success
from integrations_hub.logging import log_context
from integrations_hub.metrics import sync_latency_observe
from workflows.definition import Definition
from workflows.engine.definition import CompiledWorkflow, DefinitionError, compile_definition
from workflows.engine.mapping import ApplyContext, CompiledMapping, MappingSpecError, compile_mapping
from workflows.engine.plan import LinkState, PlannedRecord, latest_by_id, plan_batch
from workflows.models import InboundEvent, RecordLink, Run, RunRecord, TriggerCursor, Workflow
from workflows.services.bulk_write import insert_rows, update_where, upsert_rows
from workflows.services.drift import SchemaDrift, schema_max_age, workflow_check_drift
from workflows.services.ports import ConnectorPorts
from workflows.services.steps import RetryLater
from workflows.services.webhooks import (
    link_note_applied,
    source_changed_later,
    split_older_than_applied,
    webhook_secret,
)

logger = logging.getLogger(__name__)

# Triggers whose records arrive as stored events (webhook deliveries, rows of uploaded files).
EVENT_TRIGGERS = (Workflow.Trigger.WEBHOOK, Workflow.Trigger.FILE)
# A running run whose heartbeat is older than this was lost with its worker and may be replaced.
STALE_RUN_AFTER = timedelta(seconds=settings.HUB_STALE_RUN_SECONDS)


class SideError(Exception):
    """A connector error, tagged with the connection it came from."""

    def __init__(self, connection: Connection, error: ConnectorError) -> None:
        super().__init__(error.message)
        self.connection = connection
        self.error = error


class RunHeld(Exception):
    """The run stopped before writing anything because a person has to confirm it (flood guard)."""


def run_request(
    *,
    workflow: Workflow,
    trigger: str,
    enqueue: bool = True,
    replay_of: Run | None = None,
    version: Any = None,
) -> Run | None:
    """Queue a run of the published version unless one is already queued or running."""
    with transaction.atomic():
        # Lock the workflow row so two requests cannot both see "no active run".
        locked = Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
        if locked is None or (version is None and locked.published_version_id is None):
            return None
        fail_stale_runs(workflow=workflow)
        if Run.objects.filter(workflow=workflow, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).exists():
            return None
        run = Run.objects.create(
            workflow=workflow,
            trigger=trigger,
            version_id=version.pk if version is not None else locked.published_version_id,
            replay_of=replay_of,
        )
        if enqueue:
            from workflows.tasks import execute_run

            transaction.on_commit(lambda: execute_run.delay(run.pk))
    return run


def fail_stale_runs(*, workflow: Workflow) -> None:
    """Runs lost with their worker are marked failed; the events they had claimed go back to the queue."""
    cutoff = timezone.now() - STALE_RUN_AFTER
    stale = list(
        Run.objects.filter(workflow=workflow, status=Run.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
        .values_list("id", flat=True)
    )
    if stale:
        Run.objects.filter(pk__in=stale, status=Run.Status.RUNNING).update(
            status=Run.Status.FAILED,
            finished_at=timezone.now(),
            error="The worker running this run stopped; a new run picks up from the last recorded page.",
        )
        # Events the lost run had claimed go back to the queue; they were never marked processed.
        InboundEvent.objects.filter(run_id__in=stale, status=InboundEvent.Status.PROCESSING).update(
            status=InboundEvent.Status.PENDING, next_attempt_at=None
        )
    Run.objects.filter(workflow=workflow, status=Run.Status.QUEUED, created_at__lt=cutoff).update(
        status=Run.Status.FAILED,
        finished_at=timezone.now(),
        error="This run was never picked up by a worker.",
    )


def run_confirm_flood(*, run: Run, enqueue: bool = True) -> Run | None:
    """A person confirms a run the flood guard held: run again, allowed to write everything it finds."""
    if run.status != Run.Status.HELD:
        return None
    confirmed = run_request(workflow=run.workflow, trigger=run.trigger, enqueue=False, version=run.version)
    if confirmed is None:
        return None
    Run.objects.filter(pk=confirmed.pk).update(flood_confirmed=True)
    confirmed.flood_confirmed = True
    from workflows.services.alerts import incident_resolve

    incident_resolve(workflow_id=run.workflow_id, kind="paused")
    if enqueue:
        from workflows.tasks import execute_run

        transaction.on_commit(lambda: execute_run.delay(confirmed.pk))
    return confirmed


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
class RunContext:
    """What the page processing needs, resolved once per run."""

    run: Run
    workflow: Workflow
    definition: Definition
    mapping: CompiledMapping
    source_connection: Connection | None
    target_connection: Connection
    target: ConnectorClient
    batch_size: int
    clients: list[ConnectorClient]
    # Set for multi-step workflows, which run each record through the step interpreter.
    compiled: CompiledWorkflow | None = None
    ports: ConnectorPorts | None = None


def run_execute(*, run_id: int) -> None:
    """Claim and execute a queued run. A run already claimed (a redelivered task) is left alone."""
    if not run_claim(run_id=run_id):
        logger.info("run %s already claimed; nothing to do", run_id)
        return
    run = Run.objects.select_related("workflow", "version").get(pk=run_id)
    # Every log line of the run, from any module (HTTP layer, connectors, engine), carries both ids.
    with log_context(run_id=run.pk, workflow_id=run.workflow_id):
        _execute_claimed(run)


def _execute_claimed(run: Run) -> None:
    run_id = run.pk
    clients: list[ConnectorClient] = []
    try:
        context = _context(run)
        clients = context.clients
        if run.trigger in {Run.Trigger.POLL, Run.Trigger.MANUAL, Run.Trigger.WEBHOOK}:
            # A mapped field deleted or retyped pauses the workflow instead of failing every record.
            drift = workflow_check_drift(
                workflow=run.workflow,
                definition=context.definition,
                mapping=context.mapping,
                published_at=run.version.created_at if run.version else None,
                run_id=run.pk,
            )
            if drift is not None:
                raise SchemaDrift(drift.reason)
        if context.compiled is None and context.definition.target_object:
            # After the drift check, which refreshes the cached copy when it is stale or suspect.
            schema_prime(
                client=context.target,
                connection=context.target_connection,
                object_name=context.definition.target_object,
                max_age=schema_max_age(),
            )
        if run.trigger == Run.Trigger.RESUME:
            from workflows.services.steps import resume_due

            if context.compiled is not None:
                resume_due(context)
        elif run.trigger == Run.Trigger.REPLAY:
            from workflows.services.replay import replay_pages

            pages = replay_pages(run)
            for records, mark_read in pages:
                process_records(context, records, mark_read)
        elif context.definition.trigger_type in EVENT_TRIGGERS:
            from workflows.services.webhooks import event_pages

            for records, mark_read in event_pages(context):
                process_records(context, records, mark_read)
        else:
            _poll(context, confirm_flood=run.flood_confirmed)
    except SideError as exc:
        connection_record_error(connection=exc.connection, error=exc.error)
        _finish(
            run,
            clients,
            error=f"{exc.connection.name}: {exc.error.message}",
            reconnect=isinstance(exc.error, AuthenticationError),
        )
        return
    except MappingSpecError as exc:
        _finish(run, clients, error="The mapping is not valid: " + "; ".join(exc.messages))
        return
    except SchemaDrift as exc:
        # The check paused the workflow and opened a "paused" incident; a "failing" one would say it twice.
        _finish(run, clients, error=str(exc), track_incident=False)
        return
    except RunHeld as exc:
        _finish(run, clients, error="", held=str(exc))
        return
    except RetryLater as exc:
        _finish(run, clients, error=str(exc))
        return
    except Exception as exc:
        logger.exception("run %s crashed", run_id)
        _finish_despite_database_outage(run, clients, error=f"Unexpected error: {type(exc).__name__}: {exc}")
        raise
    if context.source_connection is not None:
        connection_record_success(connection=context.source_connection)
    run.refresh_from_db(fields=["records_read"])
    if run.records_read:
        connection_record_success(connection=context.target_connection)
    _finish(run, clients, error="")


def _finish_despite_database_outage(run: Run, clients: list[ConnectorClient], *, error: str) -> None:
    """Record the failure even when the crash was the database going away: retry for about 30 s.

    Without this a run whose database restarted mid-way would stay "running" until it went stale.
    """
    for attempt in range(7):
        try:
            _finish(run, clients, error=error)
            return
        except DatabaseError:
            if attempt == 6:
                raise
            close_old_connections()
            time.sleep(min(2**attempt * 0.5, 8.0))


def _context(run: Run) -> RunContext:
    if run.version is None:
        raise MappingSpecError(["This workflow has no published version to run."])
    definition = Definition.from_json(run.version.definition)
    ids = [i for i in (definition.source_connection_id, definition.target_connection_id) if i is not None]
    connections = Connection.objects.in_bulk(ids)
    source_connection = (
        connections.get(definition.source_connection_id) if definition.source_connection_id else None
    )
    target_connection = connections[definition.target_connection_id]
    target = client_for(target_connection)
    clients = [target]
    compiled: CompiledWorkflow | None = None
    ports: ConnectorPorts | None = None
    if definition.steps:
        try:
            compiled = compile_definition(
                definition.step_definition(), workflow_id=run.workflow_id, version=run.version.number
            )
        except DefinitionError as exc:
            raise MappingSpecError(exc.messages) from exc
        ports = ConnectorPorts(
            workflow=run.workflow, clients=clients, webhook_secret=webhook_secret(run.workflow)
        )
        mapping = compile_mapping({"fields": []})
    else:
        mapping = compile_mapping(definition.mapping)
    return RunContext(
        run=run,
        workflow=run.workflow,
        definition=definition,
        mapping=mapping,
        source_connection=source_connection,
        target_connection=target_connection,
        target=target,
        batch_size=_batch_size(target_connection, definition.target_object),
        clients=clients,
        compiled=compiled,
        ports=ports,
    )


def _batch_size(connection: Connection, object_name: str) -> int:
    capabilities = get_provider(connection.kind).capabilities.get(object_name)
    return capabilities.batch_size if capabilities else 100


def _poll(context: RunContext, *, confirm_flood: bool) -> None:
    if context.source_connection is None:
        raise MappingSpecError(["This workflow has no source connection to read from."])
    source = client_for(context.source_connection)
    context.clients.append(source)
    # The cached schema (as fresh as the drift check requires) spares a schema request per poll: a poll
    # that finds nothing then costs one request.
    schema_prime(
        client=source,
        connection=context.source_connection,
        object_name=context.definition.source_object,
        max_age=schema_max_age(),
    )
    cursor, _ = TriggerCursor.objects.get_or_create(workflow=context.workflow)
    not_before = _start_moment(context, cursor.value)
    with _page_recorder() as recorder:
        source_pages = _pages(
            context.source_connection,
            source,
            context.definition.source_object,
            cursor.value,
            context.batch_size,
        )
        if recorder.threaded and context.compiled is None:
            source_pages = _prefetching_links(source_pages, context.workflow, recorder)
        read = _read_ahead(source_pages)
        pages: Iterator[ChangePage] = read
        threshold = context.definition.flood_threshold
        if threshold and not confirm_flood:
            pages = _flood_guarded(pages, threshold)
        with contextlib.closing(read):
            _process_pages(context, pages, not_before, recorder)


def _prefetching_links(
    pages: Iterator[ChangePage], workflow: Workflow, recorder: PageRecorder
) -> Iterator[ChangePage]:
    """The same pages, each one's stored links looked up as soon as it is read (on the reading thread)."""
    for page in pages:
        recorder.prefetch(workflow, id(page), [record.id for record in page.records])
        yield page


def _process_pages(
    context: RunContext, pages: Iterator[ChangePage], not_before: datetime | None, recorder: PageRecorder
) -> None:
    for page in pages:
        records = [r for r in page.records if not_before is None or r.updated_at >= not_before]
        skipped_old = len(page.records) - len(records)

        def mark_read(page: ChangePage = page) -> None:
            update_where(
                TriggerCursor,
                {"workflow": context.workflow.pk},
                assign={"value": page.cursor, "updated_at": timezone.now()},
            )

        process_records(
            context, records, mark_read, already_counted=skipped_old, recorder=recorder, page_key=id(page)
        )


def _start_moment(context: RunContext, cursor: str | None) -> datetime | None:
    """With "start from now" or a date, records changed before that moment are not synced."""
    if cursor is not None:
        return None
    definition = context.definition
    if definition.start_from == Workflow.StartFrom.DATE:
        return definition.start_from_date
    if definition.start_from == Workflow.StartFrom.NOW:
        return context.run.version.created_at if context.run.version else None
    return None


def _flood_guarded(pages: Iterator[ChangePage], threshold: int) -> Iterator[ChangePage]:
    """Read ahead up to the threshold before writing anything; more than that holds the run."""
    buffered: list[ChangePage] = []
    count = 0
    for page in pages:
        buffered.append(page)
        count += len(page.records)
        if count > threshold:
            raise RunHeld(
                f"This poll found more than {threshold} changed records. Nothing was written: "
                "confirm the run to sync them, or raise the workflow's flood limit."
            )
        if not page.has_more:
            break
    yield from buffered
    yield from pages


def _read_ahead(pages: Iterator[ChangePage]) -> Generator[ChangePage, None, None]:
    """The same pages, with the next one read on a worker thread while the caller writes and records
    this one: a poll then waits for the source only when the source is the slower side.

    At most one page is read ahead, and only into memory: the cursor still advances only when a page is
    recorded, so a crash loses at most that read (it is read again by the next run). The thread talks to
    the source system with its own client, not shared with the writing side, and reads the database
    only to look up a page's links ahead (see `PageRecorder.prefetch`); any database connection it opens
    (that, or an OAuth token renewal) is closed before the thread ends.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-read-ahead")
    # The run's logging context (run and workflow ids) goes with the reads.
    run_context = contextvars.copy_context()
    try:
        pending: Future[ChangePage | None] = pool.submit(run_context.run, _next_page, pages)
        while True:
            page = pending.result()
            if page is None:
                return
            pending = pool.submit(run_context.run, _next_page, pages)
            yield page
    finally:
        # Wait for a read in flight (the generator must not run on two threads), then free the thread.
        pool.submit(connections.close_all)
        pool.shutdown(wait=True)


def _next_page(pages: Iterator[ChangePage]) -> ChangePage | None:
    return next(pages, None)


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
            raise SideError(connection, exc) from exc
        yield page


@dataclass
class WrittenPage:
    """A page written to the target, with everything its recording transaction stores."""

    run_id: int
    workflow: Workflow
    # Plain rows (see `_outcome`), or instances for the changes set aside as older.
    outcomes: list[RunRecord | dict[str, Any]]
    links: list[RecordLink | SimpleNamespace]
    counts: dict[str, int]
    read_count: int
    http_stats: dict[str, Any]
    trigger: str = ""
    # When the source changed each record the target accepted, and when it was written: sync latency.
    changed_at: list[datetime] = field(default_factory=list)
    written_at: datetime | None = None


def process_records(
    context: RunContext,
    records: list[SourceRecord],
    mark_read: Callable[[], None],
    *,
    already_counted: int = 0,
    recorder: PageRecorder | None = None,
    page_key: int | None = None,
) -> None:
    """Plan, write and record one page of source records; `mark_read` runs in the recording transaction.

    With a `recorder`, the page may still be being recorded when this returns (see `PageRecorder`);
    `page_key` names the page whose links it may have looked up while reading it.
    """
    if context.compiled is not None:
        from workflows.services.steps import process_step_records

        if recorder is not None:
            recorder.wait()  # pages stay recorded in order
        process_step_records(context, records, mark_read, already_counted=already_counted)
        return
    if recorder is None:
        record_page(write_records(context, records, already_counted=already_counted), mark_read)
        return
    links = recorder.links_for(context.workflow, [record.id for record in records], page_key=page_key)
    written = write_records(context, records, already_counted=already_counted, links=links)
    recorder.record(written, mark_read)


def write_records(
    context: RunContext,
    records: list[SourceRecord],
    *,
    already_counted: int = 0,
    links: dict[str, RecordLink] | None = None,
) -> WrittenPage:
    """Plan and write one page of source records; what to record is returned, nothing is stored yet.

    `links` are the records' links when the caller knows them (see `PageRecorder.links_for`).
    """
    workflow = context.workflow
    existing = links if links is not None else _stored_links(workflow, [record.id for record in records])
    link_states = {
        source_id: LinkState(
            target_id=link.target_id, last_fingerprint=link.last_fingerprint, last_values=link.last_values
        )
        for source_id, link in existing.items()
    }
    read_count = len(records)
    # A webhook change older than the one already applied to its record is recorded as skipped.
    records, older = split_older_than_applied(context.run, records, existing)
    # A mapping that looks up linked records (lookup_link: an invoice's customer → its contact) reads links.
    lookups = (
        ConnectorPorts(workflow=workflow, clients=context.clients) if context.mapping.uses_context else None
    )
    planned = plan_batch(
        records,
        context.mapping,
        link_states,
        match_field=context.definition.match_field,
        context=ApplyContext(lookups=lookups) if lookups is not None else None,
    )
    writes = [item.write for item in planned if item.write is not None]
    results: dict[str, WriteResult] = {}
    for start in range(0, len(writes), context.batch_size):
        chunk = writes[start : start + context.batch_size]
        results.update(_write_chunk(context, chunk))
    written_at = timezone.now()

    # The record each plan was made from (one per id), so a link notes the change that was applied.
    by_id = {record.id: record for record in latest_by_id(records)}
    outcomes: list[RunRecord | dict[str, Any]] = list(older)
    link_updates: list[RecordLink | SimpleNamespace] = []
    counts: dict[str, int] = {RunRecord.Outcome.SKIPPED: len(older)} if older else {}
    run_id = context.run.pk
    for item in planned:
        record, link = _outcome(
            run_id, workflow.pk, item, results.get(item.source_id), existing.get(item.source_id)
        )
        outcome = record["outcome"]
        if outcome == RunRecord.Outcome.FAILED:
            source = by_id.get(item.source_id)
            if source is not None:
                record["source_fields"] = dict(source.fields)
                record["source_updated_at"] = source.updated_at
        elif outcome == RunRecord.Outcome.UNCHANGED and link is None:
            # Nothing to write, but this change is applied too: an older one must not overwrite it.
            unchanged = existing.get(item.source_id)
            if unchanged is not None and source_changed_later(unchanged, by_id.get(item.source_id)):
                link = unchanged
        if link is not None:
            link_note_applied(link, by_id.get(item.source_id))
        outcomes.append(record)
        counts[outcome] = counts.get(outcome, 0) + 1
        if link is not None:
            link_updates.append(link)

    if already_counted:
        counts[RunRecord.Outcome.SKIPPED] = counts.get(RunRecord.Outcome.SKIPPED, 0) + already_counted
    return WrittenPage(
        run_id=context.run.pk,
        workflow=workflow,
        outcomes=outcomes,
        links=link_updates,
        counts=counts,
        read_count=read_count + already_counted,
        # Taken now, on the writing side: the clients' counters keep moving while the page is recorded.
        http_stats=_http_stats(context.clients),
        trigger=context.run.trigger,
        changed_at=[r.updated_at for r in records if getattr(results.get(r.id), "ok", False)],
        written_at=written_at,
    )


def links_lookup_sql() -> str:
    """A workflow's links of some source ids (parameters: the ids as a JSON list, the workflow id)."""
    table = connection.ops.quote_name(RecordLink._meta.db_table)
    return (
        "SELECT link.* FROM json_array_elements_text(%s::json) AS ids(source_id) "  # noqa: S608
        f"CROSS JOIN LATERAL (SELECT * FROM {table} AS l "  # the model's own quoted table name
        "WHERE l.workflow_id = %s AND l.source_id = ids.source_id LIMIT 1) AS link"
    )


def _stored_links(workflow: Workflow, source_ids: list[str]) -> dict[str, RecordLink]:
    if not source_ids:
        return {}
    if connection.vendor == "postgresql":
        # The ids as one JSON parameter: a list of 100 is otherwise quoted into the statement one by one,
        # on the client, which costs more than the lookup itself. A raw query: building the filter's
        # query cost more CPU than PostgreSQL spends answering it. One probe of the unique
        # (workflow, source_id) index per id, whatever the statistics say: written as `IN (ids)`, a
        # new workflow's first backfill on a large links table (statistics not yet analysed: "this
        # workflow has one link") scanned all of the workflow's links for every page, 30 ms a page at
        # 8,000 links and growing (LIMIT 1 keeps the planner from flattening the probe into a join).
        links = RecordLink.objects.raw(links_lookup_sql(), [json.dumps(source_ids), workflow.pk])
        return {link.source_id: link for link in links}
    return {
        link.source_id: link
        for link in RecordLink.objects.filter(workflow=workflow, source_id__in=source_ids)
    }


def record_page(page: WrittenPage, mark_read: Callable[[], None]) -> None:
    """Store a written page's outcomes, links and counters in one transaction with `mark_read`."""
    if page.changed_at:
        # Observed here, off the writing path when pages are recorded on their own thread; the moment of
        # the write was taken when it happened.
        sync_latency_observe(
            workflow_id=page.workflow.pk,
            trigger=page.trigger,
            changed_at=page.changed_at,
            written_at=page.written_at,
        )
    with transaction.atomic():
        insert_rows(RunRecord, page.outcomes)
        save_links(page.workflow, page.links)
        mark_read()
        update_where(
            Run,
            {"id": page.run_id},
            assign={"heartbeat_at": timezone.now(), **page.http_stats},
            add={
                "records_read": page.read_count,
                **{f"{outcome}_count": n for outcome, n in page.counts.items()},
            },
        )


def _link_copy(link: RecordLink | SimpleNamespace, stored: RecordLink | None) -> RecordLink:
    return RecordLink(
        pk=stored.pk if stored is not None else None,
        workflow_id=link.workflow_id,
        source_id=link.source_id,
        target_id=link.target_id,
        match_value=link.match_value,
        last_fingerprint=link.last_fingerprint,
        last_values=link.last_values,
        source_updated_at=link.source_updated_at,
    )


class PageRecorder:
    """Records written pages in order, on a thread of its own when that is safe, so the next page is
    planned and written while the one before it is being recorded.

    One page is recorded at a time, in the order handed over, and at most `QUEUED` pages wait to be
    stored: a hand-over beyond that waits for the oldest (two, so that one slow commit does not hold up
    the writing). A page whose recording fails stops every later one, already queued or not (the error
    reaches the caller at a later hand-over or at the end). A written page not yet recorded when the run
    stops is read again by the next run and upserted again, exactly as a page that crashed between its
    write and its commit. Inside a transaction the caller's uncommitted rows are invisible to another
    connection, and SQLite lets one writer in at a time: there pages are recorded on the caller's thread
    instead.

    A page's links are then what is stored plus the links of the pages written since the lookup began
    and not stored yet (the `REMEMBERED` last pages handed over are remembered). With a thread, the
    lookup can be made as soon as the page is read (`prefetch`, on the reading thread); when more pages
    were written since than are remembered (pages read far ahead by the flood guard), it is made again.
    """

    QUEUED = 2
    # Every page that may be handed over and not stored, and the one whose hand-over is awaited.
    REMEMBERED = QUEUED + 1

    def __init__(self, *, threaded: bool) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-record") if threaded else None
        self._pending: deque[Future[None]] = deque()
        self._failed = False  # a page's recording failed: no later page may be stored
        self._handed = 0  # pages handed over
        self._recorded = 0  # pages stored (counted on the recording thread)
        self._recent: deque[tuple[int, dict[str, RecordLink | SimpleNamespace]]] = deque(
            maxlen=self.REMEMBERED
        )
        self._prefetched: dict[int, tuple[int, dict[str, RecordLink]]] = {}

    @property
    def threaded(self) -> bool:
        return self._pool is not None

    def prefetch(self, workflow: Workflow, key: int, source_ids: list[str]) -> None:
        """Look up a page's stored links ahead (any thread), noting how many pages were stored then."""
        if self._pool is None:
            return
        recorded = self._recorded
        self._prefetched[key] = (recorded, _stored_links(workflow, source_ids))

    def links_for(
        self, workflow: Workflow, source_ids: list[str], *, page_key: int | None = None
    ) -> dict[str, RecordLink]:
        """The links of these source ids: stored, or written by a page not stored yet (the newer)."""
        ahead = self._prefetched.pop(page_key, None) if page_key is not None else None
        if ahead is not None and self._handed - ahead[0] <= len(self._recent):
            recorded, stored = ahead
        else:
            recorded = self._recorded
            stored = _stored_links(workflow, source_ids)
        links = {source_id: stored[source_id] for source_id in source_ids if source_id in stored}
        for number, written in self._recent:
            if number <= recorded:
                continue
            for source_id in source_ids:
                pending = written.get(source_id)
                if pending is not None:
                    # A copy: the written page's own object may be being stored on another thread.
                    links[source_id] = _link_copy(pending, links.get(source_id))
        return links

    def record(self, page: WrittenPage, mark_read: Callable[[], None]) -> None:
        self._handed += 1
        if self._pool is None:
            record_page(page, mark_read)
            self._recorded = self._handed
            return
        while len(self._pending) >= self.QUEUED:
            self._pending.popleft().result()
        self._recent.append((self._handed, {link.source_id: link for link in page.links}))
        self._pending.append(self._pool.submit(contextvars.copy_context().run, self._store, page, mark_read))

    def _store(self, page: WrittenPage, mark_read: Callable[[], None]) -> None:
        if self._failed:
            return  # a page before this one was not stored, so neither is this one (nor its cursor)
        try:
            record_page(page, mark_read)
        except BaseException:
            self._failed = True
            raise
        self._recorded += 1

    def wait(self) -> None:
        """Until every page handed over is stored; the first error, if one failed, is raised here."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        self._prefetched.clear()
        if self._pool is None:
            return
        try:
            self.wait()
        finally:
            self._pool.submit(connections.close_all)
            self._pool.shutdown(wait=True)


@contextlib.contextmanager
def _page_recorder() -> Iterator[PageRecorder]:
    connection = connections["default"]
    recorder = PageRecorder(threaded=connection.vendor == "postgresql" and not connection.in_atomic_block)
    try:
        yield recorder
    except BaseException:
        # The pages already written are recorded before the error goes on, as when recording inline;
        # a recording error then is secondary to the one that stopped the run.
        try:
            recorder.close()
        except Exception:
            logger.exception("recording a written page failed while the run was stopping")
        raise
    recorder.close()


def _write_chunk(context: RunContext, chunk: list[WriteItem]) -> dict[str, WriteResult]:
    definition = context.definition
    try:
        results = context.target.upsert_batch(
            definition.target_object, chunk, match_field=definition.match_field
        )
    except ConnectorError as exc:
        if not exc.permanent or exc.status in {401, 403}:
            # Transient after the HTTP layer's retries, or the connection itself is refused:
            # stop the run without marking the page read, so it is retried as a whole.
            raise SideError(context.target_connection, exc) from exc
        # A permanent error for the whole batch fails these records, with the system's message.
        return {item.key: WriteResult(key=item.key, ok=False, error=exc.message) for item in chunk}
    return {result.key: result for result in results}


def _outcome(
    run_id: int, workflow_id: int, item: PlannedRecord, result: WriteResult | None, link: RecordLink | None
) -> tuple[dict[str, Any], RecordLink | SimpleNamespace | None]:
    """The page's outcome row for one planned record, and the link to store when it was written.

    Rows are plain dicts and a new link a plain namespace: a page builds one of each per record, and a
    model instance costs several times as much to build as the dict it ends up as.
    """
    row: dict[str, Any] = {
        "run_id": run_id,
        "source_id": item.source_id,
        "record_key": str(item.match_value or "")[:255],
        # Tuples as they are: they are written as JSON lists, and copying them per record is not free.
        "dropped": item.dropped,
    }
    if item.write is None:
        row["outcome"] = {"unchanged": "unchanged", "skipped": "skipped"}.get(item.outcome, "failed")
        row["target_id"] = link.target_id if link else ""
        row["error"] = item.error or ""
        return row, None
    if result is None or not result.ok:
        row["outcome"] = RunRecord.Outcome.FAILED
        row["error"] = (
            result.error if result else None
        ) or "The target did not report a result for this record."
        return row, None
    target_id = str(result.target_id or (link.target_id if link else ""))
    row["outcome"] = RunRecord.Outcome.CREATED if result.action == "created" else RunRecord.Outcome.UPDATED
    row["target_id"] = target_id
    row["diff"] = item.diff  # {field: (old, new)}, stored as {field: [old, new]}
    new_link: RecordLink | SimpleNamespace = link or SimpleNamespace(
        workflow_id=workflow_id, source_id=item.source_id, source_updated_at=None
    )
    new_link.target_id = target_id
    new_link.match_value = str(item.match_value or "")[:255]
    new_link.last_fingerprint = item.fingerprint or ""
    new_link.last_values = dict(item.values)
    return row, new_link


def save_links(workflow: Workflow, links: Sequence[RecordLink | SimpleNamespace]) -> None:
    if not links:
        return
    upsert_rows(
        RecordLink,
        [vars(link) if isinstance(link, SimpleNamespace) else link for link in links],
        unique_fields=["workflow", "source_id"],
        update_fields=[
            "target_id",
            "match_value",
            "last_fingerprint",
            "last_values",
            "source_updated_at",
            "updated_at",
        ],
    )


def _http_stats(clients: list[ConnectorClient]) -> dict[str, Any]:
    requests = retries = 0
    waited = 0.0
    for client in clients:
        stats = getattr(getattr(client, "http", None), "stats", None)
        if stats is None:
            continue
        requests += int(getattr(stats, "requests", 0))
        retries += int(getattr(stats, "retries", 0))
        waited += float(getattr(stats, "throttle_wait_seconds", 0.0))
    return {"api_requests": requests, "retries": retries, "throttle_wait_seconds": waited}


def _record_http_stats(run: Run, clients: list[ConnectorClient]) -> None:
    Run.objects.filter(pk=run.pk).update(**_http_stats(clients))


def _finish(
    run: Run,
    clients: list[ConnectorClient],
    *,
    error: str,
    held: str = "",
    track_incident: bool = True,
    reconnect: bool = False,
) -> None:
    _record_http_stats(run, clients)
    run.refresh_from_db()
    if held:
        status = Run.Status.HELD
    elif error:
        status = Run.Status.FAILED
    elif run.failed_count:
        status = Run.Status.PARTIAL
    else:
        status = Run.Status.SUCCEEDED
    now = timezone.now()
    Workflow.objects.filter(pk=run.workflow_id).update(last_checked_at=now)
    from workflows.services.alerts import incident_track

    if track_incident:
        incident_track(
            workflow_id=run.workflow_id,
            status=status,
            error=error or held,
            run_id=run.pk,
            reconnect=reconnect,
        )
    quiet = {Run.Trigger.POLL, Run.Trigger.RESUME}
    if run.trigger in quiet and status == Run.Status.SUCCEEDED and run.records_read == 0:
        # A poll that found nothing is not a run worth a row: the workflow's "last checked" shows it.
        run.delete()
        return
    Run.objects.filter(pk=run.pk).update(status=status, finished_at=now, error=error or held)
    if error and run.trigger in {Run.Trigger.WEBHOOK, Run.Trigger.MANUAL}:
        from workflows.services.webhooks import events_release_after_failure

        events_release_after_failure(run=run, error=error)
    run.refresh_from_db()
