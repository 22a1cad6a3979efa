"""The CRM sandbox driven by HubSpot's own Python library (hubspot-api-client)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.providers.hubspot.webhooks import verify_signature
from connectors.sandbox.oauth import DEFAULT_CLIENT_SECRET
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from tests.connectors.webhook_receiver import WebhookReceiver

hubspot = pytest.importorskip(
    "hubspot", reason="HubSpot's library is not installed (pip install hubspot-api-client)"
)
from hubspot.crm.associations.v4 import (  # noqa: E402 - only importable once the skip above passed
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import SimplePublicObjectInputForCreate  # noqa: E402
from hubspot.crm.contacts.exceptions import ApiException  # noqa: E402
from hubspot.utils.signature import Signature  # noqa: E402


@pytest.fixture
def api(crm_sandbox: SandboxProcess) -> Any:
    return hubspot.HubSpot(access_token=CRM_TOKEN, host=crm_sandbox.url)


def test_the_library_pages_through_every_contact(api: Any, crm_sandbox: SandboxProcess) -> None:
    first = api.crm.contacts.basic_api.get_page(limit=5, properties=["email", "customer_tier"])
    everything = api.crm.contacts.get_all()

    assert len(first.results) == 5 and first.paging.next.after
    assert "customer_tier" in first.results[0].properties
    assert {c.id for c in everything} == {r["id"] for r in crm_sandbox.records("contacts")}


def test_the_library_creates_a_contact_and_sees_hubspots_validation_errors(api: Any) -> None:
    created = api.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "ada@example.com", "firstname": "Ada"})
    )

    with pytest.raises(ApiException) as caught:
        api.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "not-an-email"})
        )

    assert created.properties["email"] == "ada@example.com"
    assert caught.value.status == 400 and "Property values were not valid" in caught.value.body


def test_the_library_reads_deals_pipelines_and_associations(api: Any) -> None:
    deal = api.crm.deals.basic_api.get_page(
        limit=1, properties=["dealname", "dealstage", "pipeline"]
    ).results[0]
    contact = api.crm.contacts.basic_api.get_page(limit=1).results[0]
    pipelines = api.crm.pipelines.pipelines_api.get_all("deals").results

    created = api.crm.associations.v4.basic_api.create_default("deals", deal.id, "contacts", contact.id)
    request = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=deal.id)]
    )
    read = api.crm.associations.v4.batch_api.get_page("deals", "contacts", request)

    stages = {stage.id for pipeline in pipelines for stage in pipeline.stages}
    assert deal.properties["dealstage"] in stages
    assert deal.properties["pipeline"] in {p.id for p in pipelines}
    assert created.results[0].association_spec.association_type_id == 3
    assert contact.id in {str(t.to_object_id) for t in read.results[0].to}


def test_a_delivered_webhook_passes_the_librarys_v3_signature_check(
    crm_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url("/hooks/hubspot?portal=7300001")
    events = [{"subscriptionType": "contact.propertyChange", "objectId": 101, "propertyName": "firstname"}]

    crm_sandbox.admin("POST", "/webhooks/deliver", {"url": url, "events": events})
    delivered = webhook_receiver.last

    assert Signature.is_valid(
        signature=delivered.headers["X-HubSpot-Signature-v3"],
        client_secret=DEFAULT_CLIENT_SECRET,
        request_body=delivered.body.decode("utf-8"),
        http_uri=url,
        http_method="POST",
        signature_version="v3",
        timestamp=delivered.headers["X-HubSpot-Request-Timestamp"],
    )
    verify_signature(delivered.headers, delivered.body, DEFAULT_CLIENT_SECRET, method="POST", uri=url)


def test_a_delivery_signed_with_another_secret_fails_the_librarys_check(
    crm_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url()
    events = [{"subscriptionType": "contact.creation", "objectId": 101}]

    crm_sandbox.admin("POST", "/webhooks/deliver", {"url": url, "events": events, "secret": "someone-else"})
    delivered = webhook_receiver.last

    assert not Signature.is_valid(
        signature=delivered.headers["X-HubSpot-Signature-v3"],
        client_secret=DEFAULT_CLIENT_SECRET,
        request_body=delivered.body.decode("utf-8"),
        http_uri=url,
        signature_version="v3",
        timestamp=delivered.headers["X-HubSpot-Request-Timestamp"],
    )
