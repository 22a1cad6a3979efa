"""Pipedrive persons over the sales sandbox."""

from __future__ import annotations

from typing import Any

from connectors.base import WriteItem
from connectors.sandbox.sales import custom_key
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import saas_clients
from tests.connectors.contract.cases import ContractCase

TIER = custom_key("person", "Customer tier")


def _client(sandbox: SandboxProcess, wrong: str | None) -> Any:
    return saas_clients.pipedrive(sandbox, wrong) if wrong else saas_clients.pipedrive(sandbox)


def _edit(sandbox: SandboxProcess, record_id: str) -> tuple[str, Any]:
    sandbox.admin("PATCH", f"/records/persons/{record_id}", {"name": "Edited Name"})
    return "name", "Edited Name"


def _stored(sandbox: SandboxProcess, target_id: str, name: str) -> Any:
    return next(r for r in sandbox.records("persons") if str(r["id"]) == target_id)[name]


CASE = ContractCase(
    name="pipedrive",
    fixture="sales_sandbox",
    object_name="persons",
    connect=_client,
    wrong_credential="wrong-pipedrive-token",
    wrong_credential_says="unauthorized access",
    schema_has={"email": "email", "name": "string", TIER: "enumeration", "update_time": "date"},
    custom_field=TIER,
    count=lambda sandbox: len(sandbox.records("persons")),
    record_ids=lambda sandbox: {str(r["id"]) for r in sandbox.records("persons")},
    admin_edit=_edit,
    match_field="email",
    new_items=lambda prefix: [
        WriteItem(
            f"{prefix}{n}", {"email": f"{prefix}{n}@example.com", "name": f"New Person {n}", TIER: "Gold"}
        )
        for n in range(4)
    ],
    change=lambda item: WriteItem(item.key, {**item.fields, "name": "Changed Name"}),
    stored=_stored,
    # Option ids that do not exist pass the client untouched, so Pipedrive itself refuses them.
    invalid_item=WriteItem("bad", {"email": "bad@example.com", "name": "Bad Tier", TIER: "999"}),
    rejection_says="Invalid option '999' for field 'Customer tier'",
    kind="pipedrive",
    find_field="email",
    # /v1/recents shows a deleted person with its active_flag off.
    is_deleted=lambda record: record.fields.get("active_flag") is False,
)
