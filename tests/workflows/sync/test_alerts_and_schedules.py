"""The team hears once when the review queue grows past its threshold; each sync has one beat schedule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.workflows.sync.fakes import FakeSystem
from tests.workflows.sync.helpers import fake_sync, run_sync
from workflows.sync import tasks
from workflows.sync.models import SyncIncident
from workflows.sync.services.definition import sync_delete, sync_set_enabled
from workflows.sync.services.review import conflicts_resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts_sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Deliver incident alerts in-process, as the worker would."""
    sent: list[int] = []

    def deliver(incident_id: int) -> None:
        sent.append(incident_id)
        tasks.send_sync_incident_alert.apply(args=[incident_id])

    monkeypatch.setattr(tasks.send_sync_incident_alert, "delay", deliver)
    return sent


def _conflict_on(crm: FakeSystem, desk: FakeSystem, email: str, user_id: str, contact_id: str) -> None:
    crm.person_edit(contact_id, "notes", f"crm {email}")
    desk.person_edit(user_id, "notes", f"desk {email}")


def test_the_team_is_told_once_when_the_queue_grows_past_the_threshold(
    team: Any,
    admin_user: Any,
    systems: tuple[FakeSystem, FakeSystem],
    alerts_sent: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    admin_user.email = "ada@acme.example"
    admin_user.save()
    crm, desk = systems
    for name in ("a", "b", "c"):
        crm.person_create({"email": f"{name}@x.io", "notes": "n"})
    sync = fake_sync(team, review_alert_threshold=1)
    run_sync(sync)

    with django_capture_on_commit_callbacks(execute=True):
        _conflict_on(crm, desk, "a@x.io", "10001", "101")
        run_sync(sync)  # one open conflict: not past the threshold
        assert not SyncIncident.objects.exists()
        _conflict_on(crm, desk, "b@x.io", "10002", "102")
        run_sync(sync)  # two: past it
        _conflict_on(crm, desk, "c@x.io", "10003", "103")
        run_sync(sync)  # three: still the same incident

    incident = SyncIncident.objects.get()
    assert incident.kind == "review_queue" and incident.resolved_at is None
    assert "3 items" not in incident.message and "2 items" in incident.message
    assert len(alerts_sent) == 1
    (email,) = mail.outbox
    assert email.to == ["ada@acme.example"] and sync.name in email.subject

    conflicts = list(sync.conflicts.select_related("sync", "link"))
    conflicts_resolve(conflicts=conflicts, choice="a", actor=admin_user, enqueue=False)
    tasks.apply_review.apply(args=[sync.pk])

    incident.refresh_from_db()
    assert incident.resolved_at is not None


def test_a_failing_run_opens_an_incident_and_the_next_good_run_ends_it(
    team: Any, systems: tuple[FakeSystem, FakeSystem], alerts_sent: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.base import ConnectorError
    from tests.workflows.sync.fakes import FakeClient

    sync = fake_sync(team)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectorError("The helpdesk is down (503)", permanent=False, status=503)

    monkeypatch.setattr(FakeClient, "list_changes", unreachable)
    failed = run_sync(sync)
    monkeypatch.undo()

    assert failed.status == "failed" and "down" in failed.error
    assert SyncIncident.objects.get(kind="failing").resolved_at is None
    run_sync(sync)
    assert SyncIncident.objects.get(kind="failing").resolved_at is not None


def test_enabling_a_sync_gives_it_one_poll_schedule_and_disabling_removes_only_that(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    other = PeriodicTask.objects.create(
        name="someone else's",
        task="workflows.sweep",
        interval=IntervalSchedule.objects.create(every=60, period="seconds"),
    )
    sync = fake_sync(team, poll_interval_seconds=30)

    sync_set_enabled(sync=sync, enabled=True)
    task = PeriodicTask.objects.get(name=f"sync {sync.pk} poll")
    assert task.task == "sync.poll_sync" and json.loads(task.args) == [sync.pk]
    assert task.interval is not None and task.interval.every == 30
    assert sync.started_at is not None

    sync_set_enabled(sync=sync, enabled=False)
    assert not PeriodicTask.objects.filter(name=f"sync {sync.pk} poll").exists()
    assert PeriodicTask.objects.filter(pk=other.pk).exists()

    others = set(PeriodicTask.objects.values_list("pk", flat=True))
    sync_set_enabled(sync=sync, enabled=True)
    sync_delete(sync=sync)
    assert set(PeriodicTask.objects.values_list("pk", flat=True)) == others


def test_the_poll_task_skips_a_disabled_sync(team: Any, systems: tuple[FakeSystem, FakeSystem]) -> None:
    crm, desk = systems
    crm.person_create({"email": "a@x.io"})
    sync = fake_sync(team)

    tasks.poll_sync.apply(args=[sync.pk])
    assert desk.live() == []

    sync_set_enabled(sync=sync, enabled=True)
    tasks.poll_sync.apply(args=[sync.pk])
    assert len(desk.live()) == 1
