"""The billing sandbox driven by Stripe's own Python library: if `stripe` works against it, so do we."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.providers.stripe.webhooks import verify_signature
from connectors.sandbox.testing import SandboxProcess
from connectors.webhooks import WebhookSignatureError
from tests.connectors.webhook_receiver import WebhookReceiver
from tests.saas_sandboxes import BILLING_KEY, BILLING_WEBHOOK_SECRET

stripe = pytest.importorskip("stripe", reason="Stripe's library is not installed (pip install stripe)")


@pytest.fixture
def client(billing_sandbox: SandboxProcess) -> Any:
    # No retries in the library: a failure must show, not be papered over.
    return stripe.StripeClient(
        BILLING_KEY, base_addresses={"api": billing_sandbox.url}, max_network_retries=0
    )


def test_the_library_pages_through_every_customer_newest_first(
    client: Any, billing_sandbox: SandboxProcess
) -> None:
    listed = [c.id for c in client.v1.customers.list(params={"limit": 7}).auto_paging_iter()]

    stored = [c["id"] for c in billing_sandbox.records("customers")]
    assert listed == list(reversed(stored))
    assert len(listed) == 30


def test_the_library_creates_updates_and_finds_a_customer(client: Any) -> None:
    created = client.v1.customers.create(
        params={
            "email": "ada@example.com",
            "name": "Ada",
            "metadata": {"tier": "gold"},
            "address": {"city": "London"},
        }
    )
    updated = client.v1.customers.update(
        created.id, params={"name": "Ada Lovelace", "metadata": {"tier": ""}}
    )
    found = client.v1.customers.search(params={"query": "email:'ADA@example.com'"})

    assert created.id.startswith("cus_") and created.metadata["tier"] == "gold"
    assert created.address.city == "London"
    assert updated.name == "Ada Lovelace" and updated.metadata.to_dict() == {}
    assert [c.id for c in found.data] == [created.id]


def test_the_library_sees_validation_errors_as_stripe_reports_them(client: Any) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.create(params={"email": "not-an-email"})

    assert caught.value.http_status == 400
    assert caught.value.code == "email_invalid" and caught.value.param == "email"
    assert caught.value.user_message == "Invalid email address: not-an-email"


def test_the_library_sees_a_wrong_key_as_an_authentication_error(billing_sandbox: SandboxProcess) -> None:
    wrong = stripe.StripeClient("sk_test_not_the_key", base_addresses={"api": billing_sandbox.url})

    with pytest.raises(stripe.AuthenticationError) as caught:
        wrong.v1.customers.list()

    assert "Invalid API Key provided" in str(caught.value.user_message)
    assert "not_the_key" not in str(caught.value.user_message)


def test_the_library_reads_invoices_payment_intents_and_events(client: Any) -> None:
    invoice = client.v1.invoices.list(params={"limit": 1}).data[0]
    intent = client.v1.payment_intents.list(params={"limit": 1}).data[0]
    customer = client.v1.customers.create(params={"email": "events@example.com"})
    client.v1.customers.update(customer.id, params={"name": "Evented"})

    events = client.v1.events.list(params={"type": "customer.*"}).data

    assert client.v1.invoices.retrieve(invoice.id).customer == invoice.customer
    assert client.v1.payment_intents.retrieve(intent.id).status == intent.status
    assert [e.type for e in events] == ["customer.updated", "customer.created"]
    assert events[0].data.object.name == "Evented"
    assert events[0].data.previous_attributes.to_dict() == {"name": None}


def test_a_repeated_idempotency_key_creates_one_customer(
    client: Any, billing_sandbox: SandboxProcess
) -> None:
    before = len(billing_sandbox.records("customers"))

    first = client.v1.customers.create(
        params={"email": "once@example.com"}, options={"idempotency_key": "k-1"}
    )
    second = client.v1.customers.create(
        params={"email": "once@example.com"}, options={"idempotency_key": "k-1"}
    )

    assert first.id == second.id
    assert len(billing_sandbox.records("customers")) == before + 1


def test_a_delivered_event_passes_the_librarys_signature_check(
    client: Any, billing_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    customer = client.v1.customers.create(params={"email": "hook@example.com"})

    billing_sandbox.admin("POST", "/webhooks/deliver", {"url": webhook_receiver.url()})
    delivered = webhook_receiver.last
    header = delivered.headers["Stripe-Signature"]

    event = stripe.Webhook.construct_event(delivered.body, header, BILLING_WEBHOOK_SECRET)
    assert event.type == "customer.created" and event.data.object.id == customer.id
    # Our own check agrees with the library's.
    assert verify_signature(delivered.headers, delivered.body, BILLING_WEBHOOK_SECRET)["id"] == event.id


def test_a_tampered_or_stale_delivery_fails_the_librarys_check_and_ours(
    client: Any, billing_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    client.v1.customers.create(params={"email": "stale@example.com"})
    stale = int(time.time()) - 3600
    billing_sandbox.admin("POST", "/webhooks/deliver", {"url": webhook_receiver.url(), "timestamp": stale})
    old = webhook_receiver.last
    billing_sandbox.admin("POST", "/webhooks/deliver", {"url": webhook_receiver.url()})
    fresh = webhook_receiver.last
    tampered = fresh.body.replace(b"stale@example.com", b"evil@example.com")

    for body, header in (
        (old.body, old.headers["Stripe-Signature"]),
        (tampered, fresh.headers["Stripe-Signature"]),
    ):
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, header, BILLING_WEBHOOK_SECRET)
        with pytest.raises(WebhookSignatureError):
            verify_signature({"Stripe-Signature": header}, body, BILLING_WEBHOOK_SECRET)
