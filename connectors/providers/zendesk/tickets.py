"""Zendesk tickets as records: the standard fields, and how record fields become a ticket to create
or an update of one.

A ticket is created with its description as the first comment and its requester either by id or by
email (Zendesk finds or creates that end user), so the record fields `description`, `requester_email`
and `requester_name` are turned into `comment` and `requester`. An update (`PUT /api/v2/tickets/{id}`)
changes status, priority, custom values and the like; the description is the first comment and stays
as it is, and the write-only `comment` field adds a new public comment. Custom ticket fields are
addressed by id (`custom_fields.360001`), because ticket fields have no keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import FieldSchema, PicklistOption


def _options(*values: str) -> tuple[PicklistOption, ...]:
    return tuple(PicklistOption(v, v.capitalize()) for v in values)


TICKET_FIELDS: tuple[FieldSchema, ...] = (
    FieldSchema("id", "ID", "number", read_only=True),
    FieldSchema("subject", "Subject", "string"),
    FieldSchema("description", "Description (first comment)", "string", required=True),
    FieldSchema(
        "status",
        "Status",
        "enumeration",
        options=_options("new", "open", "pending", "hold", "solved", "closed"),
    ),
    FieldSchema("priority", "Priority", "enumeration", options=_options("urgent", "high", "normal", "low")),
    FieldSchema("type", "Type", "enumeration", options=_options("problem", "incident", "question", "task")),
    FieldSchema("requester_id", "Requester ID", "number"),
    # Write-only: the requester by email, found or created by Zendesk (with `requester_name` if new).
    FieldSchema("requester_email", "Requester email", "email"),
    FieldSchema("requester_name", "Requester name", "string"),
    FieldSchema("organization_id", "Organization ID", "number"),
    FieldSchema("assignee_id", "Assignee ID", "number"),
    FieldSchema("group_id", "Group ID", "number"),
    FieldSchema("external_id", "External ID", "string"),
    # Write-only: a new public comment added by an update.
    FieldSchema("comment", "New comment", "string"),
    FieldSchema("tags", "Tags", "json"),
    FieldSchema("due_at", "Due at", "datetime"),
    FieldSchema("created_at", "Created at", "datetime", read_only=True),
    FieldSchema("updated_at", "Updated at", "datetime", read_only=True),
)
CUSTOM_PREFIX = "custom_fields."


def ticket_payload(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The `ticket` body of a create from record fields."""
    ticket: dict[str, Any] = {}
    custom: list[dict[str, Any]] = []
    requester: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "description":
            ticket["comment"] = {"body": value, "public": True}
        elif name == "comment":
            continue  # a new ticket's first comment is its description
        elif name == "requester_email":
            requester["email"] = value
        elif name == "requester_name":
            requester["name"] = value
        elif name.startswith(CUSTOM_PREFIX):
            raw_id = name.removeprefix(CUSTOM_PREFIX)
            custom.append({"id": int(raw_id) if raw_id.isdigit() else raw_id, "value": value})
        elif name not in ("id", "created_at", "updated_at"):
            ticket[name] = value
    if requester.get("email") and "requester_id" not in ticket:
        ticket["requester"] = requester
    if custom:
        ticket["custom_fields"] = custom
    return ticket


def ticket_update_payload(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The `ticket` body of an update from record fields (the description and requester stay as they are)."""
    ticket: dict[str, Any] = {}
    custom: list[dict[str, Any]] = []
    for name, value in fields.items():
        if name == "comment":
            if value not in (None, ""):
                ticket["comment"] = {"body": str(value), "public": True}
        elif name.startswith(CUSTOM_PREFIX):
            raw_id = name.removeprefix(CUSTOM_PREFIX)
            custom.append({"id": int(raw_id) if raw_id.isdigit() else raw_id, "value": value})
        elif name not in (
            "id",
            "created_at",
            "updated_at",
            "description",
            "requester_email",
            "requester_name",
        ):
            ticket[name] = value
    if custom:
        ticket["custom_fields"] = custom
    return ticket
