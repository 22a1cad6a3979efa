"""A HubSpot custom object ("cars", addressed by its fully qualified name) over the CRM sandbox: the same
contract as the standard objects, through the same client code."""

from __future__ import annotations

from typing import Any

from connectors.base import WriteItem
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from tests.connectors.contract.cases import ContractCase
from tests.connectors.contract.conftest import CARS
from tests.connectors.saas_clients import connect

CONFIG = {"custom_objects": {CARS: "vin"}}


def _client(sandbox: SandboxProcess, wrong: str | None) -> Any:
    return connect("hubspot", {"base_url": sandbox.url, **CONFIG}, {"access_token": wrong or CRM_TOKEN})


def _edit(sandbox: SandboxProcess, record_id: str) -> tuple[str, Any]:
    sandbox.admin("PATCH", f"/custom-objects/{CARS}/records/{record_id}", {"properties": {"model": "Edited"}})
    return "model", "Edited"


def _stored(sandbox: SandboxProcess, target_id: str, name: str) -> Any:
    record = next(r for r in sandbox.records(CARS) if r["id"] == target_id)
    return record["properties"][name]


CASE = ContractCase(
    name="hubspot_custom_object",
    fixture="crm_cars_sandbox",
    object_name=CARS,
    config=CONFIG,
    connect=_client,
    wrong_credential="wrong-token-123",
    wrong_credential_says="Authentication credentials not found",
    schema_has={
        "vin": "string",
        "year": "number",
        "color": "enumeration",
        "hs_lastmodifieddate": "datetime",
    },
    custom_field="vin",
    count=lambda sandbox: len(sandbox.records(CARS)),
    record_ids=lambda sandbox: {str(r["id"]) for r in sandbox.records(CARS)},
    admin_edit=_edit,
    match_field="vin",
    new_items=lambda prefix: [
        WriteItem(f"{prefix}{n}", {"vin": f"VIN-{prefix}-{n}", "make": "Saab", "model": f"9-{n}"})
        for n in range(4)
    ],
    change=lambda item: WriteItem(item.key, {**item.fields, "model": "Changed"}),
    stored=_stored,
    invalid_item=WriteItem("bad", {"vin": "VIN-BAD", "year": "not-a-number"}),
    rejection_says="not-a-number",
    kind="hubspot",
    find_field="vin",
    find_as_typed=lambda value: str(value).lower(),  # unique values are matched without case
    deletions=lambda client, object_name, cursor: list(client.archived(object_name)),
    is_deleted=lambda record: record.fields.get("archived") is True,
)
