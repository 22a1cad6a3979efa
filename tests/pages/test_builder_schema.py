from __future__ import annotations

from connectors.base import FieldSchema, ObjectSchema, PicklistOption
from workflows.builder_schema import (
    coerce_for,
    normalise,
    suggest_pairs,
    suggested_transforms,
    value_map_prefill,
)


def _schema(*fields: FieldSchema) -> ObjectSchema:
    return ObjectSchema("x", "X", fields)


def test_names_compare_without_custom_field_containers_case_or_separators() -> None:
    assert normalise("user_fields.Customer_Tier") == normalise("customerTier") == "customertier"
    assert normalise("merge_fields.FNAME") == "fname"


def test_pairs_by_name_then_label_then_synonym_then_a_near_spelling() -> None:
    source = _schema(
        FieldSchema("email", "Email", "email"),
        FieldSchema("firstname", "First Name", "string"),
        FieldSchema("jobtitle", "Position", "string"),
        FieldSchema("city", "City", "string"),
        FieldSchema("zip_code", "Zip", "string"),
    )
    target = _schema(
        FieldSchema("email_address", "Email address", "email"),
        FieldSchema("merge_fields.FNAME", "First name", "string"),
        FieldSchema("role", "Position", "string"),
        FieldSchema("zipcode", "Postcode", "string"),
        FieldSchema("country", "Country", "string"),
        FieldSchema("id", "ID", "string", read_only=True),
    )
    pairs = {
        p.target.name: (p.source.name, p.why)
        for p in suggest_pairs(source, target, taken_targets=set(), taken_sources=set())
    }
    assert pairs == {
        "email_address": ("email", "same meaning"),
        "merge_fields.FNAME": ("firstname", "same label"),
        "role": ("jobtitle", "same label"),
        "zipcode": ("zip_code", "same name"),
    }


def test_a_field_already_mapped_is_not_suggested_again() -> None:
    source = _schema(FieldSchema("email", "Email", "email"), FieldSchema("phone", "Phone", "phone"))
    target = _schema(FieldSchema("email", "Email", "email"), FieldSchema("phone", "Phone", "phone"))
    pairs = suggest_pairs(source, target, taken_targets={"email"}, taken_sources={"phone"})
    assert pairs == []


def test_value_map_prefill_translates_by_value_or_label_and_leaves_the_rest_blank() -> None:
    source = FieldSchema(
        "stage",
        "Stage",
        "enumeration",
        options=(
            PicklistOption("won", "Closed Won"),
            PicklistOption("lost", "Lost"),
            PicklistOption("new", "New"),
        ),
    )
    target = FieldSchema(
        "status",
        "Status",
        "enumeration",
        options=(PicklistOption("closed_won", "Closed won"), PicklistOption("LOST", "Lost")),
    )
    assert value_map_prefill(source, target) == [("won", "closed_won"), ("lost", "LOST"), ("new", "")]
    assert value_map_prefill(source, None) == [("won", "won"), ("lost", "lost"), ("new", "new")]
    assert value_map_prefill(FieldSchema("n", "N", "string"), target) == []


def test_suggested_transforms_make_the_value_fit_the_target() -> None:
    text = FieldSchema("a", "A", "string")
    assert suggested_transforms(text, FieldSchema("b", "B", "email")) == [{"name": "trim"}, {"name": "lower"}]
    assert suggested_transforms(text, FieldSchema("b", "B", "number")) == [{"name": "to_number"}]
    assert suggested_transforms(FieldSchema("a", "A", "number"), FieldSchema("b", "B", "string")) == [
        {"name": "to_string"}
    ]
    assert suggested_transforms(text, FieldSchema("b", "B", "string")) == []
    # Numbers often arrive as text even from a number field, so the conversion is kept between equals.
    number = FieldSchema("n", "N", "number")
    assert suggested_transforms(number, FieldSchema("m", "M", "number")) == [{"name": "to_number"}]


def test_typed_constants_take_the_target_fields_type() -> None:
    assert coerce_for("number", "12") == 12 and coerce_for("number", "1.5") == 1.5
    assert coerce_for("number", "12 apples") == "12 apples"
    assert coerce_for("boolean", "Yes") is True and coerce_for("boolean", "false") is False
    assert coerce_for("string", "007") == "007"
