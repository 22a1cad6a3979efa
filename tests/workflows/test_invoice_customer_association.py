"""Invoice ↔ customer carried one way through the record links, against the sandboxes.

Stripe invoices are read-only in the connector, so no two-way invoice sync exists; a one-way workflow carries
the relation instead. Stripe customers become HubSpot contacts (each write records a link), then Stripe
invoices become HubSpot deals whose `associations.contacts` is the invoice's `customer` turned, by the
`lookup_link` transform, into the id of the contact that customer is linked to.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.models import Connection
from connectors.sandbox.testing import SandboxProcess
from connectors.services import client_for, connection_create
from tests.factories import hubspot_connection
from tests.saas_sandboxes import BILLING_KEY, fresh
from tests.workflows.helpers import run_now
from workflows.models import RecordLink, Run, Workflow
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db

# A few customers, each with a handful of invoices.
BILLING_SEED = 5


@pytest.fixture
def billing() -> SandboxProcess:
    return fresh("billing", BILLING_SEED)


def _run(workflow: Workflow) -> Run:
    run = run_now(workflow)
    assert run.status == Run.Status.SUCCEEDED, (run.status, run.error, list(run.records.values("error")))
    return run


def _stripe(team: Any, billing: SandboxProcess) -> Connection:
    return connection_create(
        team=team,
        name="Stripe",
        kind="stripe",
        config={"base_url": billing.url},
        credentials={"secret_key": BILLING_KEY},
    )


def _billing_list(billing: SandboxProcess, path: str) -> list[dict[str, Any]]:
    status, _, page = billing.request("GET", path, headers={"Authorization": f"Bearer {BILLING_KEY}"})
    assert status == 200 and not page["has_more"]
    rows: list[dict[str, Any]] = page["data"]
    return rows


def _workflows(team: Any, stripe: Connection, hubspot: Connection, missing: str) -> tuple[Workflow, Workflow]:
    customers = workflow_create(
        team=team,
        name="Stripe customers → HubSpot contacts",
        source_connection=stripe,
        source_object="customers",
        target_connection=hubspot,
        target_object="contacts",
        mapping={
            "fields": [
                {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
                {"target": "firstname", "source": ["name"]},
            ]
        },
        match_field="email",
    )
    invoices = workflow_create(
        team=team,
        name="Stripe invoices → HubSpot deals",
        source_connection=stripe,
        source_object="invoices",
        target_connection=hubspot,
        target_object="deals",
        mapping={
            "fields": [
                {
                    "target": "dealname",
                    "source": ["number"],
                    "transforms": [{"name": "format", "args": {"template": "Invoice {number}"}}],
                },
                {
                    "target": "associations.contacts",
                    "source": ["customer"],
                    "transforms": [
                        {
                            "name": "lookup_link",
                            "args": {"connection": hubspot.pk, "object": "contacts", "missing": missing},
                        }
                    ],
                },
            ]
        },
        match_field="",
    )
    return customers, invoices


def test_an_invoices_deal_is_associated_to_the_contact_linked_from_its_stripe_customer(
    team: Any, crm_sandbox: SandboxProcess, billing: SandboxProcess
) -> None:
    stripe, hubspot = _stripe(team, billing), hubspot_connection(team=team, base_url=crm_sandbox.url)
    customers, invoices = _workflows(team, stripe, hubspot, missing="fail")

    _run(customers)
    _run(invoices)

    contact_of = dict(RecordLink.objects.filter(workflow=customers).values_list("source_id", "target_id"))
    stripe_invoices = _billing_list(billing, "/v1/invoices?limit=100")
    assert len(contact_of) == len(_billing_list(billing, "/v1/customers?limit=100")) > 1
    deal_of = dict(RecordLink.objects.filter(workflow=invoices).values_list("source_id", "target_id"))
    assert len(deal_of) == len(stripe_invoices) > len(contact_of)
    associations = client_for(hubspot).associations  # type: ignore[attr-defined]
    linked = associations.read("deals", "contacts", list(deal_of.values()))
    # Each deal is associated to exactly the contact its invoice's customer became, and to no other.
    assert {invoice["id"]: linked[deal_of[invoice["id"]]] for invoice in stripe_invoices} == {
        invoice["id"]: [contact_of[invoice["customer"]]] for invoice in stripe_invoices
    }
    contacts = {
        str(c["id"]): c["properties"] for c in crm_sandbox.admin("GET", "/_admin/records/contacts")["results"]
    }
    emails = {c["id"]: c["email"] for c in _billing_list(billing, "/v1/customers?limit=100")}
    assert all(
        contacts[contact_of[i["customer"]]]["email"] == emails[i["customer"]].strip().lower()
        for i in stripe_invoices
    )


def test_an_invoice_whose_customer_has_no_linked_contact_fails_with_the_reason(
    team: Any, crm_sandbox: SandboxProcess, billing: SandboxProcess
) -> None:
    stripe, hubspot = _stripe(team, billing), hubspot_connection(team=team, base_url=crm_sandbox.url)
    _, invoices = _workflows(team, stripe, hubspot, missing="fail")
    deals_before = len(crm_sandbox.admin("GET", "/_admin/records/deals")["results"])

    # The customers workflow has not run: no customer is linked to a contact yet.
    run = run_now(invoices)

    errors = [error for error in run.records.values_list("error", flat=True) if error]
    assert errors and all("has no linked contacts record" in error for error in errors)
    assert len(crm_sandbox.admin("GET", "/_admin/records/deals")["results"]) == deals_before
