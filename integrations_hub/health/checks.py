"""What /healthz reports: the database, the broker, the workers and beat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from integrations_hub.health.models import Heartbeat


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return Check(False, f"{type(exc).__name__}: {exc}")
    return Check(True, connection.vendor)


def check_broker() -> Check:
    from integrations_hub.celery import app

    try:
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
    except Exception as exc:
        return Check(False, f"{type(exc).__name__}: {exc}")
    return Check(True, str(transport))


def check_heartbeat(role: str) -> Check:
    stale_after = timedelta(seconds=settings.HUB_HEARTBEAT_STALE_SECONDS)
    try:
        latest = Heartbeat.objects.filter(role=role).order_by("-last_seen").first()
    except Exception as exc:
        return Check(False, f"cannot read heartbeats: {exc}")
    if latest is None:
        return Check(False, f"no {role} has reported yet")
    age = (timezone.now() - latest.last_seen).total_seconds()
    alive = Heartbeat.objects.filter(role=role, last_seen__gte=timezone.now() - stale_after).count()
    if age > stale_after.total_seconds():
        return Check(False, f"last {role} heartbeat {age:.0f} s ago ({latest.hostname})")
    return Check(True, f"{alive} alive, last heartbeat {age:.0f} s ago")


def health_report() -> dict[str, Check]:
    database = check_database()
    report = {"database": database, "broker": check_broker()}
    if database.ok:
        report["workers"] = check_heartbeat(Heartbeat.Role.WORKER)
        report["beat"] = check_heartbeat(Heartbeat.Role.BEAT)
    else:
        report["workers"] = Check(False, "unknown: database unavailable")
        report["beat"] = Check(False, "unknown: database unavailable")
    return report
