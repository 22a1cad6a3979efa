from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.base import FieldSchema, ObjectSchema, PicklistOption
from tests.workflows.engine.test_transforms import EXAMPLE_ARGS, json_values
from workflows.engine.mapping import MappingSpecError, compile_mapping, validate_against_schemas
from workflows.engine.transforms import TRANSFORMS


def row(target: str, source: Any, *transforms: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"target": target, "source": source, "transforms": list(transforms), **extra}


def spec_errors(spec: Any) -> list[str]:
    with pytest.raises(MappingSpecError) as caught:
        compile_mapping(spec)
    return caught.value.messages


CONTACT_SPEC = {
    "fields": [
        row("name", ["firstname", "lastname"], {"name": "join", "args": {"separator": " "}}),
        row("email", ["email"], {"name": "trim"}, {"name": "lower"}),
        row("city", "$.address.city", {"name": "title"}),
        row("employees", "employees", {"name": "to_integer"}),
    ]
}


# --- compiling --------------------------------------------------------------------------------


def test_compile_accepts_a_valid_spec_and_lists_its_targets_and_sources() -> None:
    mapping = compile_mapping(CONTACT_SPEC)
    assert mapping.targets == ("name", "email", "city", "employees")
    assert mapping.source_fields == {"firstname", "lastname", "email", "address", "employees"}


def test_compile_reports_every_problem_naming_its_row() -> None:
    messages = spec_errors(
        {
            "fields": [
                row("email", "email", {"name": "lowr"}),
                row("", "x"),
                row("email", "email2"),
                row("size", "size", {"name": "to_integer", "args": {"rounding": "up"}}),
                row("name", ["first", "last"]),
                row("tags", "$.tags[", {"name": "trim"}),
                {"target": "x", "source": "x", "transform": []},
                row("status", "status", empty="erase"),
            ]
        }
    )
    assert messages == [
        "Row 1 (email): transform 1: unknown transform 'lowr'",
        "Row 2: choose a target field",
        "Row 3 (email): target 'email' is already mapped in row 1",
        "Row 4 (size): transform 1 (to_integer): 'rounding' must be one of: fail, round, truncate",
        "Row 5 (name): several source fields need a first transform that combines them"
        " (join, first_non_empty, format)",
        messages[5],
        "Row 7 (x): unknown setting 'transform'",
        "Row 8 (status): 'empty' must be 'keep' or 'clear'",
    ]
    assert messages[5].startswith("Row 6 (tags): '$.tags[' is not a valid path (")


def test_compile_refuses_a_spec_without_a_list_of_fields() -> None:
    assert spec_errors({"rows": []}) == ["The mapping must have a list of fields"]
    assert spec_errors(None) == ["The mapping must have a list of fields"]


def test_compile_refuses_a_row_without_source_unless_it_builds_its_own_value() -> None:
    assert spec_errors({"fields": [row("x", None)]}) == [
        "Row 1 (x): choose a source field (only 'format' and 'default' work without one)"
    ]
    compile_mapping({"fields": [row("x", [], {"name": "default", "args": {"value": "CRM"}})]})


def test_compile_refuses_sources_that_are_not_field_names() -> None:
    assert spec_errors({"fields": [row("x", ["a", 3])]}) == [
        "Row 1 (x): source must be a field name or a list of field names"
    ]


# --- applying ---------------------------------------------------------------------------------


def test_apply_maps_joined_trimmed_nested_and_converted_fields() -> None:
    mapped = compile_mapping(CONTACT_SPEC).apply(
        {
            "firstname": "Ada",
            "lastname": "Lovelace",
            "email": "  ADA@Example.com ",
            "address": {"city": "london"},
            "employees": "12",
        }
    )
    assert mapped.values == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "city": "London",
        "employees": 12,
    }
    assert mapped.dropped == []
    assert mapped.errors == []


def test_a_failing_transform_is_an_error_for_that_field_while_the_others_still_map() -> None:
    mapped = compile_mapping(CONTACT_SPEC).apply({"email": "a@b.c", "employees": "lots"})
    assert mapped.errors == [("employees", "'lots' is not a number")]
    assert mapped.values == {"email": "a@b.c"}


def test_an_empty_source_leaves_the_target_alone_by_default() -> None:
    mapped = compile_mapping(CONTACT_SPEC).apply({"email": None, "firstname": "", "employees": "1"})
    assert "email" not in mapped.values
    assert ("email", "empty in source") in mapped.dropped
    assert ("name", "empty in source") in mapped.dropped
    assert ("city", "empty in source") in mapped.dropped


def test_an_empty_source_clears_the_target_when_the_row_says_clear() -> None:
    mapping = compile_mapping({"fields": [row("phone", "phone", {"name": "trim"}, empty="clear")]})
    assert mapping.apply({"phone": None}).values == {"phone": None}
    assert mapping.apply({"phone": "   "}).values == {"phone": None}
    assert mapping.apply({"phone": "+44"}).values == {"phone": "+44"}


def test_a_value_emptied_by_its_transforms_is_reported_as_such() -> None:
    mapping = compile_mapping(
        {"fields": [row("last", "name", {"name": "split_name", "args": {"part": "last"}})]}
    )
    assert mapping.apply({"name": "Cher"}).dropped == [("last", "empty after transforms")]


def test_a_default_fills_an_empty_source() -> None:
    mapping = compile_mapping(
        {"fields": [row("tier", "tier", {"name": "default", "args": {"value": "standard"}})]}
    )
    assert mapping.apply({}).values == {"tier": "standard"}


def test_value_map_drop_lists_the_field_as_dropped_with_the_reason() -> None:
    mapping = compile_mapping(
        {
            "fields": [
                row("status", "stage", {"name": "value_map", "args": {"map": {"a": "A"}, "unmapped": "drop"}})
            ]
        }
    )
    mapped = mapping.apply({"stage": "zz"})
    assert mapped.values == {}
    assert mapped.dropped == [("status", "'zz' has no mapping")]
    assert mapped.errors == []


@pytest.mark.parametrize(
    ("unmapped", "values", "dropped", "errors"),
    [
        ("fail", {}, [], [("status", "'Partner' has no mapping (expected one of: 'Lead')")]),
        ("pass", {"status": "Partner"}, [], []),
        ("default", {"status": "other"}, [], []),
        ("drop", {}, [("status", "'Partner' has no mapping")], []),
    ],
)
def test_every_unmapped_value_policy_of_value_map_reaches_the_mapped_record(
    unmapped: str, values: dict[str, Any], dropped: list[Any], errors: list[Any]
) -> None:
    args = {"map": {"Lead": "new"}, "unmapped": unmapped, "default": "other"}
    mapping = compile_mapping({"fields": [row("status", "stage", {"name": "value_map", "args": args})]})
    mapped = mapping.apply({"stage": "Partner"})
    assert (mapped.values, mapped.dropped, mapped.errors) == (values, dropped, errors)
    assert mapping.apply({"stage": "Lead"}).values == {"status": "new"}


def test_trace_shows_what_each_row_read_and_did() -> None:
    mapping = compile_mapping(
        {
            "fields": [
                row("email", "email", {"name": "lower"}),
                row("employees", "employees", {"name": "to_integer"}),
                row("phone", "phone", empty="clear"),
                row("city", "$.address.city"),
            ]
        }
    )
    traces = mapping.trace({"email": "A@B.C", "employees": "lots", "address": {}})
    assert [(t.target, t.source, t.status, t.value, t.message) for t in traces] == [
        ("email", "A@B.C", "mapped", "a@b.c", None),
        ("employees", "lots", "error", None, "'lots' is not a number"),
        ("phone", None, "cleared", None, "empty, so the target field is cleared"),
        ("city", None, "dropped", None, "empty in source"),
    ]


@settings(max_examples=200, deadline=None)
@given(record=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), json_values))
# Blank and empty values, which every row must drop or clear alike, whatever the path taken.
@example(record={"a": "   ", "b": "\t", "c": " ", "d": ""})
@example(record={"a": [], "b": {}, "c": None, "d": " \n "})
def test_trace_agrees_with_apply(record: dict[str, Any]) -> None:
    mapped = EVERY_TRANSFORM.apply(record)
    traces = {trace.target: trace for trace in EVERY_TRANSFORM.trace(record)}
    assert {t: tr.value for t, tr in traces.items() if tr.status in ("mapped", "cleared")} == mapped.values
    assert [(t, tr.message) for t, tr in traces.items() if tr.status == "dropped"] == mapped.dropped
    assert [(t, tr.message) for t, tr in traces.items() if tr.status == "error"] == mapped.errors


def test_format_rows_build_text_from_the_record() -> None:
    mapping = compile_mapping(
        {"fields": [row("subject", [], {"name": "format", "args": {"template": "{first} <{email}>"}})]}
    )
    assert mapping.apply({"first": "Ada", "email": "a@b.c"}).values == {"subject": "Ada <a@b.c>"}


def test_a_single_source_name_given_as_text_is_accepted() -> None:
    mapping = compile_mapping({"fields": [row("owner", "owner_id")]})
    assert mapping.apply({"owner_id": 7}).values == {"owner": 7}


def test_paths_read_lists_and_functions_through_jmespath() -> None:
    mapping = compile_mapping(
        {
            "fields": [
                row("first_tag", "$.tags[0]"),
                row("tag_count", "$.length(tags)"),
                row("tags", "$.tags", {"name": "join", "args": {"separator": ", "}}),
            ]
        }
    )
    assert mapping.apply({"tags": ["a", "b"]}).values == {"first_tag": "a", "tag_count": 2, "tags": "a, b"}


def test_a_path_through_a_non_object_is_empty() -> None:
    mapping = compile_mapping({"fields": [row("city", "$.address.city")]})
    assert mapping.apply({"address": "10 Downing St"}).dropped == [("city", "empty in source")]
    assert mapping.apply({"address": ["x"]}).dropped == [("city", "empty in source")]


def test_a_path_function_given_the_wrong_type_is_a_record_error() -> None:
    mapping = compile_mapping({"fields": [row("n", "$.length(count)")]})
    mapped = mapping.apply({"count": 3})
    assert mapped.values == {}
    assert len(mapped.errors) == 1
    assert mapped.errors[0][1].startswith("couldn't read the source field: ")


# --- properties -------------------------------------------------------------------------------

field_paths = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3)
nested = st.recursive(
    json_values, lambda children: st.dictionaries(st.sampled_from(["a", "b", "c"]), children), max_leaves=10
)


@settings(max_examples=300, deadline=None)
@given(keys=field_paths, data=st.dictionaries(st.sampled_from(["a", "b", "c"]), nested))
def test_plain_paths_read_exactly_what_jmespath_reads(keys: list[str], data: dict[str, Any]) -> None:
    path = ".".join(keys)
    mapping = compile_mapping({"fields": [row("out", f"$.{path}", empty="clear")]})
    expected = jmespath.search(path, data)
    mapped = mapping.apply(data)
    if expected in (None, "", [], {}) or (isinstance(expected, str) and expected.isspace()):
        assert mapped.values == {"out": None}
    else:
        assert mapped.values == {"out": expected}


def every_transform_spec() -> dict[str, Any]:
    """One row per example argument set of every transform, so the property covers them all."""
    rows = []
    for name, arg_sets in EXAMPLE_ARGS.items():
        for position, args in enumerate(arg_sets):
            source: Any = ["a", "b"] if TRANSFORMS[name].accepts_list else "a"
            rows.append(row(f"{name}_{position}", source, {"name": name, "args": args}))
    # Chains too: a transform's output is the next one's input.
    rows.append(row("chain", "$.b", {"name": "to_number"}, {"name": "to_string"}, {"name": "to_date"}))
    rows.append(row("chain2", "c", {"name": "trim"}, {"name": "to_boolean"}, {"name": "to_integer"}))
    # A chain of text transforms ending in a cleared empty (a blank "d" must clear, not drop).
    rows.append(
        row(
            "chain3",
            "d",
            {"name": "replace", "args": {"find": " ", "replacement": "'\\\""}},
            {"name": "trim"},
            {"name": "upper"},
            {"name": "lower"},
            {"name": "truncate", "args": {"length": 5}},
            {"name": "to_string"},
            empty="clear",
        )
    )
    return {"fields": rows}


EVERY_TRANSFORM = compile_mapping(every_transform_spec())


@settings(max_examples=400, deadline=None)
@given(record=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), json_values))
def test_apply_never_raises_and_bad_values_become_record_errors(record: dict[str, Any]) -> None:
    mapped = EVERY_TRANSFORM.apply(record)
    for target, message in mapped.errors:
        assert target in EVERY_TRANSFORM.targets
        assert message.strip()
        assert not message.startswith("internal error"), message
    for _target, reason in mapped.dropped:
        assert reason.strip()
    handled = set(mapped.values) | {t for t, _ in mapped.dropped} | {t for t, _ in mapped.errors}
    assert handled == set(EVERY_TRANSFORM.targets)


def _as_applied(mapped: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, str]], list[tuple[str, str]]]:
    # The values' order too: a batch must hand the writer the same record as `apply`.
    return list(mapped.values.items()), mapped.dropped, mapped.errors


# Text-only records as well as any JSON: a column of text takes the C path, anything else the transform.
text_or_blank = st.one_of(st.text(max_size=6), st.sampled_from([" ", "", " Ada ", "OPEN", "1.5", "yes"]))
batch_records = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), json_values)
    | st.fixed_dictionaries({key: text_or_blank for key in "abcd"}),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(records=batch_records)
@example(records=[{"a": " x ", "b": "y", "c": "1", "d": "z"}, {"a": None, "b": 2, "c": [], "d": " "}])
def test_a_batch_maps_every_record_exactly_as_one_at_a_time(records: list[dict[str, Any]]) -> None:
    batch = EVERY_TRANSFORM.apply_many(records)
    assert [_as_applied(mapped) for mapped in batch] == [
        _as_applied(EVERY_TRANSFORM.apply(record)) for record in records
    ]


class Label(str):
    """Text of another class: `apply` treats only exact str as blank-checkable, and a batch must agree."""


class Shouting(str):
    """Text whose own methods differ from str's: the transforms call them, and so must a batch."""

    def strip(self, chars: str | None = None) -> str:
        return Shouting(str.strip(self, chars).upper() or "(blank)")

    def lower(self) -> str:
        return Shouting(str.upper(self))


class Touchy:
    """A value whose comparisons raise (as an array's do): kept as it is, by a batch as by `apply`."""

    def __eq__(self, other: object) -> bool:
        raise ValueError("ambiguous comparison")

    __hash__ = object.__hash__


def test_a_batch_calls_a_text_subclass_own_methods_and_keeps_values_that_refuse_comparison() -> None:
    mapping = compile_mapping(
        {"fields": [row("t", "a", {"name": "trim"}), row("l", "b", {"name": "lower"}), row("raw", "c")]}
    )
    odd = Touchy()
    records: list[dict[str, Any]] = [
        {"a": Shouting("  "), "b": Shouting("Ada"), "c": odd},
        {"a": Shouting(" x "), "b": Shouting("B"), "c": "plain"},
    ]
    batch = mapping.apply_many(records)
    assert [_as_applied(mapped) for mapped in batch] == [_as_applied(mapping.apply(r)) for r in records]
    assert batch[0].values["t"] == "(blank)" and type(batch[0].values["t"]) is Shouting
    assert batch[0].values["l"] == "ADA" and batch[0].values["raw"] is odd
    assert batch[1].values["t"] == "X"


def test_a_batch_treats_text_subclasses_and_blank_values_as_apply_does() -> None:
    mapping = compile_mapping(
        {
            "fields": [
                row("trimmed", "a", {"name": "trim"}, {"name": "upper"}),
                row("raw", "b"),
                row("cleared", "c", {"name": "lower"}, empty="clear"),
                row("joined", ["a", "b"], {"name": "join", "args": {"separator": "-"}}),
            ]
        }
    )
    records: list[dict[str, Any]] = [
        {"a": " ada ", "b": Label("  "), "c": "X"},
        {"a": "   ", "b": Label(""), "c": "  "},
        {"a": 12, "b": [], "c": None},
        {"b": {"k": 1}, "c": Label(" ")},
    ]
    batch = mapping.apply_many(records)
    assert [_as_applied(mapped) for mapped in batch] == [_as_applied(mapping.apply(r)) for r in records]
    # And the outcomes themselves, so agreement cannot hide a shared mistake.
    assert batch[0].values == {"trimmed": "ADA", "raw": Label("  "), "cleared": "x", "joined": "ada"}
    assert batch[1].values == {"raw": Label(""), "cleared": None}
    assert batch[1].dropped == [("trimmed", "empty in source"), ("joined", "empty in source")]
    assert batch[2].values == {"trimmed": "12", "cleared": None}
    assert batch[2].dropped == [("raw", "empty in source")]
    assert batch[2].errors == [("joined", "join expects text, not a list")]
    assert batch[3].values == {"raw": {"k": 1}, "cleared": None}
    assert batch[3].errors == [("joined", "join expects text, not a group of fields")]


def test_a_batch_with_a_failing_value_reports_it_on_that_record_only() -> None:
    mapping = compile_mapping(
        {"fields": [row("n", "a", {"name": "to_integer"}), row("t", "b", {"name": "trim"})]}
    )
    batch = mapping.apply_many([{"a": "7", "b": " x "}, {"a": "seven", "b": " y "}, {"a": "9", "b": None}])
    assert [m.values for m in batch] == [{"n": 7, "t": "x"}, {"t": "y"}, {"n": 9}]
    assert batch[1].errors == mapping.apply({"a": "seven"}).errors != []
    assert batch[2].dropped == [("t", "empty in source")]


def test_field_names_with_quotes_and_newlines_are_read_as_plain_names() -> None:
    tricky = ['a"b', "c'd", "e\nf", "e\\nf", '"); raise SystemExit("', "g\\\\"]
    spec = {
        "fields": [
            row(
                f"{name} out",
                name,
                {"name": "trim"},
                {"name": "replace", "args": {"find": name, "replacement": "x"}},
            )
            for name in tricky
        ]
    }
    mapping = compile_mapping(spec)
    mapped = mapping.apply({name: f" {name}! " for name in tricky})
    assert mapped.values == {f"{name} out": "x!" for name in tricky}
    assert mapped.errors == [] and mapped.dropped == []


# --- checking against schemas -----------------------------------------------------------------

CRM = ObjectSchema(
    "contacts",
    "HubSpot contacts",
    (
        FieldSchema("firstname", "First name", "string"),
        FieldSchema("lastname", "Last name", "string"),
        FieldSchema("email", "Email", "email"),
        FieldSchema("employees", "Employees", "string"),
        FieldSchema("address", "Address", "json"),
        FieldSchema(
            "stage",
            "Lifecycle stage",
            "enumeration",
            options=(PicklistOption("lead", "Lead"), PicklistOption("customer", "Customer")),
        ),
        FieldSchema("vip", "VIP", "boolean"),
    ),
)
HELPDESK = ObjectSchema(
    "users",
    "Zendesk users",
    (
        FieldSchema("id", "ID", "number", required=True, read_only=True),
        FieldSchema("name", "Name", "string", required=True),
        FieldSchema("email", "Email", "email"),
        FieldSchema("employees", "Employees", "number"),
        FieldSchema("created_at", "Created", "datetime", read_only=True),
        FieldSchema(
            "status",
            "Status",
            "enumeration",
            options=(PicklistOption("new", "New"), PicklistOption("open", "Open")),
        ),
        FieldSchema("note", "Note", "string"),
    ),
)


def messages(issues: list[Any], level: str) -> list[str]:
    return [issue.message for issue in issues if issue.level == level]


def test_a_sound_mapping_has_no_issues() -> None:
    spec = {
        "fields": [
            row("name", ["firstname", "lastname"], {"name": "join"}),
            row("email", "email", {"name": "trim"}),
            row("employees", "employees", {"name": "to_integer"}),
            row(
                "status", "stage", {"name": "value_map", "args": {"map": {"lead": "new", "customer": "open"}}}
            ),
        ]
    }
    assert validate_against_schemas(spec, CRM, HELPDESK) == []


def test_unknown_fields_and_read_only_targets_are_errors() -> None:
    spec = {
        "fields": [
            row("name", "fullname"),
            row("phone", "email"),
            row("created_at", "email"),
            row("note", [], {"name": "format", "args": {"template": "{firstname} {nickname}"}}),
        ]
    }
    assert messages(validate_against_schemas(spec, CRM, HELPDESK), "error") == [
        "Row 1 (name): 'fullname' is not a field of HubSpot contacts",
        "Row 2 (phone): 'phone' is not a field of Zendesk users",
        "Row 3 (created_at): 'Created' is read-only in Zendesk users",
        "Row 4 (note): 'nickname' is not a field of HubSpot contacts",
    ]


def test_required_target_fields_must_be_mapped() -> None:
    issues = validate_against_schemas({"fields": [row("email", "email")]}, CRM, HELPDESK)
    assert messages(issues, "error") == ["'Name' (name) is required by Zendesk users but not mapped"]


def test_text_sent_to_a_number_field_without_conversion_is_a_warning() -> None:
    spec = {"fields": [row("name", "firstname"), row("employees", "employees")]}
    issues = validate_against_schemas(spec, CRM, HELPDESK)
    assert messages(issues, "warning") == [
        "Row 2 (employees): this sends text to 'Employees', which is a number field; add 'to_number' to convert it"
    ]
    spec["fields"][1]["transforms"] = [{"name": "to_number"}]
    assert validate_against_schemas(spec, CRM, HELPDESK) == []


def test_a_yes_no_value_sent_to_a_text_field_suggests_to_string() -> None:
    issues = validate_against_schemas({"fields": [row("name", "vip")]}, CRM, HELPDESK)
    assert messages(issues, "warning") == [
        "Row 1 (name): this sends yes/no to 'Name', which is a string field; add 'to_string' to convert it"
    ]


def test_picklist_values_the_target_does_not_offer_are_warnings() -> None:
    unmapped = validate_against_schemas(
        {"fields": [row("name", "email"), row("status", "stage")]}, CRM, HELPDESK
    )
    assert messages(unmapped, "warning") == [
        "Row 2 (status): customer, lead are not an option of 'Status'; add or fix a 'value_map'"
    ]
    mapped_badly = {
        "fields": [
            row("name", "email"),
            row(
                "status", "stage", {"name": "value_map", "args": {"map": {"lead": "new", "customer": "won"}}}
            ),
        ]
    }
    assert messages(validate_against_schemas(mapped_badly, CRM, HELPDESK), "warning") == [
        "Row 2 (status): won is not an option of 'Status'; add or fix a 'value_map'"
    ]


def test_a_path_from_an_unknown_top_level_field_is_only_a_warning() -> None:
    spec = {"fields": [row("name", "$.properties.name"), row("note", "$.address.city")]}
    issues = validate_against_schemas(spec, CRM, HELPDESK)
    assert messages(issues, "error") == []
    assert messages(issues, "warning") == [
        "Row 1 (name): '$.properties.name' starts at 'properties', which HubSpot contacts doesn't list"
    ]


def test_spec_errors_are_reported_with_the_schema_issues() -> None:
    spec = {"fields": [row("name", "firstname", {"name": "nope"}), row("emial", "email")]}
    assert messages(validate_against_schemas(spec, CRM, HELPDESK), "error") == [
        "Row 1 (name): transform 1: unknown transform 'nope'",
        "Row 2 (emial): 'emial' is not a field of Zendesk users",
        "'Name' (name) is required by Zendesk users but not mapped",
    ]
