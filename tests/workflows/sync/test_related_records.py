"""Related records carried through another sync's links: a contact's company ↔ a user's organization.

Against the sandboxes: the CRM (HubSpot dialect) keeps a contact's company as an association (API v4), the
helpdesk (Zendesk dialect) as the user's `organization_id`. Against the fake systems: a reference whose
related record has no counterpart yet is carried by a later run, once the related sync has created it,
without anyone editing the record again.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import WriteItem
from connectors.sandbox.testing import SandboxProcess
from connectors.services import client_for
from tests.workflows.sync.fakes import SYSTEMS, Clock, FakeSystem
from tests.workflows.sync.helpers import fake_connection
from tests.workflows.sync.test_e2e_sandbox import _by_email, _connections, _contacts
from workflows.engine.sync.spec import SyncSpecError
from workflows.sync.models import Sync, SyncLink, SyncOutcome, SyncRun
from workflows.sync.services.definition import sync_create, sync_set_enabled
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


def _ticket_syncs(team: Any, a: Any, b: Any, *, contacts_enabled: bool) -> tuple[Sync, Sync]:
    """Contacts ↔ users (created in the helpdesk), and tickets ↔ tickets whose CRM contact association is the
    helpdesk ticket's requester, carried through the contacts sync's links. Nothing in the definition is
    particular to tickets: the reference names the fields and the sync that links what they point at."""
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
        ],
        match=[{"rule": "email", "a": "email", "b": "email"}],
        create="a_to_b",
        enabled=contacts_enabled,
    )
    tickets = sync_create(
        team=team,
        name="Tickets ↔ tickets",
        a_connection=a,
        a_object="tickets",
        b_connection=b,
        b_object="tickets",
        fields=[
            {"key": "subject", "a": "subject", "b": "subject", "direction": "both", "policy": "a_wins"},
            {"key": "description", "a": "content", "b": "description", "direction": "a_to_b"},
            {"key": "crm_id", "a": "hs_object_id", "b": "external_id", "direction": "a_to_b"},
            {
                "key": "requester",
                "a": "associations.contacts",
                "b": "requester_id",
                "direction": "both",
                "policy": "a_wins",
                "reference": {"sync": contacts.pk, "a_key": "$id", "b_key": "$id"},
            },
        ],
        match=[{"rule": "external_id", "a": "$id", "b": "external_id"}],
        create="both",
        enabled=True,
    )
    return contacts, tickets


def _crm_ticket(client: Any, subject: str, contact_id: str) -> str:
    (result,) = client.upsert_batch(
        "tickets",
        [
            WriteItem(
                "t",
                {
                    "subject": subject,
                    "content": f"{subject}, please help",
                    "hs_pipeline": "0",
                    "hs_pipeline_stage": "1",
                    "associations.contacts": contact_id,
                },
                None,
            )
        ],
        match_field="",
    )
    assert result.ok, result.error
    return str(result.target_id)


def _desk_tickets(helpdesk: SandboxProcess) -> dict[str, dict[str, Any]]:
    return {str(t["external_id"]): t for t in helpdesk.admin("GET", "/_admin/records/tickets")["results"]}


def test_a_tickets_contact_becomes_the_requester_created_first_through_the_contacts_sync(
    team: Any, crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess
) -> None:
    crm, helpdesk = crm_sandbox, helpdesk_sandbox
    a, b = _connections(team, crm, helpdesk)
    contacts, tickets = _ticket_syncs(team, a, b, contacts_enabled=False)
    hubspot = client_for(a)
    before = {str(t["id"]) for t in crm.records("tickets")}
    ada_email = sorted(_contacts(crm))[0]
    ada_id = str(_contacts(crm)[ada_email]["id"])
    ticket_id = _crm_ticket(hubspot, "Export is empty", ada_id)

    # The contacts sync is off, so Ada has no user yet; the contacts sync would create her, so the ticket
    # waits (visibly) rather than being created without its requester.
    waiting = _poll(tickets)

    assert _desk_tickets(helpdesk) == {} or ticket_id not in _desk_tickets(helpdesk)
    outcome = SyncOutcome.objects.get(run=waiting, a_id=ticket_id)
    assert outcome.outcome == SyncOutcome.Outcome.SKIPPED
    assert (
        outcome.error == f"not created yet: requester: {ada_id!r} has no linked record on the other side yet"
    )

    # Once the contacts sync is on, it runs first in the tickets sync's poll: Ada's user is created and
    # linked, then the waiting ticket (not edited since) is created with her as its requester.
    sync_set_enabled(sync=contacts, enabled=True)
    _poll(tickets)

    users = _by_email(helpdesk)
    desk_ticket = _desk_tickets(helpdesk)[ticket_id]
    assert desk_ticket["requester_id"] == users[ada_email]["id"]
    assert desk_ticket["subject"] == "Export is empty"
    link = SyncLink.objects.get(sync=contacts, a_id=ada_id, status="active")
    assert link.b_id == str(users[ada_email]["id"])
    # Every CRM ticket (the seeded ones too) got exactly one helpdesk ticket, and reading back writes nothing.
    assert set(_desk_tickets(helpdesk)) == before | {ticket_id}
    assert _poll(tickets).writes == 0

    # A ticket for a contact already linked is created with its requester in the same run.
    grace_email = sorted(_contacts(crm))[1]
    grace_id = str(_contacts(crm)[grace_email]["id"])
    second = _crm_ticket(hubspot, "Sync stopped", grace_id)
    run = _poll(tickets)

    assert run.created_b == 1
    assert _desk_tickets(helpdesk)[second]["requester_id"] == _by_email(helpdesk)[grace_email]["id"]
    assert _poll(tickets).writes == 0

    # The other way: a ticket opened in the helpdesk by Grace becomes a CRM ticket associated with her contact.
    opened = helpdesk.admin(
        "POST",
        "/_admin/records/tickets",
        {
            "subject": "How do I add a user?",
            "description": "See subject",
            "requester_id": _by_email(helpdesk)[grace_email]["id"],
        },
    )["ticket"]
    run = _poll(tickets)

    assert run.created_a == 1
    link = SyncLink.objects.get(sync=tickets, b_id=str(opened["id"]), status="active")
    crm_ticket = next(t for t in crm.records("tickets") if str(t["id"]) == link.a_id)
    assert crm_ticket["properties"]["subject"] == "How do I add a user?"
    associated = hubspot.associations.read("tickets", "contacts", [link.a_id])  # type: ignore[attr-defined]
    assert associated == {link.a_id: [grace_id]}
    # The helpdesk ticket now carries the CRM id; reading everything back writes nothing more.
    _poll(tickets)
    assert _desk_tickets(helpdesk)[link.a_id]["id"] == opened["id"]
    assert _poll(tickets).writes == 0


def _fake_pair(team: Any, *, related_create: str, required: bool) -> tuple[Sync, Sync]:
    clock = Clock()
    for name, first_id in (("crm", 101), ("desk", 10001), ("crm_co", 501), ("desk_org", 7001)):
        SYSTEMS[name] = FakeSystem(name, clock, unique_email=name == "desk", first_id=first_id)
    companies = sync_create(
        team=team,
        name="Companies",
        a_connection=fake_connection(team, "fake_crm", "crm_co"),
        a_object="contacts",
        b_connection=fake_connection(team, "fake_desk", "desk_org"),
        b_object="users",
        fields=[{"key": "name", "a": "title", "b": "title", "direction": "a_to_b"}],
        match=[{"rule": "external_id", "a": "email", "b": "email"}],
        create=related_create,
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
            {
                "key": "company",
                "a": "city",
                "b": "plan",
                "direction": "a_to_b",
                "reference": {"sync": companies.pk, "a_key": "title", "b_key": "$id", "required": required},
            },
        ],
        match=[{"rule": "email", "a": "email", "b": "email"}],
        create="a_to_b",
        enabled=True,
    )
    return companies, contacts


def test_a_required_reference_holds_the_create_until_the_related_record_is_linked(
    team: Any, fake_providers: None
) -> None:
    # The companies sync creates nothing: only a match links a company to an organization.
    _, contacts = _fake_pair(team, related_create="none", required=True)
    SYSTEMS["crm_co"].person_create({"email": "acme.example", "title": "Acme"})
    SYSTEMS["crm"].person_create({"email": "ada@example.com", "city": "Acme"})

    waiting = _poll(contacts)

    assert SYSTEMS["desk"].live() == [] and waiting.created_b == 0 and waiting.skipped == 1
    (held,) = SyncOutcome.objects.filter(run=waiting)
    assert held.outcome == SyncOutcome.Outcome.SKIPPED
    assert held.error == "not created yet: company: 'Acme' has no linked record on the other side yet"
    # Still waiting on the next run, with the same reason (the record stays pending).
    again = _poll(contacts)
    assert SYSTEMS["desk"].live() == [] and again.skipped == 1

    # Someone adds Acme's organization in the helpdesk; the companies sync matches it, and the contact that
    # was waiting is created with it, without anyone editing the contact.
    organization = SYSTEMS["desk_org"].person_create({"email": "acme.example", "title": "Acme"})
    assert organization is not None
    run = _poll(contacts)

    (user,) = SYSTEMS["desk"].live()
    assert run.created_b == 1
    assert user.fields["email"] == "ada@example.com" and user.fields["plan"] == int(organization.id)
    assert _poll(contacts).writes == 0


def test_an_optional_reference_the_related_sync_wont_create_is_noted_and_the_record_created_without_it(
    team: Any, fake_providers: None
) -> None:
    _, contacts = _fake_pair(team, related_create="none", required=False)
    SYSTEMS["crm_co"].person_create({"email": "acme.example", "title": "Acme"})
    SYSTEMS["crm"].person_create({"email": "ada@example.com", "city": "Acme"})

    run = _poll(contacts)

    (user,) = SYSTEMS["desk"].live()
    assert run.created_b == 1 and user.fields.get("plan") is None
    (created,) = SyncOutcome.objects.filter(run=run)
    assert created.notes == ["company: 'Acme' has no linked record on the other side yet"]


def test_a_reference_must_go_through_a_sync_between_the_same_systems_and_objects(
    team: Any, fake_providers: None
) -> None:
    crm, desk = fake_connection(team, "fake_crm", "crm"), fake_connection(team, "fake_desk", "desk")
    # Sides the other way round: its links can't translate A's ids into B's.
    reversed_sync = sync_create(
        team=team,
        name="Users ↔ contacts",
        a_connection=desk,
        a_object="users",
        b_connection=crm,
        b_object="contacts",
        fields=[{"key": "email", "a": "email", "b": "email", "direction": "both"}],
        match=[{"rule": "email", "a": "email", "b": "email"}],
    )
    people = sync_create(
        team=team,
        name="Contacts ↔ users",
        a_connection=crm,
        a_object="contacts",
        b_connection=desk,
        b_object="users",
        fields=[{"key": "email", "a": "email", "b": "email", "direction": "both"}],
        match=[{"rule": "email", "a": "email", "b": "email"}],
    )

    def tickets(reference_sync: Sync, a_field: str) -> None:
        sync_create(
            team=team,
            name="Tickets",
            a_connection=crm,
            a_object="tickets",
            b_connection=desk,
            b_object="tickets",
            fields=[
                {
                    "key": "requester",
                    "a": a_field,
                    "b": "requester_id",
                    "direction": "both",
                    "reference": {"sync": reference_sync.pk, "a_key": "$id", "b_key": "$id"},
                }
            ],
            match=[{"rule": "external_id", "a": "$id", "b": "external_id"}],
        )

    with pytest.raises(SyncSpecError) as swapped:
        tickets(reversed_sync, "associations.contacts")
    assert swapped.value.messages == [
        "requester.reference: side A of 'Users ↔ contacts' is desk, not a fake_crm connection like crm; its "
        "links can't translate this side's references",
        "requester.reference: side B of 'Users ↔ contacts' is crm, not a fake_desk connection like desk; its "
        "links can't translate this side's references",
    ]
    with pytest.raises(SyncSpecError) as wrong_object:
        tickets(people, "associations.companies")
    assert wrong_object.value.messages == [
        "requester.reference: associations.companies names companies, but 'Contacts ↔ users' links contacts "
        "on side A"
    ]
    tickets(people, "associations.contacts")
    assert Sync.objects.filter(name="Tickets").count() == 1
