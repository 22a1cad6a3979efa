"""Celery tasks: thin. Each loads by id and calls one service; the service owns idempotency."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from workflows.services.runs import run_execute, workflow_poll


@shared_task(name="workflows.poll_workflow", ignore_result=True)
def poll_workflow(workflow_id: int) -> None:
    workflow_poll(workflow_id=workflow_id)


@shared_task(name="workflows.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    run_execute(run_id=run_id)


@shared_task(
    name="workflows.process_webhook_events",
    bind=True,
    ignore_result=True,
    max_retries=None,
    default_retry_delay=2,
)
def process_webhook_events(self: Any, workflow_id: int, requested_at: float | None = None) -> None:
    """Drain the workflow's pending events. Intake queues at most one of these per short window."""
    from workflows.services.webhooks import DRAIN_GUARD_SECONDS, webhook_drain

    if webhook_drain(workflow_id=workflow_id, requested_at=requested_at) is False:
        # Another run of this workflow is busy; it may finish without seeing these events, so look again,
        # backing off to every 30 s while a long run (a backfill) holds the workflow.
        raise self.retry(
            countdown=min(30.0, max(DRAIN_GUARD_SECONDS, 0.5) * 2 ** min(self.request.retries, 6))
        )


@shared_task(name="workflows.send_incident_alert", ignore_result=True)
def send_incident_alert(incident_id: int) -> None:
    from workflows.services.alerts import incident_notify

    incident_notify(incident_id=incident_id)


@shared_task(name="workflows.sweep", ignore_result=True)
def sweep() -> None:
    """Every minute: hand due webhook events to their workflows (retries, events stored while disabled)."""
    from workflows.services.maintenance import delayed_due, webhooks_due

    for workflow_id in webhooks_due():
        process_webhook_events.delay(workflow_id)
    for workflow_id in delayed_due():
        resume_delayed.delay(workflow_id)


@shared_task(name="workflows.resume_delayed", ignore_result=True)
def resume_delayed(workflow_id: int) -> None:
    """Continue records whose delay step is over, in a run of the version they waited in."""
    from workflows.services.steps import resume_workflow

    resume_workflow(workflow_id=workflow_id)


@shared_task(name="workflows.prune_runs", ignore_result=True)
def prune_runs() -> None:
    from workflows.services.maintenance import runs_prune

    runs_prune()


@shared_task(name="api.prune_idempotency_keys", ignore_result=True)
def prune_idempotency_keys() -> int:
    """Hourly: forget the API's Idempotency-Keys older than their 24 hours (of every user)."""
    from integrations_hub.api.idempotency import idempotency_prune

    return idempotency_prune()
