"""Expired Idempotency-Keys are pruned by an hourly system task, not only when their owner posts again."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from integrations_hub.api.models import IdempotencyKey
from integrations_hub.celery import app
from tests.api.conftest import World
from workflows.system_schedules import ensure_system_schedules
from workflows.tasks import prune_idempotency_keys


def test_the_prune_task_deletes_expired_keys_of_users_who_never_post_again(
    world: World, editor_api: APIClient, admin_api: APIClient
) -> None:
    editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/publish", HTTP_IDEMPOTENCY_KEY="stale")
    admin_api.post(f"/api/v1/workflows/{world.workflow.pk}/publish", HTTP_IDEMPOTENCY_KEY="fresh")
    IdempotencyKey.objects.filter(key="stale").update(created_at=timezone.now() - timedelta(hours=25))

    result = prune_idempotency_keys.apply()

    assert result.successful() and result.result == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def test_the_system_schedules_run_the_prune_task_hourly(db: None) -> None:
    ensure_system_schedules()
    ensure_system_schedules()  # after every migrate: the same one schedule, not a second

    (task,) = PeriodicTask.objects.filter(task="api.prune_idempotency_keys")
    assert task.enabled and task.interval is not None
    assert (task.interval.every, task.interval.period) == (3600, "seconds")
    assert "api.prune_idempotency_keys" in app.tasks
