from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.workflows.engine.test_transforms import json_values
from workflows.engine.conditions import OPERATORS, ConditionSpecError, compile_condition, operator_catalog


def leaf(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node = {"field": field, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


def check(node: dict[str, Any], fields: dict[str, Any], previous: dict[str, Any] | None = None) -> bool:
    condition = compile_condition(node)
    result = condition.evaluate(fields, previous)
    assert condition.explain(fields, previous).passed is result
    return result


def spec_errors(tree: Any) -> list[str]:
    with pytest.raises(ConditionSpecError) as caught:
        compile_condition(tree)
    return caught.value.messages


# --- operators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "field_value", "expected"),
    [
        ("equals", "closed", "closed", True),
        ("equals", "closed", " closed ", True),
        ("equals", "closed", "Closed", False),
        ("equals", "closed", None, False),
        ("equals", 42, "42", True),
        ("equals", "42", 42.0, True),
        ("equals", "007", "7", False),  # both text: a postcode is not a number
        ("equals", True, "yes", True),
        ("equals", False, 0, True),
        ("equals", True, "maybe", False),
        ("equals", "2024-03-01T10:00:00Z", "2024-03-01T11:00:00+01:00", True),
        ("equals", "2024-03-01", "2024-03-01T23:00:00Z", True),
        ("equals", "a", ["a"], False),
        ("not_equals", "closed", "open", True),
        ("not_equals", "closed", "closed", False),
        ("not_equals", "closed", None, True),
        ("not_equals", "a", ["a"], False),  # a list is no more "not equal" than "equal"
        ("contains", "acme", "sales@acme.com", True),
        ("contains", "vip", ["new", "vip"], True),
        ("contains", "vip", ["new"], False),
        ("contains", 5, 1500, True),
        ("contains", "x", {"x": 1}, False),
        ("not_contains", "acme", "sales@other.com", True),
        ("not_contains", "vip", ["vip"], False),
        ("not_contains", "x", None, True),
        ("not_contains", "x", {"x": 1}, False),
        ("starts_with", "+44", "+44 20 7946", True),
        ("starts_with", "+44", "0044", False),
        ("starts_with", "1", 123, True),
        ("starts_with", "a", ["a"], False),
        ("ends_with", ".co.uk", "shop.co.uk", True),
        ("ends_with", ".co.uk", None, False),
        ("is_empty", None, None, True),
        ("is_empty", None, "  ", True),
        ("is_empty", None, [], True),
        ("is_empty", None, 0, False),
        ("is_not_empty", None, "x", True),
        ("is_not_empty", None, {}, False),
        ("greater_than", 100, 150, True),
        ("greater_than", 100, "1,500", True),
        ("greater_than", 100, "99.5", False),
        ("greater_than", "9", "10", True),  # number-like text compares as numbers
        ("greater_than", 100, "lots", False),
        ("greater_than", 100, None, False),
        ("greater_than", 100, True, False),
        ("greater_than", "2024-03-01", "2024-03-02", True),
        ("greater_than", "2024-03-01", "2024-03-01T10:00:00Z", False),  # same day
        ("greater_than", "2024-03-01T10:00:00Z", "2024-03-01T11:00:00+00:00", True),
        ("greater_than", "2024-03-01T10:00:00Z", "2024-03-01T10:30:00+01:00", False),
        ("greater_than", "m", "zebra", True),  # text otherwise
        ("less_than", 0, -1, True),
        ("less_than", "2024-01-01", date(2023, 12, 31), True),
        ("less_than", "2024-01-01T00:00:00Z", datetime(2023, 12, 31, 23, 59, tzinfo=UTC), True),
        ("greater_or_equal", 10, 10, True),
        ("greater_or_equal", 10, "9.99", False),
        ("less_or_equal", "2024-03-01", "2024-03-01", True),
        ("less_or_equal", 5, [1], False),
        ("in_list", ["gold", "platinum"], "gold", True),
        ("in_list", ["gold", "platinum"], "silver", False),
        ("in_list", ["gold", "platinum"], ["silver", "gold"], True),
        ("in_list", [1, 2, 3], "2", True),
        ("in_list", ["a"], None, False),
        ("not_in_list", ["gold", "platinum"], "silver", True),
        ("not_in_list", ["gold"], ["silver", "gold"], False),
        ("not_in_list", ["gold"], None, True),
        ("not_in_list", ["gold"], {"gold": 1}, False),
    ],
)
def test_operators(op: str, value: Any, field_value: Any, expected: bool) -> None:
    assert check(leaf("x", op, value), {"x": field_value}) is expected


@pytest.mark.parametrize(
    ("op", "value", "field_value"),
    [
        ("equals", "CLOSED", "closed"),
        ("contains", "ACME", "sales@acme.com"),
        ("starts_with", "MR", "mr smith"),
        ("ends_with", "LTD", "Acme Ltd"),
        ("in_list", ["GOLD"], "Gold"),
        ("greater_than", "apple", "Banana"),
    ],
)
def test_case_insensitive_matching_only_when_asked(op: str, value: Any, field_value: Any) -> None:
    assert check(leaf("x", op, value, case_insensitive=True), {"x": field_value}) is True
    assert check(leaf("x", op, value), {"x": field_value}) is False


def test_changed_compares_with_the_previous_values() -> None:
    changed = leaf("email", "changed")
    assert check(changed, {"email": "a@b.c"}, {"email": "old@b.c"}) is True
    assert check(changed, {"email": "a@b.c"}, {"email": "a@b.c"}) is False
    assert check(changed, {"email": "a@b.c"}, {}) is True
    assert check(changed, {"n": 1}, {"n": 2}) is False  # email is missing from both: unchanged
    assert check(leaf("n", "changed"), {"n": 1.0}, {"n": 1}) is False  # 1 and 1.0 are the same number


def test_a_record_without_previous_values_counts_as_changed() -> None:
    condition = compile_condition(leaf("email", "changed"))
    assert condition.evaluate({"email": "a@b.c"}) is True
    assert condition.explain({"email": "a@b.c"}).message == (
        "email changed was true (there are no earlier values to compare with)"
    )


def test_paths_read_nested_values() -> None:
    node = leaf("$.company.tier", "in_list", ["gold"])
    assert check(node, {"company": {"tier": "gold"}}) is True
    assert check(node, {"company": "Acme"}) is False
    assert check(leaf("$.length(tags)", "greater_than", 1), {"tags": ["a", "b"]}) is True


def test_a_path_function_given_the_wrong_kind_of_value_is_false_with_a_reason() -> None:
    condition = compile_condition(leaf("$.length(count)", "greater_than", 1))
    assert condition.evaluate({"count": 3}) is False
    assert condition.explain({"count": 3}).message.startswith(
        "length(count) is greater than 1 was false (couldn't read length(count): "
    )


def test_step_outputs_are_plain_field_names() -> None:
    node = leaf("steps.find_company.found", "equals", False)
    assert check(node, {"steps.find_company.found": False}) is True
    assert check(node, {}) is False


# --- groups and explanations ------------------------------------------------------------------

TREE = {
    "all": [
        leaf("status", "not_equals", "closed"),
        {
            "any": [
                leaf("amount", "greater_than", 1000),
                leaf("$.company.tier", "in_list", ["gold", "platinum"]),
            ]
        },
    ]
}


def test_groups_nest() -> None:
    condition = compile_condition(TREE)
    assert condition.evaluate({"status": "open", "amount": 5000}) is True
    assert condition.evaluate({"status": "open", "amount": 5, "company": {"tier": "gold"}}) is True
    assert condition.evaluate({"status": "open", "amount": 5}) is False
    assert condition.evaluate({"status": "closed", "amount": 5000}) is False


def test_explain_names_the_leaf_that_decided() -> None:
    condition = compile_condition(TREE)
    explanation = condition.explain({"status": "closed", "amount": 5000})
    assert explanation.passed is False
    assert explanation.message == "status does not equal 'closed' was false"
    assert (explanation.field, explanation.op) == ("status", "not_equals")
    assert condition.explain({"status": "open", "amount": 5000}).message == (
        "all of these were true: status does not equal 'closed' was true; amount is greater than 1000 was true"
    )


def test_explain_lists_every_false_leaf_of_an_any_group() -> None:
    explanation = compile_condition(TREE).explain({"status": "open", "amount": "lots"})
    assert explanation.message == (
        "none of these was true: amount is greater than 1000 was false ('lots' is not a number);"
        " company.tier is one of 'gold', 'platinum' was false (it is empty)"
    )


def test_explain_says_case_is_ignored() -> None:
    condition = compile_condition(leaf("tier", "equals", "Gold", case_insensitive=True))
    assert condition.explain({"tier": "silver"}).message == "tier equals 'Gold' (ignoring case) was false"


def test_fields_lists_every_field_read() -> None:
    assert compile_condition(TREE).fields == ("status", "amount", "$.company.tier")


# --- compile errors ---------------------------------------------------------------------------


def test_compile_reports_every_problem_with_its_place_in_the_tree() -> None:
    tree = {
        "all": [
            leaf("a", "equals", 1),
            {
                "any": [
                    leaf("b", "equls", 2),
                    leaf("", "in_list", []),
                    {"field": "c", "op": "is_empty", "value": "x"},
                ]
            },
            {"all": []},
            leaf("d", "greater_than", ["x"]),
            leaf("e", "equals", None),
            {"field": "f", "op": "contains", "value": " ", "case_insensitive": "yes"},
            leaf("$.g[", "is_empty"),
            {"field": "h", "op": "equals", "value": 1, "negate": True},
            "status = 1",
            {"all": [leaf("i", "is_empty")], "any": []},
        ]
    }
    messages = spec_errors(tree)
    assert messages[:12] == [
        "all[1].any[0]: unknown operator 'equls' (did you mean 'equals'?)",
        "all[1].any[1]: choose a field",
        "all[1].any[1]: 'in_list' needs a list of values",
        "all[1].any[2]: 'is_empty' takes no value",
        "all[2].all: add at least one condition",
        "all[3]: 'greater_than' needs a text, a number or a yes/no value, not a list",
        "all[4]: 'equals' needs a value (use 'is_empty' to test for an empty field)",
        "all[5]: 'case_insensitive' must be true or false",
        "all[5]: 'contains' needs some text to compare with",
        messages[9],
        "all[7]: unknown setting 'negate'",
        "all[8]: must be a group (all/any) or a condition on a field",
    ]
    assert messages[9].startswith("all[6]: '$.g[' is not a valid path (")
    assert messages[12] == "all[9].all: a group has only 'all' or 'any', not any"


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        (None, "condition: must be a group (all/any) or a condition on a field"),
        ({"field": "a", "op": "nope"}, "condition: unknown operator 'nope'"),
        ({"field": "a"}, "condition: choose an operator"),
        ({"any": "a"}, "any: must be a list of conditions"),
        (
            {"field": "a", "op": "in_list", "value": [["x"]]},
            "condition: 'in_list' needs a list of texts, numbers or yes/no values",
        ),
        (
            {"field": "a", "op": "contains", "value": True},
            "condition: 'contains' needs a text or a number, not a yes/no value",
        ),
        (
            {"field": "a", "op": "equals", "value": float("nan")},
            "condition: 'equals' needs a text, a number or a yes/no value, not a number",
        ),
    ],
)
def test_compile_refuses_malformed_trees(tree: Any, message: str) -> None:
    assert spec_errors(tree) == [message]


def test_absurd_nesting_is_refused_not_a_recursion_error() -> None:
    tree: dict[str, Any] = leaf("a", "is_empty")
    for _ in range(200):
        tree = {"all": [tree]}
    messages = spec_errors(tree)
    assert messages == [f"{'all[0].' * 20}all[0]: conditions are nested too deeply (at most 20 levels)"]


def test_every_operator_is_described_for_the_editor() -> None:
    catalog = operator_catalog()
    json.dumps(catalog)
    assert [item["name"] for item in catalog] == list(OPERATORS)
    assert {item["name"] for item in catalog} == {
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "is_empty",
        "is_not_empty",
        "changed",
        "greater_than",
        "less_than",
        "greater_or_equal",
        "less_or_equal",
        "in_list",
        "not_in_list",
    }


# --- properties -------------------------------------------------------------------------------

condition_values = st.one_of(
    st.text(min_size=1, max_size=8).filter(str.strip),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["2024-03-01", "2024-03-01T10:00:00Z", "1,500", "yes", "0"]),
)


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    def build(field: str, op: str, value: Any, items: list[Any], fold: bool) -> dict[str, Any]:
        kind = OPERATORS[op].value
        node: dict[str, Any] = {"field": field, "op": op, "case_insensitive": fold}
        if kind == "list":
            node["value"] = items
        elif kind == "text":
            node["value"] = value if not isinstance(value, bool) else str(value)
        elif kind == "scalar":
            node["value"] = value
        return node

    return st.builds(
        build,
        st.sampled_from(["a", "b", "$.a.b", "$.length(a)", "$.a[0]", "steps.x.id"]),
        st.sampled_from(list(OPERATORS)),
        condition_values,
        st.lists(condition_values, min_size=1, max_size=3),
        st.booleans(),
    )


trees = st.recursive(
    leaves(),
    lambda children: st.builds(
        lambda kind, items: {kind: items},
        st.sampled_from(["all", "any"]),
        st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=6,
)
records = st.dictionaries(st.sampled_from(["a", "b", "steps.x.id"]), json_values, max_size=3)


@settings(max_examples=400, deadline=None)
@given(tree=trees, fields=records, previous=st.none() | records)
def test_any_tree_on_any_record_gives_an_answer_and_a_reason_and_never_raises(
    tree: dict[str, Any], fields: dict[str, Any], previous: dict[str, Any] | None
) -> None:
    condition = compile_condition(json.loads(json.dumps(tree)))
    result = condition.evaluate(fields, previous)
    explanation = condition.explain(fields, previous)
    assert explanation.passed is result
    assert explanation.message.endswith(("was true", "was false", ")"))
    assert "Error" not in explanation.message or "couldn't read" in explanation.message


@settings(max_examples=300, deadline=None)
@given(node=leaves(), fields=records)
def test_a_group_of_one_is_the_same_as_its_condition(node: dict[str, Any], fields: dict[str, Any]) -> None:
    expected = compile_condition(node).evaluate(fields)
    assert compile_condition({"all": [node]}).evaluate(fields) is expected
    assert compile_condition({"any": [node]}).evaluate(fields) is expected


NEGATIONS = [
    ("equals", "not_equals"),
    ("contains", "not_contains"),
    ("in_list", "not_in_list"),
    ("is_empty", "is_not_empty"),
]


@settings(max_examples=300, deadline=None)
@given(
    pair=st.sampled_from(NEGATIONS),
    value=condition_values,
    items=st.lists(condition_values, min_size=1, max_size=3),
    field_value=st.none()
    | st.text(max_size=6)
    | st.integers(-5, 5)
    | st.booleans()
    | st.lists(st.text(max_size=3), max_size=2),
)
def test_a_negated_operator_is_the_opposite_on_values_it_can_judge(
    pair: tuple[str, str], value: Any, items: list[Any], field_value: Any
) -> None:
    positive, negative = pair
    kind = OPERATORS[positive].value
    argument = items if kind == "list" else None if kind == "none" else value
    if kind == "text" and isinstance(argument, bool):
        argument = "x"
    yes = compile_condition(leaf("a", positive, argument)).explain({"a": field_value})
    no = compile_condition(leaf("a", negative, argument)).explain({"a": field_value})
    if "(it is a list; use 'contains'" in yes.message:  # a kind the operator can't judge: both false
        assert (yes.passed, no.passed) == (False, False)
    else:
        assert yes.passed is not no.passed
