"""The CRM sandbox's custom objects driven by HubSpot's own Python library (hubspot-api-client): the
schemas API (crm.schemas) and a custom object's records (crm.objects), read and written."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess

hubspot = pytest.importorskip(
    "hubspot", reason="HubSpot's library is not installed (pip install hubspot-api-client)"
)
from hubspot.crm.objects import (  # noqa: E402 - only importable once the skip above passed
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.exceptions import ApiException  # noqa: E402
from hubspot.crm.schemas import ObjectSchemaEgg, ObjectTypeDefinitionLabels, ObjectTypePropertyCreate  # noqa: E402


@pytest.fixture
def api(crm_sandbox: SandboxProcess) -> Any:
    crm_sandbox.admin("POST", "/schemas", {"example": "cars", "records": 12})
    return hubspot.HubSpot(access_token=CRM_TOKEN, host=crm_sandbox.url)


def test_the_library_lists_and_creates_schemas(api: Any) -> None:
    created = api.crm.schemas.core_api.create(
        ObjectSchemaEgg(
            name="pets",
            labels=ObjectTypeDefinitionLabels(singular="Pet", plural="Pets"),
            primary_display_property="pet_name",
            required_properties=["pet_name"],
            searchable_properties=["pet_name"],
            secondary_display_properties=[],
            associated_objects=["CONTACT"],
            properties=[
                ObjectTypePropertyCreate(name="pet_name", label="Name", type="string", field_type="text")
            ],
        )
    )
    listed = api.crm.schemas.core_api.get_all().results
    cars = api.crm.schemas.core_api.get_by_id("p7300001_cars")

    assert created.fully_qualified_name == "p7300001_pets" and created.object_type_id.startswith("2-")
    assert {s.fully_qualified_name for s in listed} == {"p7300001_cars", "p7300001_pets"}
    assert cars.labels.plural == "Cars" and cars.required_properties == ["vin"]
    assert any(p.name == "vin" and p.has_unique_value for p in cars.properties)


def test_the_library_reads_pages_and_searches_a_custom_objects_records(
    api: Any, crm_sandbox: SandboxProcess
) -> None:
    first = api.crm.objects.basic_api.get_page("p7300001_cars", limit=5, properties=["vin", "model"])
    everything = api.crm.objects.get_all("p7300001_cars")
    vin = first.results[0].properties["vin"]
    found = api.crm.objects.search_api.do_search(
        "p7300001_cars",
        PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="vin", operator="EQ", value=vin)])],
            properties=["vin"],
            limit=10,
        ),
    )

    assert len(first.results) == 5 and first.paging.next.after
    stored = crm_sandbox.admin("GET", "/custom-objects/p7300001_cars/records")["results"]
    assert {c.id for c in everything} == {r["id"] for r in stored} and len(stored) == 12
    assert [r.id for r in found.results] == [first.results[0].id]


def test_the_library_writes_a_custom_record_and_sees_hubspots_validation_errors(api: Any) -> None:
    schema = api.crm.schemas.core_api.get_by_id("p7300001_cars")

    created = api.crm.objects.basic_api.create(
        schema.object_type_id,
        SimplePublicObjectInputForCreate(properties={"vin": "LIB-VIN-1", "model": "Kona", "color": "red"}),
    )
    updated = api.crm.objects.basic_api.update(
        "p7300001_cars", created.id, SimplePublicObjectInput(properties={"mileage": "1200"})
    )
    with pytest.raises(ApiException) as caught:
        api.crm.objects.basic_api.create(
            "p7300001_cars",
            SimplePublicObjectInputForCreate(properties={"vin": "LIB-VIN-2", "color": "green"}),
        )

    assert created.properties["vin"] == "LIB-VIN-1"
    assert updated.id == created.id and updated.properties["mileage"] == "1200"
    assert caught.value.status == 400 and "INVALID_OPTION" in caught.value.body
