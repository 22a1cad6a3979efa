"""/api/v1/conflicts and /api/v1/duplicate-holds: the review queue for team admins, over REST."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from connectors.models import Connection
from connectors.sandbox.testing import SandboxProcess
from integrations_hub.api.problems import PROBLEM_CONTENT_TYPE
from integrations_hub.audit.models import AuditEntry
from tests.api.conftest import SYNC_FIELDS, SYNC_MATCH, World
from workflows.sync import tasks
from workflows.sync.models import DuplicateHold, SyncConflict, SyncLink, SyncRun

UNLIMITED = {"requests": 100_000, "interval_seconds": 1, "burst": 10_000}


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sync ids the apply-review task was queued for (a worker would run it)."""
    calls: list[int] = []
    monkeypatch.setattr(tasks.apply_review, "delay", calls.append)
    return calls


def _second_conflict(world: World) -> SyncConflict:
    link = SyncLink.objects.create(sync=world.sync, a_id="103", b_id="10003")
    return SyncConflict.objects.create(
        sync=world.sync,
        link=link,
        pair_key="phone",
        a_field="phone",
        b_field="phone",
        a_value="+1 555 0101",
        b_value="+1 555 0102",
    )


def test_editors_are_refused_the_queue(editor_api: APIClient, world: World) -> None:
    for response in (
        editor_api.get("/api/v1/conflicts"),
        editor_api.post(f"/api/v1/conflicts/{world.conflict.pk}/resolve", {"choice": "a"}, format="json"),
        editor_api.get("/api/v1/duplicate-holds"),
    ):
        assert response.status_code == 403
        assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
        assert response.json()["detail"] == "This needs the admin role in your team."
    assert SyncConflict.objects.get(pk=world.conflict.pk).status == "open"


def test_conflicts_list_both_values_and_filter_by_sync_field_and_status(
    admin_api: APIClient, world: World, other_world: World
) -> None:
    phone = _second_conflict(world)
    SyncConflict.objects.filter(pk=phone.pk).update(status=SyncConflict.Status.RESOLVED)

    open_ = admin_api.get("/api/v1/conflicts").json()["results"]
    every = admin_api.get("/api/v1/conflicts?status=any").json()["results"]
    by_field = admin_api.get("/api/v1/conflicts?status=any&field=notes_internal").json()["results"]
    by_sync = admin_api.get(f"/api/v1/conflicts?sync={other_world.sync.pk}").json()["results"]
    resolved = admin_api.get("/api/v1/conflicts?status=resolved").json()["results"]

    assert [c["id"] for c in open_] == [world.conflict.pk]
    (notes,) = open_
    assert (notes["a_value"], notes["b_value"]) == (
        "crm says: renewal in May",
        "desk says: asked for a refund",
    )
    assert notes["link"] == {"a_id": "101", "b_id": "10001"}
    assert notes["sync_name"] == world.sync.name and notes["pair_key"] == "notes"
    assert [c["id"] for c in every] == [world.conflict.pk, phone.pk]
    assert [c["id"] for c in by_field] == [world.conflict.pk]
    assert by_sync == []  # another team's sync: nothing of it is shown
    assert [c["id"] for c in resolved] == [phone.pk]


def test_resolving_with_a_typed_value_is_recorded_audited_and_queued(
    admin_api: APIClient,
    admin_user: Any,
    world: World,
    enqueued: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    url = f"/api/v1/conflicts/{world.conflict.pk}/resolve"

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(url, {"choice": "value", "value": "Renewal in May"}, format="json")
    again = admin_api.post(url, {"choice": "a"}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["choice"], body["resolved_value"]) == (
        "resolving",
        "value",
        "Renewal in May",
    )
    assert body["resolved_by"] == admin_user.username
    assert enqueued == [world.sync.pk]
    entry = AuditEntry.objects.get(action="conflict.resolved")
    assert entry.actor == admin_user and entry.changes["chosen"] == "Renewal in May"
    assert again.status_code == 409
    assert again.json()["type"] == "urn:integrations-hub:problem:already-decided"


def test_a_decision_needs_a_valid_choice_and_value(admin_api: APIClient, world: World) -> None:
    url = f"/api/v1/conflicts/{world.conflict.pk}/resolve"

    no_value = admin_api.post(url, {"choice": "value"}, format="json")
    stray_value = admin_api.post(url, {"choice": "a", "value": "x"}, format="json")
    bad_choice = admin_api.post(url, {"choice": "c"}, format="json")

    assert no_value.status_code == stray_value.status_code == bad_choice.status_code == 400
    assert "value" in no_value.json()["errors"] and "value" in stray_value.json()["errors"]
    assert "choice" in bad_choice.json()["errors"]
    assert SyncConflict.objects.get(pk=world.conflict.pk).status == "open"


def test_bulk_resolve_decides_the_open_ones_and_refuses_other_teams_ids(
    admin_api: APIClient, world: World, other_world: World, enqueued: list[int]
) -> None:
    phone = _second_conflict(world)
    SyncConflict.objects.filter(pk=phone.pk).update(status=SyncConflict.Status.RESOLVED)

    foreign = admin_api.post(
        "/api/v1/conflicts/resolve",
        {"conflicts": [world.conflict.pk, other_world.conflict.pk], "choice": "b"},
        format="json",
    )
    response = admin_api.post(
        "/api/v1/conflicts/resolve",
        {"conflicts": [world.conflict.pk, phone.pk], "choice": "b"},
        format="json",
    )

    assert foreign.status_code == 400
    assert foreign.json()["errors"]["conflicts"] == [
        f"Not conflicts of your team: {other_world.conflict.pk}."
    ]
    assert SyncConflict.objects.get(pk=other_world.conflict.pk).status == "open"
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["decided"] == 1
    assert [(c["id"], c["status"]) for c in body["conflicts"]] == [
        (world.conflict.pk, "resolving"),
        (phone.pk, "resolved"),
    ]
    assert SyncConflict.objects.get(pk=world.conflict.pk).choice == "b"


def test_holds_list_their_candidates_and_link_to_one(
    admin_api: APIClient, admin_user: Any, world: World, enqueued: list[int]
) -> None:
    listed = admin_api.get("/api/v1/duplicate-holds").json()["results"]
    wrong = admin_api.post(
        f"/api/v1/duplicate-holds/{world.hold.pk}/resolve",
        {"choice": "link", "candidate": "999"},
        format="json",
    )
    linked = admin_api.post(
        f"/api/v1/duplicate-holds/{world.hold.pk}/resolve",
        {"choice": "link", "candidate": "10003"},
        format="json",
    )
    twice = admin_api.post(
        f"/api/v1/duplicate-holds/{world.hold.pk}/resolve", {"choice": "create"}, format="json"
    )

    assert [(h["id"], h["record_id"], h["candidates"]) for h in listed] == [
        (world.hold.pk, "102", ["10002", "10003"])
    ]
    assert wrong.status_code == 400 and wrong.json()["errors"]["candidate"] == [
        "Choose one of: 10002, 10003."
    ]
    assert linked.status_code == 202, linked.content
    assert (linked.json()["status"], linked.json()["chosen_id"]) == ("resolving", "10003")
    assert linked.json()["resolved_by"] == admin_user.username
    assert twice.status_code == 409
    assert twice.json()["detail"] == "This item was already decided."
    assert DuplicateHold.objects.get(pk=world.hold.pk).chosen_id == "10003"


def test_a_candidate_linked_elsewhere_is_a_409(admin_api: APIClient, world: World) -> None:
    SyncLink.objects.create(sync=world.sync, a_id="555", b_id="10002")

    response = admin_api.post(
        f"/api/v1/duplicate-holds/{world.hold.pk}/resolve",
        {"choice": "link", "candidate": "10002"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["type"] == "urn:integrations-hub:problem:review-refused"
    assert DuplicateHold.objects.get(pk=world.hold.pk).status == "open"


def _contacts(crm: SandboxProcess) -> dict[str, dict[str, Any]]:
    return {contact["properties"]["email"]: contact for contact in crm.records("contacts")}


def _users(helpdesk: SandboxProcess) -> dict[str, dict[str, Any]]:
    return {user["email"]: user for user in helpdesk.records("users")}


def test_a_conflict_resolved_over_the_api_is_written_to_both_sandbox_systems(
    admin_api: APIClient,
    world: World,
    crm_sandbox: SandboxProcess,
    helpdesk_sandbox: SandboxProcess,
    enqueued: list[int],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    queued_runs: list[int] = []
    monkeypatch.setattr(tasks.execute_sync_run, "delay", queued_runs.append)

    def run_via_api(sync_id: int) -> None:
        """POST .../run, then what the worker does with the queued run."""
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_api.post(f"/api/v1/syncs/{sync_id}/run")
        assert response.status_code == 202, response.content
        tasks.execute_sync_run.apply(args=(queued_runs.pop(),))
        run = admin_api.get(response["Location"]).json()
        outcomes = admin_api.get(response["Location"] + "/outcomes?outcome=failed").json()
        assert run["status"] == SyncRun.Status.SUCCEEDED, (run["error"], outcomes)

    Connection.objects.filter(pk__in=[world.crm.pk, world.helpdesk.pk]).update(rate_limit_override=UNLIMITED)
    created = admin_api.post(
        "/api/v1/syncs",
        {
            "name": "Contacts ↔ users, both ways",
            "a_connection": world.crm.pk,
            "a_object": "contacts",
            "b_connection": world.helpdesk.pk,
            "b_object": "users",
            "fields": SYNC_FIELDS,
            "match": SYNC_MATCH,
            "create": "a_to_b",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    sync_id = created.json()["id"]
    run_via_api(sync_id)
    email = sorted(_contacts(crm_sandbox))[0]
    contact_id, user_id = _contacts(crm_sandbox)[email]["id"], _users(helpdesk_sandbox)[email]["id"]
    crm_sandbox.admin(
        "PATCH", f"/_admin/records/contacts/{contact_id}", {"properties": {"notes_internal": "crm: renew"}}
    )
    helpdesk_sandbox.admin("PATCH", f"/_admin/records/users/{user_id}", {"notes": "desk: refund"})
    run_via_api(sync_id)

    (conflict,) = admin_api.get(f"/api/v1/conflicts?sync={sync_id}&field=notes").json()["results"]
    assert (conflict["a_value"], conflict["b_value"]) == ("crm: renew", "desk: refund")
    with django_capture_on_commit_callbacks(execute=True):
        decided = admin_api.post(
            f"/api/v1/conflicts/{conflict['id']}/resolve", {"choice": "b"}, format="json"
        )
    assert decided.status_code == 202 and enqueued == [sync_id]
    tasks.apply_review.apply(args=(sync_id,))

    assert _contacts(crm_sandbox)[email]["properties"]["notes_internal"] == "desk: refund"
    assert _users(helpdesk_sandbox)[email]["notes"] == "desk: refund"
    shown = admin_api.get(f"/api/v1/conflicts/{conflict['id']}").json()
    assert shown["status"] == "resolved" and shown["applied_at"] is not None
