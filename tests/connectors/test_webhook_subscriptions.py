"""The connectors subscribe to each system's webhooks, and verify and parse what the system then sends.

Each test subscribes through the connector's own helper (against the system's sandbox), changes a
record through the connector's client, and checks the delivery the sandbox sent on its own: the
signature (or basic auth, or URL secret) verifies with what the subscription returned, the parsed event
names the changed record, and a tampered or wrongly authenticated copy is refused.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from connectors.base import WriteItem
from connectors.providers.hubspot import webhooks as hubspot_webhooks
from connectors.providers.mailchimp import webhooks as mailchimp_webhooks
from connectors.providers.pipedrive import webhooks as pipedrive_webhooks
from connectors.providers.stripe import webhooks as stripe_webhooks
from connectors.providers.zendesk import webhooks as zendesk_webhooks
from connectors.sandbox.crm_links import APP_ID
from connectors.sandbox.crm_webhooks import DEFAULT_DEVELOPER_KEY
from connectors.sandbox.oauth import DEFAULT_CLIENT_SECRET
from connectors.sandbox.testing import CRM_TOKEN, HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess
from connectors.webhooks import WebhookSignatureError
from tests.connectors import saas_clients
from tests.connectors.webhook_receiver import Delivered, WebhookReceiver
from tests.saas_sandboxes import SALES_TOKEN


def settle(sandbox: SandboxProcess) -> None:
    assert sandbox.admin("GET", "/webhooks/deliveries?wait=20")["idle"]


def tampered(delivery: Delivered) -> bytes:
    return delivery.body[:-1] + (b"X" if delivery.body[-1:] != b"X" else b"Y")


def write(client: Any, object_name: str, fields: dict[str, Any], match_field: str = "email") -> str:
    [result] = client.upsert_batch(object_name, [WriteItem(key="k1", fields=fields)], match_field=match_field)
    assert result.ok, result.error
    return str(result.target_id)


def test_stripe_endpoint_secret_verifies_the_customer_events(
    billing_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = saas_clients.stripe(billing_sandbox)
    endpoint = stripe_webhooks.create_endpoint(client, webhook_receiver.url(), ["customer.created"])
    customer_id = write(client, "customers", {"email": "joan@example.com", "name": "Joan"})
    settle(billing_sandbox)

    event = stripe_webhooks.verify_signature(
        webhook_receiver.last.headers, webhook_receiver.last.body, endpoint.secret
    )
    assert event["type"] == "customer.created" and event["data"]["object"]["id"] == customer_id
    with pytest.raises(WebhookSignatureError):
        stripe_webhooks.verify_signature(
            webhook_receiver.last.headers, tampered(webhook_receiver.last), endpoint.secret
        )
    stripe_webhooks.delete_endpoint(client, endpoint.id)
    write(client, "customers", {"email": "late@example.com", "name": "Late"})
    settle(billing_sandbox)
    assert len(webhook_receiver.deliveries) == 1


def test_hubspot_app_subscriptions_deliver_property_changes(
    crm_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = saas_clients.connect("hubspot", {"base_url": crm_sandbox.url}, {"access_token": CRM_TOKEN})
    ids = hubspot_webhooks.subscribe_app(
        client.http,
        app_id=APP_ID,
        developer_api_key=DEFAULT_DEVELOPER_KEY,
        target_url=webhook_receiver.url(),
        subscriptions=[("contact.propertyChange", "lastname")],
    )
    contact_id = write(client, "contacts", {"email": "alan@example.com", "lastname": "Turing"})
    settle(crm_sandbox)

    delivery = webhook_receiver.last
    hubspot_webhooks.verify_signature(
        delivery.headers, delivery.body, DEFAULT_CLIENT_SECRET, method="POST", uri=webhook_receiver.url()
    )
    [event] = hubspot_webhooks.parse_events(delivery.body)
    assert len(ids) == 1 and event.subscription_type == "contact.propertyChange"
    assert (event.object, event.object_id, event.property_name, event.property_value) == (
        "contact",
        contact_id,
        "lastname",
        "Turing",
    )
    with pytest.raises(WebhookSignatureError):
        hubspot_webhooks.verify_signature(
            delivery.headers, delivery.body, "another-app-secret", method="POST", uri=webhook_receiver.url()
        )


def zendesk_client(sandbox: SandboxProcess) -> Any:
    return saas_clients.connect(
        "zendesk", {"base_url": sandbox.url, "email": HELPDESK_EMAIL}, {"api_token": HELPDESK_TOKEN}
    )


def test_zendesk_webhook_secret_verifies_user_events(
    helpdesk_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = zendesk_client(helpdesk_sandbox)
    webhook = zendesk_webhooks.create_webhook(
        client, webhook_receiver.url(), ["user.created"], name="Integrations Hub"
    )
    user_id = write(client, "users", {"email": "kim@example.com", "name": "Kim"})
    settle(helpdesk_sandbox)

    delivery = webhook_receiver.last
    zendesk_webhooks.verify_signature(delivery.headers, delivery.body, webhook.secret)
    event = zendesk_webhooks.parse_event(delivery.body)
    assert (event.type, event.object, event.id) == ("user.created", "user", user_id)
    with pytest.raises(WebhookSignatureError):
        zendesk_webhooks.verify_signature(delivery.headers, tampered(delivery), webhook.secret)


def test_zendesk_linked_tickets_are_updated_by_id_with_a_new_comment(
    helpdesk_sandbox: SandboxProcess,
) -> None:
    client = zendesk_client(helpdesk_sandbox)
    [created] = client.upsert_batch(
        "tickets",
        [WriteItem(key="t1", fields={"subject": "Cannot log in", "description": "Since the update."})],
        match_field="external_id",
    )
    [updated] = client.upsert_batch(
        "tickets",
        [
            WriteItem(
                key="t1",
                fields={"status": "open", "priority": "urgent", "comment": "Reset link sent."},
                target_id=created.target_id,
            )
        ],
        match_field="external_id",
    )
    [refused] = client.upsert_batch(
        "tickets",
        [WriteItem(key="t1", fields={"priority": "whenever"}, target_id=created.target_id)],
        match_field="external_id",
    )

    assert updated.ok and updated.action == "updated" and updated.target_id == created.target_id
    _, _, body = helpdesk_sandbox.request(
        "GET",
        f"/api/v2/tickets/{created.target_id}.json",
        headers={
            "Authorization": "Basic "
            + base64.b64encode(f"{HELPDESK_EMAIL}/token:{HELPDESK_TOKEN}".encode()).decode("ascii")
        },
    )
    ticket = body["ticket"]
    assert (ticket["status"], ticket["priority"], ticket["description"]) == (
        "open",
        "urgent",
        "Since the update.",
    )
    [stored] = [t for t in helpdesk_sandbox.records("tickets") if t["id"] == int(str(created.target_id))]
    assert stored["status"] == "open"
    assert not refused.ok and refused.error is not None and "whenever" in refused.error


def test_pipedrive_subscription_password_authenticates_the_deliveries(
    sales_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = saas_clients.pipedrive(sales_sandbox)
    subscription = pipedrive_webhooks.subscribe(
        client, webhook_receiver.url(), event_action="added", event_object="organization"
    )
    [result] = client.upsert_batch(
        "organizations", [WriteItem(key="o1", fields={"name": "Initech"})], match_field="name"
    )
    settle(sales_sandbox)

    delivery = webhook_receiver.last
    pipedrive_webhooks.verify_basic_auth(delivery.headers, subscription.user, subscription.password)
    event = pipedrive_webhooks.parse_event(delivery.body)
    assert (event.name, event.id) == ("added.organization", result.target_id)
    assert event.current is not None and event.current["name"] == "Initech"
    with pytest.raises(WebhookSignatureError):
        pipedrive_webhooks.verify_basic_auth(delivery.headers, subscription.user, "guessed")
    with pytest.raises(WebhookSignatureError):
        pipedrive_webhooks.verify_basic_auth({}, subscription.user, subscription.password)
    pipedrive_webhooks.unsubscribe(client, subscription.id)
    assert sales_sandbox.request("GET", "/v1/webhooks", headers={"x-api-token": SALES_TOKEN})[2]["data"] == []


def test_mailchimp_url_secret_authenticates_the_member_events(
    marketing_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    client = saas_clients.mailchimp(marketing_sandbox)
    secret = mailchimp_webhooks.generate_url_secret()
    webhook_id = mailchimp_webhooks.subscribe(client, webhook_receiver.url(), secret)
    write(
        client, "members", {"email": "rosa@example.com", "status": "subscribed", "merge_fields.FNAME": "Rosa"}
    )
    settle(marketing_sandbox)

    delivery = webhook_receiver.last
    mailchimp_webhooks.verify_url_secret(delivery.path.partition("?")[2], secret)
    event = mailchimp_webhooks.parse_form(delivery.body)
    assert webhook_id and (event.type, event.email) == ("subscribe", "rosa@example.com")
    assert event.data["merges"]["FNAME"] == "Rosa" and event.fired_at is not None
    with pytest.raises(WebhookSignatureError):
        mailchimp_webhooks.verify_url_secret(delivery.path.partition("?")[2], "another-secret")
    with pytest.raises(WebhookSignatureError):
        mailchimp_webhooks.verify_url_secret({}, secret)


def test_mailchimp_form_bodies_parse_into_nested_data() -> None:
    event = mailchimp_webhooks.parse_form(
        b"type=upemail&fired_at=2026-11-28+10%3A00%3A00&data%5Blist_id%5D=a1&data%5Bnew_email%5D=new%40x.io"
        b"&data%5Bold_email%5D=old%40x.io"
    )
    assert event.type == "upemail" and event.email == "new@x.io" and event.data["old_email"] == "old@x.io"
    assert event.fired_at is not None and event.fired_at.hour == 10
    with pytest.raises(WebhookSignatureError):
        mailchimp_webhooks.parse_form(b"type=exploded")
    assert mailchimp_webhooks.is_validation_request("GET") and not mailchimp_webhooks.is_validation_request(
        "POST"
    )
    assert mailchimp_webhooks.webhook_url("https://hub.example/hooks/t?x=1&secret=old", "new") == (
        "https://hub.example/hooks/t?x=1&secret=new"
    )
