"""Heartbeats written by the worker (a timer in the worker process) and by beat (each scheduler tick)."""

from __future__ import annotations

import socket
import time
from typing import Any

from celery import bootsteps
from django.db import close_old_connections
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from integrations_hub.health.models import Heartbeat

HEARTBEAT_EVERY_SECONDS = 15.0


def heartbeat_record(*, role: str, hostname: str) -> None:
    close_old_connections()
    Heartbeat.objects.update_or_create(role=role, hostname=hostname, defaults={"last_seen": timezone.now()})


class WorkerHeartbeatStep(bootsteps.StartStopStep):
    """Records the worker as alive every few seconds, independent of beat and of any task."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        self._beat(worker)
        self.tref = worker.timer.call_repeatedly(HEARTBEAT_EVERY_SECONDS, self._beat, (worker,), priority=10)

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()

    def _beat(self, worker: Any) -> None:
        try:
            heartbeat_record(role=Heartbeat.Role.WORKER, hostname=worker.hostname)
        except Exception:
            import logging

            logging.getLogger(__name__).exception("could not record the worker heartbeat")


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's database scheduler that also records that beat is ticking."""

    _last_heartbeat = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_EVERY_SECONDS:
            self._last_heartbeat = now
            try:
                heartbeat_record(role=Heartbeat.Role.BEAT, hostname=socket.gethostname())
            except Exception:
                import logging

                logging.getLogger(__name__).exception("could not record the beat heartbeat")
        interval: float = super().tick(*args, **kwargs)
        return min(interval, HEARTBEAT_EVERY_SECONDS)
