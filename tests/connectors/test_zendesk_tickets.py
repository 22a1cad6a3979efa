"""Zendesk tickets and webhook signatures, against the helpdesk sandbox (Zendesk dialect)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.base import WriteItem
from connectors.providers.zendesk.provider import ZendeskProvider
from connectors.providers.zendesk.tickets import ticket_payload
from connectors.providers.zendesk.webhooks import signature, verify_signature
from connectors.sandbox.helpdesk_tickets import DEFAULT_WEBHOOK_SECRET
from connectors.sandbox.testing import HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess
from connectors.webhooks import WebhookSignatureError
from tests.connectors.saas_clients import connect
from tests.connectors.webhook_receiver import WebhookReceiver


@pytest.fixture
def helpdesk(helpdesk_sandbox: SandboxProcess) -> SandboxProcess:
    helpdesk_sandbox.reset(40)
    return helpdesk_sandbox


def zendesk(sandbox: SandboxProcess) -> Any:
    return connect(
        "zendesk", {"base_url": sandbox.url, "email": HELPDESK_EMAIL}, {"api_token": HELPDESK_TOKEN}
    )


def test_tickets_are_read_created_and_updated_by_id_but_never_upserted() -> None:
    capabilities = ZendeskProvider.capabilities["tickets"]
    assert capabilities.read and capabilities.create and capabilities.update
    assert capabilities.upsert_key is None and capabilities.webhooks


def test_a_linked_ticket_is_updated_by_id_and_a_closed_one_refuses_with_zendesks_words(
    helpdesk: SandboxProcess,
) -> None:
    client = zendesk(helpdesk)
    known = helpdesk.records("users")[0]
    created = client.upsert_batch(
        "tickets",
        [WriteItem("a", {"subject": "Printer", "description": "Jammed", "requester_email": known["email"]})],
        match_field="",
    )[0]
    assert created.ok and created.target_id

    updated = client.upsert_batch(
        "tickets",
        [WriteItem("a", {"status": "solved", "priority": "high"}, target_id=created.target_id)],
        match_field="",
    )[0]
    ticket = next(t for t in helpdesk.records("tickets") if str(t["id"]) == created.target_id)
    closed = client.upsert_batch(
        "tickets", [WriteItem("a", {"status": "closed"}, target_id=created.target_id)], match_field=""
    )[0]
    after_close = client.upsert_batch(
        "tickets", [WriteItem("a", {"subject": "Reopen?"}, target_id=created.target_id)], match_field=""
    )[0]

    assert updated.ok and updated.target_id == created.target_id
    assert (ticket["status"], ticket["priority"]) == ("solved", "high")
    assert closed.ok
    assert not after_close.ok and after_close.error


def test_schema_lists_ticket_fields_by_id_without_the_system_ones(helpdesk: SandboxProcess) -> None:
    schema = zendesk(helpdesk).discover_schema("tickets")

    custom = [f for f in schema.fields if f.custom]
    assert [f.name for f in custom] == [
        "custom_fields.380001",
        "custom_fields.380002",
        "custom_fields.380003",
    ]
    assert [o.value for o in custom[0].options] == ["reporting", "integrations", "billing", "mobile"]
    status = schema.field("status")
    assert status is not None and not status.custom and len(status.options) == 6


def test_tickets_are_exported_in_full_and_by_change(helpdesk: SandboxProcess) -> None:
    client = zendesk(helpdesk)
    pages = list(client.list_changes("tickets", None, page_size=4))
    ticket = helpdesk.records("tickets")[0]

    helpdesk.admin("PATCH", f"/records/tickets/{ticket['id']}", {"status": "solved"})
    changed = [r for p in client.list_changes("tickets", pages[-1].cursor) for r in p.records]

    assert {r.id for p in pages for r in p.records} == {str(t["id"]) for t in helpdesk.records("tickets")}
    assert [(r.id, r.fields["status"]) for r in changed] == [(str(ticket["id"]), "solved")]
    assert changed[0].fields["custom_fields.380001"] == ticket["custom_fields"][0]["value"]


def test_tickets_are_created_in_bulk_with_requesters_by_email(helpdesk: SandboxProcess) -> None:
    client = zendesk(helpdesk)
    known = helpdesk.records("users")[0]

    results = client.upsert_batch(
        "tickets",
        [
            WriteItem(
                "a",
                {"subject": "Known", "description": "From a known user", "requester_email": known["email"]},
            ),
            WriteItem(
                "b",
                {
                    "subject": "New",
                    "description": "From someone new",
                    "requester_email": "new@example.com",
                    "requester_name": "New Person",
                },
            ),
            WriteItem("c", {"subject": "Empty"}),
            WriteItem("d", {"description": "x", "custom_fields.380001": "kitchen"}),
        ],
        match_field="",
    )

    assert [r.ok for r in results] == [True, True, False, False]
    assert results[2].error == "Description: cannot be blank"
    assert results[3].error == "Product area: kitchen is not a valid option"
    tickets = {str(t["id"]): t for t in helpdesk.records("tickets")}
    assert tickets[str(results[0].target_id)]["requester_id"] == known["id"]
    new_user = next(u for u in helpdesk.records("users") if u["email"] == "new@example.com")
    assert (
        new_user["name"] == "New Person"
        and tickets[str(results[1].target_id)]["requester_id"] == new_user["id"]
    )
    assert helpdesk.stats()["requests"]["POST /api/v2/tickets/create_many.json"] == 1


def test_ticket_payload_turns_record_fields_into_zendesks_create_body() -> None:
    payload = ticket_payload(
        {
            "subject": "S",
            "description": "D",
            "requester_email": "a@b.co",
            "custom_fields.380001": "billing",
            "id": "7",
        }
    )

    assert payload == {
        "subject": "S",
        "comment": {"body": "D", "public": True},
        "requester": {"email": "a@b.co"},
        "custom_fields": [{"id": 380001, "value": "billing"}],
    }


def test_a_delivered_webhook_verifies_with_the_signing_secret(
    helpdesk: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    report = helpdesk.admin(
        "POST", "/webhooks/deliver", {"url": webhook_receiver.url(), "type": "ticket.status_changed"}
    )
    delivered = webhook_receiver.last

    assert report["ok"] is True and b"zen:event-type:ticket.status_changed" in delivered.body
    verify_signature(delivered.headers, delivered.body, DEFAULT_WEBHOOK_SECRET)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_signature(delivered.headers, delivered.body + b" ", DEFAULT_WEBHOOK_SECRET)


def test_stale_or_unsigned_deliveries_are_refused() -> None:
    now = time.time()
    body = b"{}"
    stale = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 600))
    headers = {
        "X-Zendesk-Webhook-Signature": signature("s", stale, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stale,
    }

    with pytest.raises(WebhookSignatureError, match=r"\d+ s old"):
        verify_signature(headers, body, "s", now=now)
    with pytest.raises(WebhookSignatureError, match="no X-Zendesk-Webhook-Signature header"):
        verify_signature({}, body, "s", now=now)
    with pytest.raises(WebhookSignatureError, match="not an ISO 8601 time"):
        verify_signature(
            {**headers, "X-Zendesk-Webhook-Signature-Timestamp": "yesterday"}, body, "s", now=now
        )
