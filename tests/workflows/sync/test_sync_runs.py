"""Sync runs against the fake systems: creates, updates, echoes, conflicts, holds, deletions, first-sync modes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.base import Capabilities
from tests.workflows.sync.fakes import FakeDeskProvider, FakeSystem
from tests.workflows.sync.helpers import fake_sync, run_sync
from workflows.engine.sync.spec import SyncSpecError
from workflows.sync.models import (
    DuplicateHold,
    SyncConflict,
    SyncCursor,
    SyncLink,
    SyncOutcome,
    SyncRecord,
    SyncRun,
)

pytestmark = pytest.mark.django_db


def test_a_new_contact_is_created_in_the_helpdesk_and_its_echo_writes_nothing(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    contact = crm.person_create({"email": "ada@example.com", "notes": "vip", "title": "cto", "plan": "gold"})
    assert contact is not None
    sync = fake_sync(team)

    first = run_sync(sync)
    second = run_sync(sync)

    (user,) = desk.live()
    assert user.fields["email"] == "ada@example.com"
    assert user.fields["notes"] == "vip"
    # The title pair upper-cases on the way to the helpdesk (which stores text in lower case).
    assert desk.writes[0].fields["title"] == "CTO"
    # plan travels only from the helpdesk to the CRM, so a new user doesn't get it.
    assert "plan" not in user.fields
    assert (first.created_b, second.writes) == (1, 0)
    assert SyncLink.objects.get(sync=sync).b_id == user.id


def test_records_with_the_same_email_are_linked_not_duplicated(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "Ada@Example.com ", "phone": "1"})
    desk.person_create({"email": "ada@example.com"})
    sync = fake_sync(team)

    run = run_sync(sync)

    assert len(desk.live()) == 1 and len(crm.live()) == 1
    assert run.linked == 1 and run.created_b == 0
    # First sight fills what the helpdesk lacks.
    assert desk.live()[0].fields["phone"] == "1"


def test_two_records_sharing_an_email_are_held_for_review_not_merged(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "twin@example.com", "notes": "first"})
    crm.person_create({"email": "twin@example.com", "notes": "second"})
    sync = fake_sync(team)

    run = run_sync(sync)

    assert desk.live() == []
    assert run.held == 2
    holds = DuplicateHold.objects.filter(sync=sync, status=DuplicateHold.Status.OPEN)
    assert {h.record_id for h in holds} == {"101", "102"}
    assert all("2 records on this side" in h.reason for h in holds)


def test_an_edit_on_one_side_moves_only_that_field_once(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "ada@example.com", "notes": "n", "phone": "1"})
    sync = fake_sync(team)
    run_sync(sync)
    run_sync(sync)
    writes_before = len(desk.writes)

    crm.person_edit("101", "phone", "2")
    run_sync(sync)
    quiet = run_sync(sync)

    assert [w.fields for w in desk.writes[writes_before:]] == [{"phone": "2"}]
    assert quiet.writes == 0
    assert crm.writes == []


def test_concurrent_edits_of_a_manual_field_wait_for_review_while_the_rest_syncs(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "ada@example.com", "notes": "n", "phone": "1"})
    sync = fake_sync(team)
    run_sync(sync)
    run_sync(sync)
    user = desk.live()[0]

    crm.person_edit("101", "notes", "from crm")
    desk.person_edit(user.id, "notes", "from desk")
    desk.person_edit(user.id, "phone", "9")
    run = run_sync(sync)

    conflict = SyncConflict.objects.get(sync=sync)
    assert (conflict.a_value, conflict.b_value, conflict.status) == ("from crm", "from desk", "open")
    assert conflict.a_changed_at is not None and conflict.b_changed_at is not None
    assert crm.rows["101"].fields["phone"] == "9"
    assert crm.rows["101"].fields["notes"] == "from crm" and user.fields["notes"] == "from desk"
    assert run.conflicts == 1
    # Later runs keep holding it without opening a second one.
    run_sync(sync)
    assert SyncConflict.objects.filter(sync=sync).count() == 1


def test_deleting_on_one_side_deletes_the_counterpart_when_the_policy_propagates(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "ada@example.com"})
    sync = fake_sync(team)
    run_sync(sync)

    crm.person_delete("101")
    run = run_sync(sync)

    assert desk.live() == []
    assert run.deleted == 1
    assert SyncLink.objects.get(sync=sync).status == SyncLink.Status.ENDED


def test_archive_sets_the_configured_field_on_the_counterpart(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "ada@example.com"})
    sync = fake_sync(
        team,
        deletion="archive",
        archive={"a": {"field": "tier", "value": "gone"}, "b": {"field": "plan", "value": "closed"}},
    )
    run_sync(sync)

    crm.person_delete("101")
    run_sync(sync)

    (user,) = desk.live()
    assert user.fields["plan"] == "closed"


def test_ignore_keeps_the_counterpart_and_ends_the_link(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "ada@example.com"})
    sync = fake_sync(team, deletion="ignore")
    run_sync(sync)

    crm.person_delete("101")
    run_sync(sync)

    assert len(desk.live()) == 1
    assert SyncLink.objects.get(sync=sync).status == SyncLink.Status.ENDED


def test_propagate_is_refused_when_a_connectors_capabilities_say_it_cannot_delete(
    team: Any, systems: tuple[FakeSystem, FakeSystem], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        FakeDeskProvider, "capabilities", {"users": Capabilities(upsert_key="email", batch_size=50)}
    )

    with pytest.raises(SyncSpecError) as refused:
        fake_sync(team, deletion="propagate")

    assert refused.value.messages == [
        "deletion: desk can't delete users through its connector; choose 'archive' (set a field) or 'ignore'"
    ]


def test_match_only_links_existing_records_and_creates_nothing_on_the_first_sync(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "both@example.com"})
    crm.person_create({"email": "crm-only@example.com"})
    desk.person_create({"email": "both@example.com"})
    sync = fake_sync(team, first_sync="match_only")

    run = run_sync(sync)

    assert run.linked == 1 and run.created_b == 0 and run.skipped == 1
    assert len(desk.live()) == 1
    skipped = SyncOutcome.objects.get(run=run, outcome="skipped")
    assert "first sync only matches" in skipped.error
    # After the first sync, a new record is created as usual.
    crm.person_create({"email": "new@example.com"})
    assert run_sync(sync).created_b == 1


def test_start_from_now_leaves_older_records_alone_but_matches_them_later(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "old@example.com", "notes": "old"})
    sync = fake_sync(team, first_sync="start_from_now", enabled=True)
    # The fake clock is far in the past, so everything already in the CRM predates "now".
    assert sync.started_at is not None

    run_sync(sync)
    assert desk.live() == []
    assert SyncRecord.objects.get(sync=sync, side="a").pending is False

    # A user created later in the helpdesk with the old contact's email is linked to it, not duplicated.
    desk.clock.jump_to(timezone.now() + timedelta(seconds=1))
    desk.person_create({"email": "old@example.com"})
    run_sync(sync)
    assert len(crm.live()) == 1
    assert SyncLink.objects.filter(sync=sync, status="active").count() == 1


def test_a_filtered_out_record_is_not_created_on_the_other_side(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "keep@example.com", "tier": "gold"})
    crm.person_create({"email": "drop@example.com", "tier": "free"})
    sync = fake_sync(team, filters={"a": {"field": "tier", "op": "equals", "value": "gold"}})

    run_sync(sync)

    assert [u.fields["email"] for u in desk.live()] == ["keep@example.com"]


def test_each_side_resumes_from_its_own_cursor(team: Any, systems: tuple[FakeSystem, FakeSystem]) -> None:
    crm, _desk = systems
    crm.person_create({"email": "ada@example.com"})
    sync = fake_sync(team)
    run_sync(sync)
    run_sync(sync)
    cursors = dict(SyncCursor.objects.filter(sync=sync).values_list("side", "value"))

    quiet = run_sync(sync)

    assert quiet.read_a == 0 and quiet.read_b == 0
    assert cursors["a"] and cursors["b"] and cursors["a"] != cursors["b"]


def test_a_write_the_system_rejects_is_recorded_and_retried_by_the_next_run(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "ada@example.com"})
    crm.person_create({"email": "bob@example.com"})
    sync = fake_sync(team)
    run_sync(sync)
    # Bob's contact takes Ada's address in the CRM; the helpdesk still has a user with it.
    crm.person_edit("102", "email", "ada@example.com")

    refused = run_sync(sync)

    assert refused.status == SyncRun.Status.PARTIAL and refused.failed == 1
    outcome = SyncOutcome.objects.get(run=refused, outcome="failed")
    assert "already used" in outcome.error
    assert SyncRecord.objects.get(sync=sync, side="a", record_id="102").pending is True
    # Once Ada's contact moves to another address, the retried write goes through.
    crm.person_edit("101", "email", "ada@new.example.com")
    run_sync(sync)
    assert sorted(u.fields["email"] for u in desk.live()) == ["ada@example.com", "ada@new.example.com"]


def test_a_held_duplicate_that_is_deleted_leaves_the_queue_and_its_twin_syncs_once_it_changes(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "twin@example.com", "notes": "first"})
    crm.person_create({"email": "twin@example.com", "notes": "second"})
    sync = fake_sync(team)
    run_sync(sync)

    crm.person_delete("102")
    run_sync(sync)
    statuses = dict(DuplicateHold.objects.filter(sync=sync).values_list("record_id", "status"))
    assert statuses == {"101": "open", "102": "dismissed"}

    crm.person_edit("101", "notes", "the only one now")
    run_sync(sync)
    assert [u.fields["notes"] for u in desk.live()] == ["the only one now"]
    assert DuplicateHold.objects.get(sync=sync, record_id="101").status == "dismissed"
