"""Webhook endpoints made with Stripe's own library, and the library's check of what the sandbox then sends."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sandbox.testing import SandboxProcess
from tests.connectors.webhook_receiver import WebhookReceiver
from tests.saas_sandboxes import BILLING_KEY

stripe = pytest.importorskip("stripe", reason="Stripe's library is not installed (pip install stripe)")


@pytest.fixture
def client(billing_sandbox: SandboxProcess) -> Any:
    return stripe.StripeClient(
        BILLING_KEY, base_addresses={"api": billing_sandbox.url}, max_network_retries=0
    )


def test_events_of_an_endpoint_made_by_the_library_pass_its_signature_check(
    client: Any, billing_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": webhook_receiver.url(), "enabled_events": ["customer.created", "customer.deleted"]}
    )
    customer = client.v1.customers.create(params={"email": "hedy@example.com", "name": "Hedy"})
    client.v1.customers.update(customer.id, params={"name": "Hedy Lamarr"})  # not enabled: not sent
    client.v1.customers.delete(customer.id)
    assert billing_sandbox.admin("GET", "/webhooks/deliveries?wait=20")["idle"]

    events = [
        stripe.Webhook.construct_event(d.body, d.headers["Stripe-Signature"], endpoint.secret)
        for d in webhook_receiver.deliveries
    ]
    assert endpoint.id.startswith("we_") and endpoint.secret.startswith("whsec_")
    assert [(e.type, e.data.object.id) for e in events] == [
        ("customer.created", customer.id),
        ("customer.deleted", customer.id),
    ]
    listed = client.v1.webhook_endpoints.list()
    assert [e.id for e in listed.data] == [endpoint.id]


def test_the_library_refuses_a_tampered_delivery_or_another_endpoints_secret(
    client: Any, billing_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": webhook_receiver.url(), "enabled_events": ["*"]}
    )
    other = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/", "enabled_events": ["*"]})
    client.v1.webhook_endpoints.delete(other.id)
    client.v1.customers.create(params={"email": "grace@example.com"})
    assert billing_sandbox.admin("GET", "/webhooks/deliveries?wait=20")["idle"]

    delivered = webhook_receiver.last
    header = delivered.headers["Stripe-Signature"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivered.body.replace(b"grace", b"mallory"), header, endpoint.secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivered.body, header, other.secret)
