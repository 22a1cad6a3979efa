"""HubSpot find: unique properties are read directly (GET ...?idProperty=), not through search.

HubSpot's search is eventually consistent: a contact created a second ago is not in it yet, so a second
submission with the same email would create a duplicate. The record id, a contact's email and custom
properties created with unique values are read with GET /crm/v3/objects/{object}/{value}, which sees a
record as soon as it exists; every other property (a company's domain among them) is searched.
"""

from __future__ import annotations

import pytest

from connectors.base import ConnectionSettings, WriteItem
from connectors.providers.hubspot.client import HubSpotClient
from connectors.registry import get_provider
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess

READ_ONE = "GET /crm/v3/objects/{object}/{id}"
SEARCH = "POST /crm/v3/objects/{object}/search"


def make_client(sandbox: SandboxProcess) -> HubSpotClient:
    settings = ConnectionSettings(
        connection_id=None, config={"base_url": sandbox.url}, credentials={"access_token": CRM_TOKEN}
    )
    client = get_provider("hubspot").client(settings)
    assert isinstance(client, HubSpotClient)
    client.http.sleep = lambda seconds: None
    return client


def forget_calls_after_schema(sandbox: SandboxProcess, client: HubSpotClient, object_name: str) -> None:
    """Read the schema (the client keeps it) and forget the calls so far, so only the finds are counted."""
    client.discover_schema(object_name)
    sandbox.admin("DELETE", "/stats")


def requests(sandbox: SandboxProcess) -> dict[str, int]:
    return dict(sandbox.stats()["requests"])


def test_a_contact_is_found_by_email_with_a_direct_read_not_a_search(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    written = client.upsert_batch(
        "contacts",
        [WriteItem("k", {"email": "just.created@example.com", "firstname": "Jus"})],
        match_field="email",
    )
    forget_calls_after_schema(crm_sandbox, client, "contacts")

    found = client.find("contacts", "email", "Just.Created@Example.com")
    missing = client.find("contacts", "email", "nobody@example.com")

    assert found is not None and found.id == written[0].target_id
    assert found.fields["firstname"] == "Jus"
    assert missing is None
    assert requests(crm_sandbox) == {READ_ONE: 2}


@pytest.mark.parametrize("field", ["id", "hs_object_id"])
def test_a_record_is_found_by_its_id_with_a_direct_read(crm_sandbox: SandboxProcess, field: str) -> None:
    client = make_client(crm_sandbox)
    target = str(crm_sandbox.records("contacts")[0]["id"])
    forget_calls_after_schema(crm_sandbox, client, "contacts")

    found = client.find("contacts", field, target)

    assert found is not None and found.id == target
    assert client.find("contacts", field, "999999999") is None
    assert requests(crm_sandbox) == {READ_ONE: 2}


def test_a_custom_unique_property_is_read_directly(crm_sandbox: SandboxProcess) -> None:
    crm_sandbox.admin("POST", "/properties/contacts", {"name": "member_number", "hasUniqueValue": True})
    client = make_client(crm_sandbox)
    written = client.upsert_batch(
        "contacts",
        [WriteItem("k", {"email": "member@example.com", "member_number": "M-42"})],
        match_field="email",
    )
    forget_calls_after_schema(crm_sandbox, client, "contacts")

    found = client.find("contacts", "member_number", "M-42")

    assert found is not None and found.id == written[0].target_id
    assert requests(crm_sandbox) == {READ_ONE: 1}


def test_properties_that_are_not_unique_are_searched(crm_sandbox: SandboxProcess) -> None:
    """A company's domain is not unique in HubSpot, so it cannot be an idProperty; nor can firstname."""
    client = make_client(crm_sandbox)
    company = crm_sandbox.records("companies")[0]["properties"]
    contact = crm_sandbox.records("contacts")[0]["properties"]
    client.discover_schema("contacts")
    forget_calls_after_schema(crm_sandbox, client, "companies")

    by_domain = client.find("companies", "domain", company["domain"])
    by_name = client.find("contacts", "firstname", contact["firstname"])

    assert by_domain is not None and by_domain.fields["domain"] == company["domain"]
    assert by_name is not None and by_name.fields["firstname"] == contact["firstname"]
    assert requests(crm_sandbox) == {SEARCH: 2}


def test_companies_upsert_by_domain_updates_the_oldest_match_and_creates_the_rest_once(
    crm_sandbox: SandboxProcess,
) -> None:
    """A company's domain is no idProperty in HubSpot, so an upsert on it searches and then updates or
    creates; a domain repeated in one batch updates the company created for its first occurrence."""
    client = make_client(crm_sandbox)
    existing = crm_sandbox.records("companies")[0]
    domain = existing["properties"]["domain"]
    sandbox_calls_before = requests(crm_sandbox)

    results = client.upsert_batch(
        "companies",
        [
            WriteItem("a", {"domain": domain.upper(), "name": "Renamed"}),
            WriteItem("b", {"domain": "fresh.example", "name": "Fresh"}),
            WriteItem("c", {"domain": "fresh.example", "name": "Fresh again"}),
        ],
        match_field="domain",
    )

    assert [r.ok for r in results] == [True, True, True]
    assert results[0].target_id == str(existing["id"]) and results[0].action == "updated"
    assert results[1].action == "created"
    assert results[2].target_id == results[1].target_id and results[2].action == "updated"
    by_domain = {c["properties"]["domain"]: c["properties"]["name"] for c in crm_sandbox.records("companies")}
    assert by_domain[domain] == "Renamed" and by_domain["fresh.example"] == "Fresh again"
    assert len(crm_sandbox.records("companies")) == 3
    calls = requests(crm_sandbox)
    assert "POST /crm/v3/objects/{object}/batch/upsert" not in calls
    assert calls.get(SEARCH, 0) > sandbox_calls_before.get(SEARCH, 0)
