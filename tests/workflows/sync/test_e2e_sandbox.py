"""End to end against the sandbox CRM (HubSpot dialect) and helpdesk (Zendesk dialect), over HTTP.

Two syncs, as a team would set them up:

* companies ↔ organizations, matched by the CRM id (external_id) or the domain, created in the helpdesk;
* contacts ↔ users, matched by email, where
  - the CRM owns the owner (`jobtitle`, the sandbox has no `hubspot_owner_id`) and the lifecycle stage: both
    travel only to the helpdesk, as the user's tags (the helpdesk has no fields for them);
  - the helpdesk owns phone and address (`details` ↔ the CRM's `city`): two-way, the helpdesk wins ties of
    concurrent edits;
  - notes (`notes_internal` ↔ `notes`) go to manual review when both sides change them;
  - the contact's company (a name in the CRM) is the user's organization (an id in the helpdesk), carried
    through the companies sync's links.

A person edits records through the sandboxes' admin APIs; an admin decides the conflict in the review queue
page; the Celery task that applies decisions then writes both systems.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from connectors.models import Connection
from connectors.sandbox.testing import SandboxProcess
from integrations_hub.audit.models import AuditEntry
from tests.factories import hubspot_connection, zendesk_connection
from workflows.sync import tasks
from workflows.sync.models import Sync, SyncConflict, SyncLink, SyncRun
from workflows.sync.services.definition import sync_create
from workflows.sync.services.runs import sync_poll

pytestmark = pytest.mark.django_db

UNLIMITED = {"requests": 100_000, "interval_seconds": 1, "burst": 10_000}

CONTACT_FIELDS: list[dict[str, Any]] = [
    {"key": "email", "a": "email", "b": "email", "direction": "both", "policy": "a_wins"},
    {
        "key": "name",
        "a": "firstname",
        "b": "name",
        "direction": "a_to_b",
        "a_to_b": {
            "source": ["firstname", "lastname"],
            "transforms": [{"name": "join", "args": {"separator": " "}}],
        },
    },
    {
        "key": "owner_and_stage",
        "a": "jobtitle",
        "b": "tags",
        "direction": "a_to_b",
        # "Head of Sales" + "customer" → the tags head_of_sales and customer.
        "a_to_b": {
            "source": ["jobtitle", "lifecyclestage"],
            "transforms": [
                {"name": "join", "args": {"separator": ","}},
                {"name": "replace", "args": {"find": " ", "replacement": "_"}},
            ],
        },
    },
    {"key": "phone", "a": "phone", "b": "phone", "direction": "both", "policy": "b_wins"},
    {"key": "address", "a": "city", "b": "details", "direction": "both", "policy": "b_wins"},
    {"key": "notes", "a": "notes_internal", "b": "notes", "direction": "both", "policy": "manual"},
]


def _connections(team: Any, crm: SandboxProcess, helpdesk: SandboxProcess) -> tuple[Connection, Connection]:
    a = hubspot_connection(team=team, base_url=crm.url)
    b = zendesk_connection(team=team, base_url=helpdesk.url)
    Connection.objects.filter(pk__in=[a.pk, b.pk]).update(rate_limit_override=UNLIMITED)
    a.refresh_from_db()
    b.refresh_from_db()
    return a, b


def _syncs(team: Any, crm: Connection, helpdesk: Connection) -> tuple[Sync, Sync]:
    companies = sync_create(
        team=team,
        name="Companies ↔ organizations",
        a_connection=crm,
        a_object="companies",
        b_connection=helpdesk,
        b_object="organizations",
        fields=[
            {"key": "name", "a": "name", "b": "name", "direction": "both", "policy": "a_wins"},
            {"key": "crm_id", "a": "hs_object_id", "b": "external_id", "direction": "a_to_b"},
        ],
        match=[
            {"rule": "external_id", "a": "$id", "b": "external_id"},
            {"rule": "domain", "a": "domain", "b": "domain_names"},
        ],
        create="a_to_b",
        enabled=True,
    )
    company_pair = {
        "key": "company",
        "a": "company",
        "b": "organization_id",
        "direction": "both",
        "policy": "a_wins",
        "reference": {"sync": companies.pk, "a_key": "name", "b_key": "$id"},
    }
    contacts = sync_create(
        team=team,
        name="Contacts ↔ users",
        a_connection=crm,
        a_object="contacts",
        b_connection=helpdesk,
        b_object="users",
        fields=[*CONTACT_FIELDS, company_pair],
        match=[{"rule": "email", "a": "email", "b": "email"}],
        create="both",
        enabled=True,
    )
    return companies, contacts


def _by_email(helpdesk: SandboxProcess) -> dict[str, dict[str, Any]]:
    return {user["email"]: user for user in helpdesk.records("users")}


def _contacts(crm: SandboxProcess) -> dict[str, dict[str, Any]]:
    return {contact["properties"]["email"]: contact for contact in crm.records("contacts")}


def _poll(contacts: Sync) -> SyncRun:
    run = sync_poll(sync_id=contacts.pk)
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    return run


def test_crm_and_helpdesk_contacts_sync_both_ways_with_field_ownership_and_review(
    team: Any,
    admin_user: Any,
    client: Any,
    crm_sandbox: SandboxProcess,
    helpdesk_sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    crm, helpdesk = crm_sandbox, helpdesk_sandbox
    contacts_before = _contacts(crm)
    ada_email = next(iter(sorted(contacts_before)))
    # The helpdesk already knows one company (by its domain, under another name) and one person.
    helpdesk.admin(
        "POST",
        "/_admin/records/organizations",
        {"name": "Riverstone", "domain_names": ["riverstonehospitality.com"]},
    )
    helpdesk.admin(
        "POST",
        "/_admin/records/users",
        {"name": "Known Person", "email": ada_email, "phone": "+1 555 0100", "notes": "desk note"},
    )
    a, b = _connections(team, crm, helpdesk)
    companies, contacts = _syncs(team, a, b)

    # -- first sync: companies first (the contacts refer to them), then contacts -------------------------
    _poll(contacts)

    organizations = {org["name"]: org for org in helpdesk.records("organizations")}
    assert sorted(organizations) == ["Cedar Point Studios S.r.l.", "Riverstone Hospitality Inc."]
    riverstone = organizations["Riverstone Hospitality Inc."]
    assert (
        riverstone["domain_names"] == ["riverstonehospitality.com"] and riverstone["external_id"] == "500002"
    )
    users = _by_email(helpdesk)
    assert len(users) == 20
    assert SyncLink.objects.filter(sync=contacts, status="active").count() == 20
    for email, contact in contacts_before.items():
        properties = contact["properties"]
        user = users[email]
        company = properties.get("company")
        assert user["organization_id"] == (organizations[company]["id"] if company else None)
        if email != ada_email:
            assert user["name"] == f"{properties['firstname']} {properties['lastname']}"
            assert user["phone"] == properties["phone"]
    # The person the helpdesk knew was linked, not duplicated; it owns the phone, and its note filled the gap.
    ada = _contacts(crm)[ada_email]["properties"]
    assert (ada["phone"], ada["notes_internal"]) == ("+1 555 0100", "desk note")

    # -- nothing changed: nothing is written, in either sync ----------------------------------------------
    quiet = _poll(contacts)
    assert quiet.writes == 0
    assert SyncRun.objects.filter(sync=companies).order_by("-pk").first().writes == 0  # type: ignore[union-attr]

    # -- people edit both systems ---------------------------------------------------------------------------
    contact_ids = {email: c["id"] for email, c in _contacts(crm).items()}
    user_ids = {email: u["id"] for email, u in _by_email(helpdesk).items()}
    bob_email, cy_email = sorted(contacts_before)[1:3]

    def crm_edit(email: str, **properties: Any) -> None:
        crm.admin("PATCH", f"/_admin/records/contacts/{contact_ids[email]}", {"properties": properties})

    def desk_edit(email: str, **fields: Any) -> None:
        helpdesk.admin("PATCH", f"/_admin/records/users/{user_ids[email]}", fields)

    # The CRM owns owner and stage: its edit wins over the helpdesk's edit of the tags they become.
    crm_edit(bob_email, jobtitle="Account Owner", lifecyclestage="customer")
    desk_edit(bob_email, tags=["vip"])
    # ...and a helpdesk edit of them alone does not reach the CRM.
    desk_edit(cy_email, tags=["helpdesk_only"])
    # The helpdesk owns phone and address: concurrent edits go its way.
    crm_edit(bob_email, phone="+44 20 0000 0001")
    desk_edit(bob_email, phone="+44 20 7946 0958", details="1 Main Street, Leeds")
    # The contact moves company in the CRM; the user's organization follows through the company links.
    new_company = "Cedar Point Studios S.r.l."
    if contacts_before[cy_email]["properties"].get("company") == new_company:
        new_company = "Riverstone Hospitality Inc."
    crm_edit(cy_email, company=new_company)
    # Both sides write a note: a person has to decide.
    crm_edit(ada_email, notes_internal="crm says: renewal in May")
    desk_edit(ada_email, notes="desk says: asked for a refund")

    _poll(contacts)

    users = _by_email(helpdesk)
    contacts_now = _contacts(crm)
    assert sorted(users[bob_email]["tags"]) == ["account_owner", "customer"]
    assert users[cy_email]["tags"] == ["helpdesk_only"]
    assert (
        contacts_now[cy_email]["properties"]["jobtitle"]
        == contacts_before[cy_email]["properties"]["jobtitle"]
    )
    assert contacts_now[bob_email]["properties"]["phone"] == "+44 20 7946 0958"
    assert users[bob_email]["phone"] == "+44 20 7946 0958"
    assert contacts_now[bob_email]["properties"]["city"] == "1 Main Street, Leeds"
    assert users[cy_email]["organization_id"] == organizations[new_company]["id"]
    conflict = SyncConflict.objects.get(sync=contacts, status="open")
    assert (conflict.a_value, conflict.b_value) == (
        "crm says: renewal in May",
        "desk says: asked for a refund",
    )
    assert contacts_now[ada_email]["properties"]["notes_internal"] == "crm says: renewal in May"
    assert users[ada_email]["notes"] == "desk says: asked for a refund"

    # -- an admin decides in the review queue; the task writes the decision to both systems ------------------
    client.force_login(admin_user)
    queue = client.get(reverse("sync:review_queue")).content.decode()
    assert "crm says: renewal in May" in queue and "desk says: asked for a refund" in queue
    queued: list[int] = []
    monkeypatch.setattr(tasks.apply_review, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("sync:conflict_resolve", args=[conflict.pk]),
            {"choice": "value", "value": "Renewal in May; refund declined"},
        )
    assert response.status_code == 302 and queued == [contacts.pk]

    tasks.apply_review.apply(args=(contacts.pk,))

    assert _contacts(crm)[ada_email]["properties"]["notes_internal"] == "Renewal in May; refund declined"
    assert _by_email(helpdesk)[ada_email]["notes"] == "Renewal in May; refund declined"
    conflict.refresh_from_db()
    assert conflict.status == "resolved" and conflict.resolved_by == admin_user
    assert AuditEntry.objects.filter(action="conflict.resolved", actor=admin_user).count() == 1

    # -- the helpdesk moves a user to another organization: the CRM contact's company name follows -----------
    other_org = next(
        org for name, org in organizations.items() if org["id"] != users[bob_email]["organization_id"]
    )
    desk_edit(bob_email, organization_id=other_org["id"])
    _poll(contacts)
    assert _contacts(crm)[bob_email]["properties"]["company"] == other_org["name"]

    # -- and then all is quiet again ----------------------------------------------------------------------
    assert _poll(contacts).writes == 0
