"""Keeps each polling workflow's one periodic task in step with the workflow. Touches no other task."""

from __future__ import annotations

import json

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from workflows.models import Workflow

POLL_TASK = "workflows.poll_workflow"


def periodic_task_name(workflow: Workflow) -> str:
    return f"workflow {workflow.pk} poll"


@transaction.atomic
def schedule_sync(*, workflow: Workflow) -> PeriodicTask | None:
    """Create, change or remove the workflow's periodic task so it matches enabled and the published trigger."""
    version = workflow.published_version
    trigger = version.definition["trigger"] if version is not None else None
    scheduled = {Workflow.Trigger.POLL, Workflow.Trigger.SCHEDULE}
    wanted = workflow.enabled and trigger is not None and trigger["type"] in scheduled
    task = workflow.periodic_task
    if not wanted:
        if task is not None:
            workflow.periodic_task = None
            workflow.save(update_fields=["periodic_task", "updated_at"])
            task.delete()
        return None

    assert trigger is not None
    interval: IntervalSchedule | None = None
    crontab: CrontabSchedule | None = None
    if trigger["type"] == Workflow.Trigger.SCHEDULE and trigger.get("cron"):
        minute, hour, day_of_month, month_of_year, day_of_week = parse_cron(trigger["cron"])
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone="UTC",
        )
    else:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(trigger["interval_seconds"]), period=IntervalSchedule.SECONDS
        )
    fields = {
        "name": periodic_task_name(workflow),
        "task": POLL_TASK,
        "interval": interval,
        "crontab": crontab,
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


class CronError(ValueError):
    pass


_CRON_LIMITS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_CRON_NAMES = ("minute", "hour", "day of month", "month", "day of week")


def parse_cron(expression: str) -> tuple[str, str, str, str, str]:
    """Check a five-field cron expression ("*/15 8-18 * * 1-5") and return its fields."""
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(f"A schedule needs five fields (minute hour day month weekday), got {len(parts)}.")
    for part, (low, high), name in zip(parts, _CRON_LIMITS, _CRON_NAMES, strict=True):
        for item in part.split(","):
            base, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                raise CronError(f"The {name} field has a bad step {item!r}.")
            if base == "*":
                continue
            bounds = base.split("-")
            if len(bounds) > 2 or not all(b.isdigit() for b in bounds):
                raise CronError(f"The {name} field {item!r} is not a number, range or '*'.")
            if not all(low <= int(b) <= high for b in bounds):
                raise CronError(f"The {name} field {item!r} is outside {low}-{high}.")
    return parts[0], parts[1], parts[2], parts[3], parts[4]


@transaction.atomic
def schedule_remove(*, workflow: Workflow) -> None:
    if workflow.periodic_task is not None:
        task = workflow.periodic_task
        workflow.periodic_task = None
        if workflow.pk is not None:
            Workflow.objects.filter(pk=workflow.pk).update(periodic_task=None)
        task.delete()
