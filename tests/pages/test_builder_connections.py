"""A saved workflow can move to another connection in the builder: the mapping rows stay, the rows whose
field the new system lacks are marked, the draft is checked again, and the old links and cursor go."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from connectors.base import ObjectSchema
from connectors.models import Connection
from integrations_hub.audit.models import AuditEntry
from tests.factories import hubspot_connection, zendesk_connection
from tests.pages.conftest import CONTACTS, USERS, cache_schema
from tests.pages.forms import form_data
from workflows.models import RecordLink, StepLink, TriggerCursor, Workflow
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db

MAPPING = {
    "fields": [
        {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
        {"target": "name", "source": ["firstname", "lastname"], "transforms": [{"name": "join"}]},
        {"target": "user_fields.nps_score", "source": ["nps_score"], "transforms": [{"name": "to_number"}]},
    ]
}
# The second helpdesk has no NPS score field.
PLAIN_USERS = ObjectSchema(
    "users", "Users", tuple(f for f in USERS.fields if f.name != "user_fields.nps_score")
)


@pytest.fixture
def second_desk(team: Any) -> Connection:
    connection = zendesk_connection(team=team, base_url="http://127.0.0.1:9", name="EU helpdesk")
    cache_schema(connection, PLAIN_USERS)
    return connection


def _workflow(team: Any, crm: Connection, helpdesk: Connection, *, publish: bool) -> Workflow:
    workflow = workflow_create(
        team=team,
        name="Contacts to users",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping=MAPPING,
        publish=publish,
    )
    RecordLink.objects.create(
        workflow=workflow, source_id="101", target_id="9001", last_fingerprint="x", last_values={}
    )
    StepLink.objects.create(
        workflow=workflow, step_id="tell", source_id="101", target_id="m-1", last_values={}
    )
    TriggerCursor.objects.filter(workflow=workflow).update(value="2026-01-01T00:00:00Z")
    return workflow


def _edit_form(client: Any, workflow: Workflow) -> dict[str, list[str]]:
    page = client.get(reverse("workflow_edit", args=[workflow.pk]))
    assert page.status_code == 200
    return form_data(page.content.decode())


def _refresh(client: Any, data: dict[str, list[str]]) -> str:
    response = client.post(reverse("builder_refresh"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_the_edit_page_offers_the_connections_as_labelled_pickers(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk, publish=False)
    html = editor_client.get(reverse("workflow_edit", args=[workflow.pk])).content.decode()
    assert '<label for="f-source-connection">Read from</label>' in html
    assert '<label for="f-target-connection">Write to</label>' in html
    assert f'<option value="{helpdesk.pk}" selected>Helpdesk (zendesk)</option>' in html
    assert 'id="f-moved"' not in html


def test_choosing_another_target_keeps_the_rows_and_marks_the_one_it_lacks(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, second_desk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk, publish=True)
    data = _edit_form(editor_client, workflow)
    data["target_connection"] = [str(second_desk.pk)]

    html = _refresh(editor_client, data)

    refreshed = form_data(f'<form id="builder">{html}</form>')
    targets = [refreshed[f"r-{key}-target"][0] for key in refreshed["row"]]
    assert targets == ["email", "name", "user_fields.nps_score"]
    assert "&#x27;user_fields.nps_score&#x27; is not a field of Users" in html
    # Only that row is marked: the others exist in the new system too.
    assert html.count("is not a field of") == 1
    assert 'id="f-moved"' in html and "use “Save and publish”" in html
    assert 'aria-describedby="f-moved"' in html


def test_a_published_workflow_moves_only_when_the_move_is_published(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, second_desk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk, publish=True)
    url = reverse("workflow_edit", args=[workflow.pk])
    data = _edit_form(editor_client, workflow)
    data["target_connection"] = [str(second_desk.pk)]
    nps = next(k for k in data["row"] if data[f"r-{k}-target"] == ["user_fields.nps_score"])
    data["row"].remove(nps)

    draft_only = editor_client.post(url, {**data, "action": ["save"]})

    assert draft_only.status_code == 400
    html = draft_only.content.decode()
    assert 'id="f-target-connection-error"' in html and "takes effect when it is published" in html
    workflow.refresh_from_db()
    assert workflow.target_connection == helpdesk and RecordLink.objects.filter(workflow=workflow).exists()

    published = editor_client.post(url, {**data, "action": ["publish"]})

    assert published.status_code == 302, published.content.decode()[:3000]
    workflow.refresh_from_db()
    assert workflow.target_connection == second_desk and workflow.source_connection == crm
    assert workflow.published_version is not None
    assert workflow.published_version.definition["target"]["connection"] == second_desk.pk
    assert [row["target"] for row in workflow.mapping["fields"]] == ["email", "name"]
    # The links paired contacts with users of the old helpdesk; the source did not move, nor its cursor.
    assert not RecordLink.objects.filter(workflow=workflow).exists()
    assert TriggerCursor.objects.get(workflow=workflow).value == "2026-01-01T00:00:00Z"
    # A step names its own connection: what it wrote for the same source records stays linked.
    assert StepLink.objects.filter(workflow=workflow).exists()
    entry = AuditEntry.objects.get(action="workflow.moved")
    assert "write to EU helpdesk instead of Helpdesk (1 record links cleared)" in entry.summary


def test_a_move_that_cannot_be_published_yet_says_why_next_to_the_picker(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, second_desk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk, publish=True)
    data = _edit_form(editor_client, workflow)
    data["target_connection"] = [str(second_desk.pk)]

    response = editor_client.post(
        reverse("workflow_edit", args=[workflow.pk]), {**data, "action": ["publish"]}
    )

    assert response.status_code == 400
    html = response.content.decode()
    error = html.split('id="f-target-connection-error">')[1].split("</p>")[0]
    assert "can&#x27;t be published yet" in error and "user_fields.nps_score" in error
    workflow.refresh_from_db()
    assert workflow.target_connection == helpdesk and workflow.published_version.number == 1


def test_moving_the_source_of_a_draft_resets_where_it_reads_from(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    other_crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9", name="CRM (sandbox portal)")
    cache_schema(other_crm, CONTACTS)
    workflow = _workflow(team, crm, helpdesk, publish=False)
    data = _edit_form(editor_client, workflow)
    data["source_connection"] = [str(other_crm.pk)]

    response = editor_client.post(reverse("workflow_edit", args=[workflow.pk]), {**data, "action": ["save"]})

    assert response.status_code == 302, response.content.decode()[:3000]
    workflow.refresh_from_db()
    assert workflow.source_connection == other_crm and workflow.mapping == MAPPING
    assert TriggerCursor.objects.get(workflow=workflow).value is None
    assert not RecordLink.objects.filter(workflow=workflow).exists()
    assert not StepLink.objects.filter(workflow=workflow).exists()


def test_a_move_to_an_unsuitable_object_is_checked_again_and_refused(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk, publish=False)
    data = _edit_form(editor_client, workflow)
    # The CRM has no "users": after the move the object must be chosen again.
    data["target_connection"] = [str(crm.pk)]
    html = _refresh(editor_client, data)
    refreshed = form_data(f'<form id="builder">{html}</form>')
    assert refreshed["target_object"] == [""]

    response = editor_client.post(
        reverse("workflow_edit", args=[workflow.pk]), {**data, **refreshed, "action": ["save"]}
    )

    assert response.status_code == 400
    assert 'id="f-target-object-error"' in response.content.decode()
    workflow.refresh_from_db()
    assert workflow.target_connection == helpdesk and workflow.target_object == "users"


def test_a_connection_of_another_team_is_refused_on_a_saved_workflow_too(
    editor_client: Any, team: Any, outsider: Any, crm: Connection, helpdesk: Connection
) -> None:
    foreign = zendesk_connection(team=outsider.membership.team, base_url="http://127.0.0.1:9", name="Theirs")
    workflow = _workflow(team, crm, helpdesk, publish=False)
    data = _edit_form(editor_client, workflow)
    data["target_connection"] = [str(foreign.pk)]
    response = editor_client.post(reverse("workflow_edit", args=[workflow.pk]), {**data, "action": ["save"]})
    assert response.status_code == 400
    workflow.refresh_from_db()
    assert workflow.target_connection == helpdesk
