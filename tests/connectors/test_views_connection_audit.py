"""Who changed a connection, and how, is in the audit log: created, settings changed (old and new values),
credentials replaced (by name, never by value), deleted, connected or reconnected by signing in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from connectors.deletion import connection_delete
from connectors.models import Connection
from connectors.sandbox.testing import SandboxProcess
from connectors.services import connection_create, connection_update
from integrations_hub.audit.models import AuditEntry
from tests.connectors.oauth_helpers import app_settings
from tests.connectors.test_oauth_connect import come_back, connect
from workflows.models import Workflow
from workflows.services.workflow import workflow_create

HELPDESK_MANIFEST = (Path(__file__).resolve().parents[2] / "docs" / "manifests" / "helpdesk.json").read_text()
SECRET = "pat-na1-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
NEW_SECRET = "pat-na1-99999999-8888-7777-6666-555555555555"


def entries(connection: Connection) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(object_type="connection", object_id=str(connection.pk)).order_by("pk")
    )


def no_secret_in(found: list[AuditEntry]) -> bool:
    text = json.dumps([e.changes for e in found]) + " ".join(e.summary for e in found)
    return SECRET not in text and NEW_SECRET not in text


@pytest.fixture
def crm(team: Any, editor: Any) -> Connection:
    return connection_create(
        team=team,
        name="CRM",
        kind="hubspot",
        config={"base_url": "https://api.hubapi.com"},
        credentials={"access_token": SECRET},
        actor=editor,
    )


def test_creating_records_the_settings_and_the_names_of_the_secrets(crm: Connection, editor: Any) -> None:
    [entry] = entries(crm)

    assert entry.action == "connection.created"
    assert entry.actor == editor
    assert entry.team_id == crm.team_id
    assert entry.changes == {
        "kind": "hubspot",
        "config": {"base_url": "https://api.hubapi.com"},
        "secrets": ["access_token"],
    }
    assert no_secret_in([entry])


def test_changing_settings_records_old_and_new_values_of_what_changed(
    crm: Connection, admin_user: Any
) -> None:
    connection_update(
        connection=crm, name="Main CRM", config={"base_url": "https://eu1.api.hubapi.com"}, actor=admin_user
    )

    _created, updated = entries(crm)
    assert updated.action == "connection.updated"
    assert updated.actor == admin_user
    assert updated.changes == {
        "base_url": ["https://api.hubapi.com", "https://eu1.api.hubapi.com"],
        "name": ["CRM", "Main CRM"],
    }
    assert "base_url" in updated.summary and "name" in updated.summary


def test_replacing_a_secret_records_its_name_only(crm: Connection, editor: Any) -> None:
    connection_update(connection=crm, credentials={"access_token": NEW_SECRET}, actor=editor)

    found = entries(crm)
    assert [e.action for e in found] == ["connection.created", "connection.credentials_changed"]
    assert found[1].changes == {"access_token": "changed"}
    assert no_secret_in(found)


def test_saving_without_a_change_records_nothing(crm: Connection, editor: Any) -> None:
    connection_update(
        connection=crm, config=dict(crm.config), credentials={"access_token": ""}, name="CRM", actor=editor
    )

    assert [e.action for e in entries(crm)] == ["connection.created"]


def test_a_long_setting_such_as_a_manifest_is_recorded_by_size_and_checksum(team: Any, editor: Any) -> None:
    connection = connection_create(
        team=team,
        name="Helpdesk API",
        kind="rest_manifest",
        config={"manifest": HELPDESK_MANIFEST},
        credentials={"api_token": SECRET},
        actor=editor,
    )
    edited = HELPDESK_MANIFEST.replace('"name": "Helpdesk"', '"name": "Support desk"')
    connection_update(connection=connection, config={"manifest": edited}, actor=editor)

    created, updated = entries(connection)
    recorded = created.changes["config"]["manifest"]
    assert recorded.startswith(f"<{len(HELPDESK_MANIFEST)} characters, sha256 ")
    old, new = updated.changes["manifest"]
    assert old == recorded and new.startswith(f"<{len(edited)} characters") and new != old
    assert created.changes["secrets"] == ["api_token"]
    assert SECRET not in json.dumps(created.changes)


def test_deleting_is_recorded_with_the_person(crm: Connection, admin_user: Any) -> None:
    pk = crm.pk
    connection_delete(connection=crm, user=admin_user)

    entry = AuditEntry.objects.get(object_type="connection", object_id=str(pk), action="connection.deleted")
    assert entry.actor == admin_user
    assert "CRM" in entry.summary


def test_the_api_records_the_caller_on_create_and_update(team: Any, editor: Any) -> None:
    api = APIClient()
    api.force_authenticate(editor)
    created = api.post(
        "/api/v1/connections",
        {
            "name": "API CRM",
            "kind": "hubspot",
            "config": {"base_url": "https://api.hubapi.com"},
            "credentials": {"access_token": SECRET},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    connection = Connection.objects.get(name="API CRM")
    updated = api.patch(
        f"/api/v1/connections/{connection.pk}", {"credentials": {"access_token": NEW_SECRET}}, format="json"
    )
    assert updated.status_code == 200, updated.content

    found = entries(connection)
    assert [(e.action, e.actor) for e in found] == [
        ("connection.created", editor),
        ("connection.credentials_changed", editor),
    ]
    assert no_secret_in(found)


def test_connecting_and_reconnecting_by_signing_in_are_recorded(
    editor_client: Client, editor: Any, crm_sandbox: SandboxProcess, settings: Any
) -> None:
    settings.HUB_OAUTH_APPS = app_settings(crm_sandbox)
    connection = connect(editor_client, crm_sandbox)

    response = editor_client.post(f"/connections/{connection.pk}/reconnect/")
    come_back(editor_client, str(response["Location"]))

    found = entries(connection)
    assert [(e.action, e.actor) for e in found] == [
        ("connection.created", editor),
        ("connection.oauth_connected", editor),
        ("connection.oauth_reconnected", editor),
    ]
    assert found[1].changes == {"secrets": ["access_token", "refresh_token"]}
    tokens = connection.get_credentials()
    text = json.dumps([e.changes for e in found]) + " ".join(e.summary for e in found)
    assert all(value not in text for value in tokens.values())


def test_deleting_in_the_browser_asks_first_and_records_the_person(
    editor_client: Client, editor: Any, crm: Connection
) -> None:
    url = reverse("connection_delete", args=[crm.pk])

    asked = editor_client.get(url)
    assert asked.status_code == 200 and b"Delete the connection" in asked.content
    assert Connection.objects.filter(pk=crm.pk).exists()

    done = editor_client.post(url, follow=True)

    assert [str(m) for m in done.context["messages"]] == ["Deleted connection CRM."]
    assert not Connection.objects.filter(pk=crm.pk).exists()
    entry = AuditEntry.objects.get(object_id=str(crm.pk), action="connection.deleted")
    assert entry.actor == editor


def test_a_connection_a_workflow_uses_is_not_deleted_in_the_browser(
    editor_client: Client, team: Any, crm: Connection
) -> None:
    workflow_create(
        team=team,
        name="Leads",
        source_connection=None,
        source_object="",
        target_connection=crm,
        target_object="contacts",
        mapping={"fields": [{"target": "email", "source": "email"}]},
        trigger=Workflow.Trigger.WEBHOOK,
    )

    response = editor_client.post(reverse("connection_delete", args=[crm.pk]), follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        "This connection is used by 'Leads'; change or delete those first."
    ]
    assert Connection.objects.filter(pk=crm.pk).exists()
    assert not AuditEntry.objects.filter(action="connection.deleted").exists()


def test_another_teams_member_cannot_delete(outsider_client: Client, crm: Connection) -> None:
    response = outsider_client.post(reverse("connection_delete", args=[crm.pk]))

    assert response.status_code == 404
    assert Connection.objects.filter(pk=crm.pk).exists()
