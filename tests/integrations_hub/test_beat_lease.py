from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from integrations_hub.health.heartbeats import HeartbeatScheduler, beat_lease_acquire
from integrations_hub.health.models import BeatLease


def test_only_one_beat_holds_the_lease_at_a_time(db: None) -> None:
    assert beat_lease_acquire(holder="beat-a")
    assert not beat_lease_acquire(holder="beat-b")
    assert beat_lease_acquire(holder="beat-a")  # the holder renews


def test_a_second_beat_takes_over_when_the_first_stops_renewing(db: None) -> None:
    assert beat_lease_acquire(holder="beat-a")
    BeatLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert beat_lease_acquire(holder="beat-b")
    assert not beat_lease_acquire(holder="beat-a")


def test_a_beat_without_the_lease_dispatches_nothing(db: None, monkeypatch: Any) -> None:
    dispatched: list[str] = []
    monkeypatch.setattr(
        "django_celery_beat.schedulers.DatabaseScheduler.tick",
        lambda self, *a, **k: dispatched.append(self._holder) or 5.0,
    )
    first = HeartbeatScheduler.__new__(HeartbeatScheduler)
    second = HeartbeatScheduler.__new__(HeartbeatScheduler)
    first._holder, second._holder = "beat-a", "beat-b"
    first._last_heartbeat = second._last_heartbeat = 0.0

    for _ in range(3):
        first.tick()
        second.tick()

    assert dispatched == ["beat-a"] * 3
