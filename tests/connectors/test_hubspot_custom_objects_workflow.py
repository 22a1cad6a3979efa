"""A workflow that writes into a HubSpot custom object, end to end against the sandboxes: Stripe customers
become "billing account" records of a custom object the HubSpot account defined with the schemas API,
upserted by a unique property holding the Stripe customer id."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.feasibility import connection_object_feasibility, flow_feasibility
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from connectors.services import connection_create
from tests.saas_sandboxes import BILLING_KEY, fresh
from tests.workflows.helpers import run_now
from workflows.models import Run, RunRecord
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db

ACCOUNTS = "p7300001_billing_accounts"
SCHEMA = {
    "name": "billing_accounts",
    "labels": {"singular": "Billing account", "plural": "Billing accounts"},
    "primaryDisplayProperty": "account_name",
    "requiredProperties": ["stripe_customer_id"],
    "searchableProperties": ["account_name", "billing_email"],
    "associatedObjects": ["CONTACT", "COMPANY"],
    "properties": [
        {"name": "stripe_customer_id", "label": "Stripe customer", "type": "string", "hasUniqueValue": True},
        {"name": "account_name", "label": "Account name", "type": "string"},
        {"name": "billing_email", "label": "Billing email", "type": "string"},
        {"name": "balance", "label": "Balance (cents)", "type": "number"},
        {"name": "delinquent", "label": "Delinquent", "type": "bool"},
    ],
}
MAPPING = {
    "fields": [
        {"target": "stripe_customer_id", "source": ["id"]},
        {"target": "account_name", "source": ["name"]},
        {"target": "billing_email", "source": ["email"], "transforms": [{"name": "lower"}]},
        {"target": "balance", "source": ["balance"]},
        {"target": "delinquent", "source": ["delinquent"]},
    ]
}


@pytest.fixture
def billing() -> SandboxProcess:
    return fresh("billing", 6)


def _accounts(crm: SandboxProcess) -> list[dict[str, Any]]:
    return [r["properties"] for r in crm.admin("GET", f"/custom-objects/{ACCOUNTS}/records")["results"]]


def _customers(billing: SandboxProcess) -> list[dict[str, Any]]:
    status, _, page = billing.request(
        "GET", "/v1/customers?limit=100", headers={"Authorization": f"Bearer {BILLING_KEY}"}
    )
    assert status == 200 and not page["has_more"]
    return list(page["data"])


def test_stripe_customers_are_upserted_into_a_hubspot_custom_object(
    team: Any, crm_sandbox: SandboxProcess, billing: SandboxProcess
) -> None:
    status, _, _ = crm_sandbox.request(
        "POST", "/crm/v3/schemas", SCHEMA, headers={"Authorization": f"Bearer {CRM_TOKEN}"}
    )
    assert status == 201
    stripe = connection_create(
        team=team,
        name="Stripe",
        kind="stripe",
        config={"base_url": billing.url},
        credentials={"secret_key": BILLING_KEY},
    )
    hubspot = connection_create(
        team=team,
        name="HubSpot",
        kind="hubspot",
        config={"base_url": crm_sandbox.url, "custom_objects": f"{ACCOUNTS}:stripe_customer_id"},
        credentials={"access_token": CRM_TOKEN},
    )
    workflow = workflow_create(
        team=team,
        name="Stripe customers to billing accounts",
        source_connection=stripe,
        source_object="customers",
        target_connection=hubspot,
        target_object=ACCOUNTS,
        mapping=MAPPING,
        match_field="stripe_customer_id",
        enabled=True,
    )

    first = run_now(workflow)

    customers = _customers(billing)
    assert first.status == Run.Status.SUCCEEDED, (first.error, list(first.records.values("error")))
    assert first.created_count == len(customers) > 0
    expected = {
        c["id"]: (
            c["name"],
            (c["email"] or "").lower() or None,
            str(c["balance"]),
            str(c["delinquent"]).lower(),
        )
        for c in customers
    }
    found = {
        a["stripe_customer_id"]: (
            a.get("account_name"),
            a.get("billing_email"),
            a["balance"],
            a["delinquent"],
        )
        for a in _accounts(crm_sandbox)
    }
    assert found == expected
    record = RunRecord.objects.filter(run=first).first()
    assert record is not None and record.target_id and record.target_id.isdigit()

    # An edit in Stripe updates the same custom record; nothing is created twice.
    changed = customers[0]
    billing.admin("PATCH", f"/records/customers/{changed['id']}", {"name": "Renamed Ltd"})
    second = run_now(workflow)

    assert second.status == Run.Status.SUCCEEDED, second.error
    assert second.created_count == 0 and second.updated_count == 1
    accounts = _accounts(crm_sandbox)
    assert len(accounts) == len(customers)
    assert (
        next(a for a in accounts if a["stripe_customer_id"] == changed["id"])["account_name"] == "Renamed Ltd"
    )


def test_a_custom_object_the_settings_list_is_a_known_declared_target(team: Any) -> None:
    hubspot = connection_create(
        team=team,
        name="HubSpot",
        kind="hubspot",
        config={"base_url": "https://api.hubapi.com", "custom_objects": {ACCOUNTS: "stripe_customer_id"}},
        credentials={"access_token": CRM_TOKEN},
    )
    stripe = connection_create(
        team=team,
        name="Stripe",
        kind="stripe",
        config={"base_url": "https://api.stripe.com"},
        credentials={"secret_key": BILLING_KEY},
    )

    listed = connection_object_feasibility(connection=hubspot, object_name=ACCOUNTS)
    unlisted = connection_object_feasibility(connection=hubspot, object_name="p7300001_boats")
    flow = flow_feasibility(source=(stripe, "customers"), target=(hubspot, ACCOUNTS), trigger="poll")

    assert listed.known_object and listed.declared and listed.object_label == "Billing accounts"
    assert listed.capabilities.upsert_key == "stripe_customer_id"
    assert not unlisted.known_object
    assert flow.possible and not flow.blockers, flow
