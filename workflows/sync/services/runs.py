"""Running a sync: claim the run, apply review decisions, read both sides, reconcile, record.

One run of a sync at a time (the claim), so the identity map and the links are only ever written by one
worker. A poll reads A's feed and then B's feed to the end before reconciling anything: a change made on B
must be known before A's value for the same field is written over it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import ConnectorClient
from connectors.models import Connection
from connectors.registry import get_provider
from connectors.services import client_for, connection_record_error, connection_record_success
from workflows.engine.sync.spec import SIDES, Side, SyncSpecError, compile_sync
from workflows.sync.models import Sync, SyncRun
from workflows.sync.services.context import RunContext, SideError

logger = logging.getLogger(__name__)

# A running run whose heartbeat is older than this was lost with its worker and may be replaced.
STALE_RUN_AFTER = timedelta(minutes=10)
SUCCESS_EVERY = timedelta(minutes=1)


def sync_run_request(*, sync: Sync, trigger: str, enqueue: bool = True) -> SyncRun | None:
    """Queue a run unless one is already queued or running for this sync."""
    with transaction.atomic():
        locked = Sync.objects.select_for_update().filter(pk=sync.pk).first()
        if locked is None:
            return None
        _fail_stale_runs(sync)
        if SyncRun.objects.filter(
            sync=sync, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
        ).exists():
            return None
        run = SyncRun.objects.create(sync=sync, trigger=trigger)
        if enqueue:
            from workflows.sync.tasks import execute_sync_run

            transaction.on_commit(lambda: execute_sync_run.delay(run.pk))
    return run


def _fail_stale_runs(sync: Sync) -> None:
    now = timezone.now()
    cutoff = now - STALE_RUN_AFTER
    SyncRun.objects.filter(sync=sync, status=SyncRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    ).update(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        error="The worker running this sync stopped; the next run picks up from the last recorded page.",
    )
    SyncRun.objects.filter(sync=sync, status=SyncRun.Status.QUEUED, created_at__lt=cutoff).update(
        status=SyncRun.Status.FAILED, finished_at=now, error="This run was never picked up by a worker."
    )


def sync_run_claim(*, run_id: int) -> bool:
    now = timezone.now()
    return (
        SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now
        )
        == 1
    )


def sync_poll(
    *, sync_id: int, clients: Mapping[int, Mapping[Side, ConnectorClient]] | None = None
) -> SyncRun | None:
    """What the periodic task does: run the sync now, in this worker, unless a run is active.

    Syncs this one refers to (a contact's company) run first, so related records exist and are linked
    before the records that point at them are written.
    """
    sync = Sync.objects.filter(pk=sync_id, enabled=True).first()
    if sync is None:
        return None
    try:
        spec = compile_sync(sync.definition())
    except SyncSpecError:
        spec = None
    for related_id in spec.related_sync_ids() if spec is not None else ():
        related = Sync.objects.filter(pk=related_id, team_id=sync.team_id, enabled=True).first()
        if related is not None and related.pk != sync.pk:
            _run_now(related, SyncRun.Trigger.POLL, clients)
    return _run_now(sync, SyncRun.Trigger.POLL, clients)


def _run_now(
    sync: Sync, trigger: str, clients: Mapping[int, Mapping[Side, ConnectorClient]] | None
) -> SyncRun | None:
    run = sync_run_request(sync=sync, trigger=trigger, enqueue=False)
    if run is None:
        return None
    sync_run_execute(run_id=run.pk, clients=(clients or {}).get(sync.pk))
    return SyncRun.objects.filter(pk=run.pk).first()


def sync_run_execute(*, run_id: int, clients: Mapping[Side, ConnectorClient] | None = None) -> None:
    """Claim and execute a queued run. `clients` replaces the connections' clients (tests, previews)."""
    if not sync_run_claim(run_id=run_id):
        logger.info("sync run %s already claimed; nothing to do", run_id)
        return
    run = SyncRun.objects.select_related("sync__a_connection", "sync__b_connection").get(pk=run_id)
    sync = run.sync
    try:
        from workflows.sync.services.definition import sync_check

        spec = sync_check(sync)
        ctx = RunContext(
            run=run,
            sync=sync,
            spec=spec,
            clients=clients or {side: client_for(sync.connection(side)) for side in SIDES},
            batch_size={side: _batch_size(sync, side) for side in SIDES},
            first_run=sync.first_sync_done_at is None,
        )
        _execute(ctx)
    except SideError as exc:
        connection_record_error(connection=exc.connection, error=exc.error)
        _finish(run, error=f"{exc.connection.name}: {exc.error.message}")
        return
    except SyncSpecError as exc:
        _finish(run, error="The sync definition is not valid: " + "; ".join(exc.messages))
        return
    except Exception as exc:
        logger.exception("sync run %s crashed", run_id)
        _finish(run, error=f"Unexpected error: {type(exc).__name__}: {exc}")
        raise
    if run.trigger != SyncRun.Trigger.REVIEW:
        for side in SIDES:
            _record_success(sync.connection(side))
    _finish(run, error="")


def _record_success(connection: Connection) -> None:
    # Every poll of every sync would otherwise write both connection rows; once a minute is news enough.
    recent = (
        connection.last_success_at is not None and timezone.now() - connection.last_success_at < SUCCESS_EVERY
    )
    if connection.status != Connection.Status.OK or not recent:
        connection_record_success(connection=connection)


def _execute(ctx: RunContext) -> None:
    from workflows.sync.services.ingest import ingest_side
    from workflows.sync.services.process import process_pending
    from workflows.sync.services.references import LinkReferences
    from workflows.sync.services.review import apply_conflict_decisions, apply_hold_decisions

    refs = LinkReferences(ctx.sync.team_id)
    apply_hold_decisions(ctx, refs)
    # Review runs read and reconcile too: a decision is only written over the values the person saw, and
    # not to a record deleted since.
    for side in SIDES:
        ingest_side(ctx, side)
    process_pending(ctx, refs)
    apply_conflict_decisions(ctx, refs)
    if ctx.run.trigger != SyncRun.Trigger.REVIEW and ctx.first_run:
        Sync.objects.filter(pk=ctx.sync.pk, first_sync_done_at__isnull=True).update(
            first_sync_done_at=timezone.now()
        )


def _batch_size(sync: Sync, side: Side) -> int:
    capabilities = get_provider(sync.connection(side).kind).capabilities.get(sync.object_name(side))
    return capabilities.batch_size if capabilities else 100


def _finish(run: SyncRun, *, error: str) -> None:
    run.refresh_from_db()
    if error:
        status = SyncRun.Status.FAILED
    elif run.failed:
        status = SyncRun.Status.PARTIAL
    else:
        status = SyncRun.Status.SUCCEEDED
    now = timezone.now()
    Sync.objects.filter(pk=run.sync_id).update(last_checked_at=now)
    SyncRun.objects.filter(pk=run.pk).update(status=status, finished_at=now, error=error)
    from workflows.sync.services.alerts import sync_alerts_track

    queue_changed = bool(run.conflicts or run.held or run.trigger == SyncRun.Trigger.REVIEW)
    sync_alerts_track(sync_id=run.sync_id, failed_error=error, queue_changed=queue_changed)
    quiet = (
        status == SyncRun.Status.SUCCEEDED
        and run.trigger == SyncRun.Trigger.POLL
        and run.read_a + run.read_b == 0
        and not run.outcomes.exists()
    )
    if quiet:
        # A poll that found nothing is not worth a row: the sync's "last checked" shows it.
        run.delete()
