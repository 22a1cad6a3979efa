"""A Mailchimp list webhook pointed at the hub's own intake: the URL check is answered, events are stored."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import WriteItem
from connectors.providers.mailchimp import webhooks as mailchimp_webhooks
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import saas_clients
from tests.factories import zendesk_connection
from workflows.models import InboundEvent, Workflow
from workflows.services.workflow import workflow_create


@pytest.fixture
def hook(team: Any, helpdesk_sandbox: SandboxProcess) -> Workflow:
    return workflow_create(
        team=team,
        name="Audience changes",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url=helpdesk_sandbox.url),
        target_object="users",
        mapping={"fields": [{"target": "email", "source": "$['data[email]']"}]},
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=False,
    )


@pytest.mark.django_db(transaction=True)
def test_mailchimp_saves_a_webhook_on_the_intake_and_its_form_deliveries_are_stored(
    live_server: Any, hook: Workflow, marketing_sandbox: SandboxProcess
) -> None:
    client = saas_clients.mailchimp(marketing_sandbox)
    secret = mailchimp_webhooks.generate_url_secret()
    url = f"{live_server.url}/hooks/{hook.webhook_token}"
    webhook_id = mailchimp_webhooks.subscribe(client, url, secret)
    [result] = client.upsert_batch(
        "members",
        [WriteItem(key="m1", fields={"email_address": "ines@example.com", "status": "subscribed"})],
        match_field="email_address",
    )
    assert result.ok, result.error
    assert marketing_sandbox.admin("GET", "/webhooks/deliveries?wait=20")["idle"]

    # The GET check stored nothing; the one delivery is the subscribe event, form-encoded as sent.
    [event] = InboundEvent.objects.filter(workflow=hook)
    parsed = mailchimp_webhooks.parse_form(bytes(event.body))
    assert webhook_id and event.content_type == "application/x-www-form-urlencoded"
    assert (parsed.type, parsed.email) == ("subscribe", "ines@example.com")
    attempts = marketing_sandbox.admin("GET", "/webhooks/deliveries")["attempts"]
    assert [(a["status"], a["url"].endswith(f"secret={secret}")) for a in attempts] == [(202, True)]


@pytest.mark.django_db
def test_the_intake_answers_a_url_check_only_for_a_webhook_that_exists(client: Any, hook: Workflow) -> None:
    known = client.get(f"/hooks/{hook.webhook_token}?secret=x")
    unknown = client.get("/hooks/not-a-token")

    assert known.status_code == 200 and unknown.status_code == 404
    assert not InboundEvent.objects.filter(workflow=hook).exists()
