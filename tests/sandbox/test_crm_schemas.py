"""The CRM sandbox's custom objects: HubSpot's schemas API, and records of a custom object served like the
standard objects' (HubSpot dialect)."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess

AUTH = {"Authorization": f"Bearer {CRM_TOKEN}"}

PETS = {
    "name": "pets",
    "labels": {"singular": "Pet", "plural": "Pets"},
    "primaryDisplayProperty": "pet_name",
    "requiredProperties": ["pet_name"],
    "searchableProperties": ["pet_name"],
    "associatedObjects": ["CONTACT"],
    "properties": [
        {"name": "pet_name", "label": "Name", "type": "string", "fieldType": "text"},
        {"name": "chip_id", "label": "Chip", "type": "string", "hasUniqueValue": True},
        {
            "name": "species",
            "label": "Species",
            "type": "enumeration",
            "options": [{"label": "Dog", "value": "dog"}, {"label": "Cat", "value": "cat"}],
        },
    ],
}


def _api(sandbox: SandboxProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, data = sandbox.request(method, path, body, headers=AUTH)
    return status, data


def test_creating_a_schema_names_the_object_by_type_id_and_fully_qualified_name(
    crm_sandbox: SandboxProcess,
) -> None:
    status, created = _api(crm_sandbox, "POST", "/crm/v3/schemas", PETS)
    _, listed = _api(crm_sandbox, "GET", "/crm/v3/schemas")
    _, by_id = _api(crm_sandbox, "GET", f"/crm/v3/schemas/{created['objectTypeId']}")
    _, by_name = _api(crm_sandbox, "GET", "/crm-object-schemas/v3/schemas/p7300001_pets")

    assert status == 201
    assert created["objectTypeId"].startswith("2-") and created["fullyQualifiedName"] == "p7300001_pets"
    assert [s["objectTypeId"] for s in listed["results"]] == [created["objectTypeId"]]
    assert by_id == by_name == created
    props = {p["name"]: p for p in created["properties"]}
    assert props["chip_id"]["hasUniqueValue"] is True and props["chip_id"]["hubspotDefined"] is False
    assert [o["value"] for o in props["species"]["options"]] == ["dog", "cat"]
    # HubSpot's own properties of every custom object.
    assert {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"} <= set(props)
    assert props["hs_object_id"]["hubspotDefined"] is True
    links = {(a["fromObjectTypeId"], a["toObjectTypeId"]) for a in created["associations"]}
    assert links == {(created["objectTypeId"], "0-1"), ("0-1", created["objectTypeId"])}


def test_a_schema_is_checked_as_hubspot_checks_it(crm_sandbox: SandboxProcess) -> None:
    no_labels = _api(crm_sandbox, "POST", "/crm/v3/schemas", {**PETS, "labels": {"singular": "Pet"}})
    unknown_required = _api(crm_sandbox, "POST", "/crm/v3/schemas", {**PETS, "requiredProperties": ["age"]})
    bad_link = _api(crm_sandbox, "POST", "/crm/v3/schemas", {**PETS, "associatedObjects": ["PLANET"]})
    first = _api(crm_sandbox, "POST", "/crm/v3/schemas", PETS)
    again = _api(crm_sandbox, "POST", "/crm/v3/schemas", PETS)
    missing = _api(crm_sandbox, "GET", "/crm/v3/schemas/p7300001_nothing")

    assert no_labels[0] == 400 and "labels" in no_labels[1]["message"]
    assert unknown_required[0] == 400 and "age" in unknown_required[1]["message"]
    assert bad_link[0] == 400 and "PLANET" in bad_link[1]["message"]
    assert first[0] == 201
    assert again[0] == 409 and again[1]["category"] == "CONFLICT"
    assert missing[0] == 404 and missing[1]["category"] == "OBJECT_NOT_FOUND"


def test_records_are_the_same_whether_addressed_by_type_id_or_fully_qualified_name(
    crm_sandbox: SandboxProcess,
) -> None:
    _, schema = _api(crm_sandbox, "POST", "/crm/v3/schemas", PETS)
    type_id = schema["objectTypeId"]

    status, created = _api(
        crm_sandbox,
        "POST",
        "/crm/v3/objects/p7300001_pets",
        {"properties": {"pet_name": "Rex", "chip_id": "CHIP-1", "species": "dog"}},
    )
    _, by_type_id = _api(crm_sandbox, "GET", f"/crm/v3/objects/{type_id}/{created['id']}?properties=species")
    _, by_chip = _api(crm_sandbox, "GET", "/crm/v3/objects/p7300001_pets/chip-1?idProperty=chip_id")
    _, found = _api(
        crm_sandbox,
        "POST",
        f"/crm/v3/objects/{type_id}/search",
        {"filterGroups": [{"filters": [{"propertyName": "species", "operator": "EQ", "value": "dog"}]}]},
    )
    _, properties = _api(crm_sandbox, "GET", f"/crm/v3/properties/{type_id}")

    assert status == 201
    assert by_type_id["id"] == by_chip["id"] == created["id"]
    assert by_type_id["properties"]["species"] == "dog"
    assert by_type_id["properties"]["hs_createdate"] == created["createdAt"]
    assert [r["id"] for r in found["results"]] == [created["id"]]
    assert {p["name"] for p in properties["results"]} >= {"pet_name", "chip_id", "species"}


def test_a_custom_object_refuses_what_its_schema_does_not_allow(crm_sandbox: SandboxProcess) -> None:
    _api(crm_sandbox, "POST", "/crm/v3/schemas", PETS)
    _api(
        crm_sandbox,
        "POST",
        "/crm/v3/objects/p7300001_pets",
        {"properties": {"pet_name": "A", "chip_id": "C1"}},
    )

    unnamed = _api(crm_sandbox, "POST", "/crm/v3/objects/p7300001_pets", {"properties": {"species": "cat"}})
    fish = _api(
        crm_sandbox,
        "POST",
        "/crm/v3/objects/p7300001_pets",
        {"properties": {"pet_name": "B", "species": "fish"}},
    )
    twin = _api(
        crm_sandbox,
        "POST",
        "/crm/v3/objects/p7300001_pets",
        {"properties": {"pet_name": "C", "chip_id": "c1"}},
    )
    unknown = _api(crm_sandbox, "GET", "/crm/v3/objects/p7300001_planets")

    assert unnamed[0] == 400 and unnamed[1]["errors"][0]["code"] == "REQUIRED_FIELD"
    assert fish[0] == 400 and fish[1]["errors"][0]["code"] == "INVALID_OPTION"
    assert twin[0] == 409
    assert unknown[0] == 400 and "Unable to infer object type" in unknown[1]["message"]


def test_a_custom_record_is_associated_with_a_contact_both_ways(crm_sandbox: SandboxProcess) -> None:
    _, schema = _api(crm_sandbox, "POST", "/crm/v3/schemas", PETS)
    to_contact = next(
        int(a["id"]) for a in schema["associations"] if a["fromObjectTypeId"] == schema["objectTypeId"]
    )
    contact = crm_sandbox.records("contacts")[0]["id"]

    _, created = _api(
        crm_sandbox,
        "POST",
        "/crm/v3/objects/p7300001_pets",
        {
            "properties": {"pet_name": "Rex"},
            "associations": [
                {
                    "to": {"id": contact},
                    "types": [{"associationCategory": "USER_DEFINED", "associationTypeId": to_contact}],
                }
            ],
        },
    )
    _, later = _api(crm_sandbox, "POST", "/crm/v3/objects/p7300001_pets", {"properties": {"pet_name": "Tom"}})
    put = _api(
        crm_sandbox,
        "PUT",
        f"/crm/v4/objects/{schema['objectTypeId']}/{later['id']}/associations/default/contacts/{contact}",
    )
    _, from_contact = _api(
        crm_sandbox, "GET", f"/crm/v4/objects/contacts/{contact}/associations/p7300001_pets"
    )
    _, batch = _api(
        crm_sandbox,
        "POST",
        "/crm/v4/associations/p7300001_pets/contacts/batch/read",
        {"inputs": [{"id": created["id"]}, {"id": later["id"]}]},
    )

    assert put[0] == 200
    assert [r["toObjectId"] for r in from_contact["results"]] == [int(created["id"]), int(later["id"])]
    assert {r["from"]["id"]: [t["toObjectId"] for t in r["to"]] for r in batch["results"]} == {
        created["id"]: [int(contact)],
        later["id"]: [int(contact)],
    }


def test_the_admin_api_seeds_the_demo_cars_and_a_reset_removes_them(crm_sandbox: SandboxProcess) -> None:
    schema = crm_sandbox.admin("POST", "/schemas", {"example": "cars", "records": 5})
    cars = crm_sandbox.admin("GET", "/custom-objects/p7300001_cars/records")["results"]
    _, links = _api(
        crm_sandbox, "GET", f"/crm/v4/objects/p7300001_cars/{cars[0]['id']}/associations/contacts"
    )

    crm_sandbox.reset(3)
    status, after = _api(crm_sandbox, "GET", "/crm/v3/schemas")

    assert schema["fullyQualifiedName"] == "p7300001_cars" and schema["requiredProperties"] == ["vin"]
    assert len(cars) == 5 and len({c["properties"]["vin"] for c in cars}) == 5
    assert [link["toObjectId"] for link in links["results"]] == [101]
    assert status == 200 and after["results"] == []
