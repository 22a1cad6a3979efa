from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.transforms import (
    TRANSFORMS,
    DropValue,
    TransformError,
    catalog,
    default,
    first_non_empty,
    format_template,
    join,
    lower,
    replace,
    split_name,
    template_fields,
    title,
    to_boolean,
    to_date,
    to_datetime,
    to_integer,
    to_number,
    to_string,
    trim,
    truncate,
    upper,
    value_map,
)

# --- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "given_value", "expected"),
    [
        (trim, "  Ada  ", "Ada"),
        (trim, 42, "42"),
        (lower, "ADA@Example.COM", "ada@example.com"),
        (upper, "gb", "GB"),
        (title, "ada LOVELACE", "Ada Lovelace"),
        (title, "mary smith-jones", "Mary Smith-Jones"),
        (title, "they're here", "They're Here"),
        (truncate, None, None),
        (trim, None, None),
    ],
)
def test_text_transforms_give_the_expected_text(func: Any, given_value: Any, expected: Any) -> None:
    assert func(given_value) == expected


def test_text_transforms_refuse_a_list_with_a_readable_message() -> None:
    with pytest.raises(TransformError, match="trim expects text, not a list"):
        trim(["a"])


def test_truncate_cuts_to_the_length() -> None:
    assert truncate("abcdef", length=3) == "abc"
    assert truncate("ab", length=3) == "ab"


def test_replace_replaces_every_occurrence_literally() -> None:
    assert replace("a.b.c", find=".", replacement="-") == "a-b-c"
    assert replace("(x)", find="(", replacement="") == "x)"


@pytest.mark.parametrize(
    ("full_name", "first", "last"),
    [
        ("Ada King Lovelace", "Ada", "King Lovelace"),
        ("Lovelace, Ada", "Ada", "Lovelace"),
        ("Lovelace, Ada King", "Ada King", "Lovelace"),
        ("  Ada   Lovelace ", "Ada", "Lovelace"),
        ("Cher", "Cher", None),
        ("", None, None),
    ],
)
def test_split_name_takes_first_and_last_names(full_name: str, first: str | None, last: str | None) -> None:
    assert split_name(full_name, part="first") == first
    assert split_name(full_name, part="last") == last


# --- combining --------------------------------------------------------------------------------


def test_join_skips_empty_values_and_trims_parts() -> None:
    assert join(["Ada", None, " ", " Lovelace "], separator=" ") == "Ada Lovelace"
    assert join(["a", 1, 2.0, True], separator=",") == "a,1,2,true"


def test_join_of_only_empty_values_is_empty() -> None:
    assert join([None, "", "  "]) is None


def test_join_treats_a_single_value_as_a_list_of_one() -> None:
    assert join("Ada") == "Ada"


def test_join_refuses_a_nested_list() -> None:
    with pytest.raises(TransformError, match="join expects text, not a list"):
        join(["a", ["b"]])


def test_first_non_empty_takes_the_first_filled_in_value() -> None:
    assert first_non_empty([None, "", "  ", "+44 1", "+44 2"]) == "+44 1"
    assert first_non_empty([None, ""]) is None
    assert first_non_empty([0, 1]) == 0  # zero is a value, not an empty field


def test_default_fills_only_empty_values() -> None:
    assert default(None, value="standard") == "standard"
    assert default("   ", value="standard") == "standard"
    assert default("gold", value="standard") == "gold"
    assert default(False, value=True) is False


# --- value_map --------------------------------------------------------------------------------

STATUS_MAP = {"Lead": "new", "Customer": "open"}


def test_value_map_translates_a_known_value_ignoring_surrounding_spaces() -> None:
    assert value_map(" Lead ", map=STATUS_MAP) == "new"


def test_value_map_matches_case_only_when_asked() -> None:
    assert value_map("lead", map=STATUS_MAP, case_insensitive=True) == "new"
    with pytest.raises(TransformError):
        value_map("lead", map=STATUS_MAP)


def test_value_map_unmapped_fail_names_the_value_and_the_options() -> None:
    with pytest.raises(
        TransformError, match="'Partner' has no mapping \\(expected one of: 'Lead', 'Customer'\\)"
    ):
        value_map("Partner", map=STATUS_MAP)


def test_value_map_unmapped_pass_default_and_drop() -> None:
    assert value_map("Partner", map=STATUS_MAP, unmapped="pass") == "Partner"
    assert value_map("Partner", map=STATUS_MAP, unmapped="default", default="other") == "other"
    with pytest.raises(DropValue, match="'Partner' has no mapping"):
        value_map("Partner", map=STATUS_MAP, unmapped="drop")


def test_value_map_matches_numbers_and_booleans_by_their_text() -> None:
    assert value_map(1, map={"1": "one"}) == "one"
    assert value_map(True, map={"true": "yes"}) == "yes"


def test_value_map_leaves_empty_values_empty() -> None:
    assert value_map(None, map=STATUS_MAP) is None


# --- numbers and booleans ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        ("42", 42),
        (" 3.5 ", 3.5),
        ("-0.25", -0.25),
        ("1e3", 1000),
        ("$1,234.50", 1234.5),
        ("1,234,567", 1234567),
        (7, 7),
        (2.0, 2),
        (True, 1),
        ("", None),
        (None, None),
    ],
)
def test_to_number_reads_numbers(given_value: Any, expected: Any) -> None:
    result = to_number(given_value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("bad", ["abc", "1,5", "nan", "inf", "1_000", "12abc", "1e999"])
def test_to_number_refuses_what_is_not_plainly_a_number(bad: str) -> None:
    with pytest.raises(TransformError, match=f"'{bad}' is (not a|too large to be a) number"):
        to_number(bad)


def test_to_number_message_is_plain_english() -> None:
    with pytest.raises(TransformError) as caught:
        to_number("abc")
    assert caught.value.message == "'abc' is not a number"


def test_to_number_refuses_nan_and_infinity_floats() -> None:
    for bad in (math.nan, math.inf):
        with pytest.raises(TransformError):
            to_number(bad)


def test_to_integer_accepts_whole_numbers_and_refuses_fractions_by_default() -> None:
    assert to_integer("12") == 12
    assert to_integer("3.0") == 3
    with pytest.raises(TransformError, match=r"'2\.5' is not a whole number"):
        to_integer("2.5")


@pytest.mark.parametrize(
    ("given_value", "by", "expected"),
    [
        (1999, 100, 19.99),
        ("1999", 100, 19.99),
        (2000, 100, 20),
        (-5, 100, -0.05),
        (1, 3, 0.3333333333333333),
        ("12,345", 1000, 12.345),
        (None, 100, None),
        ("", 100, None),
    ],
)
def test_divide_turns_minor_units_into_decimal_amounts_exactly(
    given_value: Any, by: int, expected: Any
) -> None:
    result = TRANSFORMS["divide"].bind_value({"by": by})(given_value)  # type: ignore[misc]
    assert result == expected
    assert type(result) is type(expected)


def test_multiply_turns_decimal_amounts_into_minor_units_without_binary_rounding() -> None:
    # 0.29 * 100 is 28.999999999999996 in binary floating point; an amount must come out whole.
    multiply = TRANSFORMS["multiply"].bind_value({"by": 100})
    assert multiply is not None
    assert multiply(0.29) == 29
    assert multiply("19.99") == 1999
    assert multiply(1.005) == 100.5


def test_divide_and_multiply_refuse_what_is_not_a_number_or_too_large() -> None:
    divide = TRANSFORMS["divide"].bind_value({"by": 100})
    assert divide is not None
    with pytest.raises(TransformError, match="is not a number"):
        divide("twelve")
    with pytest.raises(TransformError, match="too large for divide"):
        divide(10**400)
    with pytest.raises(TransformError, match="expected a number, not a list"):
        divide([1999])


@pytest.mark.parametrize("by", [0, -100, 2.5, "100", True])
def test_divide_by_must_be_a_positive_whole_number_when_the_mapping_is_saved(by: Any) -> None:
    _, problems = TRANSFORMS["divide"].validate_args({"by": by})
    assert problems and "'by' must be" in problems[0]


def test_to_integer_rounds_half_away_from_zero_or_truncates_when_asked() -> None:
    assert to_integer("2.5", rounding="round") == 3
    assert to_integer(-2.5, rounding="round") == -3
    assert to_integer("2.4", rounding="round") == 2
    assert to_integer("2.9", rounding="truncate") == 2
    assert to_integer("-2.9", rounding="truncate") == -2


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        ("yes", True),
        ("No", False),
        ("TRUE", True),
        ("false", False),
        ("1", True),
        ("0", False),
        (" on ", True),
        ("OFF", False),
        (1, True),
        (0.0, False),
        (True, True),
        ("", None),
    ],
)
def test_to_boolean_reads_yes_no_words(given_value: Any, expected: bool | None) -> None:
    assert to_boolean(given_value) is expected


@pytest.mark.parametrize("bad", ["maybe", 2, -1, "yesno"])
def test_to_boolean_refuses_other_values(bad: Any) -> None:
    with pytest.raises(TransformError, match="is not yes/no"):
        to_boolean(bad)


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_value", "kwargs", "expected"),
    [
        ("2024-03-31", {}, "2024-03-31"),
        ("2024-3-1", {}, "2024-03-01"),
        ("2024/03/31", {}, "2024-03-31"),
        ("03/04/2024", {}, "2024-03-04"),
        ("03/04/2024", {"day_first": True}, "2024-04-03"),
        ("31.03.2024", {}, "2024-03-31"),
        ("31 Mar 2024", {}, "2024-03-31"),
        ("March 31, 2024", {}, "2024-03-31"),
        ("20240331", {}, "2024-03-31"),
        # An instant is a day in the output zone: 23:30 in New York is already 2 March in UTC.
        ("2024-03-01T23:30:00-05:00", {}, "2024-03-02"),
        ("2024-03-01T23:30:00-05:00", {"output_timezone": "America/New_York"}, "2024-03-01"),
        (1711843200000, {}, "2024-03-31"),
        ("1711843200000", {}, "2024-03-31"),
        (1711843200, {"epoch_unit": "s"}, "2024-03-31"),
        (date(2024, 3, 31), {}, "2024-03-31"),
        ("", {}, None),
    ],
)
def test_to_date_reads_common_formats_as_iso(given_value: Any, kwargs: dict[str, Any], expected: Any) -> None:
    assert to_date(given_value, **kwargs) == expected


@pytest.mark.parametrize("bad", ["2024-02-30", "31/31/2024", "next tuesday", "2024-03-01T25:00:00"])
def test_to_date_refuses_what_is_not_a_date(bad: str) -> None:
    with pytest.raises(TransformError, match=f"'{bad}' is not a"):
        to_date(bad)


def test_to_date_refuses_booleans_and_lists() -> None:
    for bad in (True, ["2024-03-01"]):
        with pytest.raises(TransformError, match="expected a date"):
            to_date(bad)


@pytest.mark.parametrize(
    ("given_value", "kwargs", "expected"),
    [
        ("2024-03-01T10:00:00Z", {}, "2024-03-01T10:00:00Z"),
        ("2024-03-01T10:00:00.123Z", {}, "2024-03-01T10:00:00.123000Z"),
        ("2024-03-01T10:00:00+02:00", {}, "2024-03-01T08:00:00Z"),
        ("2024-03-01 10:00", {}, "2024-03-01T10:00:00Z"),
        ("2024-07-01 10:00", {"input_timezone": "Europe/Berlin"}, "2024-07-01T08:00:00Z"),
        ("2024-03-01", {}, "2024-03-01T00:00:00Z"),
        ("03/04/2024 10:30 PM", {}, "2024-03-04T22:30:00Z"),
        (1709287200000, {}, "2024-03-01T10:00:00Z"),
        (datetime(2024, 3, 1, 10), {}, "2024-03-01T10:00:00Z"),
        (None, {}, None),
    ],
)
def test_to_datetime_gives_iso_utc(given_value: Any, kwargs: dict[str, Any], expected: Any) -> None:
    assert to_datetime(given_value, **kwargs) == expected


def test_to_datetime_reports_dates_outside_the_calendar_instead_of_crashing() -> None:
    with pytest.raises(TransformError, match="out of the range of dates"):
        to_datetime("0001-01-01T00:00:00+01:00")
    with pytest.raises(TransformError, match="out of the range of dates"):
        to_datetime(10**20)


# --- text output ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        ("x", "x"),
        (7, "7"),
        (3.0, "3"),
        (2.5, "2.5"),
        (True, "true"),
        ([1, "a"], '[1, "a"]'),
        ({"a": 1}, '{"a": 1}'),
        (date(2024, 3, 1), "2024-03-01"),
        (None, None),
    ],
)
def test_to_string_writes_values_as_text(given_value: Any, expected: Any) -> None:
    assert to_string(given_value) == expected


def test_format_fills_placeholders_from_the_record() -> None:
    record = {"firstname": "Ada", "lastname": "Lovelace", "age": 36.0}
    assert (
        format_template(None, template="{firstname} {lastname} ({age})", record=record) == "Ada Lovelace (36)"
    )


def test_format_double_braces_are_literal_braces() -> None:
    assert format_template(None, template="{{id}}: {id}", record={"id": 7}) == "{id}: 7"


def test_format_is_empty_when_every_field_is_empty() -> None:
    assert format_template(None, template="{a}, {b}", record={"a": None}) is None
    assert format_template(None, template="{a}, {b}", record={"a": "x"}) == "x, "


def test_format_without_placeholders_is_constant_text() -> None:
    assert format_template(None, template="CRM", record={}) == "CRM"


def test_format_never_evaluates_the_template_as_python() -> None:
    # With str.format these would read attributes, index, or convert; here they are just
    # (unknown) field names, so nothing from the record or Python leaks out.
    record = {"a": "secret"}
    assert format_template(None, template="{a.__class__}{a[0]}{a!r}", record=record) is None
    assert format_template(None, template="{a:>10}-{b}", record={**record, "b": "B"}) == "-B"
    assert template_fields("{a.__class__} {b}") == ["a.__class__", "b"]


def test_format_refuses_a_list_field() -> None:
    with pytest.raises(TransformError, match="format expects text, not a list"):
        format_template(None, template="{tags}", record={"tags": ["a"]})


# --- registry and argument checking -----------------------------------------------------------


def test_every_transform_is_described_for_the_ui() -> None:
    listed = catalog()
    assert [item["name"] for item in listed] == list(TRANSFORMS)
    json.dumps(listed)  # the UI receives it as JSON
    for item in listed:
        assert item["label"]
        assert item["description"]
        assert item["input"]
        assert item["output"]


def test_the_registry_has_at_least_the_promised_transforms() -> None:
    promised = {
        "trim",
        "lower",
        "upper",
        "title",
        "split_name",
        "join",
        "value_map",
        "default",
        "to_number",
        "to_integer",
        "to_boolean",
        "to_date",
        "to_datetime",
        "to_string",
        "format",
        "first_non_empty",
        "split_address",
        "to_phone_e164",
        "lookup_link",
    }
    assert promised <= set(TRANSFORMS)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_argument_defaults_match_the_function_defaults(name: str) -> None:
    # Binding leaves default-valued arguments to the function, so the two must agree.
    spec = TRANSFORMS[name]
    parameters = inspect.signature(spec.func).parameters
    for arg in spec.args:
        assert arg.name in parameters
        if not arg.required:
            assert parameters[arg.name].default == arg.default


def test_validate_args_fills_defaults() -> None:
    args, problems = TRANSFORMS["value_map"].validate_args({"map": {"a": "b"}})
    assert problems == []
    assert args == {"map": {"a": "b"}, "unmapped": "fail", "default": None, "case_insensitive": False}


@pytest.mark.parametrize(
    ("name", "args", "problem"),
    [
        ("trim", {"x": 1}, "unknown setting 'x'"),
        ("join", {"sep": ","}, "unknown setting 'sep' (expected: separator)"),
        ("value_map", {}, "'map' is required"),
        ("value_map", {"map": ["a"]}, "'map' must be a map"),
        (
            "value_map",
            {"map": {}, "unmapped": "skip"},
            "'unmapped' must be one of: fail, pass, default, drop",
        ),
        ("truncate", {"length": 0}, "'length' must be at least 1"),
        ("truncate", {"length": True}, "'length' must be a whole number"),
        ("join", {"separator": 1}, "'separator' must be text"),
        ("to_datetime", {"input_timezone": "Mars/Base"}, "'Mars/Base' is not a known time zone"),
        ("to_date", {"output_timezone": ""}, "'' is not a known time zone"),
        ("to_date", {"formats": "%d/%m/%Y"}, "'formats' must be a list of text"),
        ("to_date", {"formats": ["%d/%m/%Y %Q"]}, "uses unsupported codes: %Q"),
        ("to_datetime", {"formats": ["day %"]}, "uses unsupported codes: a lone %"),
        ("to_datetime", {"formats": ["%%"]}, "has no date codes"),
        ("to_phone_e164", {"default_region": "gb"}, "write the region in capitals: 'GB'"),
        ("to_phone_e164", {"default_region": "XX"}, "'XX' is not a country code"),
        ("split_address", {"part": "town"}, "'part' must be one of: street, city, region, postcode, country"),
        ("lookup_link", {"object": "companies"}, "'connection' is required"),
        ("lookup_link", {"connection": True, "object": "companies"}, "choose a connection"),
        ("lookup_link", {"connection": 3, "object": " "}, "choose the object whose records are linked"),
        (
            "lookup_link",
            {"connection": 3, "object": "companies", "missing": "skip"},
            "'missing' must be one of",
        ),
        ("format", {"template": "{} x"}, "empty placeholder"),
        ("replace", {"find": ""}, "'find' must not be empty"),
        ("trim", ["x"], "settings must be a set of name/value pairs"),
    ],
)
def test_validate_args_explains_bad_arguments(name: str, args: Any, problem: str) -> None:
    _, problems = TRANSFORMS[name].validate_args(args)
    assert any(problem in message for message in problems), problems


def test_validate_args_refuses_case_insensitive_keys_that_collide() -> None:
    _, problems = TRANSFORMS["value_map"].validate_args(
        {"map": {"Lead": "new", "lead": "open"}, "case_insensitive": True}
    )
    assert problems == ["'Lead' and 'lead' are the same value but map to different results"]


def test_bound_step_uses_the_arguments() -> None:
    step = TRANSFORMS["split_name"].bind({"part": "last"})
    assert step("Ada Lovelace", {}) == "Lovelace"
    format_step = TRANSFORMS["format"].bind({"template": "<{a}>"})
    assert format_step(None, {"a": 1}) == "<1>"


# --- properties -------------------------------------------------------------------------------

# Valid argument sets for every transform; the completeness test below makes a new
# transform fail until it is added here, so the property tests cover it.
EXAMPLE_ARGS: dict[str, list[dict[str, Any]]] = {
    "trim": [{}],
    "lower": [{}],
    "upper": [{}],
    "title": [{}],
    "split_name": [{"part": "first"}, {"part": "last"}],
    "truncate": [{"length": 3}],
    "replace": [{"find": "a", "replacement": "b"}],
    "join": [{}, {"separator": ", "}],
    "first_non_empty": [{}],
    "format": [{"template": "{a} {b} {{c}}"}],
    "default": [{"value": "x"}, {"value": {"nested": [1]}}],
    "value_map": [
        {"map": {"a": 1, "1": "one"}},
        {"map": {"a": 1}, "unmapped": "pass", "case_insensitive": True},
        {"map": {"a": 1}, "unmapped": "default", "default": 0},
        {"map": {"a": 1}, "unmapped": "drop"},
    ],
    "to_number": [{}],
    "divide": [{}, {"by": 1}, {"by": 1000}],
    "multiply": [{}, {"by": 7}],
    "to_integer": [{}, {"rounding": "round"}, {"rounding": "truncate"}],
    "to_boolean": [{}],
    "to_date": [
        {},
        {"day_first": True, "epoch_unit": "s"},
        {
            "input_timezone": "Pacific/Kiritimati",
            "output_timezone": "Pacific/Pago_Pago",
            "formats": ["%Y-%d-%m"],
        },
    ],
    "to_datetime": [
        {},
        {"input_timezone": "America/New_York", "day_first": True, "epoch_unit": "s"},
        {"input_timezone": "Asia/Kolkata", "output_timezone": "Europe/Berlin", "formats": ["%d.%m.%y %H.%M"]},
    ],
    "to_string": [{}],
    "split_address": [{"part": part} for part in ("street", "city", "region", "postcode", "country")],
    "to_phone_e164": [{}, {"default_region": "GB"}, {"default_region": "US"}],
    "lookup_link": [
        {"connection": 3, "object": "companies"},
        {"connection": "billing", "object": "accounts", "missing": "empty"},
        {"connection": 3, "object": "companies", "missing": "drop"},
    ],
}

EXAMPLE_CASES = [(name, args) for name, sets in EXAMPLE_ARGS.items() for args in sets]

TRICKY_TEXT = [
    "",
    "   ",
    "nan",
    "-inf",
    "1e999",
    "1,234.5",
    "$ 5",
    "99999999999999999999",
    "9" * 5000,
    "2024-02-30",
    "0000-00-00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31",
    "2024-03-01T10:00:00Z",
    "2024-03-01T10:00:00.000Z",
    "13/13/2024",
    "Lovelace, Ada",
    "{a}",
    "yes",
    "١٢٣٤٥٦٧٨٩٠",
    "²³⁴⁵⁶⁷⁸⁹¹",
    "221B Baker Street, London NW1 6XE, United Kingdom",
    "1600 Amphitheatre Pkwy, Mountain View, CA 94043, USA",
    ", , ,",
    "+44 20 7946 0958",
    "020 7946 0958 ext. 5",
    "+" + "9" * 300,
    "Europe/Berlin",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(TRICKY_TEXT)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=8,
)
records = st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=3)


def transform_error(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str | None:
    """The TransformError message of `call(*args, **kwargs)`, or None if it returned a value.

    Any other exception propagates and fails the calling test.
    """
    try:
        call(*args, **kwargs)
    except TransformError as error:
        return error.message
    return None


def test_every_transform_has_example_arguments_for_the_property_tests() -> None:
    assert set(EXAMPLE_ARGS) == set(TRANSFORMS)
    for name, arg_sets in EXAMPLE_ARGS.items():
        for args in arg_sets:
            assert TRANSFORMS[name].validate_args(args)[1] == [], (name, args)


@settings(max_examples=300, deadline=None)
@given(
    name_and_args=st.sampled_from(EXAMPLE_CASES),
    value=json_values,
    record=records,
)
def test_transforms_raise_nothing_but_transform_errors(
    name_and_args: tuple[str, dict[str, Any]], value: Any, record: dict[str, Any]
) -> None:
    name, args = name_and_args
    spec = TRANSFORMS[name]
    resolved, _ = spec.validate_args(args)
    step = spec.bind(resolved)
    assert transform_error(step, value, record) != ""


SPECIAL_VALUES = [
    *TRICKY_TEXT,
    math.nan,
    math.inf,
    -math.inf,
    10**400,
    10**5000,
    -(10**20),
    [],
    {},
    [None],
    True,
]


@pytest.mark.parametrize(("name", "args"), EXAMPLE_CASES)
def test_transforms_turn_every_tricky_value_into_a_result_or_a_transform_error(
    name: str, args: dict[str, Any]
) -> None:
    # Deterministic companion to the random property below: every edge case, every transform.
    step = TRANSFORMS[name].bind(TRANSFORMS[name].validate_args(args)[0])
    for value in SPECIAL_VALUES:
        assert transform_error(step, value, {"a": value, "b": value}) != ""


def test_numbers_too_long_for_python_are_refused_politely() -> None:
    with pytest.raises(TransformError, match="is too long to be a number"):
        to_number("9" * 5000)
    with pytest.raises(TransformError, match="out of the range of dates"):
        to_date("9" * 5000)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_transforms_called_directly_raise_nothing_but_transform_errors(value: Any) -> None:
    for name, arg_sets in EXAMPLE_ARGS.items():
        spec = TRANSFORMS[name]
        if spec.uses_record:
            continue
        for args in arg_sets:
            assert transform_error(spec.func, value, **args) != ""
