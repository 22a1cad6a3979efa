"""Keeps each polling workflow's one periodic task in step with the workflow. Touches no other task."""

from __future__ import annotations

import json

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from workflows.models import Workflow

POLL_TASK = "workflows.poll_workflow"


def periodic_task_name(workflow: Workflow) -> str:
    return f"workflow {workflow.pk} poll"


@transaction.atomic
def schedule_sync(*, workflow: Workflow) -> PeriodicTask | None:
    """Create, change or remove the workflow's periodic task so it matches enabled and the published trigger."""
    version = workflow.published_version
    trigger = version.definition["trigger"] if version is not None else None
    wanted = workflow.enabled and trigger is not None and trigger["type"] == Workflow.Trigger.POLL
    task = workflow.periodic_task
    if not wanted:
        if task is not None:
            workflow.periodic_task = None
            workflow.save(update_fields=["periodic_task", "updated_at"])
            task.delete()
        return None

    assert trigger is not None
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=int(trigger["interval_seconds"]), period=IntervalSchedule.SECONDS
    )
    fields = {
        "name": periodic_task_name(workflow),
        "task": POLL_TASK,
        "interval": interval,
        "args": json.dumps([workflow.pk]),
        "enabled": True,
        "description": f"Poll {workflow.source_object} for workflow {workflow.name!r}",
    }
    if task is None:
        task = PeriodicTask.objects.create(**fields)
        workflow.periodic_task = task
        workflow.save(update_fields=["periodic_task", "updated_at"])
        return task
    changed = [name for name, value in fields.items() if getattr(task, name) != value]
    if changed:
        for name in changed:
            setattr(task, name, fields[name])
        task.save()
    return task


@transaction.atomic
def schedule_remove(*, workflow: Workflow) -> None:
    if workflow.periodic_task is not None:
        task = workflow.periodic_task
        workflow.periodic_task = None
        if workflow.pk is not None:
            Workflow.objects.filter(pk=workflow.pk).update(periodic_task=None)
        task.delete()
