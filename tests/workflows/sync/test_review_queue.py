"""The review queue: who may see and decide, what a decision does, and how it reaches both systems."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from integrations_hub.audit.models import AuditEntry
from tests.workflows.sync.fakes import FakeSystem
from tests.workflows.sync.helpers import fake_sync, run_sync
from workflows.sync import tasks
from workflows.sync.models import DuplicateHold, Sync, SyncConflict, SyncLink
from workflows.sync.services.review import ReviewError, hold_resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def conflicted(team: Any, systems: tuple[FakeSystem, FakeSystem]) -> tuple[Sync, FakeSystem, FakeSystem]:
    """A linked contact whose notes were changed on both sides since the last sync."""
    crm, desk = systems
    crm.person_create({"email": "ada@example.com", "notes": "n"})
    crm.person_create({"email": "bob@example.com", "notes": "n"})
    sync = fake_sync(team)
    run_sync(sync)
    for contact_id, user_id in (("101", "10001"), ("102", "10002")):
        crm.person_edit(contact_id, "notes", f"crm {contact_id}")
        desk.person_edit(user_id, "notes", f"desk {user_id}")
    run_sync(sync)
    assert SyncConflict.objects.filter(sync=sync, status="open").count() == 2
    return sync, crm, desk


@pytest.fixture
def team_admin_client(client: Any, admin_user: Any) -> Any:
    client.force_login(admin_user)
    return client


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sync ids apply_review was queued for (the task is run by the test, as a worker would)."""
    calls: list[int] = []
    monkeypatch.setattr(tasks.apply_review, "delay", lambda sync_id: calls.append(sync_id))
    return calls


def test_admins_see_both_values_and_when_each_side_changed(team_admin_client: Any, conflicted: Any) -> None:
    response = team_admin_client.get(reverse("sync:review_queue"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "crm 101" in page and "desk 10001" in page
    assert "A 101 ↔ B 10001" in page
    assert page.count("changed 2026-") == 4


def test_editors_get_403_on_the_queue_and_its_decisions(
    client: Any, editor: Any, conflicted: tuple[Sync, Any, Any]
) -> None:
    client.force_login(editor)
    conflict = SyncConflict.objects.filter(sync=conflicted[0]).first()
    assert conflict is not None

    assert client.get(reverse("sync:review_queue")).status_code == 403
    response = client.post(reverse("sync:conflict_resolve", args=[conflict.pk]), {"choice": "a"})
    assert response.status_code == 403
    conflict.refresh_from_db()
    assert conflict.status == "open"


def test_another_teams_admin_gets_404_and_sees_none_of_it(
    outsider_client: Any, conflicted: tuple[Sync, Any, Any]
) -> None:
    conflict = SyncConflict.objects.filter(sync=conflicted[0]).first()
    assert conflict is not None

    response = outsider_client.post(reverse("sync:conflict_resolve", args=[conflict.pk]), {"choice": "a"})
    page = outsider_client.get(reverse("sync:review_queue")).content.decode()

    assert response.status_code == 404
    assert "crm 101" not in page
    conflict.refresh_from_db()
    assert conflict.status == "open"


def test_a_decision_is_audited_and_written_to_both_systems_by_the_task(
    team_admin_client: Any,
    admin_user: Any,
    conflicted: tuple[Sync, FakeSystem, FakeSystem],
    enqueued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    sync, crm, desk = conflicted
    conflict = SyncConflict.objects.get(sync=sync, link__a_id="101")

    with django_capture_on_commit_callbacks(execute=True):
        response = team_admin_client.post(
            reverse("sync:conflict_resolve", args=[conflict.pk]), {"choice": "value", "value": "merged"}
        )

    assert response.status_code == 302
    conflict.refresh_from_db()
    assert (conflict.status, conflict.choice, conflict.resolved_by) == ("resolving", "value", admin_user)
    entry = AuditEntry.objects.get(action="conflict.resolved")
    assert entry.actor == admin_user and entry.changes["chosen"] == "merged"
    assert enqueued == [sync.pk]

    tasks.apply_review.apply(args=[sync.pk])

    conflict.refresh_from_db()
    assert conflict.status == "resolved" and conflict.applied_at is not None
    assert crm.rows["101"].fields["notes"] == "merged"
    assert desk.rows["10001"].fields["notes"] == "merged"
    # The other conflict is untouched, and reading our writes back changes nothing.
    assert SyncConflict.objects.get(sync=sync, link__a_id="102").status == "open"
    assert run_sync(sync).writes == 0


def test_htmx_decisions_swap_the_row(
    team_admin_client: Any, conflicted: tuple[Sync, Any, Any], enqueued: list[int]
) -> None:
    conflict = SyncConflict.objects.filter(sync=conflicted[0]).first()
    assert conflict is not None

    response = team_admin_client.post(
        reverse("sync:conflict_resolve", args=[conflict.pk]), {"choice": "b"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith(f'<tr id="conflict-{conflict.pk}"')
    assert "Resolved; being written" in row and "Keep B" in row


def test_bulk_decisions_apply_to_every_ticked_conflict(
    team_admin_client: Any, conflicted: tuple[Sync, FakeSystem, FakeSystem], enqueued: list[int]
) -> None:
    sync, crm, _desk = conflicted
    ids = list(SyncConflict.objects.filter(sync=sync).values_list("pk", flat=True))

    team_admin_client.post(reverse("sync:conflicts_resolve_bulk"), {"conflicts": ids, "choice": "b"})
    tasks.apply_review.apply(args=[sync.pk])

    assert set(SyncConflict.objects.filter(sync=sync).values_list("status", flat=True)) == {"resolved"}
    assert crm.rows["101"].fields["notes"] == "desk 10001"
    assert crm.rows["102"].fields["notes"] == "desk 10002"
    assert AuditEntry.objects.filter(action="conflict.resolved").count() == 2


def test_a_side_that_changed_after_the_decision_sends_it_back_to_the_queue(
    team_admin_client: Any, conflicted: tuple[Sync, FakeSystem, FakeSystem], enqueued: list[int]
) -> None:
    sync, _crm, desk = conflicted
    conflict = SyncConflict.objects.get(sync=sync, link__a_id="101")
    team_admin_client.post(reverse("sync:conflict_resolve", args=[conflict.pk]), {"choice": "a"})
    desk.person_edit("10001", "notes", "edited meanwhile")

    tasks.apply_review.apply(args=[sync.pk])

    conflict.refresh_from_db()
    assert conflict.status == "open" and "changed after the decision" in conflict.error
    assert conflict.b_value == "edited meanwhile"
    assert desk.rows["10001"].fields["notes"] == "edited meanwhile"


def test_a_held_duplicate_can_be_linked_to_its_candidate(
    team: Any, team_admin_client: Any, systems: tuple[FakeSystem, FakeSystem], enqueued: list[int]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "twin@example.com", "notes": "first"})
    crm.person_create({"email": "twin@example.com", "notes": "second"})
    desk.person_create({"email": "twin@example.com"})
    sync = fake_sync(team)
    run_sync(sync)
    hold = DuplicateHold.objects.get(sync=sync, side="b")
    assert sorted(hold.candidates) == ["101", "102"]

    response = team_admin_client.post(
        reverse("sync:hold_resolve", args=[hold.pk]), {"choice": "link", "candidate": "102"}
    )
    tasks.apply_review.apply(args=[sync.pk])

    assert response.status_code == 302
    hold.refresh_from_db()
    assert hold.status == "linked"
    assert SyncLink.objects.filter(sync=sync, a_id="102", b_id="10001", status="active").exists()
    assert desk.rows["10001"].fields["notes"] == "second"
    assert AuditEntry.objects.filter(action="duplicate.resolved").exists()


def test_create_as_new_is_refused_while_the_other_side_has_a_record_with_the_key(
    team: Any, admin_user: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "twin@example.com"})
    crm.person_create({"email": "twin@example.com"})
    desk.person_create({"email": "twin@example.com"})
    sync = fake_sync(team)
    run_sync(sync)
    hold = DuplicateHold.objects.get(sync=sync, side="a", record_id="101")

    with pytest.raises(ReviewError, match="already has a record"):
        hold_resolve(hold=hold, choice="create", actor=admin_user, enqueue=False)


def test_the_dashboard_shows_the_queue_size_and_admins_get_the_nav_link(
    team_admin_client: Any, client: Any, editor: Any, conflicted: Any
) -> None:
    page = team_admin_client.get(reverse("dashboard")).content.decode()
    assert "<strong>2</strong> items waiting in the review queue" in page
    assert f'href="{reverse("sync:review_queue")}">Review queue' in page

    client.force_login(editor)
    editor_page = client.get(reverse("dashboard")).content.decode()
    assert "<strong>2</strong> items waiting" in editor_page
    assert ">Review queue</a>" not in editor_page
