"""Deletions: noticed in a side's change feed (or recycle bin), and propagated through the connector's delete.

Against the fake systems, and end to end against the sandbox CRM (HubSpot dialect) and helpdesk (Zendesk).
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import ConnectorError, WriteResult
from connectors.sandbox.testing import SandboxProcess
from connectors.services import client_for
from tests.factories import hubspot_connection, zendesk_connection
from tests.workflows.sync.fakes import FakeClient, FakeSystem
from tests.workflows.sync.helpers import fake_sync, run_sync
from tests.workflows.sync.test_e2e_sandbox import _by_email, _connections, _contacts
from workflows.sync.models import SyncLink, SyncOutcome, SyncRecord, SyncRun
from workflows.sync.services import deletions
from workflows.sync.services.definition import sync_create
from workflows.sync.services.deletions import effective_deleted_when

pytestmark = pytest.mark.django_db


def _linked(team: Any, systems: tuple[FakeSystem, FakeSystem], **overrides: Any) -> Any:
    crm, _ = systems
    crm.person_create({"email": "ada@example.com"})
    sync = fake_sync(team, **overrides)
    run_sync(sync)
    return sync


def test_propagate_deletes_through_the_connectors_delete_call(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    sync = _linked(team, systems)
    (user,) = desk.live()

    crm.person_delete("101")
    run = run_sync(sync)

    assert [(w.kind, w.record_id) for w in desk.writes if w.kind == "delete"] == [("delete", user.id)]
    assert (run.status, run.deleted, run.failed) == (SyncRun.Status.SUCCEEDED, 1, 0)
    outcome = SyncOutcome.objects.get(run=run)
    assert outcome.outcome == SyncOutcome.Outcome.DELETED and outcome.notes == ["deleted on A; deleting on B"]


def test_a_deletion_the_feed_reports_is_noticed_without_a_condition_of_the_syncs_own(
    team: Any, systems: tuple[FakeSystem, FakeSystem], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake CRM reports deletions as "archived": true, as HubSpot does.
    monkeypatch.setitem(
        deletions.REPORTED_DELETIONS, "fake_crm", {"*": {"field": "archived", "op": "equals", "value": True}}
    )
    crm, desk = systems
    sync = _linked(team, systems, deleted_when={})

    crm.person_delete("101")
    run = run_sync(sync)

    assert desk.live() == [] and run.deleted == 1
    assert SyncRecord.objects.get(sync=sync, side="a").deleted


def test_without_any_deletion_signal_a_deleted_record_is_just_another_edit(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    sync = _linked(team, systems, deleted_when={})

    crm.person_delete("101")
    run = run_sync(sync)

    assert len(desk.live()) == 1 and run.deleted == 0
    assert SyncLink.objects.get(sync=sync).status == SyncLink.Status.ACTIVE


def test_a_counterpart_the_system_no_longer_has_counts_as_deleted(
    team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    sync = _linked(team, systems)
    (user,) = desk.live()
    del desk.rows[user.id]  # gone already: the system answers 404

    crm.person_delete("101")
    run = run_sync(sync)

    assert (run.deleted, run.failed) == (1, 0)
    assert SyncLink.objects.get(sync=sync).status == SyncLink.Status.ENDED


def test_a_rejected_delete_fails_that_record_and_the_next_run_tries_again(
    team: Any, systems: tuple[FakeSystem, FakeSystem], monkeypatch: pytest.MonkeyPatch
) -> None:
    crm, desk = systems
    sync = _linked(team, systems)
    original = FakeClient.delete

    def refuse(self: FakeClient, object_name: str, target_id: str) -> WriteResult:
        raise ConnectorError("this user has open tickets", permanent=True, status=422)

    monkeypatch.setattr(FakeClient, "delete", refuse)
    crm.person_delete("101")
    run = run_sync(sync)

    assert (run.status, run.failed, run.deleted) == (SyncRun.Status.PARTIAL, 1, 0)
    assert "B: this user has open tickets" in SyncOutcome.objects.get(run=run).error
    assert SyncLink.objects.get(sync=sync).status == SyncLink.Status.ACTIVE
    assert SyncRecord.objects.get(sync=sync, side="a").pending

    monkeypatch.setattr(FakeClient, "delete", original)
    retried = run_sync(sync)

    assert desk.live() == [] and retried.deleted == 1
    assert SyncLink.objects.get(sync=sync).status == SyncLink.Status.ENDED


def test_a_transient_delete_failure_stops_the_run_and_the_deletion_waits_for_the_next(
    team: Any, systems: tuple[FakeSystem, FakeSystem], monkeypatch: pytest.MonkeyPatch
) -> None:
    crm, desk = systems
    sync = _linked(team, systems)
    original = FakeClient.delete

    def unavailable(self: FakeClient, object_name: str, target_id: str) -> WriteResult:
        raise ConnectorError("503 Service Unavailable", permanent=False, status=503)

    monkeypatch.setattr(FakeClient, "delete", unavailable)
    crm.person_delete("101")
    run = run_sync(sync)

    assert run.status == SyncRun.Status.FAILED and "503" in run.error
    assert SyncRecord.objects.get(sync=sync, side="a").pending

    monkeypatch.setattr(FakeClient, "delete", original)
    assert run_sync(sync).deleted == 1
    assert desk.live() == []


def test_the_connectors_own_deletion_signal_applies_where_the_sync_names_none(team: Any) -> None:
    from workflows.sync.models import Sync

    crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9")
    desk = zendesk_connection(team=team, base_url="http://127.0.0.1:9")
    sync = Sync(team=team, a_connection=crm, a_object="contacts", b_connection=desk, b_object="users")

    assert effective_deleted_when(sync) == {
        "a": {"field": "archived", "op": "equals", "value": True},
        "b": {"field": "active", "op": "equals", "value": False},
    }
    own = {"field": "status", "op": "equals", "value": "closed"}
    sync.deleted_when = {"b": own}
    assert effective_deleted_when(sync)["b"] == own


def test_deletions_propagate_between_the_sandbox_crm_and_helpdesk_both_ways(
    team: Any, crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess
) -> None:
    crm, helpdesk = crm_sandbox, helpdesk_sandbox
    a, b = _connections(team, crm, helpdesk)
    sync = sync_create(
        team=team,
        name="Contacts ↔ users",
        a_connection=a,
        a_object="contacts",
        b_connection=b,
        b_object="users",
        fields=[
            {"key": "email", "a": "email", "b": "email", "direction": "both", "policy": "a_wins"},
            {"key": "name", "a": "firstname", "b": "name", "direction": "a_to_b"},
        ],
        match=[{"rule": "email", "a": "email", "b": "email"}],
        create="both",
        deletion="propagate",
        enabled=True,
    )
    run_sync(sync)
    hubspot, zendesk = client_for(a), client_for(b)
    ada_email, bob_email = sorted(_contacts(crm))[:2]
    ada_contact = _contacts(crm)[ada_email]["id"]
    ada_user, bob_user = (_by_email(helpdesk)[email]["id"] for email in (ada_email, bob_email))

    # Deleted in the CRM (archived): its search feed leaves it out, the recycle bin shows it.
    assert hubspot.delete("contacts", str(ada_contact)).ok
    # Deleted in the helpdesk: its incremental export shows the user with `active: false`.
    assert zendesk.delete("users", str(bob_user)).ok
    run = run_sync(sync)

    assert (run.status, run.deleted, run.failed) == (SyncRun.Status.SUCCEEDED, 2, 0), run.error
    live_users = {user["email"] for user in helpdesk.records("users") if user.get("active", True)}
    assert ada_email not in live_users and bob_email not in _contacts(crm)
    assert str(ada_user) in {link.b_id for link in SyncLink.objects.filter(sync=sync, status="ended")}
    assert bob_email in {record.fields.get("email") for record in hubspot.archived("contacts")}  # type: ignore[attr-defined]
    assert SyncLink.objects.filter(sync=sync, status=SyncLink.Status.ENDED).count() == 2
    assert SyncLink.objects.filter(sync=sync, status=SyncLink.Status.ACTIVE).count() == 18

    quiet = run_sync(sync)
    assert (quiet.writes, quiet.deleted) == (0, 0)
