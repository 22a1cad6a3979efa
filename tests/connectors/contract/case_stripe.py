"""Stripe customers over the billing sandbox."""

from __future__ import annotations

from typing import Any

from connectors.base import WriteItem
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import saas_clients
from tests.connectors.contract.cases import ContractCase


def _client(sandbox: SandboxProcess, wrong: str | None) -> Any:
    return saas_clients.stripe(sandbox, wrong) if wrong else saas_clients.stripe(sandbox)


def _edit(sandbox: SandboxProcess, record_id: str) -> tuple[str, Any]:
    sandbox.admin("PATCH", f"/records/customers/{record_id}", {"name": "Edited Name"})
    return "name", "Edited Name"


def _stored(sandbox: SandboxProcess, target_id: str, name: str) -> Any:
    return next(r for r in sandbox.records("customers") if r["id"] == target_id)[name]


CASE = ContractCase(
    name="stripe",
    fixture="billing_sandbox",
    object_name="customers",
    connect=_client,
    wrong_credential="sk_test_wrong_key_0000",
    wrong_credential_says="Invalid API Key provided",
    schema_has={
        "email": "email",
        "tax_exempt": "enumeration",
        "created": "datetime",
        "metadata.tier": "string",
    },
    custom_field="metadata.tier",
    count=lambda sandbox: len(sandbox.records("customers")),
    record_ids=lambda sandbox: {str(r["id"]) for r in sandbox.records("customers")},
    admin_edit=_edit,
    match_field="email",
    new_items=lambda prefix: [
        WriteItem(
            f"{prefix}{n}", {"email": f"{prefix}{n}@example.com", "name": f"New {n}", "metadata.tier": "gold"}
        )
        for n in range(4)
    ],
    change=lambda item: WriteItem(item.key, {**item.fields, "name": "Changed Name"}),
    stored=_stored,
    invalid_item=WriteItem("bad", {"email": "not-an-email", "name": "Bad"}),
    rejection_says="Invalid email address: not-an-email",
    kind="stripe",
    find_field="email",
    find_as_typed=lambda value: str(value).upper(),  # customer search ignores case
    # The customer.deleted event carries its last state.
    is_deleted=lambda record: record.fields.get("deleted") is True,
)
