"""HubSpot contacts over the CRM sandbox."""

from __future__ import annotations

from typing import Any

from connectors.base import WriteItem
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from tests.connectors.contract.cases import ContractCase
from tests.connectors.saas_clients import connect


def _client(sandbox: SandboxProcess, wrong: str | None) -> Any:
    return connect("hubspot", {"base_url": sandbox.url}, {"access_token": wrong or CRM_TOKEN})


def _edit(sandbox: SandboxProcess, record_id: str) -> tuple[str, Any]:
    sandbox.admin("PATCH", f"/records/contacts/{record_id}", {"properties": {"firstname": "Edited"}})
    return "firstname", "Edited"


def _stored(sandbox: SandboxProcess, target_id: str, name: str) -> Any:
    record = next(r for r in sandbox.records("contacts") if r["id"] == target_id)
    return record["properties"][name]


CASE = ContractCase(
    name="hubspot",
    fixture="crm_sandbox",
    object_name="contacts",
    connect=_client,
    wrong_credential="wrong-token-123",
    wrong_credential_says="Authentication credentials not found",
    schema_has={"email": "email", "customer_tier": "enumeration", "lastmodifieddate": "datetime"},
    custom_field="customer_tier",
    count=lambda sandbox: len(sandbox.records("contacts")),
    record_ids=lambda sandbox: {str(r["id"]) for r in sandbox.records("contacts")},
    admin_edit=_edit,
    match_field="email",
    new_items=lambda prefix: [
        WriteItem(f"{prefix}{n}", {"email": f"{prefix}{n}@example.com", "firstname": f"New{n}"})
        for n in range(4)
    ],
    change=lambda item: WriteItem(item.key, {**item.fields, "firstname": "Changed"}),
    stored=_stored,
    invalid_item=WriteItem("bad", {"email": "not-an-email", "firstname": "Bad"}),
    rejection_says="not-an-email",
    kind="hubspot",
    find_field="email",
    find_as_typed=lambda value: str(value).upper(),  # HubSpot's search EQ ignores case
    # Search never returns archived records; the recycle bin (archived=true) lists them.
    deletions=lambda client, object_name, cursor: list(client.archived(object_name)),
    is_deleted=lambda record: record.fields.get("archived") is True,
)
