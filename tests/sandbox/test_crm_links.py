"""The CRM sandbox's deals, tickets, pipelines, v4 associations and signed webhooks (HubSpot dialect)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator

import pytest

from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from tests.connectors.webhook_receiver import WebhookReceiver

AUTH = {"Authorization": f"Bearer {CRM_TOKEN}"}


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def test_pipelines_list_their_stages(crm_sandbox: SandboxProcess) -> None:
    _, _, deals = crm_sandbox.request("GET", "/crm/v3/pipelines/deals", headers=AUTH)
    _, _, stages = crm_sandbox.request("GET", "/crm/v3/pipelines/0-5/0/stages", headers=AUTH)
    status, _, missing = crm_sandbox.request("GET", "/crm/v3/pipelines/deals/nope", headers=AUTH)

    sales = deals["results"][0]
    assert sales["id"] == "default" and sales["stages"][0]["metadata"] == {
        "isClosed": "false",
        "probability": "0.2",
    }
    assert [s["metadata"]["ticketState"] for s in stages["results"]] == ["OPEN", "OPEN", "OPEN", "CLOSED"]
    assert status == 404 and missing["category"] == "OBJECT_NOT_FOUND"


def test_deal_stage_must_be_one_of_the_pipeline_stages(crm_sandbox: SandboxProcess) -> None:
    ok = crm_sandbox.request(
        "POST",
        "/crm/v3/objects/deals",
        {"properties": {"dealname": "X", "dealstage": "contractsent"}},
        headers=AUTH,
    )
    bad = crm_sandbox.request(
        "POST", "/crm/v3/objects/deals", {"properties": {"dealname": "X", "dealstage": "won"}}, headers=AUTH
    )

    assert ok[0] == 201 and ok[2]["properties"]["dealstage"] == "contractsent"
    assert bad[0] == 400 and bad[2]["errors"][0]["code"] == "INVALID_OPTION"


def test_default_associations_go_both_ways(crm_sandbox: SandboxProcess) -> None:
    deal = crm_sandbox.records("deals")[0]["id"]
    company = crm_sandbox.records("companies")[0]["id"]

    status, _, created = crm_sandbox.request(
        "PUT", f"/crm/v4/objects/deal/{deal}/associations/default/0-2/{company}", headers=AUTH
    )
    _, _, from_company = crm_sandbox.request(
        "GET", f"/crm/v4/objects/companies/{company}/associations/deals", headers=AUTH
    )

    assert status == 200 and created["status"] == "COMPLETE"
    assert [r["associationSpec"]["associationTypeId"] for r in created["results"]] == [341, 342]
    assert {
        "toObjectId": int(deal),
        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 342, "label": None}],
    } in from_company["results"]


def test_batch_read_answers_207_for_ids_that_do_not_exist(crm_sandbox: SandboxProcess) -> None:
    deal = crm_sandbox.records("deals")[0]["id"]

    status, _, body = crm_sandbox.request(
        "POST",
        "/crm/v4/associations/deals/contacts/batch/read",
        {"inputs": [{"id": deal}, {"id": "1"}]},
        headers=AUTH,
    )

    assert status == 207 and body["numErrors"] == 1 and body["errors"][0]["context"] == {"ids": ["1"]}
    assert body["results"][0]["from"] == {"id": deal} and body["results"][0]["to"]


def test_removing_an_association_removes_both_directions(crm_sandbox: SandboxProcess) -> None:
    deal = crm_sandbox.records("deals")[0]["id"]
    _, _, linked = crm_sandbox.request(
        "GET", f"/crm/v4/objects/deals/{deal}/associations/contacts", headers=AUTH
    )
    contact = linked["results"][0]["toObjectId"]

    status, _, _ = crm_sandbox.request(
        "DELETE", f"/crm/v4/objects/deals/{deal}/associations/contacts/{contact}", headers=AUTH
    )
    _, _, back = crm_sandbox.request(
        "GET", f"/crm/v4/objects/contacts/{contact}/associations/deals", headers=AUTH
    )

    assert status == 204 and int(deal) not in {r["toObjectId"] for r in back["results"]}


def test_associating_unrelated_or_missing_records_is_refused(crm_sandbox: SandboxProcess) -> None:
    deal = crm_sandbox.records("deals")[0]["id"]

    same = crm_sandbox.request(
        "PUT", f"/crm/v4/objects/deals/{deal}/associations/default/deals/{deal}", headers=AUTH
    )
    missing = crm_sandbox.request(
        "PUT", f"/crm/v4/objects/deals/{deal}/associations/default/contacts/1", headers=AUTH
    )

    assert same[0] == 400 and "no default association" in same[2]["message"]
    assert missing[0] == 404 and missing[2]["category"] == "OBJECT_NOT_FOUND"


def test_webhook_deliveries_carry_hubspots_v3_headers(
    crm_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url("/hook?source=crm%3Acontacts")
    contact = crm_sandbox.records("contacts")[0]

    crm_sandbox.admin(
        "POST",
        "/webhooks/deliver",
        {
            "url": url,
            "secret": "app-secret",
            "events": [
                {
                    "subscriptionType": "contact.propertyChange",
                    "objectId": int(contact["id"]),
                    "propertyName": "email",
                }
            ],
        },
    )
    delivered = webhook_receiver.last
    stamp = delivered.headers["X-HubSpot-Request-Timestamp"]

    expected = base64.b64encode(
        hmac.new(
            b"app-secret",
            # HubSpot signs the URI with %3A and the like decoded.
            b"POST" + url.replace("%3A", ":").encode() + delivered.body + stamp.encode(),
            hashlib.sha256,
        ).digest()
    ).decode()
    assert delivered.headers["X-HubSpot-Signature-v3"] == expected
    assert b'"propertyValue":"' + contact["properties"]["email"].encode() + b'"' in delivered.body
