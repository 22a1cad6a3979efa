"""Mailchimp audience members over the marketing sandbox."""

from __future__ import annotations

from typing import Any

from connectors.base import WriteItem
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import saas_clients
from tests.connectors.contract.cases import ContractCase


def _client(sandbox: SandboxProcess, wrong: str | None) -> Any:
    return saas_clients.mailchimp(sandbox, wrong) if wrong else saas_clients.mailchimp(sandbox)


def _edit(sandbox: SandboxProcess, record_id: str) -> tuple[str, Any]:
    sandbox.admin("PATCH", f"/records/members/{record_id}", {"merge_fields": {"FNAME": "Edited"}})
    return "merge_fields.FNAME", "Edited"


def _stored(sandbox: SandboxProcess, target_id: str, name: str) -> Any:
    member = next(r for r in sandbox.records("members") if r["id"] == target_id)
    return (
        member["merge_fields"][name.removeprefix("merge_fields.")]
        if name.startswith("merge_fields.")
        else member[name]
    )


CASE = ContractCase(
    name="mailchimp",
    fixture="marketing_sandbox",
    object_name="members",
    connect=_client,
    wrong_credential="00000000000000000000000000000000-us1",
    wrong_credential_says="API Key Invalid",
    schema_has={"email_address": "email", "status": "enumeration", "merge_fields.TIER": "enumeration"},
    custom_field="merge_fields.TIER",
    count=lambda sandbox: len(sandbox.records("members")),
    record_ids=lambda sandbox: {str(r["id"]) for r in sandbox.records("members")},
    admin_edit=_edit,
    match_field="email_address",
    new_items=lambda prefix: [
        WriteItem(
            f"{prefix}{n}",
            {
                "email_address": f"{prefix}{n}@example.com",
                "status": "subscribed",
                "merge_fields.FNAME": f"New{n}",
            },
        )
        for n in range(4)
    ],
    change=lambda item: WriteItem(item.key, {**item.fields, "merge_fields.FNAME": "Changed"}),
    stored=_stored,
    invalid_item=WriteItem("bad", {"email_address": "not-an-email", "status": "subscribed"}),
    rejection_says="looks fake or invalid",
    kind="mailchimp",
    find_field="email_address",
    find_as_typed=lambda value: str(value).upper(),  # the subscriber hash is of the lower-cased address
    # DELETE archives: the member's status says so in since_last_changed reads.
    is_deleted=lambda record: record.fields.get("status") == "archived",
)
