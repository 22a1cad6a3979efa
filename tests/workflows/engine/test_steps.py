from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import ConnectorError, SourceRecord
from tests.workflows.engine.definitions import CHAT, CRM, MARKETING, lead, lead_workflow
from tests.workflows.engine.fakes import InMemoryPorts
from tests.workflows.engine.test_transforms import json_values
from workflows.engine.diff import fingerprint
from workflows.engine.idempotency import action_key, record_key
from workflows.engine.plan import LinkState
from workflows.engine.steps import (
    CompiledWorkflow,
    RecordExecution,
    compile_definition,
    execute_record,
    resume_record,
)

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)
LEADS = compile_definition(lead_workflow(), workflow_id=7, version=3)


def submission(record_id: str = "sub-1", minutes: int = 0, **changes: Any) -> SourceRecord:
    return SourceRecord(record_id, T0 + timedelta(minutes=minutes), lead(**changes))


def statuses(execution: RecordExecution) -> list[tuple[str, str]]:
    return [(outcome.step_id, outcome.status) for outcome in execution.steps]


def links_of(*executions: RecordExecution) -> dict[str, LinkState]:
    """What the caller stores after each execution: the link each write step left."""
    links: dict[str, LinkState] = {}
    for execution in executions:
        links.update(
            {outcome.step_id: outcome.link for outcome in execution.steps if outcome.link is not None}
        )
    return links


def workflow(*steps: dict[str, Any], workflow_id: int = 1) -> CompiledWorkflow:
    return compile_definition(
        {"trigger": {"type": "manual"}, "steps": list(steps)}, workflow_id=workflow_id, version=1
    )


def upsert_contact(**extra: Any) -> dict[str, Any]:
    return {
        "type": "action",
        "id": "sync_contact",
        "connection": CRM,
        "object": "contacts",
        "operation": "upsert",
        "match_field": "email",
        "mapping": {
            "fields": [
                {"target": "email", "source": "email", "transforms": [{"name": "trim"}, {"name": "lower"}]},
                {"target": "name", "source": "name"},
            ]
        },
        **extra,
    }


# --- the lead chain ---------------------------------------------------------------------------


def test_a_web_form_lead_becomes_a_contact_a_task_for_its_owner_a_list_member_and_a_chat_message() -> None:
    ports = InMemoryPorts()
    execution = execute_record(LEADS, submission(), ports)

    assert execution.outcome == "created"
    assert statuses(execution) == [
        ("filter_1", "executed"),
        ("create_contact", "executed"),
        ("create_task", "executed"),
        ("hot_or_not", "executed"),
        ("add_to_hot_list", "executed"),
        ("tell_sales", "executed"),
    ]
    ((contact_id, contact),) = ports.table(CRM, "contacts").items()
    assert contact == {
        "email": "ada@example.com",
        "firstname": "Ada",
        "lastname": "Lovelace",
        "phone": "+442079460958",
        "city": "London",
        "owner_id": "u-1",
    }
    ((task_id, task),) = ports.table(CRM, "tasks").items()
    # 23:30 in New York on 1 March is 04:30 on 2 March in London.
    assert task == {
        "contact_id": contact_id,
        "owner_id": "u-1",
        "subject": "Call Ada Lovelace about Demo",
        "due": "2024-03-02",
    }
    assert list(ports.table(MARKETING, "list_members").values()) == [
        {"email": "ada@example.com", "list": "Hot leads"}
    ]
    (message,) = ports.messages
    assert (message.connection, message.channel) == (CHAT, "#sales")
    assert (
        message.text
        == f"New lead Ada Lovelace <ada@example.com>: contact {contact_id}, task {task_id}, list Hot leads"
    )


def test_each_step_reports_what_it_wrote_and_its_outputs() -> None:
    execution = execute_record(LEADS, submission(), InMemoryPorts())
    contact = execution.step("create_contact")
    assert contact is not None
    assert contact.message == f"created contacts {contact.outputs['id']}"
    assert contact.outputs["action"] == "created"
    assert contact.diff["email"] == (None, "ada@example.com")
    assert contact.effect == "created"
    assert contact.idempotency_key == action_key(execution.record_key, "create_contact")
    # What to remember for the next run: the target, and a fingerprint of everything mapped.
    assert contact.link == LinkState(
        contact.outputs["id"], fingerprint(contact.outputs["fields"]), contact.written
    )
    branch = execution.step("hot_or_not")
    assert (
        branch is not None
        and branch.message == "took 'then': interest is one of 'demo', 'pricing' (ignoring case) was true"
    )
    json.dumps(execution.to_dict())  # the run log stores it as JSON


def test_the_else_branch_runs_when_the_condition_is_false() -> None:
    ports = InMemoryPorts()
    execution = execute_record(LEADS, submission(interest="Brochure"), ports)
    assert ("add_to_newsletter", "executed") in statuses(execution)
    assert "add_to_hot_list" not in [step_id for step_id, _ in statuses(execution)]
    assert list(ports.table(MARKETING, "list_members").values()) == [
        {"email": "ada@example.com", "list": "Newsletter"}
    ]
    assert ports.messages[0].text.endswith("list Newsletter")
    hot_or_not = execution.step("hot_or_not")
    assert hot_or_not is not None and hot_or_not.message.startswith("took 'else': interest is one of")


def test_a_lead_without_consent_is_skipped_with_the_reason_and_nothing_is_written() -> None:
    ports = InMemoryPorts()
    execution = execute_record(LEADS, submission(consent="no"), ports)
    assert execution.outcome == "skipped"
    assert execution.message == "skipped: consent equals true was false"
    assert statuses(execution) == [("filter_1", "skipped")]
    assert ports.writes == [] and ports.messages == []


# --- idempotency ------------------------------------------------------------------------------


def test_record_keys_are_stable_and_change_with_what_they_cover() -> None:
    key = record_key(7, 3, "sub-1", T0)
    assert key == record_key("7", "3", "sub-1", T0.astimezone(UTC))
    assert key == record_key(7, 3, "sub-1", datetime(2024, 3, 1, 10))  # naive is UTC
    assert key == record_key(7, 3, "sub-1", datetime(2024, 3, 1, 11, tzinfo=UTC) - timedelta(hours=1))
    assert len(key) == 64 and int(key, 16) >= 0
    others = {
        record_key(8, 3, "sub-1", T0),
        record_key(7, 4, "sub-1", T0),
        record_key(7, 3, "sub-2", T0),
        record_key(7, 3, "sub-1", T0 + timedelta(seconds=1)),
        record_key(None, None, "sub-1", T0),
    }
    assert key not in others and len(others) == 5
    assert action_key(key, "create_contact") == f"{key}:create_contact"
    # Pinned: a change of the key's recipe would redo every record's writes once.
    assert record_key(7, 3, "sub-1", "2024-03-01T10:00:00+00:00") == key


def test_the_same_record_version_executed_twice_writes_nothing_twice() -> None:
    ports = InMemoryPorts()
    first = execute_record(LEADS, submission(), ports)
    second = execute_record(LEADS, submission(), ports)
    assert second.record_key == first.record_key
    assert [o.idempotency_key for o in second.steps] == [o.idempotency_key for o in first.steps]
    assert len(ports.writes) == 3  # contact, task and list member, once each
    assert len(ports.messages) == 1
    assert len(ports.table(CRM, "tasks")) == 1


def test_an_edited_lead_updates_only_changed_fields_and_does_not_create_a_second_task() -> None:
    ports = InMemoryPorts()
    first = execute_record(LEADS, submission(), ports)
    edited = execute_record(LEADS, submission(minutes=5, name="Ada King"), ports, links=links_of(first))
    contact = edited.step("create_contact")
    assert contact is not None and contact.written == {"lastname": "King"}
    assert contact.diff == {"lastname": ("Lovelace", "King")}
    task = edited.step("create_task")
    assert task is not None and task.status == "skipped"
    assert task.message.startswith("already created as tas-")
    assert len(ports.table(CRM, "tasks")) == 1
    assert edited.outcome == "updated"


def test_a_sync_of_an_unchanged_record_is_unchanged() -> None:
    sync = workflow(upsert_contact())
    ports = InMemoryPorts()
    record = SourceRecord("c1", T0, {"email": "a@b.c", "name": "Ada"})
    first = execute_record(sync, record, ports)
    assert first.outcome == "created"
    later = SourceRecord("c1", T0 + timedelta(hours=1), {"email": " A@B.C", "name": "Ada"})
    again = execute_record(sync, later, ports, links=links_of(first))
    assert again.outcome == "unchanged"
    step = again.step("sync_contact")
    assert step is not None and (step.status, step.message) == (
        "skipped",
        "nothing changed since the last write",
    )
    assert len(ports.writes) == 1


# --- failures ---------------------------------------------------------------------------------


def test_a_bad_value_fails_the_record_at_its_step_with_a_message_for_people() -> None:
    ports = InMemoryPorts()
    execution = execute_record(LEADS, submission(phone="12"), ports)
    assert execution.outcome == "failed"
    assert execution.message == "step 2 (create_contact): phone: '12' is not a valid phone number for GB"
    assert not execution.retryable
    assert statuses(execution)[-1] == ("create_contact", "failed")
    assert ports.writes == []


def test_a_refused_write_stops_the_record() -> None:
    ports = InMemoryPorts(refuse={"tasks"})
    execution = execute_record(LEADS, submission(), ports)
    assert execution.outcome == "failed"
    assert execution.message == "step 3 (create_task): tasks says no"
    assert ports.messages == []


def test_an_unreachable_system_makes_the_record_retryable() -> None:
    ports = InMemoryPorts(fail={("write", "list_members"): ConnectorError("timed out", permanent=False)})
    execution = execute_record(LEADS, submission(), ports)
    assert execution.outcome == "failed"
    assert execution.retryable
    assert (
        execution.message
        == "step 4.then.1 (add_to_hot_list): couldn't upsert the list_members record: timed out"
    )
    # Retrying the record later: the steps that succeeded answer from their idempotency keys.
    ports.fail.clear()
    retried = execute_record(LEADS, submission(), ports)
    assert retried.outcome == "created"
    assert len(ports.table(CRM, "contacts")) == 1 and len(ports.table(CRM, "tasks")) == 1


def test_a_rejected_credential_is_not_retryable() -> None:
    ports = InMemoryPorts(
        fail={("write", "contacts"): ConnectorError("the API key was revoked", permanent=True)}
    )
    execution = execute_record(LEADS, submission(), ports)
    assert (execution.outcome, execution.retryable) == ("failed", False)


# --- lookups ----------------------------------------------------------------------------------


def find_company(policy: str = "continue") -> dict[str, Any]:
    return {
        "type": "lookup",
        "id": "find_company",
        "connection": CRM,
        "object": "companies",
        "by": {"field": "domain", "value_from": "$.email_domain"},
        "if_not_found": policy,
    }


def link_contact_to_company() -> dict[str, Any]:
    return {
        "type": "action",
        "id": "update_company",
        "connection": CRM,
        "object": "companies",
        "operation": "update",
        "record_id": "steps.find_company.id",
        "mapping": {
            "fields": [
                {"target": "last_lead", "source": "email"},
                {
                    "target": "name",
                    "source": "steps.find_company.fields.name",
                    "transforms": [{"name": "upper"}],
                },
            ]
        },
    }


def test_a_found_record_feeds_later_steps() -> None:
    ports = InMemoryPorts()
    ports.add(CRM, "companies", "co-1", domain="example.com", name="Example Ltd")
    execution = execute_record(
        workflow(find_company(), link_contact_to_company()),
        SourceRecord("l1", T0, {"email": "ada@example.com", "email_domain": "example.com"}),
        ports,
    )
    assert execution.outcome == "updated"
    assert ports.table(CRM, "companies")["co-1"] == {
        "domain": "example.com",
        "name": "EXAMPLE LTD",
        "last_lead": "ada@example.com",
    }
    lookup = execution.step("find_company")
    assert lookup is not None and lookup.message == "found companies co-1 by domain 'example.com'"


@pytest.mark.parametrize(
    ("policy", "outcome", "message"),
    [
        ("fail", "failed", "step 1 (find_company): no companies record has domain 'example.org'"),
        ("skip", "skipped", "skipped: no companies record has domain 'example.org'"),
        (
            "continue",
            "failed",
            "step 2 (update_company): steps.find_company.id is empty, so there is no record to update",
        ),
    ],
)
def test_a_missing_record_follows_the_lookup_policy(policy: str, outcome: str, message: str) -> None:
    execution = execute_record(
        workflow(find_company(policy), link_contact_to_company()),
        SourceRecord("l1", T0, {"email": "a@example.org", "email_domain": "example.org"}),
        InMemoryPorts(),
    )
    assert (execution.outcome, execution.message) == (outcome, message)


def test_an_empty_search_value_is_not_looked_up() -> None:
    ports = InMemoryPorts(
        fail={("lookup", "companies"): ConnectorError("must not be called", permanent=True)}
    )
    execution = execute_record(workflow(find_company()), SourceRecord("l1", T0, {"email_domain": " "}), ports)
    step = execution.step("find_company")
    assert step is not None and (step.status, step.message) == (
        "executed",
        "email_domain is empty, so nothing was looked up",
    )
    assert step.outputs == {"id": None, "found": False, "fields": {}}


def test_find_or_create_reads_whichever_step_ran() -> None:
    definition = workflow(
        find_company(),
        {
            "type": "branch",
            "if": {"field": "steps.find_company.found", "op": "equals", "value": False},
            "then": [
                {
                    "type": "action",
                    "id": "create_company",
                    "connection": CRM,
                    "object": "companies",
                    "operation": "create",
                    "mapping": {"fields": [{"target": "domain", "source": "email_domain"}]},
                }
            ],
        },
        {
            "type": "action",
            "id": "create_contact",
            "connection": CRM,
            "object": "contacts",
            "operation": "create",
            "mapping": {
                "fields": [
                    {"target": "email", "source": "email"},
                    {
                        "target": "company_id",
                        "source": ["steps.find_company.id", "steps.create_company.id"],
                        "transforms": [{"name": "first_non_empty"}],
                    },
                ]
            },
        },
    )
    ports = InMemoryPorts()
    ports.add(CRM, "companies", "co-1", domain="known.com")
    known = execute_record(
        definition, SourceRecord("a", T0, {"email": "a@known.com", "email_domain": "known.com"}), ports
    )
    new = execute_record(
        definition, SourceRecord("b", T0, {"email": "b@new.com", "email_domain": "new.com"}), ports
    )
    assert [known.outcome, new.outcome] == ["created", "created"]
    contacts = sorted(ports.table(CRM, "contacts").values(), key=lambda c: c["email"])
    new_company = next(rid for rid, c in ports.table(CRM, "companies").items() if c["domain"] == "new.com")
    assert contacts == [
        {"email": "a@known.com", "company_id": "co-1"},
        {"email": "b@new.com", "company_id": new_company},
    ]


def test_lookup_link_in_a_step_mapping_uses_the_ports() -> None:
    sync = workflow(
        {
            "type": "action",
            "id": "sync_invoice",
            "connection": MARKETING,
            "object": "invoices",
            "operation": "create",
            "mapping": {
                "fields": [
                    {"target": "number", "source": "number"},
                    {
                        "target": "account_id",
                        "source": "company_id",
                        "transforms": [
                            {"name": "lookup_link", "args": {"connection": MARKETING, "object": "accounts"}}
                        ],
                    },
                ]
            },
        }
    )
    ports = InMemoryPorts(links={("accounts", "c-17"): "acc-9"})
    execution = execute_record(sync, SourceRecord("i1", T0, {"number": "INV-1", "company_id": "c-17"}), ports)
    assert list(ports.table(MARKETING, "invoices").values()) == [{"number": "INV-1", "account_id": "acc-9"}]
    unlinked = execute_record(sync, SourceRecord("i2", T0, {"number": "INV-2", "company_id": "c-18"}), ports)
    assert (
        unlinked.message
        == "step 1 (sync_invoice): account_id: 'c-18' has no linked accounts record in connection 3"
    )
    assert not unlinked.retryable
    ports.fail[("linked_id", "accounts")] = ConnectorError("link table busy", permanent=False)
    busy = execute_record(sync, SourceRecord("i3", T0, {"number": "INV-3", "company_id": "c-17"}), ports)
    assert (busy.outcome, busy.retryable) == ("failed", True)
    assert execution.outcome == "created"


# --- other actions ----------------------------------------------------------------------------


def test_archive_and_delete_find_their_record_by_id_or_match_field() -> None:
    ports = InMemoryPorts()
    ports.add(CRM, "contacts", "ct-1", email="a@b.c")
    ports.add(CRM, "contacts", "ct-2", email="x@y.z")
    definition = workflow(
        {
            "type": "action",
            "id": "archive",
            "connection": CRM,
            "object": "contacts",
            "operation": "archive",
            "record_id": "crm_id",
        },
        {
            "type": "action",
            "id": "delete",
            "connection": CRM,
            "object": "contacts",
            "operation": "delete",
            "match_field": "email",
            "mapping": {"fields": [{"target": "email", "source": "other_email"}]},
        },
    )
    execution = execute_record(
        definition, SourceRecord("r", T0, {"crm_id": "ct-1", "other_email": "x@y.z"}), ports
    )
    assert execution.outcome == "updated"
    assert [o.message for o in execution.steps] == ["archived contacts ct-1", "deleted contacts ct-2"]
    assert ports.table(CRM, "contacts") == {"ct-1": {"email": "a@b.c", "archived": True}}


def test_an_upsert_without_a_match_value_fails_instead_of_creating_a_duplicate() -> None:
    execution = execute_record(
        workflow(upsert_contact()), SourceRecord("c", T0, {"name": "Ada"}), InMemoryPorts()
    )
    assert execution.message == "step 1 (sync_contact): no email to match on, so there is no record to upsert"


def test_http_steps_fill_the_url_safely_and_hand_on_the_response() -> None:
    ports = InMemoryPorts(http_body={"score": 87})
    definition = workflow(
        {
            "type": "http",
            "id": "score",
            "method": "POST",
            "url": "https://api.example.com/score/{email}?src={source}",
            "body": {"fields": [{"target": "email", "source": "email"}]},
        },
        {
            "type": "filter",
            "condition": {"field": "steps.score.fields.score", "op": "greater_than", "value": 50},
        },
        {"type": "webhook", "id": "tell", "url": "https://hooks.example.com/in", "event": "lead.hot"},
    )
    record = SourceRecord("r", T0, {"email": "a/b@c.d", "source": "web&ads"})
    execution = execute_record(definition, record, ports)
    (request, key) = ports.requests[0]
    assert request.url == "https://api.example.com/score/a%2Fb%40c.d?src=web%26ads"
    assert request.body == {"email": "a/b@c.d"}
    assert key == action_key(execution.record_key, "score")
    assert ports.webhooks == [
        (
            "https://hooks.example.com/in",
            "lead.hot",
            {"email": "a/b@c.d", "source": "web&ads"},
            action_key(execution.record_key, "tell"),
        )
    ]
    assert execution.outcome == "updated"


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (429, True), (503, True)])
def test_an_http_error_status_fails_the_step(status: int, retryable: bool) -> None:
    definition = workflow(
        {"type": "http", "id": "ping", "method": "GET", "url": "https://api.example.com/ping"}
    )
    execution = execute_record(definition, SourceRecord("r", T0, {}), InMemoryPorts(http_status=status))
    assert execution.message == f"step 1 (ping): GET https://api.example.com/ping answered {status}"
    assert execution.retryable is retryable


def test_a_successful_get_changes_nothing() -> None:
    definition = workflow(
        {"type": "http", "id": "ping", "method": "GET", "url": "https://api.example.com/ping"}
    )
    assert execute_record(definition, SourceRecord("r", T0, {}), InMemoryPorts()).outcome == "unchanged"


# --- delays -----------------------------------------------------------------------------------


def delayed_workflow() -> CompiledWorkflow:
    return workflow(
        upsert_contact(),
        {
            "type": "branch",
            "if": {"field": "name", "op": "is_not_empty"},
            "then": [
                {"type": "delay", "id": "wait_a_day", "seconds": 86400},
                {
                    "type": "notify",
                    "id": "nudge",
                    "connection": CHAT,
                    "format": "Follow up with {name} ({steps.sync_contact.id})",
                },
            ],
        },
        {"type": "notify", "id": "done", "connection": CHAT, "format": "done with {email}"},
    )


def test_a_delay_suspends_with_a_json_state_and_resuming_continues_after_it() -> None:
    compiled = delayed_workflow()
    ports = InMemoryPorts()
    first = execute_record(compiled, SourceRecord("c1", T0, {"email": "a@b.c", "name": "Ada"}), ports, now=T0)
    assert first.outcome == "suspended"
    assert first.suspended is not None
    assert first.suspended.until == T0 + timedelta(days=1)
    assert first.suspended.resume_after == "wait_a_day"
    assert first.message == "waiting until 2024-03-02T10:00:00+00:00"
    assert ports.messages == []
    state = json.loads(json.dumps(first.suspended.state))  # stored in a JSONField and read back

    resumed = resume_record(compiled, state, ports)
    assert [o.step_id for o in resumed.steps] == ["nudge", "done"]
    contact_id = first.steps[0].outputs["id"]
    assert [m.text for m in ports.messages] == [f"Follow up with Ada ({contact_id})", "done with a@b.c"]
    # The contact was created before the delay; the record's outcome still says so.
    assert resumed.outcome == "created"
    assert resumed.record_key == first.record_key


def test_resuming_twice_sends_nothing_twice() -> None:
    compiled = delayed_workflow()
    ports = InMemoryPorts()
    first = execute_record(compiled, SourceRecord("c1", T0, {"email": "a@b.c", "name": "Ada"}), ports)
    assert first.suspended is not None
    resume_record(compiled, first.suspended.state, ports)
    resume_record(compiled, first.suspended.state, ports)
    assert len(ports.messages) == 2


def test_a_state_from_another_version_or_a_damaged_state_fails_instead_of_raising() -> None:
    compiled = delayed_workflow()
    first = execute_record(
        compiled, SourceRecord("c1", T0, {"email": "a@b.c", "name": "Ada"}), InMemoryPorts()
    )
    assert first.suspended is not None
    state = first.suspended.state
    newer = compile_definition(
        {"trigger": {"type": "manual"}, "steps": [upsert_contact()]}, workflow_id=1, version=2
    )
    moved = resume_record(newer, state, InMemoryPorts())
    assert (moved.outcome, moved.record_id) == ("failed", "c1")
    assert (
        moved.message
        == "can't continue after the delay: it was paused by workflow 1 version 1, not by workflow 1 version 2"
    )
    for damaged in (
        {},
        {**state, "resume_after": "sync_contact"},
        {**state, "outputs": []},
        {**state, "record": None},
        "x",
    ):
        result = resume_record(compiled, damaged, InMemoryPorts())  # type: ignore[arg-type]
        assert result.outcome == "failed" and result.message.startswith("can't continue after the delay: ")


# --- properties -------------------------------------------------------------------------------

lead_values = st.one_of(
    json_values,
    st.sampled_from(
        ["", "yes", "no", "Demo", "north", "020 7946 0958", "12", "a@b.c", "2024-03-01", "Lovelace, Ada"]
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            name: lead_values
            for name in ("email", "name", "phone", "address", "region", "interest", "consent", "submitted_at")
        },
    )
)
def test_any_submission_gives_an_outcome_and_never_raises(fields: dict[str, Any]) -> None:
    execution = execute_record(LEADS, SourceRecord("s", T0, fields), InMemoryPorts())
    assert execution.outcome in ("created", "updated", "unchanged", "skipped", "failed")
    json.dumps(execution.to_dict(), allow_nan=True)
    if execution.outcome in ("failed", "skipped"):
        assert execution.message
    for outcome in execution.steps:
        assert "internal error" not in outcome.message, outcome.message
        if outcome.status == "failed":
            assert outcome.message


@settings(max_examples=200, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "format",
                "workflow_id",
                "version",
                "record",
                "previous",
                "record_key",
                "resume_after",
                "outputs",
                "effects",
            ]
        ),
        json_values,
        max_size=3,
    )
)
def test_resuming_from_any_damaged_state_fails_politely(changes: dict[str, Any]) -> None:
    compiled = delayed_workflow()
    first = execute_record(
        compiled, SourceRecord("c1", T0, {"email": "a@b.c", "name": "Ada"}), InMemoryPorts()
    )
    assert first.suspended is not None
    result = resume_record(compiled, {**first.suspended.state, **changes}, InMemoryPorts())
    assert result.outcome in ("created", "updated", "failed")
    if result.outcome == "failed":
        assert result.message.startswith("can't continue after the delay: ")
