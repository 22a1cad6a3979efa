from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.urls import reverse

from connectors.base import FieldSchema, ObjectSchema
from connectors.models import Connection
from connectors.services import connection_create
from tests.pages.conftest import cache_schema
from tests.pages.forms import form_data
from workflows.models import Workflow
from workflows.workflow_templates import TEMPLATES, template_choices

pytestmark = pytest.mark.django_db


DEALS = ObjectSchema(
    "deals",
    "Deals",
    (FieldSchema("dealname", "Deal Name", "string"), FieldSchema("amount", "Amount", "number")),
)
MESSAGES = ObjectSchema("messages", "Messages", (FieldSchema("text", "Text", "string", required=True),))


def _slack(team: Any, crm: Connection) -> Connection:
    slack = connection_create(
        team=team, name="Team chat", kind="slack", config={"base_url": "http://127.0.0.1:9"},
        credentials={"bot_token_or_webhook_url": "xoxb-test"},
    )  # fmt: skip
    cache_schema(slack, MESSAGES)
    cache_schema(crm, DEALS)
    return slack


def test_every_template_names_connectors_that_exist() -> None:
    from connectors.registry import PROVIDERS

    for template in TEMPLATES:
        for need in template.needs:
            assert need.kind in PROVIDERS, template.key


def test_templates_pick_the_teams_connections_or_say_which_to_add(
    crm: Connection, helpdesk: Connection
) -> None:
    choices = {c.template.key: c for c in template_choices([crm, helpdesk])}
    ready = choices["hubspot-contacts-zendesk-users"]
    assert ready.ready and ready.chosen == {"source": crm, "target": helpdesk}
    mailchimp = choices["hubspot-contacts-mailchimp-members"]
    assert [need.kind for need in mailchimp.missing] == ["mailchimp"]


def test_the_gallery_links_the_connection_to_add_first(editor_client: Any, crm: Connection) -> None:
    page = editor_client.get(reverse("workflow_templates")).content.decode()
    assert f'href="{reverse("connection_new")}?kind=zendesk"' in page
    assert f'href="{reverse("connection_new")}?kind=stripe"' in page


def test_a_template_opens_in_the_builder_and_saves_as_a_draft(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    page = editor_client.get(reverse("workflow_new"), {"template": "hubspot-contacts-zendesk-users"})
    data = form_data(page.content.decode())
    assert data["source_connection"] == [str(crm.pk)] and data["target_connection"] == [str(helpdesk.pk)]
    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    from workflows.demo import DEMO_MAPPING

    assert Workflow.objects.get(team=team).mapping == DEMO_MAPPING


def test_the_slack_template_is_a_notify_step_that_previews_its_message(
    editor_client: Any, team: Any, crm: Connection
) -> None:
    slack = _slack(team, crm)
    page = editor_client.get(reverse("workflow_new"), {"template": "hubspot-deal-slack-message"})
    data = form_data(page.content.decode())
    data["sample"] = [
        json.dumps({"dealname": "Acme renewal", "amount": "12000", "dealstage": "contractsent"})
    ]
    preview = editor_client.post(reverse("builder_preview"), data, HTTP_HX_REQUEST="true").content.decode()
    assert "to #sales: New deal: Acme renewal (12000), stage contractsent" in preview
    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    workflow = Workflow.objects.get(team=team)
    assert workflow.start_from == "now" and workflow.target_connection == slack
    assert workflow.steps == [
        {
            "type": "notify",
            "id": "tell_sales",
            "connection": slack.pk,
            "channel": "#sales",
            "format": "New deal: {dealname} ({amount}), stage {dealstage}",
        }
    ]


def test_steps_that_do_not_compile_are_refused_next_to_them(
    editor_client: Any, team: Any, crm: Connection
) -> None:
    _slack(team, crm)
    data = form_data(
        editor_client.get(
            reverse("workflow_new"), {"template": "hubspot-deal-slack-message"}
        ).content.decode()
    )
    data["steps_mode"] = ["json"]
    data["steps_json"] = ['[{"type": "notify", "id": "x", "connection": 1}]']
    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert response.status_code == 400
    assert re.search(r'id="s-[0-9a-f]+-format-error">write the message', response.content.decode())
    assert not Workflow.objects.exists()
