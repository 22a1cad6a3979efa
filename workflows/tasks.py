"""Celery tasks: thin. Each loads by id and calls one service; the service owns idempotency."""

from __future__ import annotations

from celery import shared_task

from workflows.services.runs import run_execute, workflow_poll


@shared_task(name="workflows.poll_workflow", ignore_result=True)
def poll_workflow(workflow_id: int) -> None:
    workflow_poll(workflow_id=workflow_id)


@shared_task(name="workflows.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    run_execute(run_id=run_id)
