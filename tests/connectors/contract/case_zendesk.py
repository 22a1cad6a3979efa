"""Zendesk users over the helpdesk sandbox."""

from __future__ import annotations

from typing import Any

from connectors.base import WriteItem
from connectors.sandbox.testing import HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess
from tests.connectors.contract.cases import ContractCase
from tests.connectors.saas_clients import connect


def _client(sandbox: SandboxProcess, wrong: str | None) -> Any:
    return connect(
        "zendesk", {"base_url": sandbox.url, "email": HELPDESK_EMAIL}, {"api_token": wrong or HELPDESK_TOKEN}
    )


def _edit(sandbox: SandboxProcess, record_id: str) -> tuple[str, Any]:
    sandbox.admin("PATCH", f"/records/users/{record_id}", {"name": "Edited Name"})
    return "name", "Edited Name"


def _stored(sandbox: SandboxProcess, target_id: str, name: str) -> Any:
    return next(r for r in sandbox.records("users") if str(r["id"]) == target_id)[name]


CASE = ContractCase(
    name="zendesk",
    fixture="helpdesk_sandbox",
    object_name="users",
    connect=_client,
    wrong_credential="wrong-helpdesk-token",
    wrong_credential_says="Couldn't authenticate you",
    schema_has={"email": "email", "user_fields.customer_tier": "enumeration", "updated_at": "datetime"},
    custom_field="user_fields.customer_tier",
    count=lambda sandbox: len(sandbox.records("users")),
    record_ids=lambda sandbox: {str(r["id"]) for r in sandbox.records("users")},
    admin_edit=_edit,
    match_field="email",
    new_items=lambda prefix: [
        WriteItem(f"{prefix}{n}", {"email": f"{prefix}{n}@example.com", "name": f"New Person {n}"})
        for n in range(4)
    ],
    change=lambda item: WriteItem(item.key, {**item.fields, "name": "Changed Name"}),
    stored=_stored,
    invalid_item=WriteItem("bad", {"email": "not-an-email", "name": "Bad Email"}),
    rejection_says="not properly formatted",
    kind="zendesk",
    find_field="email",
    find_as_typed=lambda value: str(value).upper(),
    # Deleted users stay in the incremental export, inactive.
    is_deleted=lambda record: record.fields.get("active") is False,
)
