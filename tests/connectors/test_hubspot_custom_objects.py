"""HubSpot custom objects through the connector: discovery, settings, addressing and associations, against
the CRM sandbox (the contract suite covers reads, writes, find and delete: case_hubspot_custom_object.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors.base import WriteItem
from connectors.providers.hubspot.client import HubSpotConfig
from connectors.providers.hubspot.provider import HubSpotProvider
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from tests.connectors.saas_clients import connect

CARS = "p7300001_cars"


@pytest.fixture
def crm(crm_sandbox: SandboxProcess) -> SandboxProcess:
    crm_sandbox.admin("POST", "/schemas", {"example": "cars", "records": 4})
    return crm_sandbox


def _client(sandbox: SandboxProcess) -> Any:
    return connect(
        "hubspot", {"base_url": sandbox.url, "custom_objects": {CARS: "vin"}}, {"access_token": CRM_TOKEN}
    )


def _cars(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    return list(sandbox.admin("GET", f"/custom-objects/{CARS}/records")["results"])


def test_discovery_lists_the_accounts_custom_objects(crm: SandboxProcess) -> None:
    [cars] = _client(crm).custom_objects()

    assert cars.fully_qualified_name == CARS and cars.object_type_id.startswith("2-")
    assert cars.label == "Cars" and cars.name == "cars"
    assert cars.unique_properties == ("vin",)
    assert {(a, b) for a, b, _ in cars.associations} >= {
        (cars.object_type_id, "contacts"),
        ("contacts", cars.object_type_id),
    }


def test_a_connection_exposes_the_custom_objects_its_settings_list() -> None:
    config = HubSpotConfig.model_validate({"custom_objects": "p7300001_cars:vin, 2-7400002"}).model_dump()

    objects = HubSpotProvider.objects_for(config)
    cars = HubSpotProvider.capabilities_for(config, CARS)
    by_id = HubSpotProvider.capabilities_for(config, "2-7400002")

    assert config["custom_objects"] == {CARS: "vin", "2-7400002": ""}
    assert objects[CARS] == "Cars" and "2-7400002" in objects and objects["contacts"] == "Contacts"
    assert cars is not None and cars.upsert_key == "vin" and cars.find and cars.delete
    assert by_id is not None and by_id.upsert_key is None
    assert HubSpotProvider.capabilities_for(config, "p7300001_boats") is None
    assert CARS not in HubSpotProvider.objects_for({})


def test_settings_refuse_a_name_that_is_not_a_custom_object() -> None:
    with pytest.raises(ValidationError) as caught:
        HubSpotConfig.model_validate({"custom_objects": "cars:vin"})

    assert "fully qualified name" in str(caught.value)


def test_the_schema_is_the_custom_objects_properties_with_custom_ones_marked(crm: SandboxProcess) -> None:
    schema = _client(crm).discover_schema(CARS)

    assert schema.label == "Cars"
    color = schema.field("color")
    assert (
        color is not None
        and color.type == "enumeration"
        and [o.value for o in color.options][:2]
        == [
            "black",
            "white",
        ]
    )
    assert {f.name for f in schema.fields if f.custom} == {"vin", "make", "model", "year", "mileage", "color"}
    modified = schema.field("hs_lastmodifieddate")
    assert modified is not None and modified.read_only and not modified.custom


def test_type_id_and_fully_qualified_name_read_the_same_records(crm: SandboxProcess) -> None:
    client = _client(crm)
    type_id = client.custom_object(CARS).object_type_id

    by_name = [r for page in client.list_changes(CARS, None) for r in page.records]
    by_id = [r for page in client.list_changes(type_id, None) for r in page.records]
    found = client.find(type_id, "vin", by_name[0].fields["vin"])

    assert [r.id for r in by_name] == [r.id for r in by_id] and len(by_name) == 4
    assert found is not None and found.id == by_name[0].id


def test_a_written_car_is_linked_to_its_contact_in_the_create_and_after_an_update(
    crm: SandboxProcess,
) -> None:
    client = _client(crm)
    contact = crm.records("contacts")[2]["id"]
    existing = _cars(crm)[0]

    results = client.upsert_batch(
        CARS,
        [
            # No match field: created one at a time, the link in the create (the schema's association type).
            WriteItem("new", {"vin": "VIN-NEW-1", "model": "Polestar 2", "associations.contacts": contact}),
        ],
        match_field="",
    )
    updated = client.upsert_batch(
        CARS,
        [WriteItem("old", {"vin": existing["properties"]["vin"], "associations.contacts": [contact]})],
        match_field="vin",
    )
    links = client.associations.read(CARS, "contacts", [results[0].target_id, existing["id"]])

    assert results[0].ok and results[0].action == "created", results
    assert updated[0].ok and updated[0].target_id == existing["id"], updated
    assert links == {results[0].target_id: [contact], existing["id"]: sorted({contact, "101"}, key=int)}


def test_a_contact_is_linked_to_a_car_by_naming_the_custom_object(crm: SandboxProcess) -> None:
    client = _client(crm)
    car = _cars(crm)[3]["id"]

    [result] = client.upsert_batch(
        "contacts",
        [WriteItem("c", {"email": "driver@example.com", "firstname": "Dri", f"associations.{CARS}": car})],
        match_field="email",
    )
    linked = client.associations.read("contacts", CARS, [str(result.target_id)])

    assert result.ok, result
    assert linked == {str(result.target_id): [car]}


def test_a_link_to_an_object_the_schema_does_not_associate_fails_only_that_record(
    crm: SandboxProcess,
) -> None:
    client = _client(crm)

    results = client.upsert_batch(
        CARS,
        [
            WriteItem("a", {"vin": "VIN-A", "associations.deals": "1"}),
            WriteItem("b", {"vin": "VIN-B", "model": "Fine"}),
        ],
        match_field="vin",
    )

    assert results[0].ok is False and "cannot be associated with deals" in str(results[0].error)
    assert results[1].ok and results[1].action == "created"
