"""Multi-step workflows against the sandboxes: a web-form lead arrives by webhook, becomes a CRM
contact, and the sales channel is told, with later steps using earlier steps' outputs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from connectors.services import connection_create
from tests.factories import hubspot_connection
from tests.saas_sandboxes import CHAT_TOKEN, fresh
from workflows.models import DelayedRecord, Run, RunRecord, Workflow
from workflows.services.steps import resume_workflow
from workflows.services.webhooks import webhook_process
from workflows.services.workflow import WorkflowInputError, workflow_create


def _steps(crm_id: int, chat_id: int, *, delay: bool = False) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [
        {"type": "filter", "condition": {"field": "email", "op": "is_not_empty"}},
        {
            "type": "action",
            "id": "create_contact",
            "connection": crm_id,
            "object": "contacts",
            "operation": "upsert",
            "match_field": "email",
            "mapping": {
                "fields": [
                    {
                        "target": "email",
                        "source": "email",
                        "transforms": [{"name": "trim"}, {"name": "lower"}],
                    },
                    {
                        "target": "firstname",
                        "source": "name",
                        "transforms": [{"name": "split_name", "args": {"part": "first"}}],
                    },
                    {
                        "target": "lastname",
                        "source": "name",
                        "transforms": [{"name": "split_name", "args": {"part": "last"}}],
                    },
                    {
                        "target": "lifecyclestage",
                        "source": "stage",
                        "transforms": [{"name": "default", "args": {"value": "lead"}}],
                    },
                ]
            },
        },
    ]
    if delay:
        steps.append({"type": "delay", "seconds": 3600})
    steps.append(
        {
            "type": "notify",
            "id": "tell_sales",
            "connection": chat_id,
            "channel": "C0SALES001",
            "format": "New lead {name} <{email}>: CRM contact {steps.create_contact.id}",
        }
    )
    return steps


@pytest.fixture
def chain(team: Any, crm_sandbox: Any) -> dict[str, Any]:
    chat = fresh("chat")
    crm = hubspot_connection(team=team, base_url=crm_sandbox.url)
    slack = connection_create(
        team=team,
        name="Chat",
        kind="slack",
        config={"base_url": chat.url},
        credentials={"bot_token_or_webhook_url": CHAT_TOKEN},
    )
    return {"crm": crm, "slack": slack, "chat": chat, "crm_sandbox": crm_sandbox}


def _workflow(team: Any, chain: dict[str, Any], *, delay: bool = False) -> Workflow:
    return workflow_create(
        team=team,
        name="Web-form leads" + (" later" if delay else ""),
        source_connection=None,
        source_object="",
        target_connection=chain["crm"],
        target_object="contacts",
        mapping={},
        trigger=Workflow.Trigger.WEBHOOK,
        steps=_steps(chain["crm"].pk, chain["slack"].pk, delay=delay),
        enabled=True,
    )


def _deliver(workflow: Workflow, body: dict[str, Any]) -> None:
    response = Client().post(
        f"/hooks/{workflow.webhook_token}", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 202, response.content


def _chat_messages(chain: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = chain["chat"].admin("GET", "/_admin/records/messages")["results"]
    return rows


def _crm_contact(chain: dict[str, Any], email: str) -> dict[str, Any] | None:
    contacts = chain["crm_sandbox"].admin("GET", "/_admin/records/contacts")["results"]
    return next((c for c in contacts if c["properties"].get("email") == email), None)


def test_a_lead_becomes_a_contact_and_the_channel_hears_of_it(team: Any, chain: dict[str, Any]) -> None:
    workflow = _workflow(team, chain)
    _deliver(workflow, {"id": "lead-1", "name": "Grace Hopper", "email": "Grace@Example.com"})
    _deliver(workflow, {"id": "lead-2", "name": "No Email"})

    run = webhook_process(workflow_id=workflow.pk)

    assert isinstance(run, Run) and run.status == Run.Status.SUCCEEDED, getattr(run, "error", run)
    contact = _crm_contact(chain, "grace@example.com")
    assert contact is not None
    assert (contact["properties"]["firstname"], contact["properties"]["lastname"]) == ("Grace", "Hopper")
    assert contact["properties"]["lifecyclestage"] == "lead"
    texts = [m["text"] for m in _chat_messages(chain)]
    assert texts == [f"New lead Grace Hopper <Grace@Example.com>: CRM contact {contact['id']}"]
    created = RunRecord.objects.get(run=run, source_id="lead-1")
    assert created.outcome == RunRecord.Outcome.CREATED
    assert [step["kind"] for step in created.steps] == ["filter", "action", "notify"]
    assert created.target_id == str(contact["id"])
    skipped = RunRecord.objects.get(run=run, source_id="lead-2")
    assert skipped.outcome == RunRecord.Outcome.SKIPPED
    assert "email" in skipped.error


def test_the_same_lead_twice_writes_and_notifies_once(team: Any, chain: dict[str, Any]) -> None:
    workflow = _workflow(team, chain)
    _deliver(workflow, {"id": "lead-1", "name": "Ada Lovelace", "email": "ada@example.com"})
    webhook_process(workflow_id=workflow.pk)
    _deliver(workflow, {"id": "lead-1", "name": "Ada Lovelace", "email": "ada@example.com", "sent": "again"})

    webhook_process(workflow_id=workflow.pk)

    contacts = chain["crm_sandbox"].admin("GET", "/_admin/records/contacts")["results"]
    assert sum(1 for c in contacts if c["properties"].get("email") == "ada@example.com") == 1


def test_a_delay_step_waits_and_then_continues(team: Any, chain: dict[str, Any]) -> None:
    workflow = _workflow(team, chain, delay=True)
    _deliver(workflow, {"id": "lead-9", "name": "Alan Turing", "email": "alan@example.com"})

    first = webhook_process(workflow_id=workflow.pk)

    assert isinstance(first, Run) and first.waiting_count == 1
    assert _crm_contact(chain, "alan@example.com") is not None
    assert _chat_messages(chain) == []
    waiting = DelayedRecord.objects.get(workflow=workflow)
    assert waiting.resume_at > timezone.now() + timedelta(minutes=59)
    assert resume_workflow(workflow_id=workflow.pk) == []  # not due yet

    DelayedRecord.objects.filter(pk=waiting.pk).update(resume_at=timezone.now() - timedelta(seconds=1))
    resumed = resume_workflow(workflow_id=workflow.pk)

    assert len(resumed) == 1
    assert any("Alan Turing" in m["text"] for m in _chat_messages(chain))
    assert not DelayedRecord.objects.filter(workflow=workflow).exists()


def test_steps_naming_another_teams_connection_are_refused(
    team: Any, other_team: Any, chain: dict[str, Any]
) -> None:
    foreign = hubspot_connection(team=other_team, base_url=chain["crm_sandbox"].url, name="Theirs")
    with pytest.raises(WorkflowInputError) as excinfo:
        workflow_create(
            team=team,
            name="Sneaky",
            source_connection=None,
            source_object="",
            target_connection=chain["crm"],
            target_object="contacts",
            mapping={},
            trigger=Workflow.Trigger.WEBHOOK,
            steps=_steps(foreign.pk, chain["slack"].pk),
        )
    assert any(str(foreign.pk) in message for message in excinfo.value.errors["steps"])
