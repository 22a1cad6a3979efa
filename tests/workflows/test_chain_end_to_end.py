"""Issue #5's chain from end to end, over real HTTP against the sandboxes.

A web-form lead arrives by webhook (/hooks/<token>) -> the CRM contact is looked up by email and
created or updated -> a follow-up task is created for the contact's owner, linked to the contact ->
the contact is added to the marketing audience -> the sales channel is told. Then the way back: an
unsubscribe webhook deletes the contact (HubSpot archives it) and archives the audience member. Every
assertion reads the sandboxes' own stored records.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from connectors.models import Connection
from connectors.providers.mailchimp.client import subscriber_hash
from connectors.sandbox.crm_links import OWNERS
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from connectors.services import connection_create
from tests.factories import hubspot_connection
from tests.saas_sandboxes import CHAT_TOKEN, MARKETING_KEY, MARKETING_LIST_ID, fresh
from workflows.models import Run, RunRecord, Workflow
from workflows.services.webhooks import webhook_process
from workflows.services.workflow import workflow_create

DEFAULT_OWNER = OWNERS[0]["id"]  # new leads go to the first sales owner
OTHER_OWNER = OWNERS[1]["id"]


def _name_part(part: str) -> dict[str, Any]:
    return {"name": "split_name", "args": {"part": part}}


def _steps(crm: int, marketing: int, chat: int) -> list[dict[str, Any]]:
    return [
        {"type": "filter", "condition": {"field": "email", "op": "is_not_empty"}},
        {
            "type": "lookup",
            "id": "find_contact",
            "connection": crm,
            "object": "contacts",
            "by": {"field": "email", "value_from": "email"},
            "if_not_found": "continue",
        },
        {
            "type": "action",
            "id": "save_contact",
            "connection": crm,
            "object": "contacts",
            "operation": "upsert",
            # The record found by the lookup is updated by id; otherwise the contact is upserted by email.
            "record_id": "steps.find_contact.id",
            "match_field": "email",
            "mapping": {
                "fields": [
                    {
                        "target": "email",
                        "source": "email",
                        "transforms": [{"name": "trim"}, {"name": "lower"}],
                    },
                    {"target": "firstname", "source": "name", "transforms": [_name_part("first")]},
                    {"target": "lastname", "source": "name", "transforms": [_name_part("last")]},
                    {
                        "target": "hubspot_owner_id",
                        "source": "steps.find_contact.fields.hubspot_owner_id",
                        "transforms": [{"name": "default", "args": {"value": DEFAULT_OWNER}}],
                    },
                ]
            },
        },
        {
            "type": "action",
            "id": "follow_up",
            "connection": crm,
            "object": "tasks",
            "operation": "create",
            "mapping": {
                "fields": [
                    {
                        "target": "hs_task_subject",
                        "source": [],
                        "transforms": [{"name": "format", "args": {"template": "Follow up with {name}"}}],
                    },
                    {
                        "target": "hs_timestamp",
                        "source": "submitted_at",
                        "transforms": [{"name": "to_datetime"}],
                    },
                    {"target": "hubspot_owner_id", "source": "steps.save_contact.fields.hubspot_owner_id"},
                    {
                        "target": "hs_task_status",
                        "source": [],
                        "transforms": [{"name": "default", "args": {"value": "NOT_STARTED"}}],
                    },
                    {"target": "associations.contacts", "source": "steps.save_contact.id"},
                ]
            },
        },
        {
            "type": "action",
            "id": "subscribe",
            "connection": marketing,
            "object": "members",
            "operation": "upsert",
            "match_field": "email_address",
            "mapping": {
                "fields": [
                    {"target": "email_address", "source": "steps.save_contact.fields.email"},
                    {
                        "target": "status",
                        "source": [],
                        "transforms": [{"name": "default", "args": {"value": "subscribed"}}],
                    },
                    {"target": "merge_fields.FNAME", "source": "name", "transforms": [_name_part("first")]},
                    {"target": "merge_fields.LNAME", "source": "name", "transforms": [_name_part("last")]},
                ]
            },
        },
        {
            "type": "notify",
            "id": "tell_sales",
            "connection": chat,
            "channel": "C0SALES001",
            "format": "New lead {name}: contact {steps.save_contact.id}, task {steps.follow_up.id} "
            "for owner {steps.save_contact.fields.hubspot_owner_id}, audience member {steps.subscribe.id}",
        },
    ]


@pytest.fixture
def systems(team: Any, crm_sandbox: SandboxProcess) -> dict[str, Any]:
    marketing, chat = fresh("marketing"), fresh("chat")
    crm = hubspot_connection(team=team, base_url=crm_sandbox.url)
    audience = connection_create(
        team=team,
        name="Newsletter",
        kind="mailchimp",
        config={"base_url": marketing.url, "list_id": MARKETING_LIST_ID},
        credentials={"api_key": MARKETING_KEY},
    )
    slack = connection_create(
        team=team,
        name="Chat",
        kind="slack",
        config={"base_url": chat.url},
        credentials={"bot_token_or_webhook_url": CHAT_TOKEN},
    )
    workflow = workflow_create(
        team=team,
        name="Web-form leads to CRM, newsletter and sales",
        source_connection=None,
        source_object="",
        target_connection=crm,
        target_object="contacts",
        mapping={},
        trigger=Workflow.Trigger.WEBHOOK,
        steps=_steps(crm.pk, audience.pk, slack.pk),
        enabled=True,
    )
    return {"crm": crm_sandbox, "marketing": marketing, "chat": chat, "workflow": workflow}


def _deliver(workflow: Workflow, body: dict[str, Any], *, expect: int = 202) -> dict[str, Any]:
    response = Client().post(
        f"/hooks/{workflow.webhook_token}", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == expect, response.content
    answer: dict[str, Any] = response.json()
    return answer


def _process(workflow: Workflow) -> Run:
    run = webhook_process(workflow_id=workflow.pk)
    assert isinstance(run, Run), run
    assert run.status == Run.Status.SUCCEEDED, run.error
    return run


def _contacts(systems: dict[str, Any], email: str) -> list[dict[str, Any]]:
    rows = systems["crm"].records("contacts")
    return [c for c in rows if (c["properties"].get("email") or "").lower() == email]


def _tasks(systems: dict[str, Any]) -> list[dict[str, Any]]:
    return list(systems["crm"].records("tasks"))


def _tasks_of_contact(systems: dict[str, Any], contact_id: str) -> list[str]:
    status, _, answer = systems["crm"].request(
        "GET",
        f"/crm/v4/objects/contacts/{contact_id}/associations/tasks",
        headers={"Authorization": f"Bearer {CRM_TOKEN}"},
    )
    assert status == 200, answer
    return [str(link["toObjectId"]) for link in answer["results"]]


def _members(systems: dict[str, Any], email: str) -> list[dict[str, Any]]:
    return [m for m in systems["marketing"].records("members") if m["email_address"].lower() == email]


def _messages(systems: dict[str, Any]) -> list[str]:
    return [m["text"] for m in systems["chat"].records("messages")]


LEAD = {
    "id": "form-1001",
    "name": "Grace Hopper",
    "email": "Grace.Hopper@Example.com",
    "submitted_at": "2026-11-30T09:30:00Z",
}


def test_a_new_lead_runs_the_whole_chain(systems: dict[str, Any]) -> None:
    workflow = systems["workflow"]
    tasks_before = len(_tasks(systems))

    _deliver(workflow, LEAD)
    run = _process(workflow)

    [contact] = _contacts(systems, "grace.hopper@example.com")
    assert contact["properties"]["firstname"] == "Grace"
    assert contact["properties"]["lastname"] == "Hopper"
    assert contact["properties"]["hubspot_owner_id"] == DEFAULT_OWNER
    [task] = _tasks(systems)[tasks_before:]
    assert task["properties"]["hs_task_subject"] == "Follow up with Grace Hopper"
    assert task["properties"]["hubspot_owner_id"] == DEFAULT_OWNER
    assert task["properties"]["hs_task_status"] == "NOT_STARTED"
    assert task["properties"]["hs_timestamp"] == "2026-11-30T09:30:00.000Z"
    assert _tasks_of_contact(systems, contact["id"]) == [task["id"]]
    [member] = _members(systems, "grace.hopper@example.com")
    assert member["id"] == subscriber_hash("grace.hopper@example.com")
    assert member["status"] == "subscribed"
    assert (member["merge_fields"]["FNAME"], member["merge_fields"]["LNAME"]) == ("Grace", "Hopper")
    assert _messages(systems) == [
        f"New lead Grace Hopper: contact {contact['id']}, task {task['id']} for owner {DEFAULT_OWNER}, "
        f"audience member {member['id']}"
    ]
    record = RunRecord.objects.get(run=run, source_id="form-1001")
    assert record.outcome == RunRecord.Outcome.CREATED
    assert [step["kind"] for step in record.steps] == [
        "filter",
        "lookup",
        "action",
        "action",
        "action",
        "notify",
    ]


def test_a_known_contact_is_found_by_email_updated_and_its_own_owner_gets_the_task(
    systems: dict[str, Any],
) -> None:
    existing = systems["crm"].admin(
        "POST",
        "/_admin/records/contacts",
        {
            "properties": {
                "email": "grace.hopper@example.com",
                "firstname": "G.",
                "hubspot_owner_id": OTHER_OWNER,
            }
        },
    )
    workflow = systems["workflow"]
    tasks_before = len(_tasks(systems))

    _deliver(workflow, LEAD)
    run = _process(workflow)

    [contact] = _contacts(systems, "grace.hopper@example.com")
    assert contact["id"] == existing["id"]
    assert contact["properties"]["firstname"] == "Grace"  # updated, not duplicated
    assert contact["properties"]["hubspot_owner_id"] == OTHER_OWNER  # the owner it already had
    [task] = _tasks(systems)[tasks_before:]
    assert task["properties"]["hubspot_owner_id"] == OTHER_OWNER
    assert _tasks_of_contact(systems, existing["id"]) == [task["id"]]
    record = RunRecord.objects.get(run=run, source_id="form-1001")
    lookup = next(step for step in record.steps if step["kind"] == "lookup")
    assert f"found contacts {existing['id']}" in lookup["message"]


def test_the_same_webhook_delivered_twice_has_one_effect_in_every_system(systems: dict[str, Any]) -> None:
    workflow = systems["workflow"]
    tasks_before = len(_tasks(systems))

    _deliver(workflow, LEAD)
    assert _deliver(workflow, LEAD, expect=200)["status"] == "duplicate"
    _process(workflow)
    assert _deliver(workflow, LEAD, expect=200)["status"] == "duplicate"
    webhook_process(workflow_id=workflow.pk)

    [contact] = _contacts(systems, "grace.hopper@example.com")
    assert len(_tasks(systems)) == tasks_before + 1
    assert len(_tasks_of_contact(systems, contact["id"])) == 1
    assert len(_members(systems, "grace.hopper@example.com")) == 1
    assert len(_messages(systems)) == 1


def test_a_retried_delivery_of_the_same_lead_writes_no_record_twice(systems: dict[str, Any]) -> None:
    workflow = systems["workflow"]
    tasks_before = len(_tasks(systems))
    _deliver(workflow, LEAD)
    _process(workflow)

    # A sender's retry that differs only in its envelope reaches the steps again.
    _deliver(workflow, {**LEAD, "attempt": 2})
    second = _process(workflow)

    [contact] = _contacts(systems, "grace.hopper@example.com")
    assert len(_tasks(systems)) == tasks_before + 1
    assert len(_tasks_of_contact(systems, contact["id"])) == 1
    assert len(_members(systems, "grace.hopper@example.com")) == 1
    again = RunRecord.objects.get(run=second, source_id="form-1001")
    actions = [step for step in again.steps if step["kind"] == "action"]
    assert [step["status"] for step in actions] == ["skipped", "skipped", "skipped"], actions


def test_an_unsubscribe_webhook_deletes_the_contact_and_archives_the_member(
    team: Any, systems: dict[str, Any]
) -> None:
    _deliver(systems["workflow"], LEAD)
    _process(systems["workflow"])
    [contact] = _contacts(systems, "grace.hopper@example.com")
    crm, audience = systems["workflow"].target_connection_id, _connection_id(team, "Newsletter")
    email_only = {"fields": [{"target": "email", "source": "email", "transforms": [{"name": "lower"}]}]}
    forget = workflow_create(
        team=team,
        name="Unsubscribes",
        source_connection=None,
        source_object="",
        target_connection=systems["workflow"].target_connection,
        target_object="contacts",
        mapping={},
        trigger=Workflow.Trigger.WEBHOOK,
        steps=[
            {
                "type": "action",
                "id": "forget_contact",
                "connection": crm,
                "object": "contacts",
                "operation": "delete",
                "match_field": "email",
                "mapping": email_only,
            },
            {
                "type": "action",
                "id": "archive_member",
                "connection": audience,
                "object": "members",
                "operation": "archive",
                "match_field": "email_address",
                "mapping": {
                    "fields": [
                        {"target": "email_address", "source": "email", "transforms": [{"name": "lower"}]}
                    ]
                },
            },
        ],
        enabled=True,
    )

    _deliver(forget, {"id": "unsub-1", "email": "GRACE.HOPPER@example.com"})
    run = _process(forget)

    assert _contacts(systems, "grace.hopper@example.com") == []
    status, _, archived = systems["crm"].request(
        "GET",
        f"/crm/v3/objects/contacts/{contact['id']}?archived=true",
        headers={"Authorization": f"Bearer {CRM_TOKEN}"},
    )
    assert status == 200 and archived["archived"] is True
    [member] = _members(systems, "grace.hopper@example.com")
    assert member["status"] == "archived"
    record = RunRecord.objects.get(run=run, source_id="unsub-1")
    assert [step["status"] for step in record.steps] == ["executed", "executed"], record.steps


def _connection_id(team: Any, name: str) -> int:
    return int(Connection.objects.get(team=team, name=name).pk)
