"""Runs against the real sandbox CRM and helpdesk over loopback HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.services import connection_test
from tests.factories import hubspot_connection, zendesk_connection
from workflows.models import RecordLink, Run, RunRecord, TriggerCursor, Workflow
from workflows.services import runs as run_service
from workflows.services.runs import run_execute, run_request, workflow_poll
from workflows.services.workflow import workflow_create

MAPPING = {
    "fields": [
        {
            "target": "name",
            "source": ["firstname", "lastname"],
            "transforms": [{"name": "join", "args": {"separator": " "}}],
        },
        {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
        {"target": "phone", "source": ["phone"]},
    ]
}


def _helpdesk_users(helpdesk: Any) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = helpdesk.admin("GET", "/_admin/records/users")["results"]
    return users


def _crm_contacts(crm: Any) -> list[dict[str, Any]]:
    contacts: list[dict[str, Any]] = crm.admin("GET", "/_admin/records/contacts")["results"]
    return contacts


def _run(workflow: Workflow) -> Run:
    run = run_request(workflow=workflow, trigger=Run.Trigger.MANUAL, enqueue=False)
    assert run is not None
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def workflow(team: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> Workflow:
    crm = hubspot_connection(team=team, base_url=crm_sandbox.url)
    helpdesk = zendesk_connection(team=team, base_url=helpdesk_sandbox.url)
    return workflow_create(
        team=team,
        name="Contacts to users",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping=MAPPING,
        match_field="email",
        enabled=True,
    )


def _assert_helpdesk_mirrors_crm(crm: Any, helpdesk: Any) -> None:
    contacts = _crm_contacts(crm)
    users = _helpdesk_users(helpdesk)
    crm_emails = sorted(c["properties"]["email"].strip().lower() for c in contacts)
    helpdesk_emails = sorted(u["email"] for u in users)
    assert helpdesk_emails == crm_emails  # every contact exactly once


def test_first_run_creates_every_contact_with_one_outcome_each(
    workflow: Workflow, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    run = _run(workflow)
    contacts = _crm_contacts(crm_sandbox)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.records_read == len(contacts)
    assert run.created_count == len(contacts)
    assert RunRecord.objects.filter(run=run).count() == len(contacts)
    assert set(RunRecord.objects.filter(run=run).values_list("outcome", flat=True)) == {"created"}
    _assert_helpdesk_mirrors_crm(crm_sandbox, helpdesk_sandbox)
    first = contacts[0]
    user = next(
        u for u in _helpdesk_users(helpdesk_sandbox) if u["email"] == first["properties"]["email"].lower()
    )
    assert user["name"] == f"{first['properties']['firstname']} {first['properties']['lastname']}"
    record = RunRecord.objects.get(run=run, source_id=first["id"])
    assert record.target_id == str(user["id"])
    assert record.diff["email"] == [None, user["email"]]
    assert run.api_requests > 0


def test_polling_twice_creates_no_duplicates(
    workflow: Workflow, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    _run(workflow)
    second = _run(workflow)
    assert second.created_count == 0
    assert second.records_read == 0  # nothing is read twice from an unchanged source
    assert second.status == Run.Status.SUCCEEDED

    # Even re-reading everything from the start writes nothing new.
    TriggerCursor.objects.filter(workflow=workflow).update(value=None)
    third = _run(workflow)
    assert third.records_read == len(_crm_contacts(crm_sandbox))
    assert third.unchanged_count == third.records_read
    assert third.created_count == third.updated_count == 0
    _assert_helpdesk_mirrors_crm(crm_sandbox, helpdesk_sandbox)


def test_an_edit_in_the_crm_is_an_updated_outcome_with_its_diff(
    workflow: Workflow, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    _run(workflow)
    contact = _crm_contacts(crm_sandbox)[3]
    crm_sandbox.admin(
        "PATCH", f"/_admin/records/contacts/{contact['id']}", {"properties": {"phone": "+44 20 7946 0000"}}
    )

    run = _run(workflow)

    assert run.updated_count == 1
    assert run.created_count == 0
    record = RunRecord.objects.get(run=run, outcome="updated")
    assert record.source_id == contact["id"]
    assert record.diff == {"phone": [contact["properties"]["phone"], "+44 20 7946 0000"]}
    user = next(
        u for u in _helpdesk_users(helpdesk_sandbox) if u["email"] == contact["properties"]["email"].lower()
    )
    assert user["phone"] == "+44 20 7946 0000"


@pytest.mark.parametrize(
    "crash_point", ["after_read_before_write", "after_write_before_commit", "inside_commit"]
)
def test_a_crash_before_the_commit_rereads_and_never_skips_a_record(
    workflow: Workflow,
    crm_sandbox: Any,
    helpdesk_sandbox: Any,
    monkeypatch: pytest.MonkeyPatch,
    crash_point: str,
) -> None:
    crm_sandbox.reset(seed=250)  # three pages of 100
    calls = {"n": 0}
    real_save_links = run_service.save_links

    class Crash(RuntimeError):
        pass

    def crashing_save_links(workflow: Workflow, links: list[RecordLink]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            if crash_point == "inside_commit":
                real_save_links(workflow, links)  # part of the transaction is done, then it dies
            raise Crash("worker died")
        real_save_links(workflow, links)

    real_write_chunk = run_service._write_chunk

    def crashing_write_chunk(context: Any, chunk: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash("worker died between reading the page and writing it")
        return real_write_chunk(context, chunk)

    if crash_point == "after_read_before_write":
        monkeypatch.setattr(run_service, "_write_chunk", crashing_write_chunk)
    else:
        monkeypatch.setattr(run_service, "save_links", crashing_save_links)
    with pytest.raises(Crash):
        _run(workflow)
    crashed = Run.objects.get(workflow=workflow)
    assert crashed.status == Run.Status.FAILED
    assert crashed.records_read == 100  # only the first page was recorded
    cursor_after_crash = TriggerCursor.objects.get(workflow=workflow).value
    assert cursor_after_crash is not None

    monkeypatch.setattr(run_service, "save_links", real_save_links)
    monkeypatch.setattr(run_service, "_write_chunk", real_write_chunk)
    resumed = _run(workflow)

    assert resumed.status == Run.Status.SUCCEEDED, resumed.error
    # The crashed page was written to the helpdesk but not recorded, so it is read again; nothing is skipped.
    assert resumed.records_read >= 150
    contacts = _crm_contacts(crm_sandbox)
    assert RecordLink.objects.filter(workflow=workflow).count() == len(contacts)
    _assert_helpdesk_mirrors_crm(crm_sandbox, helpdesk_sandbox)


def test_a_redelivered_run_task_does_nothing_twice(workflow: Workflow, crm_sandbox: Any) -> None:
    run = run_request(workflow=workflow, trigger=Run.Trigger.MANUAL, enqueue=False)
    assert run is not None
    run_execute(run_id=run.pk)
    requests_after_first = crm_sandbox.admin("GET", "/_admin/stats")
    run_execute(run_id=run.pk)  # the same task delivered again
    assert crm_sandbox.admin("GET", "/_admin/stats") == requests_after_first
    assert RunRecord.objects.filter(run=run).count() == len(_crm_contacts(crm_sandbox))


def test_no_second_run_starts_while_one_is_active(workflow: Workflow) -> None:
    first = run_request(workflow=workflow, trigger=Run.Trigger.MANUAL, enqueue=False)
    assert first is not None
    assert run_request(workflow=workflow, trigger=Run.Trigger.MANUAL, enqueue=False) is None
    assert workflow_poll(workflow_id=workflow.pk) is None


def test_a_poll_that_finds_nothing_leaves_no_run_but_marks_the_check(workflow: Workflow) -> None:
    first = workflow_poll(workflow_id=workflow.pk)
    assert first is not None and first.created_count > 0

    idle = workflow_poll(workflow_id=workflow.pk)

    assert idle is None
    assert Run.objects.filter(workflow=workflow).count() == 1
    workflow.refresh_from_db()
    assert workflow.last_checked_at is not None and workflow.last_checked_at >= first.finished_at


def test_poll_of_a_disabled_workflow_does_nothing(workflow: Workflow) -> None:
    Workflow.objects.filter(pk=workflow.pk).update(enabled=False)
    assert workflow_poll(workflow_id=workflow.pk) is None
    assert not Run.objects.filter(workflow=workflow).exists()


def test_wrong_credentials_show_the_systems_error_and_fail_the_run(
    workflow: Workflow, crm_sandbox: Any
) -> None:
    from connectors.services import connection_update

    crm = workflow.source_connection
    connection_update(connection=crm, credentials={"access_token": "wrong-token"})

    result = connection_test(connection=crm)
    assert not result.ok
    assert "Authentication credentials not found" in result.message
    crm.refresh_from_db()
    assert crm.status == "error"
    assert "Authentication credentials not found" in crm.last_error

    run = _run(workflow)
    assert run.status == Run.Status.FAILED
    assert "Authentication credentials not found" in run.error
    assert run.error.startswith(crm.name)


def test_a_record_the_helpdesk_rejects_fails_with_its_message_while_others_go_through(
    workflow: Workflow, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    # The CRM accepts a contact with only an email; the helpdesk requires a name.
    bad = crm_sandbox.admin(
        "POST", "/_admin/records/contacts", {"properties": {"email": "nameless@example.com"}}
    )
    run = _run(workflow)

    contacts = _crm_contacts(crm_sandbox)
    assert run.status == Run.Status.PARTIAL
    assert run.failed_count == 1
    assert run.created_count == len(contacts) - 1
    failed = RunRecord.objects.get(run=run, outcome="failed")
    assert failed.source_id == str(bad["id"])
    assert failed.record_key == "nameless@example.com"
    assert "Name:  is too short" in failed.error
    assert ["name", "empty in source"] in failed.dropped
    assert "nameless@example.com" not in {u["email"] for u in _helpdesk_users(helpdesk_sandbox)}
    assert len(_helpdesk_users(helpdesk_sandbox)) == len(contacts) - 1
