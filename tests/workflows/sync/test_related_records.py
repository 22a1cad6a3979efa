"""Related records carried through another sync's links: a contact's company ↔ a user's organization.

Against the sandboxes: the CRM (HubSpot dialect) keeps a contact's company as an association (API v4), the
helpdesk (Zendesk dialect) as the user's `organization_id`. Against the fake systems: a reference whose
related record has no counterpart yet is carried by a later run, once the related sync has created it,
without anyone editing the record again.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sandbox.testing import SandboxProcess
from connectors.services import client_for
from tests.workflows.sync.fakes import SYSTEMS, Clock, FakeSystem
from tests.workflows.sync.helpers import fake_connection
from tests.workflows.sync.test_e2e_sandbox import _by_email, _connections, _contacts
from workflows.sync.models import Sync, SyncLink, SyncOutcome, SyncRun
from workflows.sync.services.definition import sync_create
from workflows.sync.services.runs import sync_poll

pytestmark = pytest.mark.django_db


def _poll(sync: Sync) -> SyncRun:
    run = sync_poll(sync_id=sync.pk)
    assert run is not None and run.status == SyncRun.Status.SUCCEEDED, run and run.error
    return run


def test_a_contacts_company_association_becomes_the_users_organization_and_back(
    team: Any, crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess
) -> None:
    crm, helpdesk = crm_sandbox, helpdesk_sandbox
    a, b = _connections(team, crm, helpdesk)
    companies = sync_create(
        team=team,
        name="Companies ↔ organizations",
        a_connection=a,
        a_object="companies",
        b_connection=b,
        b_object="organizations",
        fields=[
            {"key": "name", "a": "name", "b": "name", "direction": "both", "policy": "a_wins"},
            {"key": "crm_id", "a": "hs_object_id", "b": "external_id", "direction": "a_to_b"},
        ],
        match=[{"rule": "external_id", "a": "$id", "b": "external_id"}],
        create="a_to_b",
        enabled=True,
    )
    contacts = sync_create(
        team=team,
        name="Contacts ↔ users",
        a_connection=a,
        a_object="contacts",
        b_connection=b,
        b_object="users",
        fields=[
            {"key": "email", "a": "email", "b": "email", "direction": "both", "policy": "a_wins"},
            {"key": "name", "a": "firstname", "b": "name", "direction": "a_to_b"},
            {
                "key": "company",
                "a": "associations.companies",
                "b": "organization_id",
                "direction": "both",
                "policy": "a_wins",
                "reference": {"sync": companies.pk, "a_key": "$id", "b_key": "$id"},
            },
        ],
        match=[{"rule": "email", "a": "email", "b": "email"}],
        create="both",
        enabled=True,
    )
    hubspot = client_for(a)
    first, second = sorted(company["id"] for company in crm.records("companies"))[:2]
    ada_email = sorted(_contacts(crm))[0]
    ada_id = _contacts(crm)[ada_email]["id"]
    hubspot.associations.associate("contacts", str(ada_id), "companies", str(first))  # type: ignore[attr-defined]

    _poll(contacts)

    org_of = {link.a_id: int(link.b_id) for link in SyncLink.objects.filter(sync=companies, status="active")}
    users = _by_email(helpdesk)
    assert users[ada_email]["organization_id"] == org_of[str(first)]
    assert all(user["organization_id"] is None for email, user in users.items() if email != ada_email)
    # Reading back what was written, and the associations, writes nothing.
    assert _poll(contacts).writes == 0

    # A user the helpdesk adds in the second organization becomes a contact associated with that company.
    helpdesk.admin(
        "POST",
        "/_admin/records/users",
        {"name": "Grace", "email": "grace@example.com", "organization_id": org_of[str(second)]},
    )
    run = _poll(contacts)

    assert run.created_a == 1
    grace = _contacts(crm)["grace@example.com"]
    linked = hubspot.associations.read("contacts", "companies", [str(grace["id"])])  # type: ignore[attr-defined]
    assert linked == {str(grace["id"]): [str(second)]}
    assert _poll(contacts).writes == 0


def test_a_reference_waiting_for_its_related_record_is_carried_once_the_related_sync_creates_it(
    team: Any, fake_providers: None
) -> None:
    clock = Clock()
    for name, first_id in (("crm", 101), ("desk", 10001), ("crm_co", 501), ("desk_org", 7001)):
        SYSTEMS[name] = FakeSystem(name, clock, unique_email=name == "desk", first_id=first_id)
    SYSTEMS["crm"].person_create({"email": "ada@example.com"})
    companies = sync_create(
        team=team,
        name="Companies",
        a_connection=fake_connection(team, "fake_crm", "crm_co"),
        a_object="contacts",
        b_connection=fake_connection(team, "fake_desk", "desk_org"),
        b_object="users",
        fields=[{"key": "name", "a": "title", "b": "title", "direction": "a_to_b"}],
        match=[{"rule": "external_id", "a": "email", "b": "email"}],
        create="a_to_b",
        enabled=True,
    )
    contacts = sync_create(
        team=team,
        name="Contacts",
        a_connection=fake_connection(team, "fake_crm", "crm"),
        a_object="contacts",
        b_connection=fake_connection(team, "fake_desk", "desk"),
        b_object="users",
        fields=[
            {"key": "email", "a": "email", "b": "email", "direction": "both"},
            # The contact names its company by the company's title; the user holds the organization's id.
            {
                "key": "company",
                "a": "city",
                "b": "plan",
                "direction": "a_to_b",
                "reference": {"sync": companies.pk, "a_key": "title", "b_key": "$id"},
            },
        ],
        match=[{"rule": "email", "a": "email", "b": "email"}],
        create="a_to_b",
        enabled=True,
    )

    _poll(contacts)
    (user,) = SYSTEMS["desk"].live()
    # The contact now names a company the companies sync has not seen yet (it is added to the CRM later).
    SYSTEMS["crm"].person_edit("101", "city", "Acme")

    waiting = _poll(contacts)

    assert user.fields.get("plan") is None and waiting.writes == 0
    (skipped,) = SyncOutcome.objects.filter(run=waiting)
    assert skipped.notes == ["company: 'Acme' has no linked record on the other side yet"]

    SYSTEMS["crm_co"].person_create({"email": "acme.example", "title": "Acme"})
    # No one touches the contact: the companies sync runs first and creates Acme's organization, then the
    # contact, still waiting, gets it.
    _poll(contacts)

    (organization,) = SYSTEMS["desk_org"].live()
    assert user.fields["plan"] == int(organization.id)
    assert len(SYSTEMS["desk"].live()) == 1
    assert _poll(contacts).writes == 0
