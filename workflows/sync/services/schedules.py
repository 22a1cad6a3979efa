"""Keeps each enabled sync's one periodic task in step with it. Touches no other task."""

from __future__ import annotations

import json

from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from workflows.sync.models import Sync

POLL_TASK = "sync.poll_sync"


def periodic_task_name(sync: Sync) -> str:
    return f"sync {sync.pk} poll"


@transaction.atomic
def sync_schedule(*, sync: Sync) -> PeriodicTask | None:
    """Create, change or remove the sync's periodic task so it matches `enabled` and the interval."""
    task = sync.periodic_task
    if not sync.enabled:
        if task is not None:
            Sync.objects.filter(pk=sync.pk).update(periodic_task=None)
            sync.periodic_task = None
            task.delete()
        return None
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=int(sync.poll_interval_seconds), period=IntervalSchedule.SECONDS
    )
    fields = {
        "name": periodic_task_name(sync),
        "task": POLL_TASK,
        "interval": interval,
        "crontab": None,
        "args": json.dumps([sync.pk]),
        "enabled": True,
        "description": f"Poll both sides of sync {sync.name!r}",
    }
    if task is None:
        task = PeriodicTask.objects.create(**fields)
        Sync.objects.filter(pk=sync.pk).update(periodic_task=task)
        sync.periodic_task = task
        return task
    changed = [name for name, value in fields.items() if getattr(task, name) != value]
    if changed:
        for name in changed:
            setattr(task, name, fields[name])
        task.save()
    return task
