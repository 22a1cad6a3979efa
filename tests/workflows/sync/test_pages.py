"""The sync pages: team-scoped, with match consistency and each run's outcomes."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.workflows.sync.fakes import FakeSystem
from tests.workflows.sync.helpers import fake_sync, run_sync
from workflows.sync import tasks
from workflows.sync.models import SyncRun
from workflows.sync.selectors import match_consistency

pytestmark = pytest.mark.django_db


def test_match_consistency_counts_links_holds_and_duplicates_on_each_side(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "ada@example.com"})
    crm.person_create({"email": "twin@example.com"})
    crm.person_create({"email": "twin@example.com"})
    desk.person_create({"email": "ada@example.com"})
    sync = fake_sync(team)
    run_sync(sync)

    consistency = match_consistency(sync=sync)

    assert (consistency.linked, consistency.held) == (1, 2)
    assert (consistency.duplicates_a, consistency.duplicates_b) == (1, 0)


def test_the_sync_page_shows_consistency_and_runs_and_is_404_for_other_teams(
    team: Any, editor_client: Any, client: Any, outsider: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, _ = systems
    crm.person_create({"email": "ada@example.com", "notes": "vip"})
    sync = fake_sync(team)
    run = run_sync(sync)

    page = editor_client.get(reverse("sync:sync_detail", args=[sync.pk])).content.decode()
    run_page = editor_client.get(reverse("sync:sync_run_detail", args=[run.pk])).content.decode()
    listing = editor_client.get(reverse("sync:sync_list")).content.decode()

    assert "<strong>1</strong> linked pairs" in page and "manual review" in page
    assert "Created" in run_page and "vip" in run_page
    assert sync.name in listing
    client.force_login(outsider)
    assert client.get(reverse("sync:sync_detail", args=[sync.pk])).status_code == 404
    assert client.get(reverse("sync:sync_run_detail", args=[run.pk])).status_code == 404


def test_run_now_queues_one_run_on_commit(
    team: Any,
    editor_client: Any,
    systems: tuple[FakeSystem, FakeSystem],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    sync = fake_sync(team)
    queued: list[int] = []
    monkeypatch.setattr(tasks.execute_sync_run, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(reverse("sync:sync_run_now", args=[sync.pk]))
        editor_client.post(reverse("sync:sync_run_now", args=[sync.pk]))

    (run,) = SyncRun.objects.filter(sync=sync)
    assert queued == [run.pk] and run.trigger == "manual"


def test_the_django_admin_refuses_a_definition_that_does_not_compile(
    team: Any, client: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    from django.contrib.auth import get_user_model

    from workflows.sync.models import Sync

    sync = fake_sync(team)
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests"))
    data = {
        "team": team.pk,
        "name": "Broken",
        "a_connection": sync.a_connection_id,
        "a_object": "contacts",
        "b_connection": sync.b_connection_id,
        "b_object": "users",
        "create": "both",
        "first_sync": "match_and_create",
        "deletion": "ignore",
        "archive": "{}",
        "fields": '[{"a": "x", "b": "y", "policy": "coin toss"}]',
        "match": "[]",
        "filters": "{}",
        "deleted_when": "{}",
        "poll_interval_seconds": "60",
        "review_alert_threshold": "25",
    }

    response = client.post(reverse("admin:sync_sync_add"), data)

    assert response.status_code == 200
    assert "coin toss" in response.content.decode()
    assert not Sync.objects.filter(name="Broken").exists()
