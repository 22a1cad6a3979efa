"""Celery tasks: thin. Each loads by id and calls one service; the service owns idempotency."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from workflows.sync.models import Sync, SyncRun


@shared_task(name="sync.poll_sync", ignore_result=True)
def poll_sync(sync_id: int) -> None:
    from workflows.sync.services.runs import sync_poll

    sync_poll(sync_id=sync_id)


@shared_task(name="sync.execute_run", ignore_result=True)
def execute_sync_run(run_id: int) -> None:
    from workflows.sync.services.runs import sync_run_execute

    sync_run_execute(run_id=run_id)


@shared_task(name="sync.apply_review", bind=True, ignore_result=True, max_retries=60, default_retry_delay=5)
def apply_review(self: Any, sync_id: int) -> None:
    """Write review decisions to both systems; while another run of the sync is busy, try again shortly."""
    from workflows.sync.services.runs import sync_run_execute, sync_run_request

    sync = Sync.objects.filter(pk=sync_id).first()
    if sync is None:
        return
    run = sync_run_request(sync=sync, trigger=SyncRun.Trigger.REVIEW, enqueue=False)
    if run is None:
        raise self.retry()
    sync_run_execute(run_id=run.pk)


@shared_task(name="sync.send_incident_alert", ignore_result=True)
def send_sync_incident_alert(incident_id: int) -> None:
    from workflows.sync.services.alerts import sync_incident_notify

    sync_incident_notify(incident_id=incident_id)
