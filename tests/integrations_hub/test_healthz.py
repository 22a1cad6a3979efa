from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from integrations_hub.health.models import Heartbeat


def test_healthz_is_503_without_worker_and_beat(client: Any, db: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["workers"]["ok"] is False
    assert body["checks"]["beat"]["ok"] is False


def test_healthz_is_200_when_everything_reported_recently(client: Any, db: None) -> None:
    Heartbeat.objects.create(role="worker", hostname="w1", last_seen=timezone.now())
    Heartbeat.objects.create(role="beat", hostname="b1", last_seen=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_flags_a_stale_worker(client: Any, db: None, settings: Any) -> None:
    old = timezone.now() - timedelta(seconds=settings.HUB_HEARTBEAT_STALE_SECONDS + 5)
    Heartbeat.objects.create(role="worker", hostname="w1", last_seen=old)
    Heartbeat.objects.create(role="beat", hostname="b1", last_seen=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert "heartbeat" in response.json()["checks"]["workers"]["detail"]


def test_healthz_needs_no_login_and_reports_a_broken_broker(client: Any, db: None, settings: Any) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
