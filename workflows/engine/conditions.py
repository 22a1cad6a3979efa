"""Conditions: the JSON trees behind filter and branch steps.

A tree is groups and leaves, nested as deep as the user likes::

    {"all": [
        {"field": "status", "op": "not_equals", "value": "closed"},
        {"any": [
            {"field": "amount", "op": "greater_than", "value": 1000},
            {"field": "$.company.tier", "op": "in_list", "value": ["gold", "platinum"],
             "case_insensitive": true},
        ]},
    ]}

`compile_condition` checks a tree once (every problem is reported with its place in the
tree, e.g. "all[1].any[0]: unknown operator 'equls'"); the compiled `Condition` then
evaluates records without ever raising: a value of the wrong kind makes its leaf false,
and `explain` says which leaf decided and why, in words for the run log.

Values are compared as what they are: numbers as numbers (also when one side is number-like
text, as form fields often are), ISO dates and date-times as moments, yes/no as yes/no,
anything else as text.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from jmespath.parser import ParsedResult

from workflows.engine.diff import same_value
from workflows.engine.paths import PATH_PREFIX, Reader, compile_path, display_name, field_reader, first_line
from workflows.engine.values import (
    TransformError,
    describe_kind,
    is_empty,
    parse_number,
    parse_yes_no,
    show,
    show_value,
)

_MAX_DEPTH = 20
_LEAF_KEYS = frozenset({"field", "op", "value", "case_insensitive"})


class ConditionSpecError(ValueError):
    """The tree can't be compiled; `messages` lists every problem, each naming its place."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class Operator:
    name: str
    label: str
    # "none": takes no value; "scalar": one value; "text": text or a number; "list": a list.
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "label": self.label, "value": self.value}


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("equals", "equals", "scalar"),
        Operator("not_equals", "does not equal", "scalar"),
        Operator("contains", "contains", "text"),
        Operator("not_contains", "does not contain", "text"),
        Operator("starts_with", "starts with", "text"),
        Operator("ends_with", "ends with", "text"),
        Operator("is_empty", "is empty", "none"),
        Operator("is_not_empty", "is not empty", "none"),
        Operator("changed", "changed", "none"),
        Operator("greater_than", "is greater than", "text"),
        Operator("less_than", "is less than", "text"),
        Operator("greater_or_equal", "is at least", "text"),
        Operator("less_or_equal", "is at most", "text"),
        Operator("in_list", "is one of", "list"),
        Operator("not_in_list", "is not one of", "list"),
    )
}


def operator_catalog() -> list[dict[str, str]]:
    """Every operator as JSON-able data, for the condition editor."""
    return [op.to_dict() for op in OPERATORS.values()]


@dataclass(frozen=True)
class Explanation:
    """Why a condition came out as it did: `message` names the deciding leaf.

    e.g. passed=False, message="status equals 'closed' was false".
    """

    passed: bool
    message: str
    field: str | None = None
    op: str | None = None


# ---------------------------------------------------------------------------------------------
# Reading values as what they are
# ---------------------------------------------------------------------------------------------


def _number(value: Any) -> int | float | None:
    """The number a value is or spells, or None (yes/no values are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return parse_number(value)
        except TransformError:
            return None
    return None


def _moment(value: Any) -> date | None:
    """A date or an aware date-time (UTC when written without offset), from ISO text or as given."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) < 10 or text[4] != "-" or text[7] != "-" or not text[:4].isdigit():
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return _moment(datetime.fromisoformat(text))
    except ValueError:
        return None


def _compare_moments(left: date, right: date) -> int:
    # Against a plain date, a date-time counts as its (UTC) day: "after 2024-03-01" is
    # not true of 10:00 on 1 March.
    if not isinstance(left, datetime) or not isinstance(right, datetime):
        left = left.astimezone(UTC).date() if isinstance(left, datetime) else left
        right = right.astimezone(UTC).date() if isinstance(right, datetime) else right
    return (left > right) - (left < right)


def _text(value: Any, fold: bool) -> str | None:
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        number = _number(value)
        if number is None:
            return None
        text = str(int(number)) if float(number).is_integer() and abs(number) < 2**53 else repr(number)
    else:
        return None
    return text.casefold() if fold else text


# A leaf verdict: True/False, or None when the value is of a kind the operator can't judge
# (a negated operator stays false then: "not equals" is no more true of a list than "equals").
Verdict = tuple[bool | None, str | None]


def _equals(value: Any, expected: Any, fold: bool) -> Verdict:
    if is_empty(value):
        return False, "it is empty"
    if isinstance(value, Mapping):
        return None, f"it is {describe_kind(value)}, not a single value"
    if isinstance(value, list | tuple):
        return None, "it is a list; use 'contains' to look for one value in it"
    if isinstance(value, bool) or isinstance(expected, bool):
        try:
            return parse_yes_no(value) == parse_yes_no(expected), None
        except TransformError:
            return False, f"{show(value)} is not yes/no"
    if isinstance(value, int | float) or isinstance(expected, int | float):
        left, right = _number(value), _number(expected)
        if left is not None and right is not None:
            return left == right, None
    left_moment, right_moment = _moment(value), _moment(expected)
    if left_moment is not None and right_moment is not None:
        return _compare_moments(left_moment, right_moment) == 0, None
    return _text(value, fold) == _text(expected, fold), None


def _contains(value: Any, expected: Any, fold: bool) -> Verdict:
    if is_empty(value):
        return False, "it is empty"
    if isinstance(value, list | tuple):
        return any(_equals(item, expected, fold)[0] for item in value), None
    text = _text(value, fold)
    if text is None:
        return None, f"it is {describe_kind(value)}, which has no text to search"
    return str(_text(expected, fold)) in text, None


def _affix(check: Callable[[str, str], bool]) -> Callable[[Any, Any, bool], Verdict]:
    def run(value: Any, expected: Any, fold: bool) -> Verdict:
        if is_empty(value):
            return False, "it is empty"
        text = _text(value, fold)
        if text is None:
            return None, f"it is {describe_kind(value)}, not text"
        return check(text, str(_text(expected, fold))), None

    return run


def _ordering(accept: Callable[[int], bool]) -> Callable[[Any, Any, bool], Verdict]:
    def run(value: Any, expected: Any, fold: bool) -> Verdict:
        if is_empty(value):
            return None, "it is empty"
        left, right = _number(value), _number(expected)
        if left is not None and right is not None:
            return accept((left > right) - (left < right)), None
        left_moment, right_moment = _moment(value), _moment(expected)
        if left_moment is not None and right_moment is not None:
            return accept(_compare_moments(left_moment, right_moment)), None
        if right is not None:
            return None, f"{show(value)} is not a number"
        if right_moment is not None:
            return None, f"{show(value)} is not a date"
        if isinstance(value, str) and isinstance(expected, str):
            left_text = value.strip().casefold() if fold else value.strip()
            right_text = expected.strip().casefold() if fold else expected.strip()
            return accept((left_text > right_text) - (left_text < right_text)), None
        return None, f"{show(value)} can't be compared with {show(expected)}"

    return run


def _in_list(value: Any, expected: Sequence[Any], fold: bool) -> Verdict:
    if is_empty(value):
        return False, "it is empty"
    if isinstance(value, Mapping):
        return None, f"it is {describe_kind(value)}, not a single value"
    items = value if isinstance(value, list | tuple) else [value]
    return any(_equals(item, option, fold)[0] for item in items for option in expected), None


_POSITIVE: dict[str, Callable[[Any, Any, bool], Verdict]] = {
    "is_empty": lambda value, expected, fold: (is_empty(value), None),
    "equals": _equals,
    "contains": _contains,
    "starts_with": _affix(str.startswith),
    "ends_with": _affix(str.endswith),
    "greater_than": _ordering(lambda order: order > 0),
    "less_than": _ordering(lambda order: order < 0),
    "greater_or_equal": _ordering(lambda order: order >= 0),
    "less_or_equal": _ordering(lambda order: order <= 0),
    "in_list": _in_list,
}
_NEGATED = {
    "not_equals": "equals",
    "not_contains": "contains",
    "not_in_list": "in_list",
    "is_not_empty": "is_empty",
}


# ---------------------------------------------------------------------------------------------
# Compiled nodes
# ---------------------------------------------------------------------------------------------


class _Node:
    def decide(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
        raise NotImplementedError

    def explain(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> Explanation:
        raise NotImplementedError


class _Leaf(_Node):
    def __init__(self, field: str, path: ParsedResult | None, op: str, value: Any, fold: bool) -> None:
        self.field = field
        self.op = op
        self.value = value
        self.fold = fold
        self.read: Reader = field_reader(field, path)
        negated = _NEGATED.get(op)
        self.positive = _POSITIVE.get(negated or op)
        self.negated = negated is not None
        label = OPERATORS[op].label
        shown = ", ".join(map(show_value, value)) if isinstance(value, list) else show_value(value)
        self.description = f"{display_name(field)} {label}" + (
            "" if OPERATORS[op].value == "none" else f" {shown}"
        )
        if fold:
            self.description += " (ignoring case)"

    def verdict(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> Verdict:
        try:
            value = self.read(fields)
        except Exception as exc:  # a JMESPath function given the wrong kind of value
            return None, f"couldn't read {display_name(self.field)}: {first_line(exc)}"
        positive = self.positive
        try:
            if positive is None:  # 'changed' is the one operator that compares with earlier values
                return self._changed(value, previous)
            result, note = positive(value, self.value, self.fold)
        except Exception as exc:  # a safety net: odd data must never stop a run
            return None, f"{show(value)} couldn't be compared ({type(exc).__name__})"
        if self.negated and result is not None:
            result = not result
        return result, note

    def _changed(self, value: Any, previous: Mapping[str, Any] | None) -> Verdict:
        if previous is None:
            return True, "there are no earlier values to compare with"
        try:
            before = self.read(previous)
        except Exception:  # an earlier value the path can't read: it was of another shape
            return True, None
        return not same_value(before, value), None

    def decide(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
        return self.verdict(fields, previous)[0] is True

    def explain(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> Explanation:
        result, note = self.verdict(fields, previous)
        passed = result is True
        message = f"{self.description} was {'true' if passed else 'false'}"
        if note:
            message += f" ({note})"
        return Explanation(passed, message, self.field, self.op)


class _Group(_Node):
    def __init__(self, kind: str, children: list[_Node]) -> None:
        self.kind = kind
        self.children = children

    def decide(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
        if self.kind == "all":
            return all(child.decide(fields, previous) for child in self.children)
        return any(child.decide(fields, previous) for child in self.children)

    def explain(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None) -> Explanation:
        # "all" is decided by its first false child, "any" by its first true one; when every
        # child agrees, all of them decided and the message lists them.
        deciding = self.kind == "any"
        explanations = []
        for child in self.children:
            explanation = child.explain(fields, previous)
            if explanation.passed is deciding:
                return explanation
            explanations.append(explanation)
        if len(explanations) == 1:
            return explanations[0]
        joined = "; ".join(explanation.message for explanation in explanations)
        summary = "none of these was true" if deciding else "all of these were true"
        last = explanations[-1]
        return Explanation(not deciding, f"{summary}: {joined}", last.field, last.op)


class Condition:
    """A compiled condition tree. `fields` lists every field name its leaves read."""

    def __init__(self, root: _Node, spec: Any, fields: tuple[str, ...]) -> None:
        self._root = root
        self.spec = spec
        self.fields = fields

    def evaluate(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> bool:
        """Whether the record passes. `previous` holds the record's earlier values, for 'changed'."""
        return self._root.decide(fields, previous)

    def explain(self, fields: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> Explanation:
        """The outcome and the leaf that decided it, worded for the run log."""
        return self._root.explain(fields, previous)


# ---------------------------------------------------------------------------------------------
# Compiling
# ---------------------------------------------------------------------------------------------


def compile_condition(tree: Any) -> Condition:
    """Check `tree` and compile it; raise ConditionSpecError listing every problem."""
    problems: list[str] = []
    fields: list[str] = []
    root = _compile_node(tree, None, 0, problems, fields)
    if problems or root is None:
        raise ConditionSpecError(problems or ["the condition is empty"])
    return Condition(root, tree, tuple(dict.fromkeys(fields)))


def _compile_node(
    node: Any, place: str | None, depth: int, problems: list[str], fields: list[str]
) -> _Node | None:
    if depth > _MAX_DEPTH:
        problems.append(f"{place}: conditions are nested too deeply (at most {_MAX_DEPTH} levels)")
        return None
    if not isinstance(node, Mapping):
        problems.append(f"{place or 'condition'}: must be a group (all/any) or a condition on a field")
        return None
    if "all" in node or "any" in node:
        return _compile_group(node, place, depth, problems, fields)
    return _compile_leaf(node, place or "condition", problems, fields)


def _compile_group(
    node: Mapping[str, Any], place: str | None, depth: int, problems: list[str], fields: list[str]
) -> _Node | None:
    kind = "all" if "all" in node else "any"
    here = f"{place}.{kind}" if place else kind
    extra = sorted(str(key) for key in node if key != kind)
    if extra:
        problems.append(f"{here}: a group has only 'all' or 'any', not {', '.join(extra)}")
    children = node[kind]
    if not isinstance(children, list):
        problems.append(f"{here}: must be a list of conditions")
        return None
    if not children:
        problems.append(f"{here}: add at least one condition")
        return None
    compiled = [
        _compile_node(child, f"{here}[{index}]", depth + 1, problems, fields)
        for index, child in enumerate(children)
    ]
    if any(child is None for child in compiled):
        return None
    return _Group(kind, [child for child in compiled if child is not None])


def _compile_leaf(
    node: Mapping[str, Any], place: str, problems: list[str], fields: list[str]
) -> _Node | None:
    before = len(problems)
    for key in node:
        if key not in _LEAF_KEYS:
            problems.append(f"{place}: unknown setting {show(key)}")
    field = node.get("field")
    path = None
    if not isinstance(field, str) or not field.strip():
        problems.append(f"{place}: choose a field")
        field = None
    else:
        field = field.strip()
        fields.append(field)
        if field.startswith(PATH_PREFIX):
            try:
                path = compile_path(field)
            except ValueError as exc:
                problems.append(f"{place}: {exc}")
    op = node.get("op")
    operator = OPERATORS.get(op) if isinstance(op, str) else None
    if operator is None:
        problems.append(f"{place}: {_unknown_operator(op)}")
    fold = node.get("case_insensitive", False)
    if not isinstance(fold, bool):
        problems.append(f"{place}: 'case_insensitive' must be true or false")
    value = node.get("value")
    if operator is not None:
        problem = _value_problem(operator, value)
        if problem:
            problems.append(f"{place}: {problem}")
    if len(problems) > before or field is None or operator is None:
        return None
    return _Leaf(field, path, operator.name, value, fold)


def _unknown_operator(op: Any) -> str:
    if not isinstance(op, str) or not op:
        return "choose an operator"
    close = difflib.get_close_matches(op, OPERATORS, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown operator {show(op)}{hint}"


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int)


def _value_problem(operator: Operator, value: Any) -> str | None:
    name = operator.name
    if operator.value == "none":
        return None if value is None else f"'{name}' takes no value"
    if operator.value == "list":
        if not isinstance(value, list) or not value:
            return f"'{name}' needs a list of values"
        if not all(_is_scalar(item) for item in value):
            return f"'{name}' needs a list of texts, numbers or yes/no values"
        return None
    if value is None:
        hint = " (use 'is_empty' to test for an empty field)" if name in ("equals", "not_equals") else ""
        return f"'{name}' needs a value{hint}"
    if not _is_scalar(value):
        return f"'{name}' needs a text, a number or a yes/no value, not {describe_kind(value)}"
    if operator.value == "text":
        if isinstance(value, bool):
            return f"'{name}' needs a text or a number, not a yes/no value"
        if isinstance(value, str) and not value.strip():
            return f"'{name}' needs some text to compare with"
    return None
