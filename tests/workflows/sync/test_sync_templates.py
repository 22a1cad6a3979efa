"""The HubSpot ↔ Zendesk sync template, end to end against the sandbox CRM and helpdesk over HTTP.

A person picks the two connections on the template page; the template creates the companies and contacts
syncs switched off and opens the contacts sync in the editor. Switched on, the syncs link every pair, and an
edit on each side travels the way the template says: the CRM owns the lifecycle stage and the company name,
the helpdesk owns the phone.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from connectors.models import Connection
from connectors.sandbox.testing import SandboxProcess
from tests.factories import hubspot_connection, zendesk_connection
from tests.pages.forms import form_data
from workflows.engine.sync.spec import SyncSpecError
from workflows.sync.models import Sync, SyncLink, SyncRun
from workflows.sync.services.runs import sync_poll
from workflows.sync.services.templates import sync_template_apply
from workflows.sync.sync_templates import SYNC_TEMPLATES_BY_KEY

pytestmark = pytest.mark.django_db

KEY = "hubspot-zendesk-companies-contacts"
UNLIMITED = {"requests": 100_000, "interval_seconds": 1, "burst": 10_000}


def _connections(team: Any, crm: SandboxProcess, helpdesk: SandboxProcess) -> tuple[Connection, Connection]:
    a = hubspot_connection(team=team, base_url=crm.url)
    b = zendesk_connection(team=team, base_url=helpdesk.url)
    Connection.objects.filter(pk__in=[a.pk, b.pk]).update(rate_limit_override=UNLIMITED)
    a.refresh_from_db()
    b.refresh_from_db()
    return a, b


def _poll(sync: Sync) -> SyncRun:
    run = sync_poll(sync_id=sync.pk)
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    return run


def test_the_template_links_crm_and_helpdesk_and_each_side_owns_its_fields(
    team: Any,
    editor_client: Any,
    crm_sandbox: SandboxProcess,
    helpdesk_sandbox: SandboxProcess,
) -> None:
    crm, helpdesk = crm_sandbox, helpdesk_sandbox
    a, b = _connections(team, crm, helpdesk)
    page = reverse("sync:sync_template", args=[KEY])
    data = form_data(editor_client.get(page).content.decode(), "sync-template")
    assert data["a_connection"] == [str(a.pk)] and data["b_connection"] == [str(b.pk)]

    response = editor_client.post(page, data)

    companies = Sync.objects.get(team=team, a_object="companies")
    contacts = Sync.objects.get(team=team, a_object="contacts")
    assert response.status_code == 302 and response["Location"] == reverse(
        "sync:sync_edit", args=[contacts.pk]
    )
    assert not companies.enabled and not contacts.enabled
    assert (companies.b_object, contacts.b_object) == ("organizations", "users")
    company_pair = next(pair for pair in contacts.fields if pair["key"] == "company")
    assert company_pair["reference"]["sync"] == companies.pk
    # Opened in the editor for review; nothing has been read or written yet.
    assert editor_client.get(response["Location"]).status_code == 200
    assert not SyncRun.objects.exists() and helpdesk.records("users") == []

    for sync in (companies, contacts):
        editor_client.post(reverse("sync:sync_toggle", args=[sync.pk]), {"enabled": "on"})
    _poll(contacts)

    crm_companies = {c["properties"]["name"]: c for c in crm.records("companies")}
    organizations = {org["name"]: org for org in helpdesk.records("organizations")}
    assert sorted(organizations) == sorted(crm_companies)
    for name, company in crm_companies.items():
        assert organizations[name]["external_id"] == company["id"]
        assert organizations[name]["domain_names"] == [company["properties"]["domain"]]
    contacts_before = {c["properties"]["email"]: c for c in crm.records("contacts")}
    users = {user["email"]: user for user in helpdesk.records("users")}
    assert sorted(users) == sorted(contacts_before)
    assert SyncLink.objects.filter(sync=companies, status="active").count() == len(crm_companies)
    assert SyncLink.objects.filter(sync=contacts, status="active").count() == len(contacts_before)
    for email, contact in contacts_before.items():
        properties = contact["properties"]
        company = properties.get("company")
        assert users[email]["organization_id"] == (organizations[company]["id"] if company else None)
        assert users[email]["name"] == f"{properties['firstname']} {properties['lastname']}"

    # -- one CRM-owned field and one helpdesk-owned field, each edited on both sides ----------------------
    ann, bob = sorted(contacts_before)[:2]
    crm.admin(
        "PATCH",
        f"/_admin/records/contacts/{contacts_before[ann]['id']}",
        {"properties": {"jobtitle": "Account Owner", "lifecyclestage": "customer", "phone": "+1 555 0001"}},
    )
    helpdesk.admin("PATCH", f"/_admin/records/users/{users[ann]['id']}", {"tags": ["vip"]})
    helpdesk.admin("PATCH", f"/_admin/records/users/{users[ann]['id']}", {"phone": "+1 555 0002"})
    helpdesk.admin("PATCH", f"/_admin/records/users/{users[bob]['id']}", {"phone": "+44 20 7946 0958"})
    riverstone = next(c for n, c in crm_companies.items() if n.startswith("Riverstone"))
    crm.admin(
        "PATCH", f"/_admin/records/companies/{riverstone['id']}", {"properties": {"name": "Riverstone Group"}}
    )

    _poll(contacts)

    contacts_now = {c["properties"]["email"]: c["properties"] for c in crm.records("contacts")}
    users = {user["email"]: user for user in helpdesk.records("users")}
    # The CRM owns owner and stage: they reach the helpdesk as tags, over the helpdesk's own edit.
    assert sorted(users[ann]["tags"]) == ["account_owner", "customer"]
    # The helpdesk owns the phone: its edit reaches the CRM, and wins the concurrent edit.
    assert contacts_now[bob]["phone"] == "+44 20 7946 0958"
    assert contacts_now[ann]["phone"] == users[ann]["phone"] == "+1 555 0002"
    # The company's name belongs to the CRM and reaches the organization.
    organization = next(o for o in helpdesk.records("organizations") if o["external_id"] == riverstone["id"])
    assert organization["name"] == "Riverstone Group"
    # And then all is quiet.
    assert _poll(contacts).writes == 0


def test_the_template_refuses_connections_of_the_wrong_kind_or_team(team: Any, other_team: Any) -> None:
    template = SYNC_TEMPLATES_BY_KEY[KEY]
    crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9")
    other_helpdesk = zendesk_connection(team=other_team, base_url="http://127.0.0.1:9")
    with pytest.raises(SyncSpecError) as refused:
        sync_template_apply(team=team, template=template, a_connection=crm, b_connection=crm)
    assert refused.value.messages == ["B must be a Zendesk Support connection of the team"]
    with pytest.raises(SyncSpecError):
        sync_template_apply(team=team, template=template, a_connection=crm, b_connection=other_helpdesk)
    assert not Sync.objects.exists()


def test_applying_the_template_twice_keeps_the_names_apart(team: Any) -> None:
    template = SYNC_TEMPLATES_BY_KEY[KEY]
    crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9")
    helpdesk = zendesk_connection(team=team, base_url="http://127.0.0.1:9")
    first = sync_template_apply(team=team, template=template, a_connection=crm, b_connection=helpdesk)
    second = sync_template_apply(team=team, template=template, a_connection=crm, b_connection=helpdesk)
    assert [s.name for s in second] == [f"{s.name} (2)" for s in first]
    # Each contacts sync carries companies through its own template's companies sync.
    for companies, contacts in (first, second):
        pair = next(pair for pair in contacts.fields if pair["key"] == "company")
        assert pair["reference"]["sync"] == companies.pk
