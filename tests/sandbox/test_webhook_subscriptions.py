"""Each SaaS sandbox delivers signed webhooks on its own when a record changes, over real HTTP.

A subscription is made through the system's own webhook API; then a record is created, changed or
deleted through the ordinary API, and the sandbox's background sender delivers the events to a local
receiver. Every delivery is checked with the hub's own verifier for that system, and a tampered copy
is refused by the same verifier.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from connectors.providers.hubspot.webhooks import parse_events
from connectors.providers.hubspot.webhooks import verify_signature as verify_hubspot
from connectors.providers.mailchimp.webhooks import parse_form, verify_url_secret
from connectors.providers.pipedrive.webhooks import parse_event as parse_pipedrive
from connectors.providers.pipedrive.webhooks import verify_basic_auth
from connectors.providers.stripe.webhooks import verify_signature as verify_stripe
from connectors.providers.zendesk.webhooks import parse_event as parse_zendesk
from connectors.providers.zendesk.webhooks import verify_signature as verify_zendesk
from connectors.sandbox.crm_links import APP_ID
from connectors.sandbox.crm_webhooks import DEFAULT_DEVELOPER_KEY
from connectors.sandbox.oauth import DEFAULT_CLIENT_SECRET
from connectors.sandbox.testing import CRM_TOKEN, HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess
from connectors.webhooks import WebhookSignatureError
from tests.connectors.webhook_receiver import Delivered, WebhookReceiver
from tests.saas_sandboxes import BILLING_KEY, MARKETING_KEY, MARKETING_LIST_ID, SALES_TOKEN, fresh

CRM_AUTH = {"Authorization": f"Bearer {CRM_TOKEN}"}
HELPDESK_AUTH = {
    "Authorization": "Basic "
    + base64.b64encode(f"{HELPDESK_EMAIL}/token:{HELPDESK_TOKEN}".encode()).decode("ascii")
}
SALES_AUTH = {"x-api-token": SALES_TOKEN}
MARKETING_AUTH = {
    "Authorization": "Basic " + base64.b64encode(f"hub:{MARKETING_KEY}".encode()).decode("ascii")
}
HAPIKEY = f"?hapikey={DEFAULT_DEVELOPER_KEY}"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.close()


def settle(sandbox: SandboxProcess) -> dict[str, Any]:
    """Wait until the sandbox has nothing left to deliver (retries included); its delivery log."""
    log = sandbox.admin("GET", "/webhooks/deliveries?wait=20")
    assert log["idle"], log
    return dict(log)


def stripe_form(sandbox: SandboxProcess, method: str, path: str, pairs: list[tuple[str, str]]) -> Any:
    request = urllib.request.Request(
        sandbox.url + path,
        data=urlencode(pairs).encode() if method != "DELETE" else None,
        method=method,
        headers={"Authorization": f"Bearer {BILLING_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def tampered(delivery: Delivered) -> bytes:
    return delivery.body.replace(b"a", b"b", 1) if b"a" in delivery.body else delivery.body + b" "


# -- Stripe ----------------------------------------------------------------------------------------


def test_stripe_customer_changes_reach_the_endpoint_signed_with_its_own_secret(
    receiver: WebhookReceiver,
) -> None:
    billing = fresh("billing")
    endpoint = stripe_form(
        billing,
        "POST",
        "/v1/webhook_endpoints",
        [
            ("url", receiver.url()),
            ("enabled_events[]", "customer.created"),
            ("enabled_events[]", "customer.updated"),
        ],
    )
    customer = stripe_form(billing, "POST", "/v1/customers", [("email", "ada@example.com"), ("name", "Ada")])
    stripe_form(billing, "POST", f"/v1/customers/{customer['id']}", [("name", "Ada Lovelace")])
    stripe_form(billing, "DELETE", f"/v1/customers/{customer['id']}", [])
    settle(billing)

    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    events = [verify_stripe(d.headers, d.body, endpoint["secret"]) for d in receiver.deliveries]
    # customer.deleted is not enabled on this endpoint, so it is not sent.
    assert [e["type"] for e in events] == ["customer.created", "customer.updated"]
    assert {e["data"]["object"]["id"] for e in events} == {customer["id"]}
    assert events[1]["data"]["previous_attributes"] == {"name": "Ada"}
    with pytest.raises(WebhookSignatureError):
        verify_stripe(receiver.last.headers, tampered(receiver.last), endpoint["secret"])
    # The endpoint's secret is shown on creation only.
    shown = stripe_form(billing, "GET", f"/v1/webhook_endpoints/{endpoint['id']}", [])
    assert "secret" not in shown and shown["enabled_events"] == ["customer.created", "customer.updated"]


def test_stripe_refuses_an_endpoint_for_an_unknown_event_type() -> None:
    billing = fresh("billing")
    with pytest.raises(urllib.error.HTTPError) as refused:
        stripe_form(
            billing,
            "POST",
            "/v1/webhook_endpoints",
            [("url", "http://127.0.0.1:9/x"), ("enabled_events[]", "customer.exploded")],
        )
    assert refused.value.code == 400
    assert "enabled_events[0]" in json.loads(refused.value.read())["error"]["message"]


# -- HubSpot ---------------------------------------------------------------------------------------


def hubspot_subscribe(crm: SandboxProcess, url: str, *subscriptions: dict[str, Any]) -> None:
    base = f"/webhooks/v3/{APP_ID}"
    status, _, _ = crm.request("PUT", f"{base}/settings{HAPIKEY}", {"targetUrl": url})
    assert status == 200
    for subscription in subscriptions:
        status, _, body = crm.request("POST", f"{base}/subscriptions{HAPIKEY}", subscription)
        assert status == 201, body


def test_hubspot_contact_changes_arrive_as_v3_signed_event_batches(
    crm_sandbox: SandboxProcess, receiver: WebhookReceiver
) -> None:
    hubspot_subscribe(
        crm_sandbox,
        receiver.url(),
        {"eventType": "contact.creation"},
        {"eventType": "contact.propertyChange", "propertyName": "firstname"},
        {"eventType": "contact.deletion"},
    )
    _, _, contact = crm_sandbox.request(
        "POST",
        "/crm/v3/objects/contacts",
        {"properties": {"email": "grace@example.com", "firstname": "Grace", "lastname": "Hopper"}},
        headers=CRM_AUTH,
    )
    crm_sandbox.request(
        "PATCH",
        f"/crm/v3/objects/contacts/{contact['id']}",
        {"properties": {"firstname": "Amazing Grace", "lastname": "H."}},
        headers=CRM_AUTH,
    )
    crm_sandbox.request("DELETE", f"/crm/v3/objects/contacts/{contact['id']}", headers=CRM_AUTH)
    settle(crm_sandbox)

    batches = []
    for delivery in receiver.deliveries:
        verify_hubspot(
            delivery.headers, delivery.body, DEFAULT_CLIENT_SECRET, method="POST", uri=receiver.url()
        )
        batches.append(
            [(e.subscription_type, e.object_id, e.property_value) for e in parse_events(delivery.body)]
        )
    # lastname has no subscription, so its changes are not sent.
    assert batches == [
        [("contact.creation", contact["id"], None), ("contact.propertyChange", contact["id"], "Grace")],
        [("contact.propertyChange", contact["id"], "Amazing Grace")],
        [("contact.deletion", contact["id"], None)],
    ]
    with pytest.raises(WebhookSignatureError):
        verify_hubspot(
            receiver.last.headers,
            tampered(receiver.last),
            DEFAULT_CLIENT_SECRET,
            method="POST",
            uri=receiver.url(),
        )


def test_hubspot_retries_a_failed_delivery_with_the_next_attempt_number(
    crm_sandbox: SandboxProcess, receiver: WebhookReceiver
) -> None:
    hubspot_subscribe(crm_sandbox, receiver.url(), {"eventType": "company.creation"})
    receiver.status = 503
    crm_sandbox.request(
        "POST", "/crm/v3/objects/companies", {"properties": {"name": "Acme"}}, headers=CRM_AUTH
    )
    deadline = time.monotonic() + 10
    while not receiver.deliveries and time.monotonic() < deadline:
        time.sleep(0.05)
    receiver.status = 200
    log = settle(crm_sandbox)

    assert [(a["attempt"], a["ok"]) for a in log["attempts"]] == [(1, False), (2, True)]
    first, second = (parse_events(d.body)[0] for d in receiver.deliveries)
    assert (first.attempt, second.attempt) == (0, 1) and first.event_id == second.event_id
    verify_hubspot(
        receiver.last.headers, receiver.last.body, DEFAULT_CLIENT_SECRET, method="POST", uri=receiver.url()
    )


def test_hubspot_webhook_settings_need_the_developer_key(crm_sandbox: SandboxProcess) -> None:
    status, _, body = crm_sandbox.request(
        "PUT", f"/webhooks/v3/{APP_ID}/settings?hapikey=wrong", {"targetUrl": "http://127.0.0.1:9/"}
    )
    missing, _, _ = crm_sandbox.request(
        "POST", f"/webhooks/v3/{APP_ID}/subscriptions{HAPIKEY}", {"eventType": "contact.propertyChange"}
    )
    assert status == 401 and body["category"] == "INVALID_AUTHENTICATION"
    assert missing == 400  # a propertyChange subscription must name its property


# -- Zendesk ---------------------------------------------------------------------------------------


def zendesk_webhook(helpdesk: SandboxProcess, url: str, subscriptions: list[str]) -> str:
    status, _, created = helpdesk.request(
        "POST",
        "/api/v2/webhooks",
        {
            "webhook": {
                "name": "Integrations Hub",
                "endpoint": url,
                "http_method": "POST",
                "request_format": "json",
                "status": "active",
                "subscriptions": subscriptions,
            }
        },
        headers=HELPDESK_AUTH,
    )
    assert status == 201, created
    _, _, secret = helpdesk.request(
        "GET", f"/api/v2/webhooks/{created['webhook']['id']}/signing_secret", headers=HELPDESK_AUTH
    )
    return str(secret["signing_secret"]["secret"])


def test_zendesk_user_and_ticket_events_are_signed_with_the_webhook_secret(
    helpdesk_sandbox: SandboxProcess, receiver: WebhookReceiver
) -> None:
    secret = zendesk_webhook(
        helpdesk_sandbox,
        receiver.url(),
        [
            "zen:event-type:user.created",
            "zen:event-type:user.name_changed",
            "zen:event-type:ticket.status_changed",
        ],
    )
    _, _, user = helpdesk_sandbox.request(
        "POST",
        "/api/v2/users.json",
        {"user": {"name": "Ann", "email": "ann@example.com"}},
        headers=HELPDESK_AUTH,
    )
    user_id = user["user"]["id"]
    helpdesk_sandbox.request(
        "PUT", f"/api/v2/users/{user_id}.json", {"user": {"name": "Ann Smith"}}, headers=HELPDESK_AUTH
    )
    _, _, ticket = helpdesk_sandbox.request(
        "POST",
        "/api/v2/tickets.json",
        {
            "ticket": {
                "subject": "Sync stopped",
                "comment": {"body": "Since Monday."},
                "requester_id": user_id,
            }
        },
        headers=HELPDESK_AUTH,
    )
    ticket_id = ticket["ticket"]["id"]
    helpdesk_sandbox.request(
        "PUT", f"/api/v2/tickets/{ticket_id}.json", {"ticket": {"status": "solved"}}, headers=HELPDESK_AUTH
    )
    settle(helpdesk_sandbox)

    events = []
    for delivery in receiver.deliveries:
        verify_zendesk(delivery.headers, delivery.body, secret)
        events.append(parse_zendesk(delivery.body))
    assert [(e.type, e.object, e.id, e.change) for e in events] == [
        ("user.created", "user", str(user_id), {}),
        ("user.name_changed", "user", str(user_id), {"current": "Ann Smith", "previous": "Ann"}),
        ("ticket.status_changed", "ticket", str(ticket_id), {"current": "solved", "previous": "new"}),
    ]
    assert events[1].detail["email"] == "ann@example.com"
    with pytest.raises(WebhookSignatureError):
        verify_zendesk(receiver.last.headers, tampered(receiver.last), secret)


def test_zendesk_refuses_unknown_event_types_and_mixed_conditional_subscriptions(
    helpdesk_sandbox: SandboxProcess,
) -> None:
    def create(subscriptions: list[str]) -> int:
        body = {"webhook": {"name": "x", "endpoint": "http://127.0.0.1:9/", "status": "active"}}
        body["webhook"]["subscriptions"] = subscriptions  # type: ignore[index]
        return helpdesk_sandbox.request("POST", "/api/v2/webhooks", body, headers=HELPDESK_AUTH)[0]

    assert create(["zen:event-type:user.exploded"]) == 400
    assert create(["conditional_ticket_events", "zen:event-type:user.created"]) == 400
    assert create(["conditional_ticket_events"]) == 201


def test_zendesk_ticket_update_changes_fields_and_adds_a_comment(helpdesk_sandbox: SandboxProcess) -> None:
    _, _, created = helpdesk_sandbox.request(
        "POST",
        "/api/v2/tickets.json",
        {"ticket": {"subject": "Export is empty", "comment": {"body": "Nothing in the file."}}},
        headers=HELPDESK_AUTH,
    )
    ticket_id = created["ticket"]["id"]
    status, _, updated = helpdesk_sandbox.request(
        "PUT",
        f"/api/v2/tickets/{ticket_id}.json",
        {
            "ticket": {
                "status": "pending",
                "priority": "high",
                "additional_tags": ["vip"],
                "custom_fields": [{"id": 380001, "value": "billing"}],
                "comment": {"body": "We are looking into it.", "public": False},
            }
        },
        headers=HELPDESK_AUTH,
    )
    invalid, _, refused = helpdesk_sandbox.request(
        "PUT", f"/api/v2/tickets/{ticket_id}.json", {"ticket": {"priority": "asap"}}, headers=HELPDESK_AUTH
    )
    helpdesk_sandbox.request(
        "PUT", f"/api/v2/tickets/{ticket_id}.json", {"ticket": {"status": "closed"}}, headers=HELPDESK_AUTH
    )
    closed, _, _ = helpdesk_sandbox.request(
        "PUT", f"/api/v2/tickets/{ticket_id}.json", {"ticket": {"status": "open"}}, headers=HELPDESK_AUTH
    )
    missing, _, _ = helpdesk_sandbox.request(
        "PUT", "/api/v2/tickets/999999.json", {"ticket": {"status": "open"}}, headers=HELPDESK_AUTH
    )

    assert status == 200
    ticket = updated["ticket"]
    assert (ticket["status"], ticket["priority"], ticket["tags"]) == ("pending", "high", ["vip"])
    assert {"id": 380001, "value": "billing"} in ticket["custom_fields"]
    kinds = [(e["type"], e.get("field_name"), e.get("body")) for e in updated["audit"]["events"]]
    assert ("Change", "status", None) in kinds and ("Comment", None, "We are looking into it.") in kinds
    assert invalid == 422 and "priority" in refused["details"]
    assert closed == 422 and missing == 404


# -- Pipedrive -------------------------------------------------------------------------------------


def test_pipedrive_person_changes_arrive_with_basic_auth_in_the_v1_shape(receiver: WebhookReceiver) -> None:
    sales = fresh("sales")
    status, _, webhook = sales.request(
        "POST",
        "/v1/webhooks",
        {
            "subscription_url": receiver.url(),
            "event_action": "*",
            "event_object": "person",
            "http_auth_user": "hub",
            "http_auth_password": "s3cret-pass",
        },
        headers=SALES_AUTH,
    )
    _, _, person = sales.request("POST", "/v1/persons", {"name": "Linus"}, headers=SALES_AUTH)
    person_id = person["data"]["id"]
    sales.request("PUT", f"/v1/persons/{person_id}", {"name": "Linus T."}, headers=SALES_AUTH)
    sales.request("DELETE", f"/v1/persons/{person_id}", headers=SALES_AUTH)
    sales.request("POST", "/v1/organizations", {"name": "Not subscribed"}, headers=SALES_AUTH)
    settle(sales)

    assert status == 201 and "http_auth_password" not in webhook["data"]
    events = []
    for delivery in receiver.deliveries:
        verify_basic_auth(delivery.headers, "hub", "s3cret-pass")
        events.append(parse_pipedrive(delivery.body))
    assert [(e.name, e.id) for e in events] == [
        ("added.person", str(person_id)),
        ("updated.person", str(person_id)),
        ("deleted.person", str(person_id)),
    ]
    assert events[0].previous is None and events[0].current is not None
    assert events[1].previous is not None and events[1].previous["name"] == "Linus"
    assert events[1].current is not None and events[1].current["name"] == "Linus T."
    assert events[2].current is None
    with pytest.raises(WebhookSignatureError):
        verify_basic_auth(receiver.last.headers, "hub", "another-pass")


# -- Mailchimp -------------------------------------------------------------------------------------


def test_mailchimp_checks_the_url_then_posts_form_encoded_member_events(receiver: WebhookReceiver) -> None:
    marketing = fresh("marketing")
    url = receiver.url("/hooks/in?secret=url-secret")
    status, _, webhook = marketing.request(
        "POST",
        f"/3.0/lists/{MARKETING_LIST_ID}/webhooks",
        {"url": url, "events": {"campaign": False}, "sources": {"api": True}},
        headers=MARKETING_AUTH,
    )
    _, _, member = marketing.request(
        "POST",
        f"/3.0/lists/{MARKETING_LIST_ID}/members",
        {"email_address": "mary@example.com", "status": "subscribed", "merge_fields": {"FNAME": "Mary"}},
        headers=MARKETING_AUTH,
    )
    base = f"/3.0/lists/{MARKETING_LIST_ID}/members/{member['id']}"
    marketing.request("PATCH", base, {"merge_fields": {"FNAME": "Maria"}}, headers=MARKETING_AUTH)
    marketing.request("PATCH", base, {"status": "unsubscribed"}, headers=MARKETING_AUTH)
    settle(marketing)

    assert status == 200 and webhook["url"] == url
    assert [v.method for v in receiver.validations] == ["GET"]
    events = []
    for delivery in receiver.deliveries:
        assert delivery.headers["Content-Type"] == "application/x-www-form-urlencoded"
        verify_url_secret(delivery.path.partition("?")[2], "url-secret")
        events.append(parse_form(delivery.body))
    assert [(e.type, e.email) for e in events] == [
        ("subscribe", "mary@example.com"),
        ("profile", "mary@example.com"),
        ("unsubscribe", "mary@example.com"),
    ]
    assert events[1].data["merges"]["FNAME"] == "Maria" and events[2].data["action"] == "unsub"
    with pytest.raises(WebhookSignatureError):
        verify_url_secret(dict(parse_qsl("secret=guessed")), "url-secret")


def test_mailchimp_refuses_a_webhook_whose_url_does_not_answer(receiver: WebhookReceiver) -> None:
    marketing = fresh("marketing")
    receiver.status = 404
    status, _, problem = marketing.request(
        "POST", f"/3.0/lists/{MARKETING_LIST_ID}/webhooks", {"url": receiver.url()}, headers=MARKETING_AUTH
    )
    _, _, listed = marketing.request(
        "GET", f"/3.0/lists/{MARKETING_LIST_ID}/webhooks", headers=MARKETING_AUTH
    )

    assert status == 400 and problem["errors"][0]["field"] == "url"
    assert listed["total_items"] == 0


def test_a_reset_forgets_subscriptions_and_nothing_more_is_delivered(receiver: WebhookReceiver) -> None:
    sales = fresh("sales")
    sales.request(
        "POST",
        "/v1/webhooks",
        {"subscription_url": receiver.url(), "event_action": "added", "event_object": "*"},
        headers=SALES_AUTH,
    )
    sales.reset(0)
    sales.request("POST", "/v1/persons", {"name": "After reset"}, headers=SALES_AUTH)
    log = settle(sales)

    assert log["attempts"] == [] and receiver.deliveries == []
    assert sales.request("GET", "/v1/webhooks", headers=SALES_AUTH)[2]["data"] == []
