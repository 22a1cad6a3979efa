"""Export then import gives the same workflow: multi-step definitions included, connections by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from connectors.models import Connection
from connectors.services import connection_create
from tests.factories import hubspot_connection, zendesk_connection
from workflows.models import Workflow
from workflows.services.export import workflow_export
from workflows.services.workflow import workflow_create, workflow_update

pytestmark = pytest.mark.django_db

TIER_MAP = {"bronze": "standard", "silver": "standard", "gold": "premium", "platinum": "premium"}


def _connections(team: Any) -> dict[str, Connection]:
    # Nothing is called: the base URLs only have to be valid.
    return {
        "crm": hubspot_connection(team=team, base_url="http://127.0.0.1:9"),
        "desk": zendesk_connection(team=team, base_url="http://127.0.0.1:9"),
        "chat": connection_create(
            team=team,
            name="Team chat",
            kind="slack",
            config={"base_url": "http://127.0.0.1:9"},
            credentials={"bot_token_or_webhook_url": "xoxb-test"},
        ),
    }


def _steps(crm: int, desk: int, chat: int) -> list[dict[str, Any]]:
    user_mapping = {
        "fields": [
            {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
            {"target": "name", "source": ["firstname", "lastname"], "transforms": [{"name": "join"}]},
            {
                "target": "user_fields.customer_tier",
                "source": ["customer_tier"],
                "transforms": [{"name": "value_map", "args": {"map": TIER_MAP, "unmapped": "drop"}}],
            },
            {
                "target": "organization_id",
                "source": ["associatedcompanyid"],
                "transforms": [
                    {
                        "name": "lookup_link",
                        "args": {"connection": desk, "object": "organizations", "missing": "empty"},
                    }
                ],
            },
        ]
    }
    return [
        {
            "type": "filter",
            "condition": {
                "all": [
                    {"field": "email", "op": "is_not_empty"},
                    {"field": "lifecyclestage", "op": "in_list", "value": ["customer", "lead"]},
                ]
            },
        },
        {
            "type": "lookup",
            "id": "find_user",
            "connection": desk,
            "object": "users",
            "by": {"field": "email", "value_from": "email"},
            "if_not_found": "continue",
        },
        {
            "type": "branch",
            "if": {"field": "steps.find_user.found", "op": "equals", "value": False},
            "then": [
                {
                    "type": "action",
                    "id": "create_user",
                    "connection": desk,
                    "object": "users",
                    "operation": "create",
                    "mapping": user_mapping,
                }
            ],
            "else": [
                {
                    "type": "action",
                    "id": "update_user",
                    "connection": desk,
                    "object": "users",
                    "operation": "update",
                    "record_id": "steps.find_user.id",
                    "mapping": user_mapping,
                }
            ],
        },
        {"type": "delay", "seconds": 600},
        {
            "type": "action",
            "id": "mark_contact",
            "connection": crm,
            "object": "contacts",
            "operation": "update",
            "record_id": "trigger.id",
            "mapping": {
                "fields": [
                    {
                        "target": "hs_lead_status",
                        "source": [],
                        "transforms": [{"name": "default", "args": {"value": "CONNECTED"}}],
                    }
                ]
            },
        },
        {
            "type": "notify",
            "id": "tell_support",
            "connection": chat,
            "channel": "#support",
            "format": "{firstname} {lastname} is helpdesk user {steps.create_user.id}{steps.update_user.id}",
        },
    ]


def _workflow(team: Any, ends: dict[str, Connection]) -> Workflow:
    workflow = workflow_create(
        team=team,
        name="Customers to the helpdesk",
        description="Contacts become helpdesk users, and support hears of it.",
        source_connection=ends["crm"],
        source_object="contacts",
        target_connection=ends["desk"],
        target_object="users",
        mapping={"fields": [{"target": "email", "source": ["email"]}]},
        match_field="email",
        poll_interval_seconds=900,
        trigger=Workflow.Trigger.SCHEDULE,
        schedule_cron="0 6 * * 1-5",
        steps=_steps(ends["crm"].pk, ends["desk"].pk, ends["chat"].pk),
        publish=False,
    )
    return workflow_update(
        workflow=workflow,
        start_from=Workflow.StartFrom.DATE,
        start_from_date=datetime(2026, 1, 15, 8, 30, tzinfo=UTC),
        flood_threshold=250,
        webhook_signature="hmac-sha256-hex",
        webhook_id_path="data.id",
        webhook_record_path="data",
    )


def _export(client: Client, workflow: Workflow) -> dict[str, Any]:
    response = client.get(reverse("workflow_export", args=[workflow.pk]))
    assert response.status_code == 200
    document: dict[str, Any] = json.loads(response.content)
    return document


def _without_name(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "name"}


def test_the_export_names_every_connection_the_steps_use_and_holds_no_id(
    editor_client: Client, team: Any
) -> None:
    ends = _connections(team)
    document = _export(editor_client, _workflow(team, ends))
    steps = document["steps"]
    assert [step["type"] for step in steps] == ["filter", "lookup", "branch", "delay", "action", "notify"]
    assert steps[1]["connection"] == "Helpdesk"
    assert steps[2]["then"][0]["connection"] == steps[2]["else"][0]["connection"] == "Helpdesk"
    assert steps[4]["connection"] == "CRM" and steps[5]["connection"] == "Team chat"
    lookup = steps[2]["then"][0]["mapping"]["fields"][3]["transforms"][0]
    assert lookup["args"]["connection"] == "Helpdesk"
    text = json.dumps(document)
    for connection in ends.values():
        assert f'"connection": {connection.pk}' not in text


def test_export_then_import_into_another_team_gives_an_identical_definition(
    editor_client: Client, client: Client, team: Any, outsider: Any
) -> None:
    ends = _connections(team)
    original = _workflow(team, ends)
    document = _export(editor_client, original)

    other_team = outsider.membership.team
    # Created in another order, so every connection has another id than in the exporting team.
    theirs = dict(reversed(list(_connections(other_team).items())))
    theirs = {name: theirs[name] for name in ("crm", "desk", "chat")}
    assert {c.pk for c in theirs.values()}.isdisjoint({c.pk for c in ends.values()})
    client.force_login(outsider)
    response = client.post(reverse("workflow_import"), {"document": json.dumps(document)})
    assert response.status_code == 302, response.content.decode()[:2000]

    copy = Workflow.objects.get(team=other_team)
    assert copy.steps == _steps(theirs["crm"].pk, theirs["desk"].pk, theirs["chat"].pk)
    assert copy.steps != original.steps
    assert (copy.trigger, copy.schedule_cron, copy.poll_interval_seconds) == ("schedule", "0 6 * * 1-5", 900)
    assert (copy.start_from, copy.start_from_date, copy.flood_threshold) == (
        "date",
        datetime(2026, 1, 15, 8, 30, tzinfo=UTC),
        250,
    )
    assert (copy.webhook_signature, copy.webhook_id_path, copy.webhook_record_path) == (
        "hmac-sha256-hex",
        "data.id",
        "data",
    )
    assert copy.source_connection == theirs["crm"] and copy.target_connection == theirs["desk"]
    assert not copy.enabled and copy.published_version is None
    # And exporting the copy gives the document back, word for word.
    assert _export(client, copy) == document


def test_export_then_import_in_the_same_team_round_trips_exactly(editor_client: Client, team: Any) -> None:
    original = _workflow(team, _connections(team))
    document = _export(editor_client, original)
    document["name"] = "Customers to the helpdesk (copy)"
    response = editor_client.post(reverse("workflow_import"), {"document": json.dumps(document)})
    assert response.status_code == 302, response.content.decode()[:2000]
    copy = Workflow.objects.get(team=team, name=document["name"])
    assert copy.steps == original.steps and copy.mapping == original.mapping
    assert _without_name(workflow_export(workflow=copy)) == _without_name(workflow_export(workflow=original))


def test_an_import_whose_steps_name_a_missing_connection_says_which(
    editor_client: Client, team: Any, outsider: Any, client: Client
) -> None:
    document = _export(editor_client, _workflow(team, _connections(team)))
    other_team = outsider.membership.team
    hubspot_connection(team=other_team, base_url="http://127.0.0.1:9")
    zendesk_connection(team=other_team, base_url="http://127.0.0.1:9")
    client.force_login(outsider)
    response = client.post(reverse("workflow_import"), {"document": json.dumps(document)})
    assert response.status_code == 400
    assert "no connection named &#x27;Team chat&#x27;" in response.content.decode()
    assert not Workflow.objects.filter(team=other_team).exists()


def test_an_import_refuses_steps_that_are_not_a_list(editor_client: Client, team: Any) -> None:
    document = _export(editor_client, _workflow(team, _connections(team)))
    document["name"] = "Broken"
    document["steps"] = {"type": "filter"}
    response = editor_client.post(reverse("workflow_import"), {"document": json.dumps(document)})
    assert response.status_code == 400
    assert "steps: Expected a list of items" in response.content.decode()
