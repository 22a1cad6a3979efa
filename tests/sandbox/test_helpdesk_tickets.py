"""The helpdesk sandbox's tickets and webhook deliveries (Zendesk dialect), over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.sandbox.helpdesk_tickets import DEFAULT_WEBHOOK_SECRET
from connectors.sandbox.testing import HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess
from tests.connectors.webhook_receiver import WebhookReceiver

AUTH = {
    "Authorization": "Basic " + base64.b64encode(f"{HELPDESK_EMAIL}/token:{HELPDESK_TOKEN}".encode()).decode()
}


@pytest.fixture
def helpdesk(helpdesk_sandbox: SandboxProcess) -> SandboxProcess:
    helpdesk_sandbox.reset(40)
    return helpdesk_sandbox


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def call(sb: SandboxProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, data = sb.request(method, path, body, headers=AUTH)
    return status, data


def test_a_ticket_is_created_with_its_first_comment_and_an_audit(helpdesk: SandboxProcess) -> None:
    user = helpdesk.records("users")[0]

    status, body = call(
        helpdesk,
        "POST",
        "/api/v2/tickets.json",
        {
            "ticket": {
                "comment": {"body": "It broke\nDetails"},
                "requester_id": user["id"],
                "priority": "high",
            }
        },
    )

    ticket = body["ticket"]
    assert status == 201 and ticket["description"] == "It broke\nDetails" and ticket["subject"] == "It broke"
    assert ticket["requester_id"] == user["id"] and ticket["organization_id"] == user["organization_id"]
    assert body["audit"]["events"][0]["type"] == "Comment"
    assert [f["id"] for f in ticket["custom_fields"]] == [380001, 380002, 380003]


def test_invalid_tickets_are_422_with_zendesk_details(helpdesk: SandboxProcess) -> None:
    status, body = call(
        helpdesk,
        "POST",
        "/api/v2/tickets.json",
        {"ticket": {"subject": "x", "priority": "asap", "requester_id": 5}},
    )

    assert status == 422 and body["error"] == "RecordInvalid"
    assert set(body["details"]) == {"description", "priority", "requester"}


def test_the_ticket_export_resumes_from_its_cursor(helpdesk: SandboxProcess) -> None:
    _, first = call(helpdesk, "GET", "/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=5")
    _, rest = call(helpdesk, "GET", f"/api/v2/incremental/tickets/cursor.json?cursor={first['after_cursor']}")

    ids = [t["id"] for t in first["tickets"] + rest["tickets"]]
    assert first["end_of_stream"] is False and rest["end_of_stream"] is True
    assert sorted(ids) == sorted(t["id"] for t in helpdesk.records("tickets"))


def test_ticket_fields_include_system_and_custom_fields(helpdesk: SandboxProcess) -> None:
    _, body = call(helpdesk, "GET", "/api/v2/ticket_fields.json")

    by_type = {f["type"]: f for f in body["ticket_fields"]}
    assert by_type["status"]["removable"] is False and len(by_type["status"]["system_field_options"]) == 6
    assert (
        by_type["tagger"]["removable"] is True
        and by_type["tagger"]["custom_field_options"][0]["value"] == "reporting"
    )


def test_list_pages_with_cursors(helpdesk: SandboxProcess) -> None:
    _, first = call(helpdesk, "GET", "/api/v2/tickets.json?page[size]=3")
    _, second = call(
        helpdesk, "GET", f"/api/v2/tickets.json?page[size]=3&page[after]={first['meta']['after_cursor']}"
    )

    assert first["meta"]["has_more"] is True and first["links"]["next"]
    assert first["tickets"][-1]["id"] < second["tickets"][0]["id"]


def test_webhooks_are_signed_over_timestamp_and_body(
    helpdesk: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    ticket = helpdesk.records("tickets")[0]

    helpdesk.admin("POST", "/webhooks/deliver", {"url": webhook_receiver.url(), "ticket": ticket["id"]})
    delivered = webhook_receiver.last
    stamp = delivered.headers["X-Zendesk-Webhook-Signature-Timestamp"]

    expected = base64.b64encode(
        hmac.new(DEFAULT_WEBHOOK_SECRET.encode(), stamp.encode() + delivered.body, hashlib.sha256).digest()
    ).decode()
    assert delivered.headers["X-Zendesk-Webhook-Signature"] == expected
    assert f'"subject":"zen:ticket:{ticket["id"]}"'.encode() in delivered.body
