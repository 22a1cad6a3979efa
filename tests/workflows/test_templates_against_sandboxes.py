"""Every ready-made template works against the sandboxes: opened in the builder with the team's sandbox
connections, saved and published there, run, and the target system then holds exactly what the template
promises (read back through each sandbox's /_admin API), and a second run writes nothing more."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from connectors.models import Connection
from connectors.sandbox.testing import SandboxProcess
from connectors.services import connection_create
from tests.factories import hubspot_connection, zendesk_connection
from tests.pages.forms import form_data
from tests.saas_sandboxes import BILLING_KEY, CHAT_TOKEN, MARKETING_KEY, MARKETING_LIST_ID, fresh
from tests.workflows.helpers import run_now
from workflows.models import Run, Workflow
from workflows.workflow_templates import TEMPLATES

pytestmark = pytest.mark.django_db

# A few customers, so the billing sandbox holds a handful of invoices in every status.
BILLING_SEED = 8


@pytest.fixture
def billing() -> SandboxProcess:
    return fresh("billing", BILLING_SEED)


@pytest.fixture
def marketing() -> SandboxProcess:
    # An empty audience: every member afterwards came from the CRM.
    return fresh("marketing", 0)


@pytest.fixture
def chat() -> SandboxProcess:
    return fresh("chat")


def _make(team: Any, kind: str, sandbox: SandboxProcess) -> Connection:
    if kind == "hubspot":
        return hubspot_connection(team=team, base_url=sandbox.url)
    if kind == "zendesk":
        return zendesk_connection(team=team, base_url=sandbox.url)
    config: dict[str, Any] = {"base_url": sandbox.url}
    credentials = {
        "stripe": {"secret_key": BILLING_KEY},
        "mailchimp": {"api_key": MARKETING_KEY},
        "slack": {"bot_token_or_webhook_url": CHAT_TOKEN},
    }[kind]
    if kind == "mailchimp":
        config["list_id"] = MARKETING_LIST_ID
    return connection_create(team=team, name=kind.title(), kind=kind, config=config, credentials=credentials)


def _from_template(client: Client, key: str) -> Workflow:
    """Open the template in the builder, then save and publish exactly what the page holds."""
    page = client.get(reverse("workflow_new"), {"template": key})
    assert page.status_code == 200
    data = form_data(page.content.decode())
    response = client.post(reverse("workflow_new"), {**data, "action": ["publish"]})
    assert response.status_code == 302, response.content.decode()[:3000]
    workflow = Workflow.objects.get(name=next(t.title for t in TEMPLATES if t.key == key))
    assert workflow.published_version is not None, "the template was saved but not published"
    return workflow


def _run(workflow: Workflow) -> Run:
    run = run_now(workflow)
    assert run.status == Run.Status.SUCCEEDED, (run.status, run.error, list(run.records.values("error")))
    return run


def _contacts(crm: SandboxProcess) -> list[dict[str, Any]]:
    return [c["properties"] for c in crm.admin("GET", "/_admin/records/contacts")["results"]]


def _ids(rows: list[dict[str, Any]]) -> set[Any]:
    return {row["id"] for row in rows}


def test_every_template_is_proven_here() -> None:
    proven = {
        "hubspot-contacts-zendesk-users",
        "hubspot-companies-zendesk-organizations",
        "hubspot-contacts-mailchimp-members",
        "stripe-invoices-hubspot-deals",
        "hubspot-deal-slack-message",
    }
    assert {template.key for template in TEMPLATES} == proven


def test_hubspot_contacts_become_zendesk_users(
    editor_client: Client, team: Any, crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess
) -> None:
    _make(team, "hubspot", crm_sandbox)
    _make(team, "zendesk", helpdesk_sandbox)
    before = helpdesk_sandbox.admin("GET", "/_admin/records/users")["results"]
    workflow = _from_template(editor_client, "hubspot-contacts-zendesk-users")

    _run(workflow)

    users = [
        u
        for u in helpdesk_sandbox.admin("GET", "/_admin/records/users")["results"]
        if u["id"] not in _ids(before)
    ]
    contacts = [c for c in _contacts(crm_sandbox) if c.get("email")]
    expected = {
        c["email"].strip().lower(): (" ".join(p for p in (c.get("firstname"), c.get("lastname")) if p), f"crm-{c['hs_object_id']}")
        for c in contacts
    }  # fmt: skip
    assert {u["email"]: (u["name"], u["external_id"]) for u in users} == expected
    assert len(users) == len(contacts) > 0
    assert _run(workflow).created_count == 0


def test_hubspot_companies_become_zendesk_organizations(
    editor_client: Client, team: Any, crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess
) -> None:
    _make(team, "hubspot", crm_sandbox)
    _make(team, "zendesk", helpdesk_sandbox)
    before = helpdesk_sandbox.admin("GET", "/_admin/records/organizations")["results"]
    workflow = _from_template(editor_client, "hubspot-companies-zendesk-organizations")

    _run(workflow)

    organizations = [
        o
        for o in helpdesk_sandbox.admin("GET", "/_admin/records/organizations")["results"]
        if o["id"] not in _ids(before)
    ]
    companies = [c["properties"] for c in crm_sandbox.admin("GET", "/_admin/records/companies")["results"]]
    expected = {
        c["domain"].strip().lower(): (
            c["name"].strip(),
            ", ".join(p for p in (c.get("industry"), c.get("city"), c.get("country")) if p),
        )
        for c in companies
    }
    assert {o["external_id"]: (o["name"], o["details"]) for o in organizations} == expected
    assert len(organizations) == len(companies) > 0
    assert _run(workflow).created_count == 0


def test_hubspot_contacts_become_mailchimp_audience_members(
    editor_client: Client, team: Any, crm_sandbox: SandboxProcess, marketing: SandboxProcess
) -> None:
    _make(team, "hubspot", crm_sandbox)
    _make(team, "mailchimp", marketing)
    assert marketing.admin("GET", "/_admin/records/members")["results"] == []
    workflow = _from_template(editor_client, "hubspot-contacts-mailchimp-members")

    _run(workflow)

    members = marketing.admin("GET", "/_admin/records/members")["results"]
    expected = {
        c["email"].strip().lower(): (c.get("firstname") or "", c.get("lastname") or "", "subscribed")
        for c in _contacts(crm_sandbox)
        if c.get("email")
    }
    found = {
        m["email_address"]: (m["merge_fields"].get("FNAME", ""), m["merge_fields"].get("LNAME", ""), m["status"])
        for m in members
    }  # fmt: skip
    assert found == expected and len(members) == len(expected) > 0
    assert _run(workflow).created_count == 0


def test_stripe_invoices_become_hubspot_deals_with_amounts_in_major_units(
    editor_client: Client, team: Any, crm_sandbox: SandboxProcess, billing: SandboxProcess
) -> None:
    _make(team, "stripe", billing)
    _make(team, "hubspot", crm_sandbox)
    before = crm_sandbox.admin("GET", "/_admin/records/deals")["results"]
    workflow = _from_template(editor_client, "stripe-invoices-hubspot-deals")

    _run(workflow)

    deals = [
        d["properties"]
        for d in crm_sandbox.admin("GET", "/_admin/records/deals")["results"]
        if d["id"] not in _ids(before)
    ]
    status, _, page = billing.request(
        "GET", "/v1/invoices?limit=100", headers={"Authorization": f"Bearer {BILLING_KEY}"}
    )
    assert status == 200 and not page["has_more"]
    invoices = page["data"]
    stages = {
        "draft": "appointmentscheduled",
        "open": "contractsent",
        "paid": "closedwon",
        "uncollectible": "closedlost",
        "void": "closedlost",
    }
    expected = {
        f"Invoice {i['number']} ({i['customer_name']})": (
            Decimal(i["amount_due"]) / 100,
            stages[i["status"]],
            datetime.fromtimestamp(i["due_date"], UTC).date(),
            f"Stripe invoice {i['id']}, in {i['currency']}",
        )
        for i in invoices
    }
    found = {
        d["dealname"]: (
            Decimal(str(d["amount"])),
            d["dealstage"],
            datetime.fromisoformat(d["closedate"].replace("Z", "+00:00")).date(),
            d["description"],
        )
        for d in deals
    }
    assert found == expected and len(deals) == len(invoices) > 0
    # A whole amount is written as such: 4900 cents are 49, not 49.0 nor 4900.
    assert any(amount == amount.to_integral_value() for amount, *_ in found.values())
    # Deals have no natural key: the second run finds each invoice's link and creates no deal twice.
    _run(workflow)
    assert len(crm_sandbox.admin("GET", "/_admin/records/deals")["results"]) == len(before) + len(invoices)


def test_a_new_hubspot_deal_becomes_one_slack_message(
    editor_client: Client, team: Any, crm_sandbox: SandboxProcess, chat: SandboxProcess
) -> None:
    _make(team, "hubspot", crm_sandbox)
    _make(team, "slack", chat)
    before = chat.admin("GET", "/_admin/records/messages")["results"]
    workflow = _from_template(editor_client, "hubspot-deal-slack-message")

    # The template starts from now: the deals already there are left alone.
    first = _run(workflow)
    assert first.created_count == first.updated_count == 0
    assert chat.admin("GET", "/_admin/records/messages")["results"] == before
    crm_sandbox.admin(
        "POST",
        "/_admin/records/deals",
        {"properties": {"dealname": "Acme renewal", "amount": "12000", "dealstage": "contractsent"}},
    )
    _run(workflow)

    messages = [m for m in chat.admin("GET", "/_admin/records/messages")["results"] if m not in before]
    assert [(m["channel"], m["text"]) for m in messages] == [
        ("C0SALES001", "New deal: Acme renewal (12000), stage contractsent")
    ]
    _run(workflow)
    assert len(chat.admin("GET", "/_admin/records/messages")["results"]) == len(before) + 1
