"""The Stripe connector's particulars, over real HTTP against the billing sandbox (Stripe dialect)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from connectors.base import ConnectorError, WriteItem
from connectors.providers.stripe.client import flatten, form_pairs, search_literal
from connectors.providers.stripe.provider import StripeProvider
from connectors.providers.stripe.webhooks import signature_header, verify_signature
from connectors.registry import get_provider
from connectors.sandbox.billing import parse_form
from connectors.sandbox.testing import SandboxProcess
from connectors.webhooks import WebhookSignatureError
from tests.connectors import saas_clients
from tests.connectors.webhook_receiver import WebhookReceiver
from tests.saas_sandboxes import BILLING_WEBHOOK_SECRET


def all_records(client: Any, object_name: str, cursor: str | None = None) -> tuple[list[Any], str | None]:
    pages = list(client.list_changes(object_name, cursor, page_size=10))
    return [r for p in pages for r in p.records], pages[-1].cursor


def test_provider_declares_stripes_objects_limits_and_keys() -> None:
    assert get_provider("stripe") is StripeProvider
    assert StripeProvider.credential_fields == ("secret_key",)
    assert StripeProvider.capabilities["customers"].upsert_key == "email"
    assert StripeProvider.capabilities["invoices"].create is False
    assert StripeProvider.capabilities["payment_intents"].update is False
    assert StripeProvider.rate_limit is not None and StripeProvider.rate_limit.requests == 25


def test_a_full_read_is_newest_first_and_hands_over_to_the_event_stream(
    billing_sandbox: SandboxProcess,
) -> None:
    client = saas_clients.stripe(billing_sandbox)

    records, cursor = all_records(client, "customers")

    stored = billing_sandbox.records("customers")
    assert [r.id for r in records] == [c["id"] for c in reversed(stored)]
    assert records[0].fields["address.country"] == stored[-1]["address"]["country"]
    assert records[0].fields["metadata.tier"] == stored[-1]["metadata"]["tier"]
    assert json.loads(str(cursor))["phase"] == "events"


def test_changes_come_from_events_with_the_latest_snapshot_once(billing_sandbox: SandboxProcess) -> None:
    client = saas_clients.stripe(billing_sandbox)
    _, cursor = all_records(client, "customers")
    target = billing_sandbox.records("customers")[4]["id"]

    billing_sandbox.admin("PATCH", f"/records/customers/{target}", {"name": "First"})
    billing_sandbox.admin("PATCH", f"/records/customers/{target}", {"name": "Second"})
    changed, next_cursor = all_records(client, "customers", cursor)

    assert [(r.id, r.fields["name"]) for r in changed] == [(target, "Second")]
    assert json.loads(str(next_cursor))["after_event"].startswith("evt_")
    # Once anchored on an event, an idle read is one request.
    requests = client.http.stats.requests
    assert all_records(client, "customers", next_cursor)[0] == []
    assert client.http.stats.requests - requests == 1


def test_records_changed_during_a_full_read_come_through_the_events(billing_sandbox: SandboxProcess) -> None:
    client = saas_clients.stripe(billing_sandbox)
    pages = client.list_changes("customers", None, page_size=10)
    first = next(pages)
    created = client.upsert_batch(
        "customers", [WriteItem("k", {"email": "late@example.com"})], match_field="email"
    )
    rest = list(pages)

    changed, _ = all_records(client, "customers", rest[-1].cursor)

    assert created[0].target_id not in {r.id for p in [first, *rest] for r in p.records}
    assert created[0].target_id in {r.id for r in changed}


def test_a_cursor_whose_event_stripe_no_longer_keeps_reads_everything_again(
    billing_sandbox: SandboxProcess,
) -> None:
    client = saas_clients.stripe(billing_sandbox)
    gone = json.dumps({"phase": "events", "after_event": "evt_0000000000000A"})

    records, cursor = all_records(client, "customers", gone)

    assert {r.id for r in records} == {c["id"] for c in billing_sandbox.records("customers")}
    assert json.loads(str(cursor))["phase"] == "events"


def test_invoice_and_payment_intent_changes_follow_their_own_events(billing_sandbox: SandboxProcess) -> None:
    client = saas_clients.stripe(billing_sandbox)
    _, invoices_cursor = all_records(client, "invoices")
    _, intents_cursor = all_records(client, "payment_intents")
    invoice = next(i for i in billing_sandbox.records("invoices") if i["status"] == "open")
    intent = next(
        p for p in billing_sandbox.records("payment_intents") if p["status"] == "requires_payment_method"
    )

    billing_sandbox.admin(
        "PATCH",
        f"/records/invoices/{invoice['id']}",
        {"status": "paid", "amount_paid": invoice["amount_due"]},
    )
    billing_sandbox.admin("PATCH", f"/records/payment_intents/{intent['id']}", {"status": "succeeded"})
    invoices, _ = all_records(client, "invoices", invoices_cursor)
    intents, _ = all_records(client, "payment_intents", intents_cursor)

    assert [(r.id, r.fields["status"]) for r in invoices] == [(invoice["id"], "paid")]
    assert [(r.id, r.fields["status"]) for r in intents] == [(intent["id"], "succeeded")]
    assert invoices[0].fields["created"].endswith("Z") and isinstance(invoices[0].fields["lines"], list)


def test_schema_offers_metadata_keys_in_use_as_custom_fields(billing_sandbox: SandboxProcess) -> None:
    client = saas_clients.stripe(billing_sandbox)

    customers = client.discover_schema("customers")
    invoices = client.discover_schema("invoices")

    tier = customers.field("metadata.tier")
    assert tier is not None and tier.custom and not tier.read_only
    assert [o.value for o in (customers.field("tax_exempt") or tier).options] == ["none", "exempt", "reverse"]
    assert all(f.read_only for f in invoices.fields)


def test_upsert_finds_the_oldest_customer_among_duplicates_by_email(billing_sandbox: SandboxProcess) -> None:
    older = billing_sandbox.admin(
        "POST", "/records/customers", {"email": "Twin@example.com", "name": "Older"}
    )
    billing_sandbox.admin("POST", "/records/customers", {"email": "twin@example.com", "name": "Newer"})
    client = saas_clients.stripe(billing_sandbox)

    [result] = client.upsert_batch(
        "customers", [WriteItem("k", {"email": "twin@example.com", "phone": "+44 1"})], match_field="email"
    )

    assert result.ok and result.action == "updated" and result.target_id == older["id"]


def test_a_create_carries_an_idempotency_key(billing_sandbox: SandboxProcess) -> None:
    client = saas_clients.stripe(billing_sandbox)

    [result] = client.upsert_batch(
        "customers", [WriteItem("k", {"email": "keyed@example.com"})], match_field="email"
    )

    status, _, events = billing_sandbox.request(
        "GET",
        "/v1/events?type=customer.created",
        headers={"Authorization": f"Bearer {saas_clients.BILLING_KEY}"},
    )
    assert status == 200 and events["data"][0]["data"]["object"]["id"] == result.target_id
    assert events["data"][0]["request"]["idempotency_key"]


def test_nested_fields_are_sent_in_stripes_bracket_notation_and_null_unsets(
    billing_sandbox: SandboxProcess,
) -> None:
    client = saas_clients.stripe(billing_sandbox)
    target = billing_sandbox.records("customers")[0]

    [result] = client.upsert_batch(
        "customers",
        [
            WriteItem(
                "k",
                {"address.city": "Oslo", "metadata.tier": None, "metadata.plan": "pro", "description": None},
                target_id=target["id"],
            )
        ],
        match_field="email",
    )

    stored = next(c for c in billing_sandbox.records("customers") if c["id"] == target["id"])
    assert result.ok and stored["address"]["city"] == "Oslo"
    assert stored["metadata"].get("tier") is None and stored["metadata"]["plan"] == "pro"
    assert stored["description"] is None


def test_writes_stripe_cannot_take_fail_with_a_reason_and_no_request(billing_sandbox: SandboxProcess) -> None:
    client = saas_clients.stripe(billing_sandbox)

    invoice = client.upsert_batch("invoices", [WriteItem("i", {"description": "x"})], match_field="email")
    by_name = client.upsert_batch("customers", [WriteItem("n", {"name": "X"})], match_field="name")
    no_email = client.upsert_batch("customers", [WriteItem("e", {"name": "X"})], match_field="email")

    assert invoice[0].error is not None and "read-only" in invoice[0].error
    assert by_name[0].error is not None and "only be matched on email" in by_name[0].error
    assert no_email[0].error is not None and "No email" in no_email[0].error
    assert client.http.stats.requests == 0


def test_an_unknown_field_is_refused_with_stripes_message(billing_sandbox: SandboxProcess) -> None:
    client = saas_clients.stripe(billing_sandbox)

    [result] = client.upsert_batch(
        "customers",
        [WriteItem("k", {"email": "x@example.com", "favourite_colour": "red"})],
        match_field="email",
    )

    assert result.ok is False and result.error == "Received unknown parameter: favourite_colour"


def test_a_cursor_that_is_not_ours_is_refused(billing_sandbox: SandboxProcess) -> None:
    with pytest.raises(ConnectorError, match="Not a Stripe cursor"):
        list(saas_clients.stripe(billing_sandbox).list_changes("customers", '{"phase":"moon"}'))


# -- pure helpers -------------------------------------------------------------------------------------


def test_form_encoding_round_trips_through_stripes_parser() -> None:
    fields = {
        "email": "a@b.co",
        "metadata.tier": "gold",
        "address.city": "Rome",
        "preferred_locales": ["it", "en"],
        "vip": True,
        "phone": None,
    }

    parsed = parse_form(form_pairs(fields))

    assert parsed == {
        "email": "a@b.co",
        "metadata": {"tier": "gold"},
        "address": {"city": "Rome"},
        "preferred_locales": ["it", "en"],
        "vip": "true",
        "phone": "",
    }


def test_flatten_and_search_literals() -> None:
    flat = flatten(
        {"id": "cus_1", "object": "customer", "created": 0, "metadata": {"k": "v"}, "address": None}
    )

    assert flat["created"] == "1970-01-01T00:00:00Z" and flat["metadata.k"] == "v"
    assert flat["address.city"] is None and "object" not in flat
    assert search_literal("o'brien@x.io") == "'o\\'brien@x.io'"


def test_our_signature_check_takes_any_rolled_secret_and_refuses_what_stripe_would() -> None:
    body = json.dumps({"id": "evt_1", "object": "event"}).encode()
    now = time.time()
    current = signature_header("whsec_new", int(now), body)
    both = f"{current},v1={signature_header('whsec_old', int(now), body).split('v1=')[1]}"

    assert verify_signature({"stripe-signature": both}, body, "whsec_old", now=now)["id"] == "evt_1"
    for headers, reason in (
        ({}, "no Stripe-Signature"),
        ({"Stripe-Signature": f"t={int(now)}"}, "no v1"),
        ({"Stripe-Signature": current}, "No Stripe signature matches"),
        ({"Stripe-Signature": signature_header("whsec_old", int(now) - 301, body)}, r"\d+ s old"),
    ):
        with pytest.raises(WebhookSignatureError, match=reason):
            verify_signature(headers, body, "whsec_old", now=now)


def test_a_delivery_to_a_receiver_that_fails_is_reported_by_the_sandbox(
    billing_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    saas_clients.stripe(billing_sandbox).upsert_batch(
        "customers", [WriteItem("k", {"email": "r@example.com"})], match_field="email"
    )
    webhook_receiver.status = 500

    report = billing_sandbox.admin("POST", "/webhooks/deliver", {"url": webhook_receiver.url()})

    assert report["ok"] is False and report["status"] == 500
    assert (
        verify_signature(webhook_receiver.last.headers, webhook_receiver.last.body, BILLING_WEBHOOK_SECRET)[
            "type"
        ]
        == "customer.created"
    )
