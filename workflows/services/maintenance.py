"""Periodic housekeeping: retention of run records (workflows' and two-way syncs'), picking up webhook events
that are due."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workflows.models import InboundEvent, Run, Workflow

PRUNE_BATCH = 500


def runs_prune(*, older_than_days: int | None = None) -> int:
    """Delete finished runs (with their per-record outcomes) older than the retention period.

    Runs still queued or running, and the newest run of each workflow, are kept whatever their age.
    Two-way sync runs follow the same rule (`sync_runs_prune`). Returns how many runs were deleted, of both.
    """
    days = older_than_days if older_than_days is not None else settings.HUB_RUN_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    finished = [Run.Status.SUCCEEDED, Run.Status.PARTIAL, Run.Status.FAILED, Run.Status.HELD]
    deleted = 0
    while True:
        ids = list(
            Run.objects.filter(created_at__lt=cutoff, status__in=finished)
            .exclude(pk__in=_newest_run_ids())
            .order_by("id")
            .values_list("id", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            break
        with transaction.atomic():
            InboundEvent.objects.filter(run_id__in=ids, status=InboundEvent.Status.PROCESSED).delete()
            Run.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    InboundEvent.objects.filter(status=InboundEvent.Status.PROCESSED, processed_at__lt=cutoff).delete()
    return deleted + sync_runs_prune(older_than_days=days)


def sync_runs_prune(*, older_than_days: int | None = None) -> int:
    """Delete finished two-way sync runs (with their per-record outcomes) older than the retention period.

    Active runs and the newest run of each sync are kept whatever their age: the sync page shows how its last
    run went. The links, records and review items a run touched are the sync's state, not history, and stay.
    """
    from django.db.models import Max

    from workflows.sync.models import SyncRun

    days = older_than_days if older_than_days is not None else settings.HUB_RUN_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    finished = [SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL, SyncRun.Status.FAILED]
    newest = [
        row["newest"] for row in SyncRun.objects.values("sync_id").annotate(newest=Max("id")) if row["newest"]
    ]
    deleted = 0
    while True:
        ids = list(
            SyncRun.objects.filter(created_at__lt=cutoff, status__in=finished)
            .exclude(pk__in=newest)
            .order_by("id")
            .values_list("id", flat=True)[:PRUNE_BATCH]
        )
        if not ids:
            return deleted
        SyncRun.objects.filter(pk__in=ids).delete()
        deleted += len(ids)


def _newest_run_ids() -> list[int]:
    from django.db.models import Max

    return [
        row["newest"] for row in Run.objects.values("workflow_id").annotate(newest=Max("id")) if row["newest"]
    ]


def webhooks_due() -> list[int]:
    """Enabled webhook workflows with events waiting (new, or due for a retry)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.HUB_STALE_RUN_SECONDS)
    due = Q(inbound_events__status=InboundEvent.Status.PENDING) & (
        Q(inbound_events__next_attempt_at__isnull=True) | Q(inbound_events__next_attempt_at__lte=now)
    )
    # Events held by a run whose worker died count too: handing them on fails that run and frees them.
    orphaned = Q(inbound_events__status=InboundEvent.Status.PROCESSING) & Q(
        inbound_events__run__heartbeat_at__lt=stale
    )
    return list(
        Workflow.objects.filter(enabled=True, trigger__in=[Workflow.Trigger.WEBHOOK, Workflow.Trigger.FILE])
        .filter(due | orphaned)
        .values_list("id", flat=True)
        .distinct()
    )


def delayed_due() -> list[int]:
    """Enabled workflows with records whose delay is over."""
    from workflows.models import DelayedRecord

    return list(
        DelayedRecord.objects.filter(
            resume_at__lte=timezone.now(), claimed_at__isnull=True, workflow__enabled=True
        )
        .values_list("workflow_id", flat=True)
        .distinct()
    )
