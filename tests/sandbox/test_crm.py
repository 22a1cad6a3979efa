"""The CRM sandbox keeps the HubSpot CRM v3 contract of docs/sandbox.md, over real HTTP."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from connectors.sandbox.engine import parse_timestamp
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess

AUTH = {"Authorization": f"Bearer {CRM_TOKEN}"}
CONTACTS = "/crm/v3/objects/contacts"
DEFAULT_CONTACT_PROPS = {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}


def call(sb: SandboxProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, data = sb.request(method, path, body, headers=AUTH)
    return status, data


def ms(value: str) -> int:
    parsed = parse_timestamp(value)
    assert parsed is not None, value
    return parsed


def search_all(sb: SandboxProcess, obj: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
    """Follow paging.next.after to the end; returns the records and each page's total."""
    results: list[dict[str, Any]] = []
    totals: list[int] = []
    after: str | None = None
    for _ in range(100):
        page_body = dict(body, after=after) if after else body
        status, page = call(sb, "POST", f"/crm/v3/objects/{obj}/search", page_body)
        assert status == 200, page
        results.extend(page["results"])
        totals.append(page["total"])
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            return results, totals
    raise AssertionError("search paging did not end")


def contact_inputs(count: int, prefix: str = "new") -> list[dict[str, Any]]:
    return [
        {"properties": {"email": f"{prefix}{i}@example.com", "firstname": f"First{i}", "lastname": "Tester"}}
        for i in range(count)
    ]


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": CRM_TOKEN}]
)
def test_bad_or_missing_token_is_401_with_hubspot_body(
    crm_sandbox: SandboxProcess, headers: dict[str, str]
) -> None:
    status, _, body = crm_sandbox.request("GET", CONTACTS, headers=headers)
    assert status == 401
    assert set(body) == {"status", "message", "correlationId", "category"}
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found. ")
    uuid.UUID(body["correlationId"])


def test_auth_applies_to_every_api_route(crm_sandbox: SandboxProcess) -> None:
    for method, path, payload in [
        ("POST", f"{CONTACTS}/search", {}),
        ("POST", f"{CONTACTS}/batch/create", {"inputs": []}),
        ("GET", "/crm/v3/properties/contacts", None),
    ]:
        status, _, body = crm_sandbox.request(method, path, payload)
        assert status == 401, path
        assert body["category"] == "INVALID_AUTHENTICATION"


# --- reading ------------------------------------------------------------------------------------


def test_list_pages_by_id_with_after(crm_sandbox: SandboxProcess) -> None:
    seen: list[str] = []
    sizes: list[int] = []
    after: str | None = None
    while True:
        status, page = call(crm_sandbox, "GET", f"{CONTACTS}?limit=7" + (f"&after={after}" if after else ""))
        assert status == 200
        sizes.append(len(page["results"]))
        seen.extend(r["id"] for r in page["results"])
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
        assert page["paging"]["next"]["link"].endswith(f"after={after}")
    assert sizes == [7, 7, 6]
    assert len(set(seen)) == 20
    assert [int(i) for i in seen] == sorted(int(i) for i in seen)


def test_list_returns_default_properties_unless_asked(crm_sandbox: SandboxProcess) -> None:
    status, page = call(crm_sandbox, "GET", f"{CONTACTS}?limit=1")
    assert status == 200
    record = page["results"][0]
    assert set(record) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert set(record["properties"]) == DEFAULT_CONTACT_PROPS
    assert record["properties"]["hs_object_id"] == record["id"]
    assert record["archived"] is False

    status, page = call(
        crm_sandbox, "GET", f"{CONTACTS}?limit=1&properties=phone,customer_tier&properties=city"
    )
    props = page["results"][0]["properties"]
    assert set(props) == {"phone", "customer_tier", "city", "createdate", "lastmodifieddate", "hs_object_id"}
    assert props["customer_tier"] in {"bronze", "silver", "gold", "platinum"}
    assert all(v is None or isinstance(v, str) for v in props.values())


def test_timestamps_are_iso_utc_with_milliseconds(crm_sandbox: SandboxProcess) -> None:
    _, page = call(crm_sandbox, "GET", f"{CONTACTS}?limit=3")
    for record in page["results"]:
        for value in (record["createdAt"], record["updatedAt"], record["properties"]["lastmodifieddate"]):
            assert len(value) == len("2026-11-28T10:00:00.123Z") and value.endswith("Z") and value[19] == "."
        assert record["updatedAt"] == record["properties"]["lastmodifieddate"]


def test_get_one_and_404(crm_sandbox: SandboxProcess) -> None:
    status, record = call(crm_sandbox, "GET", f"{CONTACTS}/101?properties=email,jobtitle")
    assert status == 200
    assert record["id"] == "101"
    assert "jobtitle" in record["properties"]

    email = record["properties"]["email"]
    status, by_email = call(crm_sandbox, "GET", f"{CONTACTS}/{email.upper()}?idProperty=email")
    assert status == 200 and by_email["id"] == "101"

    status, body = call(crm_sandbox, "GET", f"{CONTACTS}/99999")
    assert status == 404
    assert {k: body[k] for k in ("status", "message", "category")} == {
        "status": "error",
        "message": "resource not found",
        "category": "OBJECT_NOT_FOUND",
    }


def test_unknown_object_type_is_rejected(crm_sandbox: SandboxProcess) -> None:
    status, body = call(crm_sandbox, "GET", "/crm/v3/objects/widgets")
    assert status == 400
    assert body["message"] == "Unable to infer object type from: widgets"


# --- search -------------------------------------------------------------------------------------


def lastmodified_search(since_ms: int | str, *, limit: int = 3, op: str = "GTE") -> dict[str, Any]:
    return {
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": op, "value": since_ms}]}
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "lastmodifieddate"],
        "limit": limit,
    }


def test_search_by_lastmodifieddate_gte_sorted_ascending_with_paging(crm_sandbox: SandboxProcess) -> None:
    everything = crm_sandbox.records("contacts")
    stamps = sorted((ms(r["updatedAt"]), int(r["id"])) for r in everything)
    threshold = stamps[len(stamps) // 2][0]
    expected = [str(i) for t, i in stamps if t >= threshold]

    # The value is epoch milliseconds, as a string here and as a number below.
    results, totals = search_all(crm_sandbox, "contacts", lastmodified_search(str(threshold)))
    assert [r["id"] for r in results] == expected
    assert set(totals) == {len(expected)}
    modified = [ms(r["properties"]["lastmodifieddate"]) for r in results]
    assert modified == sorted(modified) and modified[0] >= threshold
    assert set(results[0]["properties"]) == {"email", "lastmodifieddate", "createdate", "hs_object_id"}

    numeric, _ = search_all(crm_sandbox, "contacts", lastmodified_search(threshold))
    assert [r["id"] for r in numeric] == expected

    gt, _ = search_all(crm_sandbox, "contacts", lastmodified_search(threshold, op="GT"))
    assert [r["id"] for r in gt] == expected[1:]


def test_search_last_page_has_no_paging(crm_sandbox: SandboxProcess) -> None:
    status, page = call(crm_sandbox, "POST", f"{CONTACTS}/search", {"limit": 100})
    assert status == 200
    assert page["total"] == 20 and len(page["results"]) == 20
    assert "paging" not in page


def test_search_filters_and_sorts(crm_sandbox: SandboxProcess) -> None:
    everything = crm_sandbox.records("contacts")
    target = everything[5]["properties"]

    def ids(body: dict[str, Any]) -> list[str]:
        found, _ = search_all(crm_sandbox, "contacts", {"limit": 100, **body})
        return [r["id"] for r in found]

    def where(*filters: dict[str, Any]) -> dict[str, Any]:
        return {"filterGroups": [{"filters": list(filters)}]}

    # EQ on email ignores case, as HubSpot does.
    eq = where({"propertyName": "email", "operator": "EQ", "value": target["email"].upper()})
    assert ids(eq) == [target["hs_object_id"]]
    gold = [r["id"] for r in everything if r["properties"]["customer_tier"] == "gold"]
    assert ids(where({"propertyName": "customer_tier", "operator": "EQ", "value": "gold"})) == gold
    no_phone = [r["id"] for r in everything if r["properties"]["phone"] is None]
    assert ids(where({"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"})) == no_phone
    tiers = [r["id"] for r in everything if r["properties"]["customer_tier"] in ("gold", "platinum")]
    assert (
        ids(where({"propertyName": "customer_tier", "operator": "IN", "values": ["gold", "platinum"]}))
        == tiers
    )
    # Filter groups are ORed, filters inside a group ANDed.
    either = {
        "filterGroups": [
            {"filters": [{"propertyName": "customer_tier", "operator": "EQ", "value": "gold"}]},
            {"filters": [{"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}]},
        ]
    }
    assert ids(either) == sorted(set(gold) | set(no_phone), key=int)
    descending = ids({"sorts": [{"propertyName": "createdate", "direction": "DESCENDING"}]})
    by_created = sorted(everything, key=lambda r: (ms(r["createdAt"]), int(r["id"])), reverse=True)
    assert descending == [r["id"] for r in by_created]


@pytest.mark.parametrize(
    "body",
    [
        {"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}]},
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]},
        {
            "filterGroups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "soon"}]}
            ]
        },
        {"sorts": [{"propertyName": "email", "direction": "SIDEWAYS"}]},
    ],
)
def test_bad_search_is_400_validation_error(crm_sandbox: SandboxProcess, body: dict[str, Any]) -> None:
    status, answer = call(crm_sandbox, "POST", f"{CONTACTS}/search", body)
    assert status == 400
    assert answer["category"] == "VALIDATION_ERROR"


# --- batch writes -------------------------------------------------------------------------------


def test_batch_create_returns_201_complete_with_records(crm_sandbox: SandboxProcess) -> None:
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/create", {"inputs": contact_inputs(3)})
    assert status == 201
    assert body["status"] == "COMPLETE"
    assert {"startedAt", "completedAt"} <= set(body)
    assert [r["properties"]["email"] for r in body["results"]] == [f"new{i}@example.com" for i in range(3)]
    for record in body["results"]:
        assert record["properties"]["hs_object_id"] == record["id"]
        status, fetched = call(crm_sandbox, "GET", f"{CONTACTS}/{record['id']}?properties=firstname")
        assert status == 200 and fetched["properties"]["firstname"].startswith("First")


def test_batch_of_100_is_accepted_and_101_rejected(crm_sandbox: SandboxProcess) -> None:
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/create", {"inputs": contact_inputs(101)})
    assert status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert len(crm_sandbox.records("contacts")) == 20

    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/create", {"inputs": contact_inputs(100)})
    assert status == 201
    assert len(body["results"]) == 100


def test_every_write_gets_a_distinct_increasing_modification_time(crm_sandbox: SandboxProcess) -> None:
    _, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/create", {"inputs": contact_inputs(100)})
    stamps = [ms(r["updatedAt"]) for r in body["results"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 100
    # So "GT the last one I saw" never skips or repeats a record.
    found, _ = search_all(crm_sandbox, "contacts", lastmodified_search(stamps[49], limit=100, op="GT"))
    assert [r["id"] for r in found] == [r["id"] for r in body["results"][50:]]


@pytest.mark.parametrize(
    ("properties", "name", "code"),
    [
        ({"email": "not-an-email"}, "email", "INVALID_EMAIL"),
        ({"customer_tier": "diamond"}, "customer_tier", "INVALID_OPTION"),
        ({"nps_score": "lots"}, "nps_score", "INVALID_NUMBER"),
        ({"newsletter_opt_in": "maybe"}, "newsletter_opt_in", "INVALID_BOOLEAN"),
        ({"favourite_colour": "red"}, "favourite_colour", "PROPERTY_DOESNT_EXIST"),
        ({"lastmodifieddate": "2026-01-01T00:00:00Z"}, "lastmodifieddate", "READ_ONLY_VALUE"),
    ],
)
def test_one_invalid_input_fails_the_whole_batch(
    crm_sandbox: SandboxProcess, properties: dict[str, str], name: str, code: str
) -> None:
    inputs = contact_inputs(3)
    inputs[1]["properties"].update(properties)
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/create", {"inputs": inputs})
    assert status == 400
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    assert name in body["message"]
    [error] = body["errors"]
    assert error["context"]["propertyName"] == [name]
    assert error["code"] == code
    assert error["context"]["index"] == ["1"]
    assert len(crm_sandbox.records("contacts")) == 20, "nothing of a failed batch is written"


def test_malformed_json_is_400(crm_sandbox: SandboxProcess) -> None:
    status, _, body = crm_sandbox.request(
        "POST", f"{CONTACTS}/batch/create", None, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert status == 400 and body["category"] == "VALIDATION_ERROR"


def test_duplicate_email_is_a_409_conflict(crm_sandbox: SandboxProcess) -> None:
    existing = crm_sandbox.records("contacts")[0]
    inputs = contact_inputs(2)
    inputs[1]["properties"]["email"] = existing["properties"]["email"].upper()
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/create", {"inputs": inputs})
    assert status == 409
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {existing['id']}"
    assert len(crm_sandbox.records("contacts")) == 20


def test_batch_update_changes_values_and_bumps_lastmodifieddate(crm_sandbox: SandboxProcess) -> None:
    before = {r["id"]: r for r in crm_sandbox.records("contacts")}
    inputs = [
        {"id": "101", "properties": {"jobtitle": "Chief Tester", "nps_score": 9}},
        {"id": "102", "properties": {"phone": "", "newsletter_opt_in": True}},
    ]
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/update", {"inputs": inputs})
    assert status == 200 and body["status"] == "COMPLETE"
    after = {r["id"]: r for r in crm_sandbox.records("contacts")}
    assert after["101"]["properties"]["jobtitle"] == "Chief Tester"
    assert after["101"]["properties"]["nps_score"] == "9"  # property values are strings
    assert after["102"]["properties"]["phone"] is None
    assert after["102"]["properties"]["newsletter_opt_in"] == "true"
    for id_ in ("101", "102"):
        assert ms(after[id_]["updatedAt"]) > max(ms(r["updatedAt"]) for r in before.values())
        assert after[id_]["createdAt"] == before[id_]["createdAt"]
    assert after["103"] == before["103"]


def test_batch_update_with_unknown_id_changes_nothing(crm_sandbox: SandboxProcess) -> None:
    before = crm_sandbox.records("contacts")
    inputs = [
        {"id": "101", "properties": {"jobtitle": "X"}},
        {"id": "999999", "properties": {"jobtitle": "Y"}},
    ]
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/update", {"inputs": inputs})
    assert status == 404
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["context"] == {"ids": ["999999"]}
    assert crm_sandbox.records("contacts") == before


def test_batch_upsert_by_email_creates_and_updates(crm_sandbox: SandboxProcess) -> None:
    existing = crm_sandbox.records("contacts")[3]
    inputs = [
        {
            "id": existing["properties"]["email"].upper(),
            "idProperty": "email",
            "properties": {"jobtitle": "Upserted"},
        },
        {"id": "fresh@example.com", "idProperty": "email", "properties": {"firstname": "Fresh"}},
    ]
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/upsert", {"inputs": inputs})
    assert status == 200
    first, second = body["results"]
    assert first["new"] is False and first["id"] == existing["id"]
    assert first["properties"]["jobtitle"] == "Upserted"
    assert second["new"] is True
    assert second["properties"]["email"] == "fresh@example.com"
    assert second["properties"]["firstname"] == "Fresh"
    assert len(crm_sandbox.records("contacts")) == 21


def test_batch_upsert_rejects_bad_input(crm_sandbox: SandboxProcess) -> None:
    cases = [
        [{"id": "x@example.com", "idProperty": "firstname", "properties": {}}],
        [{"id": "not-an-email", "idProperty": "email", "properties": {}}],
        [{"id": "x@example.com", "idProperty": "email", "properties": {"customer_tier": "tin"}}],
    ]
    for inputs in cases:
        status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/upsert", {"inputs": inputs})
        assert status == 400, inputs
        assert body["category"] == "VALIDATION_ERROR"
    dupes = [{"id": "d@example.com", "idProperty": "email", "properties": {}}] * 2
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/upsert", {"inputs": dupes})
    assert status == 400
    assert len(crm_sandbox.records("contacts")) == 20


def test_batch_read_reports_missing_ids_with_207(crm_sandbox: SandboxProcess) -> None:
    payload = {"inputs": [{"id": "101"}, {"id": "102"}], "properties": ["email"]}
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/read", payload)
    assert status == 200
    assert [r["id"] for r in body["results"]] == ["101", "102"]
    payload["inputs"].append({"id": "424242"})
    status, body = call(crm_sandbox, "POST", f"{CONTACTS}/batch/read", payload)
    assert status == 207
    assert body["numErrors"] == 1
    assert body["errors"][0]["context"] == {"ids": ["424242"]}


def test_single_create_and_patch(crm_sandbox: SandboxProcess) -> None:
    status, created = call(crm_sandbox, "POST", CONTACTS, {"properties": {"email": "One@Example.com"}})
    assert status == 201
    assert created["properties"]["email"] == "one@example.com"  # emails are stored lower case
    status, patched = call(
        crm_sandbox, "PATCH", f"{CONTACTS}/{created['id']}", {"properties": {"city": "Oslo"}}
    )
    assert status == 200
    assert patched["properties"]["city"] == "Oslo"
    assert ms(patched["updatedAt"]) > ms(created["updatedAt"])


# --- companies and properties --------------------------------------------------------------------


def test_companies_may_share_a_domain_which_is_no_id_property(crm_sandbox: SandboxProcess) -> None:
    companies = crm_sandbox.records("companies")
    assert len(companies) == 2
    props = companies[0]["properties"]
    assert props["hs_lastmodifieddate"] == props["lastmodifieddate"]
    inputs = [{"properties": {"name": "Copy", "domain": props["domain"].upper()}}]
    status, body = call(crm_sandbox, "POST", "/crm/v3/objects/companies/batch/create", {"inputs": inputs})
    assert status == 201 and body["results"][0]["properties"]["domain"] == props["domain"]
    upsert = [{"id": props["domain"], "idProperty": "domain", "properties": {"name": "Again"}}]
    status, body = call(crm_sandbox, "POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": upsert})
    assert status == 400 and "idProperty" in json.dumps(body)
    search = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": 0}]}
        ],
        "limit": 10,
    }
    status, found = call(crm_sandbox, "POST", "/crm/v3/objects/companies/search", search)
    assert status == 200 and found["total"] == 3


def test_properties_describe_standard_and_custom_fields(crm_sandbox: SandboxProcess) -> None:
    status, body = call(crm_sandbox, "GET", "/crm/v3/properties/contacts")
    assert status == 200
    props = {p["name"]: p for p in body["results"]}
    expected = {
        "email", "firstname", "lastname", "phone", "company", "jobtitle", "lifecyclestage", "hs_lead_status",
        "hubspot_owner_id", "city", "country", "createdate", "lastmodifieddate", "hs_object_id",
        "customer_tier", "nps_score", "newsletter_opt_in", "notes_internal",
    }  # fmt: skip
    assert set(props) == expected
    for prop in props.values():
        assert prop["type"] in {"string", "number", "date", "datetime", "enumeration", "bool"}
        assert prop["fieldType"] in {
            "text", "textarea", "number", "date", "select", "radio", "booleancheckbox", "phonenumber"
        }  # fmt: skip
        assert set(prop["modificationMetadata"]) == {"readOnlyValue", "archivable", "readOnlyDefinition"}
        assert {"label", "description", "groupName", "options", "hubspotDefined", "hasUniqueValue"} <= set(
            prop
        )

    tier = props["customer_tier"]
    assert tier["type"] == "enumeration" and tier["hubspotDefined"] is False
    assert [o["value"] for o in tier["options"]] == ["bronze", "silver", "gold", "platinum"]
    assert set(tier["options"][0]) == {"label", "value", "displayOrder", "hidden"}
    assert props["nps_score"]["type"] == "number"
    assert props["newsletter_opt_in"]["type"] == "bool"
    assert props["newsletter_opt_in"]["fieldType"] == "booleancheckbox"
    assert props["notes_internal"]["hubspotDefined"] is False
    assert props["email"]["hubspotDefined"] is True and props["email"]["hasUniqueValue"] is True
    assert props["lastmodifieddate"]["modificationMetadata"]["readOnlyValue"] is True
    assert props["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    assert props["firstname"]["modificationMetadata"]["readOnlyValue"] is False
    assert "qualification" in props["lifecyclestage"]["description"]

    status, companies = call(crm_sandbox, "GET", "/crm/v3/properties/companies")
    health = {p["name"]: p for p in companies["results"]}["account_health"]
    assert [o["value"] for o in health["options"]] == ["green", "amber", "red"]
    status, one = call(crm_sandbox, "GET", "/crm/v3/properties/contacts/customer_tier")
    assert status == 200 and one["name"] == "customer_tier"


# --- admin edits ----------------------------------------------------------------------------------


def test_admin_edit_shows_up_in_the_next_incremental_search(crm_sandbox: SandboxProcess) -> None:
    watermark = max(ms(r["updatedAt"]) for r in crm_sandbox.records("contacts"))
    found, _ = search_all(crm_sandbox, "contacts", lastmodified_search(watermark, op="GT"))
    assert found == []

    edited = crm_sandbox.admin("PATCH", "/records/contacts/105", {"properties": {"firstname": "Edited"}})
    assert edited["properties"]["firstname"] == "Edited"
    found, _ = search_all(crm_sandbox, "contacts", lastmodified_search(watermark, op="GT"))
    assert [r["id"] for r in found] == ["105"]
    assert ms(found[0]["properties"]["lastmodifieddate"]) > watermark

    created = crm_sandbox.admin("POST", "/records/contacts", {"properties": {"email": "walkin@example.com"}})
    found, _ = search_all(crm_sandbox, "contacts", lastmodified_search(watermark, op="GT"))
    assert [r["id"] for r in found] == ["105", created["id"]]


def test_admin_edit_is_validated_like_the_api(crm_sandbox: SandboxProcess) -> None:
    status, _, body = crm_sandbox.request(
        "PATCH", "/_admin/records/contacts/101", {"properties": {"email": "x"}}
    )
    assert status == 400 and body["category"] == "VALIDATION_ERROR"
    status, _, body = crm_sandbox.request("PATCH", "/_admin/records/contacts/1", {"properties": {}})
    assert status == 404


def test_a_custom_property_created_unique_is_an_id_property_and_others_are_not(
    crm_sandbox: SandboxProcess,
) -> None:
    """As in HubSpot: GET .../{value}?idProperty=<name> reads by the id, the email or a custom property
    created with hasUniqueValue; any other idProperty is refused; no match is a 404."""
    made = crm_sandbox.admin(
        "POST", "/properties/contacts", {"name": "member_number", "hasUniqueValue": True}
    )
    status, created = call(
        crm_sandbox, "POST", CONTACTS, {"properties": {"email": "m@example.com", "member_number": "M-1"}}
    )
    again, refused = call(
        crm_sandbox, "POST", CONTACTS, {"properties": {"email": "n@example.com", "member_number": "m-1"}}
    )

    found_status, found = call(crm_sandbox, "GET", f"{CONTACTS}/M-1?idProperty=member_number")
    missing, _ = call(crm_sandbox, "GET", f"{CONTACTS}/M-2?idProperty=member_number")
    by_name, said = call(crm_sandbox, "GET", f"{CONTACTS}/Nikolai?idProperty=firstname")
    escaped, _ = call(crm_sandbox, "GET", f"{CONTACTS}/{created['id']}%2F..%2F101")

    assert made["hasUniqueValue"] is True and status == 201
    assert again == 409, refused
    assert (found_status, found["id"]) == (200, created["id"])
    assert missing == 404 and escaped == 404
    assert by_name == 400 and "firstname" in said["message"]


# --- bulk seeding -------------------------------------------------------------------------------


def test_contacts_seed_style_makes_only_contacts_that_page_search_and_take_new_writes() -> None:
    with SandboxProcess("crm", seed=250, extra_args=["--seed-style", "contacts"]) as sb:
        found, totals = search_all(
            sb,
            "contacts",
            {
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["email", "firstname", "lifecyclestage"],
                "limit": 100,
            },
        )
        assert totals == [250, 250, 250]
        emails = [r["properties"]["email"] for r in found]
        assert len(set(emails)) == 250 and all(e.endswith("@example.com") for e in emails)
        modified = [ms(r["properties"]["lastmodifieddate"]) for r in found]
        assert modified == sorted(modified) and len(set(modified)) == 250
        status, companies = call(sb, "GET", "/crm/v3/objects/companies")
        assert status == 200 and companies["results"] == []
        # The unique keys were written too: the email is taken, and a new contact gets the next id.
        status, body = call(sb, "POST", "/crm/v3/objects/contacts", {"properties": {"email": emails[0]}})
        assert status == 409, body
        status, made = call(sb, "POST", "/crm/v3/objects/contacts", contact_inputs(1)[0])
        assert status == 201, made
        assert int(made["id"]) == max(int(r["id"]) for r in found) + 1
