"""HubSpot deals, tickets, associations and webhook signatures, against the CRM sandbox."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.base import WriteItem
from connectors.providers.hubspot.provider import HubSpotProvider
from connectors.providers.hubspot.webhooks import canonical_uri, signature_v3, verify_signature
from connectors.sandbox.oauth import DEFAULT_CLIENT_SECRET
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from connectors.webhooks import WebhookSignatureError
from tests.connectors.saas_clients import connect
from tests.connectors.webhook_receiver import WebhookReceiver


def hubspot(sandbox: SandboxProcess) -> Any:
    return connect("hubspot", {"base_url": sandbox.url}, {"access_token": CRM_TOKEN})


def test_deals_and_tickets_are_objects_without_a_natural_key() -> None:
    for name in ("deals", "tickets"):
        assert name in HubSpotProvider.objects
        assert HubSpotProvider.capabilities[name].upsert_key is None
        assert HubSpotProvider.capabilities[name].webhooks is True
    assert "crm.objects.deals.read" in (HubSpotProvider.oauth.scopes if HubSpotProvider.oauth else ())


def test_stage_picklists_name_their_pipeline(crm_sandbox: SandboxProcess) -> None:
    client = hubspot(crm_sandbox)

    deals = client.discover_schema("deals")
    tickets = client.discover_schema("tickets")

    stage = deals.field("dealstage")
    assert stage is not None and stage.type == "enumeration"
    assert ("closedwon", "Sales Pipeline: Closed Won") in [(o.value, o.label) for o in stage.options]
    assert ("75318645", "Renewals: Renewed") in [(o.value, o.label) for o in stage.options]
    pipeline = deals.field("pipeline")
    assert pipeline is not None and [o.label for o in pipeline.options] == ["Sales Pipeline", "Renewals"]
    ticket_stage = tickets.field("hs_pipeline_stage")
    assert ticket_stage is not None and ticket_stage.options[0].label == "Support Pipeline: New"
    source = deals.field("deal_source")
    assert source is not None and source.custom


def test_deals_are_read_in_full_and_then_by_change(crm_sandbox: SandboxProcess) -> None:
    client = hubspot(crm_sandbox)
    pages = list(client.list_changes("deals", None, page_size=2))
    deal = crm_sandbox.records("deals")[1]

    crm_sandbox.admin("PATCH", f"/records/deals/{deal['id']}", {"properties": {"dealstage": "closedwon"}})
    changed = [r for p in client.list_changes("deals", pages[-1].cursor) for r in p.records]

    assert {r.id for p in pages for r in p.records} == {d["id"] for d in crm_sandbox.records("deals")}
    assert [(r.id, r.fields["dealstage"]) for r in changed] == [(deal["id"], "closedwon")]


def test_new_deals_and_tickets_are_created_and_rejections_quote_hubspot(crm_sandbox: SandboxProcess) -> None:
    client = hubspot(crm_sandbox)
    before = len(crm_sandbox.records("deals"))

    results = client.upsert_batch(
        "deals",
        [
            WriteItem(
                "a",
                {"dealname": "New deal", "pipeline": "default", "dealstage": "qualifiedtobuy", "amount": 900},
            ),
            WriteItem("b", {"dealname": "Bad stage", "dealstage": "nowhere"}),
        ],
        match_field="",
    )
    [ticket] = client.upsert_batch(
        "tickets",
        [WriteItem("t", {"subject": "Help", "hs_pipeline": "0", "hs_pipeline_stage": "1"})],
        match_field="",
    )

    assert results[0].ok and results[0].action == "created"
    assert results[1].ok is False and results[1].error is not None and "nowhere" in results[1].error
    assert len(crm_sandbox.records("deals")) == before + 1
    assert ticket.ok and ticket.target_id in {t["id"] for t in crm_sandbox.records("tickets")}


def test_a_deal_is_linked_to_contacts_and_the_links_read_back(crm_sandbox: SandboxProcess) -> None:
    client = hubspot(crm_sandbox)
    [deal] = client.upsert_batch("deals", [WriteItem("d", {"dealname": "Linked"})], match_field="")
    contacts = [c["id"] for c in crm_sandbox.records("contacts")[:3]]

    client.associations.associate("deals", str(deal.target_id), "contacts", contacts[0])
    client.associations.associate_many("deals", "contacts", [(str(deal.target_id), c) for c in contacts[1:]])
    links = client.associations.read("deals", "contacts", [str(deal.target_id), "999999"])
    back = client.associations.read("contacts", "deals", [contacts[0]])

    assert links == {str(deal.target_id): sorted(contacts, key=int), "999999": []}
    assert str(deal.target_id) in back[contacts[0]]


def test_a_delivered_webhook_verifies_with_the_apps_client_secret(
    crm_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url("/hooks/hubspot?from=hub%3Aspot")
    events = [
        {
            "subscriptionType": "deal.propertyChange",
            "objectId": int(crm_sandbox.records("deals")[0]["id"]),
            "propertyName": "dealstage",
        }
    ]

    report = crm_sandbox.admin("POST", "/webhooks/deliver", {"url": url, "events": events})
    delivered = webhook_receiver.last

    assert report["ok"] is True and report["events"] == 1
    verify_signature(delivered.headers, delivered.body, DEFAULT_CLIENT_SECRET, method="POST", uri=url)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_signature(delivered.headers, delivered.body, "another-secret", method="POST", uri=url)


def test_stale_and_unsigned_deliveries_are_refused() -> None:
    now = time.time()
    body = b"[]"
    stamp = int(now * 1000) - 301_000
    old = {
        "X-HubSpot-Signature-v3": signature_v3("s", "POST", "https://x/y", body, stamp),
        "X-HubSpot-Request-Timestamp": str(stamp),
    }

    with pytest.raises(WebhookSignatureError, match=r"\d+ s old"):
        verify_signature(old, body, "s", method="POST", uri="https://x/y", now=now)
    with pytest.raises(WebhookSignatureError, match="no X-HubSpot-Signature-v3"):
        verify_signature({}, body, "s", method="POST", uri="https://x/y", now=now)


def test_uris_are_compared_with_the_characters_hubspot_decodes() -> None:
    assert (
        canonical_uri("https://hub.example/hook?a=b%3Ac%2Fd&e=%20")
        == "https://hub.example/hook?a=b:c/d&e=%20"
    )
