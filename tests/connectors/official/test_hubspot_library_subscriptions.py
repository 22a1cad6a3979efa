"""App webhook subscriptions made with HubSpot's own library, and its v3 check of what the sandbox sends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.sandbox.crm_links import APP_ID
from connectors.sandbox.crm_webhooks import DEFAULT_DEVELOPER_KEY
from connectors.sandbox.oauth import DEFAULT_CLIENT_SECRET
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from tests.connectors.webhook_receiver import WebhookReceiver

hubspot = pytest.importorskip(
    "hubspot", reason="HubSpot's library is not installed (pip install hubspot-api-client)"
)
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate  # noqa: E402
from hubspot.utils.signature import Signature  # noqa: E402
from hubspot.webhooks import (  # noqa: E402
    SettingsChangeRequest,
    SubscriptionCreateRequest,
    ThrottlingSettings,
)


def library_check(delivered: Any, url: str, body: bytes | None = None) -> bool:
    return bool(
        Signature.is_valid(
            signature=delivered.headers["X-HubSpot-Signature-v3"],
            client_secret=DEFAULT_CLIENT_SECRET,
            request_body=(delivered.body if body is None else body).decode("utf-8"),
            http_uri=url,
            http_method="POST",
            signature_version="v3",
            timestamp=delivered.headers["X-HubSpot-Request-Timestamp"],
        )
    )


def test_subscriptions_made_by_the_library_bring_signed_contact_events(
    crm_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url("/hooks/hubspot?portal=7300001")
    developer = hubspot.HubSpot(api_key=DEFAULT_DEVELOPER_KEY, host=crm_sandbox.url)
    developer.webhooks.settings_api.configure(
        APP_ID,
        settings_change_request=SettingsChangeRequest(
            target_url=url, throttling=ThrottlingSettings(max_concurrent_requests=10)
        ),
    )
    for event_type, name in (("contact.creation", None), ("contact.propertyChange", "email")):
        developer.webhooks.subscriptions_api.create(
            APP_ID,
            subscription_create_request=SubscriptionCreateRequest(
                event_type=event_type, property_name=name, active=True
            ),
        )
    api = hubspot.HubSpot(access_token=CRM_TOKEN, host=crm_sandbox.url)
    contact = api.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "katherine@example.com"})
    )
    api.crm.contacts.basic_api.update(
        contact.id, SimplePublicObjectInput(properties={"email": "kj@example.com"})
    )
    assert crm_sandbox.admin("GET", "/webhooks/deliveries?wait=20")["idle"]

    assert [library_check(d, url) for d in webhook_receiver.deliveries] == [True, True]
    events = [e for d in webhook_receiver.deliveries for e in json.loads(d.body)]
    assert [(e["subscriptionType"], str(e["objectId"]), e.get("propertyValue")) for e in events] == [
        ("contact.creation", contact.id, None),
        ("contact.propertyChange", contact.id, "katherine@example.com"),
        ("contact.propertyChange", contact.id, "kj@example.com"),
    ]
    assert not library_check(webhook_receiver.last, url, webhook_receiver.last.body.replace(b"kj@", b"xx@"))
    listed = developer.webhooks.subscriptions_api.get_all(APP_ID)
    assert sorted(s.event_type for s in listed.results) == ["contact.creation", "contact.propertyChange"]
