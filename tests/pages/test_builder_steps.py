"""The builder's step list editor: multi-step workflows built as a list of steps (lookups, actions with
their own mapping, branches, delays, chat messages), each checked on the server with its errors next to
it, later steps offered what the trigger and earlier steps provide, and the JSON box kept as a fallback."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.urls import reverse

from connectors.base import FieldSchema, ObjectSchema
from connectors.models import Connection
from connectors.services import connection_create
from tests.pages.conftest import cache_schema
from tests.pages.forms import form_data
from workflows.engine.definition import compile_definition
from workflows.models import Workflow
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db

ORGANIZATIONS = ObjectSchema(
    "organizations",
    "Organizations",
    (
        FieldSchema("id", "ID", "number", read_only=True),
        FieldSchema("name", "Name", "string", required=True),
        FieldSchema("external_id", "External ID", "string"),
    ),
)


@pytest.fixture
def chat(team: Any) -> Connection:
    return connection_create(
        team=team,
        name="Team chat",
        kind="slack",
        config={"base_url": "http://127.0.0.1:9"},
        credentials={"bot_token_or_webhook_url": "xoxb-test"},
    )


def _steps_page(client: Any, crm: Connection, helpdesk: Connection) -> dict[str, list[str]]:
    """A new workflow CRM contacts → helpdesk users, turned into steps: one 'write' action."""
    cache_schema(helpdesk, ORGANIZATIONS)
    data = form_data(client.get(reverse("workflow_new")).content.decode())
    data.update(
        name=["Contacts, their companies, and the team"],
        source_connection=[str(crm.pk)],
        source_object=["contacts"],
        target_connection=[str(helpdesk.pk)],
        target_object=["users"],
    )
    body = client.post(reverse("builder_refresh"), data, HTTP_HX_REQUEST="true").content.decode()
    data = form_data(f'<form id="builder">{body}</form>')
    response = client.post(reverse("builder_steps"), {**data, "op": ["convert"]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return form_data(f'<form id="builder">{response.content.decode()}</form>')


def _op(client: Any, data: dict[str, list[str]], op: str, **values: str) -> tuple[dict[str, list[str]], str]:
    response = client.post(
        reverse("builder_steps"),
        {**data, "op": [op], **{k: [v] for k, v in values.items()}},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    html = response.content.decode()
    assert html.startswith('<div id="steps-section"')
    # The fragment holds every step: the rest of the form is posted as it was.
    fresh = form_data(f'<form id="builder">{html}</form>')
    kept = {k: v for k, v in data.items() if k not in fresh and not k.startswith("s-") and k != "step"}
    return {**kept, **fresh}, html


def _key(data: dict[str, list[str]], step_id: str) -> str:
    return next(k for k in data["step"] if data.get(f"s-{k}-id") == [step_id])


def _set(data: dict[str, list[str]], key: str, **settings: str) -> None:
    for name, value in settings.items():
        data[f"s-{key}-{name}"] = [value]


def _line(
    client: Any, data: dict[str, list[str]], key: str, target: str, source: str
) -> dict[str, list[str]]:
    """Add a line to an action's mapping and fill it in."""
    data, _ = _op(client, data, "line", key=key)
    line = data[f"s-{key}-line"][-1]
    data[f"s-{key}-l-{line}-target"] = [target]
    data[f"s-{key}-l-{line}-source"] = [source]
    return data


def test_a_mapping_turns_into_one_write_step_with_the_same_lines(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _steps_page(editor_client, crm, helpdesk)
    [key] = data["step"]
    assert data[f"s-{key}-type"] == ["action"] and data[f"s-{key}-id"] == ["write"]
    assert data[f"s-{key}-connection"] == [str(helpdesk.pk)] and data[f"s-{key}-object"] == ["users"]
    assert data["multi_step"] == ["on"]


def test_a_multi_step_workflow_is_built_step_by_step_and_saved(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, chat: Connection
) -> None:
    data = _steps_page(editor_client, crm, helpdesk)
    write = _key(data, "write")
    data = _line(editor_client, data, write, "email", "email")

    # A lookup, moved before the write.
    data, html = _op(editor_client, data, "add", parent="", arm="", **{"add-kind-top-main": "lookup"})
    find = _key(data, "find_1")
    assert data["step"] == [write, find]
    # The focus goes to the new step, so the keyboard carries on there.
    assert f'<h4 id="s-{find}-title" tabindex="-1" autofocus>' in html
    _set(data, find, connection=str(helpdesk.pk), object="organizations")
    data, html = _op(editor_client, data, "up", key=find)
    assert data["step"] == [find, write]
    _set(data, find, by_field="external_id", value_from="company")
    # The lookup's object is cached: its fields are offered to the search and to later steps.
    assert f'<datalist id="s-{find}-fields"><option value="id">' in html
    assert '<option value="steps.find_1.fields.external_id">' in html

    # A branch: when no organization was found, create one; then the contact is written.
    data, _ = _op(editor_client, data, "add", parent="", arm="", **{"add-kind-top-main": "branch"})
    branch = data["step"][-1]
    data, _ = _op(editor_client, data, "up", key=branch)
    assert data["step"] == [find, branch, write]
    [cond] = data[f"s-{branch}-c"]
    data[f"s-{branch}-c-{cond}-field"] = ["steps.find_1.found"]
    data[f"s-{branch}-c-{cond}-op"] = ["equals"]
    data[f"s-{branch}-c-{cond}-value"] = ["false"]
    data, _ = _op(
        editor_client, data, "add", parent=branch, arm="then", **{f"add-kind-{branch}-then": "action"}
    )
    create = _key(data, "write_1")
    assert data[f"s-{create}-parent"] == [branch] and data[f"s-{create}-arm"] == ["then"]
    _set(
        data, create, id="create_org", connection=str(helpdesk.pk), object="organizations", operation="create"
    )
    [line] = data[f"s-{create}-line"]
    data[f"s-{create}-l-{line}-target"] = ["name"]
    data[f"s-{create}-l-{line}-source"] = ["company"]
    data = _line(editor_client, data, create, "external_id", "company")

    # A wait, then a message to the team that reads the trigger and earlier steps.
    data, _ = _op(editor_client, data, "add", parent="", arm="", **{"add-kind-top-main": "delay"})
    wait = data["step"][-1]
    _set(data, wait, amount="2", unit="hours")
    data, html = _op(editor_client, data, "add", parent="", arm="", **{"add-kind-top-main": "notify"})
    tell = _key(data, "tell_1")
    _set(
        data,
        tell,
        connection=str(chat.pk),
        channel="#support",
        format="{firstname} ({email}) is user {steps.write.id}, organization {steps.create_org.id}",
    )
    # Removing a step removes only it.
    data, _ = _op(editor_client, data, "add", parent="", arm="", **{"add-kind-top-main": "filter"})
    data, _ = _op(editor_client, data, "remove", key=data["step"][-1])

    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})

    assert response.status_code == 302, response.content.decode()[:4000]
    workflow = Workflow.objects.get(team=team)
    steps = workflow.steps
    assert [step["type"] for step in steps] == ["lookup", "branch", "action", "delay", "notify"]
    assert steps[0] == {
        "type": "lookup",
        "id": "find_1",
        "connection": helpdesk.pk,
        "object": "organizations",
        "by": {"field": "external_id", "value_from": "company"},
    }
    assert steps[1] == {
        "type": "branch",
        "if": {"all": [{"field": "steps.find_1.found", "op": "equals", "value": "false"}]},
        "then": [
            {
                "type": "action",
                "id": "create_org",
                "connection": helpdesk.pk,
                "object": "organizations",
                "operation": "create",
                "mapping": {
                    "fields": [
                        {"target": "name", "source": ["company"]},
                        {"target": "external_id", "source": ["company"]},
                    ]
                },
            }
        ],
    }
    assert steps[2]["id"] == "write" and steps[2]["operation"] == "upsert"
    assert steps[3] == {"type": "delay", "seconds": 7200}
    assert steps[4]["format"].startswith("{firstname} ({email}) is user {steps.write.id}")
    compile_definition(
        {"trigger": {"type": "poll", "connection": crm.pk, "object": "contacts"}, "steps": steps}
    )


def test_each_problem_is_shown_next_to_its_step_and_setting_and_nothing_is_saved(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, chat: Connection
) -> None:
    data = _steps_page(editor_client, crm, helpdesk)
    write = _key(data, "write")
    data, _ = _op(editor_client, data, "add", parent="", arm="", **{"add-kind-top-main": "notify"})
    tell = _key(data, "tell_1")
    data, _ = _op(editor_client, data, "up", key=tell)
    # The message reads the write's id, but runs before it; and no connection was chosen.
    _set(data, tell, format="Written as {steps.write.id}")
    data, _ = _op(editor_client, data, "add", parent="", arm="", **{"add-kind-top-main": "delay"})
    wait = data["step"][-1]
    _set(data, wait, amount="soon")

    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})

    assert response.status_code == 400
    html = response.content.decode()
    assert f'<p class="field-error" id="s-{tell}-connection-error">choose a connection</p>' in html
    assert f'id="s-{tell}-format-error"' in html
    assert "refers to step write, which runs later or doesn&#x27;t exist" in html
    assert f'id="s-{wait}-amount-error">Wait a whole number' in html
    assert f'aria-invalid="true" aria-describedby="s-{tell}-connection-error"' in html
    assert f'id="s-{write}-' in html and f'id="s-{write}-connection-error"' not in html
    assert not Workflow.objects.exists()
    # The same checks on demand, without saving.
    _, checked = _op(editor_client, data, "check")
    assert f'id="s-{tell}-connection-error"' in checked


def test_a_step_is_offered_only_the_outputs_of_steps_before_it(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _steps_page(editor_client, crm, helpdesk)
    data, _ = _op(editor_client, data, "add", parent="", arm="", **{"add-kind-top-main": "lookup"})
    find = _key(data, "find_1")
    _set(data, find, connection=str(helpdesk.pk), object="organizations")
    data, html = _op(editor_client, data, "refresh", key=find)
    write = _key(data, "write")
    before = html.split(f'id="s-{find}"')[0]
    mine = html.split(f'id="s-{find}"')[1]
    # The write comes first: it sees the trigger's fields, not the lookup's outputs.
    assert f'<datalist id="s-{write}-names"><option value="email">' in before
    assert '<option value="steps.find_1' not in before
    assert '<option value="steps.write.id">' in mine and '<option value="steps.find_1.id">' not in mine


def test_opening_and_saving_a_workflow_keeps_its_steps_exactly(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, chat: Connection
) -> None:
    steps: list[dict[str, Any]] = [
        {"type": "filter", "condition": {"field": "email", "op": "is_not_empty"}},
        {
            "type": "lookup",
            "id": "find_user",
            "connection": helpdesk.pk,
            "object": "users",
            "by": {"field": "email", "value_from": "email"},
            "if_not_found": "continue",
        },
        {
            "type": "branch",
            "if": {"any": [{"field": "steps.find_user.found", "op": "equals", "value": False}]},
            "then": [
                {
                    "type": "action",
                    "id": "create_user",
                    "connection": helpdesk.pk,
                    "object": "users",
                    "operation": "create",
                    "mapping": {
                        "fields": [
                            {"target": "email", "source": "email", "transforms": [{"name": "lower"}]},
                            {"target": "name", "source": ["firstname", "lastname"], "transforms": [{"name": "join"}]},
                            {
                                "target": "details",
                                "source": ["city", "country"],
                                "transforms": [{"name": "format", "args": {"template": "{city}, {country}"}}],
                                "empty": "clear",
                            },
                            {
                                "target": "user_fields.customer_tier",
                                "source": ["customer_tier"],
                                "transforms": [
                                    {"name": "value_map", "args": {"map": {"gold": "gold"}, "unmapped": "drop"}}
                                ],
                            },
                        ]
                    },
                }
            ],
            "else": [],
        },
        {"type": "delay", "seconds": 90},
        {
            "type": "http",
            "id": "ping",
            "method": "POST",
            "url": "https://hooks.example.com/contacts/{email}",
            "body": {"fields": [{"target": "id", "source": ["steps.create_user.id"]}]},
        },
        {"type": "notify", "id": "tell", "connection": chat.pk, "format": "New user {steps.create_user.id}"},
    ]  # fmt: skip
    workflow = workflow_create(
        team=team,
        name="Contacts to users, in steps",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping={"fields": []},
        steps=copy.deepcopy(steps),
    )
    url = reverse("workflow_edit", args=[workflow.pk])
    page = editor_client.get(url).content.decode()
    assert '<h2 id="s-mapping-title">3. Steps</h2>' in page
    # The HTTP step is not drawn by the editor: it is kept as JSON in its own box.
    assert "This HTTP request step, as JSON" in page
    data = form_data(page)
    response = editor_client.post(url, {**data, "action": ["save"]})
    assert response.status_code == 302, response.content.decode()[:4000]
    workflow.refresh_from_db()
    assert workflow.steps == steps


def test_the_json_box_is_the_advanced_fallback_and_is_checked_too(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, chat: Connection
) -> None:
    data = _steps_page(editor_client, crm, helpdesk)
    data["steps_mode"] = ["json"]
    data["steps_json"] = ['[{"type": "notify", "id": "x"']
    broken = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert broken.status_code == 400
    assert 'id="f-steps-json-error">This is not valid JSON' in broken.content.decode()

    steps = [{"type": "notify", "id": "x", "connection": chat.pk, "format": "Hello {email}"}]
    data["steps_json"] = [json.dumps(steps)]
    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Workflow.objects.get(team=team).steps == steps
