"""Heartbeats written by the worker (a timer in the worker process) and by beat (each scheduler tick)."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

from celery import bootsteps
from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from integrations_hub.health.models import BeatLease, Heartbeat

HEARTBEAT_EVERY_SECONDS = 15.0


def _refresh_connection() -> None:
    # Beat and the worker's timer are long-lived: drop a connection the database closed. Inside a
    # transaction (a test, or a caller's atomic block) the connection is in use and must stay.
    if not connection.in_atomic_block:
        close_old_connections()


def heartbeat_record(*, role: str, hostname: str) -> None:
    _refresh_connection()
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
            logging.getLogger(__name__).exception("could not record the worker heartbeat")


LEASE_SECONDS = 30.0


def beat_lease_acquire(*, holder: str, seconds: float = LEASE_SECONDS) -> bool:
    """Take or renew the beat lease; False while another live beat holds it.

    One conditional update decides it, so two beats racing for an expired lease cannot both win.
    """
    _refresh_connection()
    now = timezone.now()
    expires = now + timedelta(seconds=seconds)
    BeatLease.objects.get_or_create(name="beat", defaults={"holder": holder, "expires_at": now})
    taken = (
        BeatLease.objects.filter(name="beat")
        .filter(Q(holder=holder) | Q(expires_at__lt=now))
        .update(holder=holder, expires_at=expires)
    )
    return taken == 1


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's database scheduler, guarded by a lease and recording that beat is ticking.

    A second beat (started by mistake, or during a rolling deploy) waits instead of dispatching
    every schedule a second time; it takes over when the first one stops renewing its lease.
    """

    _last_heartbeat = 0.0
    _holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            leader = beat_lease_acquire(holder=self._holder)
        except Exception:
            logging.getLogger(__name__).exception("could not check the beat lease")
            leader = False
        if not leader:
            return HEARTBEAT_EVERY_SECONDS / 3
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_EVERY_SECONDS:
            self._last_heartbeat = now
            try:
                heartbeat_record(role=Heartbeat.Role.BEAT, hostname=socket.gethostname())
            except Exception:
                logging.getLogger(__name__).exception("could not record the beat heartbeat")
        interval: float = super().tick(*args, **kwargs)
        return min(interval, HEARTBEAT_EVERY_SECONDS)
