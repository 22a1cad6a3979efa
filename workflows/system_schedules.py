"""The hub's own periodic tasks, created after migrate. Only these names are ever touched here."""

from __future__ import annotations

from typing import Any

from django_celery_beat.models import IntervalSchedule, PeriodicTask

SYSTEM_TASKS = {
    "hub: hand due webhook events to workflows": ("workflows.sweep", 60),
    "hub: prune old run records": ("workflows.prune_runs", 3600),
    "hub: prune expired API idempotency keys": ("api.prune_idempotency_keys", 3600),
}


def ensure_system_schedules(**kwargs: Any) -> None:
    for name, (task, seconds) in SYSTEM_TASKS.items():
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "interval": interval})
