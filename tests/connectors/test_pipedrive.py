"""The Pipedrive connector's particulars, over real HTTP against the sales sandbox (Pipedrive dialect)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import ConnectorError, WriteItem
from connectors.http import HttpResponse
from connectors.providers.pipedrive.client import pipedrive_message
from connectors.providers.pipedrive.provider import PipedriveProvider
from connectors.registry import get_provider
from connectors.sandbox.sales import custom_key
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import saas_clients

TIER = custom_key("person", "Customer tier")
INTERESTS = custom_key("person", "Interests")
HEALTH = custom_key("organization", "Account health")


def read(client: Any, object_name: str, cursor: str | None = None) -> tuple[list[Any], str | None]:
    pages = list(client.list_changes(object_name, cursor, page_size=20))
    return [r for p in pages for r in p.records], pages[-1].cursor


def test_provider_declares_pipedrives_objects_and_burst_limit() -> None:
    assert get_provider("pipedrive") is PipedriveProvider
    assert set(PipedriveProvider.objects) == {"persons", "organizations", "deals", "activities"}
    assert PipedriveProvider.capabilities["persons"].upsert_key == "email"
    assert PipedriveProvider.capabilities["organizations"].upsert_key == "name"
    limit = PipedriveProvider.rate_limit
    assert limit is not None and (limit.requests, limit.interval_seconds) == (20, 2)


def test_the_token_goes_in_a_header_never_in_the_url(sales_sandbox: SandboxProcess) -> None:
    client = saas_clients.pipedrive(sales_sandbox)

    client.test()

    stats = sales_sandbox.stats()["requests"]
    assert stats == {"GET /v1/users/me": 1}


def test_records_flatten_contacts_and_references_and_keep_option_ids(sales_sandbox: SandboxProcess) -> None:
    records, _ = read(saas_clients.pipedrive(sales_sandbox), "persons")

    stored = {str(p["id"]): p for p in sales_sandbox.records("persons")}
    record = next(r for r in records if stored[r.id]["org_id"])
    raw = stored[record.id]
    assert record.fields["email"] == raw["email"][0]["value"]
    assert record.fields["org_id"] == raw["org_id"]["value"]
    assert record.fields[TIER] == str(raw[TIER])
    assert record.fields["owner_id"] in (1, 2)


def test_schema_marks_custom_fields_and_labels_stages_with_their_pipeline(
    sales_sandbox: SandboxProcess,
) -> None:
    client = saas_clients.pipedrive(sales_sandbox)

    persons = client.discover_schema("persons")
    deals = client.discover_schema("deals")

    tier = persons.field(TIER)
    assert tier is not None and tier.custom and tier.label == "Customer tier"
    assert [(o.value, o.label) for o in tier.options][:2] == [("101", "Bronze"), ("102", "Silver")]
    interests = persons.field(INTERESTS)
    assert interests is not None and interests.type == "json" and interests.options
    stage = deals.field("stage_id")
    assert stage is not None and stage.options[0].label == "Sales pipeline: Qualified"
    update_time = persons.field("update_time")
    assert update_time is not None and update_time.read_only


def test_option_labels_are_written_as_pipedrives_option_ids(sales_sandbox: SandboxProcess) -> None:
    client = saas_clients.pipedrive(sales_sandbox)

    [result] = client.upsert_batch(
        "persons",
        [
            WriteItem(
                "k",
                {
                    "name": "Ada",
                    "email": "ada@example.com",
                    TIER: "platinum",
                    INTERESTS: ["Analytics", "mobile"],
                },
            )
        ],
        match_field="email",
    )

    stored = next(p for p in sales_sandbox.records("persons") if str(p["id"]) == result.target_id)
    assert stored[TIER] == 104 and stored[INTERESTS] == "121,124"


def test_an_edit_made_in_the_same_second_as_the_last_read_is_not_lost(sales_sandbox: SandboxProcess) -> None:
    client = saas_clients.pipedrive(sales_sandbox)
    [made] = client.upsert_batch(
        "persons", [WriteItem("k", {"name": "Fast", "email": "fast@example.com"})], match_field="email"
    )
    _, cursor = read(client, "persons")

    # Within the same second as the read: the cursor's second, but different values.
    sales_sandbox.admin("PATCH", f"/records/persons/{made.target_id}", {"name": "Faster"})
    changed, _ = read(client, "persons", cursor)

    assert [(r.id, r.fields["name"]) for r in changed] == [(made.target_id, "Faster")]


def test_organizations_upsert_by_name_and_deals_are_created_without_a_key(
    sales_sandbox: SandboxProcess,
) -> None:
    client = saas_clients.pipedrive(sales_sandbox)
    existing = sales_sandbox.records("organizations")[0]

    [org] = client.upsert_batch(
        "organizations",
        [WriteItem("o", {"name": existing["name"].upper(), HEALTH: "Red"})],
        match_field="name",
    )
    [deal] = client.upsert_batch(
        "deals",
        [
            WriteItem(
                "d",
                {
                    "title": "Big one",
                    "value": 5000,
                    "org_id": existing["id"],
                    "stage_id": "Partnerships: Evaluation",
                },
            )
        ],
        match_field="",
    )

    assert org.action == "updated" and org.target_id == str(existing["id"])
    stored = next(d for d in sales_sandbox.records("deals") if str(d["id"]) == deal.target_id)
    assert (
        deal.action == "created" and stored["stage_id"] == 7 and stored["org_id"]["value"] == existing["id"]
    )


def test_a_missing_reference_fails_with_pipedrives_words(sales_sandbox: SandboxProcess) -> None:
    [result] = saas_clients.pipedrive(sales_sandbox).upsert_batch(
        "persons",
        [WriteItem("k", {"name": "Lost", "email": "lost@example.com", "org_id": 999999})],
        match_field="email",
    )

    assert result.ok is False and result.error == "Organization with id 999999 not found."


def test_a_create_that_fails_with_a_5xx_is_not_sent_again(sales_sandbox: SandboxProcess) -> None:
    client = saas_clients.pipedrive(sales_sandbox)
    client.discover_schema("persons")
    before = len(sales_sandbox.records("persons"))
    sales_sandbox.set_faults(status=503, fail_next=1, path_prefix="/v1/persons")

    # Pipedrive may have created the person before failing; sending it again could make a twin.
    with pytest.raises(ConnectorError) as caught:
        client.upsert_batch("persons", [WriteItem("k", {"name": "Once"})], match_field="")

    assert caught.value.permanent is False and caught.value.status == 503
    assert sales_sandbox.stats()["requests"]["POST /v1/persons"] == 1
    assert len(sales_sandbox.records("persons")) == before


def test_error_text_prefers_pipedrives_error_over_its_info() -> None:
    body = {
        "success": False,
        "error": "Person not found",
        "errorCode": 404,
        "error_info": "Please check the docs.",
    }
    assert pipedrive_message(HttpResponse(404, "", {}, "", "", 0.0, body)) == "Person not found"
    only_info = {"success": False, "error_info": "Please check the docs."}
    assert pipedrive_message(HttpResponse(400, "", {}, "", "", 0.0, only_info)) == "Please check the docs."


def test_a_person_id_that_climbs_to_a_deal_never_deletes_the_deal(sales_sandbox: SandboxProcess) -> None:
    """An id taken from a webhook body is one path segment: "<person>/../../deals/<deal>" names no person."""
    client = saas_clients.pipedrive(sales_sandbox)
    person = sales_sandbox.records("persons")[0]
    deal = next(d for d in sales_sandbox.records("deals") if d.get("active_flag") is not False)
    climbing = f"{person['id']}/../../deals/{deal['id']}"
    sales_sandbox.admin("DELETE", "/stats")

    result = client.delete("persons", climbing)
    found = client.find("persons", "id", climbing)

    assert result.ok is False and found is None
    requests = sales_sandbox.stats()["requests"]
    assert "DELETE /v1/deals/{id}" not in requests and "GET /v1/deals/{id}" not in requests, requests
    after = next(d for d in sales_sandbox.records("deals") if d["id"] == deal["id"])
    assert after.get("active_flag") is not False and after.get("status") != "deleted"
    assert any(
        p["id"] == person["id"] and p.get("active_flag") is not False
        for p in sales_sandbox.records("persons")
    )
