from __future__ import annotations

import json
from typing import Any

from connectors.base import FieldSchema, ObjectSchema, PicklistOption
from tests.workflows.engine.definitions import CRM, MARKETING, lead, lead_workflow
from workflows.engine.preview import DryRunPorts, preview_definition, preview_mapping

FORM = ObjectSchema(
    "submissions",
    "Form submissions",
    (
        FieldSchema("email", "Email", "email"),
        FieldSchema("employees", "Employees", "string"),
        FieldSchema("plan", "Plan", "string"),
        FieldSchema("vip", "VIP", "string"),
        FieldSchema("phone", "Phone", "string"),
    ),
)
CONTACTS = ObjectSchema(
    "contacts",
    "CRM contacts",
    (
        FieldSchema("email", "Email", "email", required=True),
        FieldSchema("employees", "Employees", "number"),
        FieldSchema(
            "tier",
            "Tier",
            "enumeration",
            options=(PicklistOption("gold", "Gold"), PicklistOption("silver", "Silver")),
        ),
        FieldSchema("vip", "VIP", "boolean"),
        FieldSchema("phone", "Phone", "phone"),
    ),
)


def row(target: str, source: Any, *transforms: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"target": target, "source": source, "transforms": list(transforms), **extra}


SPEC = {
    "fields": [
        row("email", "email", {"name": "trim"}),
        row("employees", "employees", {"name": "to_integer"}),
        row("tier", "plan"),
        row("vip", "vip", {"name": "to_boolean"}),
        row("phone", "phone", {"name": "trim"}, empty="clear"),
    ]
}


def test_preview_shows_each_field_with_the_warnings_a_user_should_see() -> None:
    preview = preview_mapping(
        SPEC,
        {"email": "ada", "employees": "12", "plan": "platinum", "vip": "yes", "signup": "x"},
        FORM,
        CONTACTS,
    )
    assert preview.values == {"email": "ada", "employees": 12, "tier": "platinum", "vip": True, "phone": None}
    by_target = {field.target: field for field in preview.fields}
    assert by_target["email"].warnings == ["'ada' doesn't look like an email address"]
    assert by_target["employees"].warnings == ["converted text '12' to a number 12"]
    assert by_target["tier"].warnings == [
        "'platinum' is not an option of 'Tier' (gold, silver); add or fix a 'value_map'"
    ]
    assert by_target["vip"].warnings == ["converted text 'yes' to yes/no true"]
    assert by_target["phone"].status == "cleared"
    assert by_target["phone"].warnings == ["empty, so the target field will be cleared"]
    assert preview.unused_source_fields == ["signup"]
    # The schema check has nothing to say: the problems are in this record's values.
    assert preview.issues == []
    assert preview.ok


def test_preview_reports_errors_and_required_fields_left_empty() -> None:
    preview = preview_mapping(SPEC, {"employees": "a dozen"}, FORM, CONTACTS)
    by_target = {field.target: field for field in preview.fields}
    assert (by_target["employees"].status, by_target["employees"].error) == (
        "error",
        "'a dozen' is not a number",
    )
    assert by_target["email"].warnings == [
        "not written: empty in source; the target keeps its current value",
        "'Email' is required, but this record gives it no value",
    ]
    assert not preview.ok


def test_preview_warns_when_the_value_does_not_fit_the_target_field() -> None:
    spec = {"fields": [row("employees", "employees"), row("vip", "vip"), row("email", "email")]}
    preview = preview_mapping(
        spec, {"employees": "lots", "vip": "maybe", "email": ["a@b.c"]}, target_schema=CONTACTS
    )
    assert [field.warnings for field in preview.fields] == [
        ["'Employees' is a number field, but this is text 'lots'; add 'to_number'"],
        ["'VIP' is a yes/no field, but this is text 'maybe'; add 'to_boolean'"],
        ["'Email' is a text field, but this is a list; add 'join' or 'to_string'"],
    ]


def test_a_spec_with_errors_still_previews_its_sound_rows() -> None:
    spec = {
        "fields": [
            row("email", "email", {"name": "lowr"}),
            row("employees", "employees", {"name": "to_number"}),
        ]
    }
    preview = preview_mapping(spec, {"email": "A@B.C", "employees": "3"})
    assert [issue.message for issue in preview.issues] == [
        "Row 1 (email): transform 1: unknown transform 'lowr'"
    ]
    assert preview.values == {"employees": 3}
    assert not preview.ok
    json.dumps(preview.to_dict())


def test_preview_definition_walks_every_step_and_writes_nothing() -> None:
    preview = preview_definition(lead_workflow(), lead(interest="Brochure"))
    assert preview.ok and preview.errors == []
    assert preview.execution is not None and preview.execution.outcome == "created"
    assert [(call.kind, call.step_id) for call in preview.calls] == [
        ("write", "create_contact"),
        ("write", "create_task"),
        ("write", "add_to_newsletter"),
        ("notify", "tell_sales"),
    ]
    contact = preview.calls[0].details
    assert (contact["connection"], contact["object"], contact["operation"]) == (CRM, "contacts", "upsert")
    assert contact["fields"]["phone"] == "+442079460958"
    task = preview.calls[1].details["fields"]
    assert task["contact_id"] == "<contacts found by email>"
    assert (
        preview.calls[2].details["object"] == "list_members"
        and preview.calls[2].details["connection"] == MARKETING
    )
    json.dumps(preview.to_dict())


def test_preview_definition_reports_compile_errors() -> None:
    definition = lead_workflow()
    definition["steps"][2]["mapping"]["fields"][0]["source"] = "steps.tell_sales.id"
    preview = preview_definition(definition, lead())
    assert preview.errors == [
        "step 3 (create_task): 'steps.tell_sales.id' refers to step tell_sales, which runs later or doesn't exist"
    ]
    assert preview.execution is None and not preview.ok


def test_preview_lookups_search_the_sample_records_and_delays_are_passed_over() -> None:
    definition = {
        "trigger": {"type": "manual"},
        "steps": [
            {
                "type": "lookup",
                "id": "find",
                "connection": CRM,
                "object": "companies",
                "by": {"field": "domain", "value_from": "domain"},
            },
            {"type": "delay", "seconds": 60},
            {
                "type": "action",
                "id": "touch",
                "connection": CRM,
                "object": "companies",
                "operation": "update",
                "record_id": "steps.find.id",
                "mapping": {
                    "fields": [
                        {
                            "target": "name",
                            "source": "steps.find.fields.name",
                            "transforms": [{"name": "upper"}],
                        }
                    ]
                },
            },
        ],
    }
    preview = preview_definition(
        definition,
        {"domain": "acme.com"},
        {"companies": [{"id": "co-9", "domain": "acme.com", "name": "Acme"}]},
    )
    assert preview.execution is not None
    assert [o.message for o in preview.execution.steps] == [
        "found companies co-9 by domain 'acme.com'",
        "would wait 60 seconds here",
        "updated companies co-9",
    ]
    assert preview.calls[0].details["fields"] == {"name": "ACME"}
    assert preview.calls[0].details["target_id"] == "co-9"


def test_dry_run_links_use_given_ids_or_placeholders() -> None:
    ports = DryRunPorts(linked_ids={"accounts": {"c-1": "acc-1"}})
    assert ports.linked_id(1, "accounts", "c-1") == "acc-1"
    assert ports.linked_id(1, "accounts", "c-2") == "<accounts linked to c-2>"
