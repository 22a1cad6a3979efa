"""HubSpot particulars of lookups, deletes and follow-up tasks, against the CRM sandbox over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import WriteItem
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from tests.connectors.saas_clients import connect


@pytest.fixture
def client(crm_sandbox: SandboxProcess) -> Any:
    return connect("hubspot", {"base_url": crm_sandbox.url}, {"access_token": CRM_TOKEN})


def test_find_matches_an_email_whatever_its_case_as_hubspot_search_does(
    client: Any, crm_sandbox: SandboxProcess
) -> None:
    contact = crm_sandbox.records("contacts")[2]
    email = contact["properties"]["email"]

    found = client.find("contacts", "email", f"  {email.upper()} ")

    assert found is not None and found.id == contact["id"]
    assert found.fields["email"] == email
    assert "hubspot_owner_id" in found.fields  # every property, so later steps can use them


def test_find_refuses_a_property_the_object_does_not_have(client: Any) -> None:
    with pytest.raises(Exception, match="no property 'shoe_size'"):
        client.find("contacts", "shoe_size", "44")


def test_owners_are_read_from_the_owners_api(client: Any) -> None:
    owners = client.owners()

    assert [o["email"] for o in owners] == [
        "dana.owner@demo.example",
        "sam.owner@demo.example",
        "lee.owner@demo.example",
    ]


def test_a_task_is_created_for_an_owner_and_linked_to_its_contact(
    client: Any, crm_sandbox: SandboxProcess
) -> None:
    contact = crm_sandbox.records("contacts")[0]
    owner = client.owners()[1]["id"]
    item = WriteItem(
        "lead-7",
        {
            "hs_task_subject": "Call back",
            "hs_timestamp": "2026-12-02T08:00:00Z",
            "hubspot_owner_id": owner,
            "hs_task_status": "NOT_STARTED",
            "associations.contacts": contact["id"],
        },
    )

    [result] = client.upsert_batch("tasks", [item], match_field="")

    assert result.ok and result.action == "created", result
    [task] = crm_sandbox.records("tasks")
    assert task["id"] == result.target_id
    assert task["properties"]["hubspot_owner_id"] == owner
    assert "associations.contacts" not in task["properties"]
    assert client.associations.read("contacts", "tasks", [contact["id"]]) == {contact["id"]: [task["id"]]}
    assert client.discover_schema("tasks").field("hs_timestamp") is not None


def test_a_task_without_its_time_fails_with_hubspots_words(client: Any) -> None:
    [result] = client.upsert_batch("tasks", [WriteItem("x", {"hs_task_subject": "No time"})], match_field="")

    assert result.ok is False and "hs_timestamp is required" in (result.error or "")


def test_an_update_links_the_record_after_writing_it(client: Any, crm_sandbox: SandboxProcess) -> None:
    contact = crm_sandbox.records("contacts")[0]
    company = crm_sandbox.records("companies")[1]

    [result] = client.upsert_batch(
        "contacts",
        [
            WriteItem(
                "c", {"jobtitle": "CTO", "associations.companies": company["id"]}, target_id=contact["id"]
            )
        ],
        match_field="email",
    )

    assert result.ok and result.action == "updated", result
    assert company["id"] in client.associations.read("contacts", "companies", [contact["id"]])[contact["id"]]


def test_an_association_hubspot_cannot_make_fails_only_that_record(client: Any) -> None:
    [result] = client.upsert_batch(
        "tasks",
        [WriteItem("x", {"hs_timestamp": "2026-12-02T08:00:00Z", "associations.pipelines": "1"})],
        match_field="",
    )

    assert result.ok is False and "cannot be associated with pipelines" in (result.error or "")


def test_deleted_records_are_listed_from_the_recycle_bin(client: Any, crm_sandbox: SandboxProcess) -> None:
    ids = [c["id"] for c in crm_sandbox.records("contacts")[:2]]

    results = client.delete_batch("contacts", ids)
    archived = list(client.archived("contacts"))

    assert [r.ok for r in results] == [True, True]
    assert sorted(r.id for r in archived) == sorted(ids)
    assert all(r.fields["archived"] is True for r in archived)
    assert client.find("contacts", "id", ids[0]) is None
