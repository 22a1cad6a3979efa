"""The fixed library of named value transforms a mapping row can chain.

Mapping specs are written by business users in the UI, so nothing in them is ever
evaluated as code: a transform is looked up by name in `TRANSFORMS` and called with
arguments that were checked against its argument schema. Every transform returns the
new value or raises `TransformError` with a message the user can act on; `None` (an
empty source value) passes through unchanged unless the transform exists to fill it.

The larger transforms live in their own modules (dates, addresses, phones, lookups);
this module is their registry, with the metadata the mapping editor shows.
"""

from __future__ import annotations

import decimal
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

from workflows.engine.addresses import ADDRESS_PARTS, split_address
from workflows.engine.dates import check_date_args, prepare_to_date, prepare_to_datetime, to_date, to_datetime
from workflows.engine.lookups import (
    MISSING_LINK_POLICIES,
    ApplyContext,
    ContextStep,
    check_lookup_link,
    lookup_link,
    prepare_lookup_link,
)
from workflows.engine.phones import check_region, to_phone_e164
from workflows.engine.placeholders import parse_template, render_value, template_fields, template_problems
from workflows.engine.values import (
    DropValue,
    TransformError,
    as_text,
    describe_kind,
    is_empty,
    parse_number,
    parse_yes_no,
    show,
)

__all__ = [
    "TRANSFORMS",
    "ApplyContext",
    "ArgSpec",
    "ContextStep",
    "DropValue",
    "RecordStep",
    "TransformError",
    "TransformSpec",
    "ValueStep",
    "as_text",
    "catalog",
    "default",
    "describe_kind",
    "divide",
    "first_non_empty",
    "format_template",
    "is_empty",
    "join",
    "lookup_link",
    "lower",
    "multiply",
    "replace",
    "show",
    "split_address",
    "split_name",
    "template_fields",
    "title",
    "to_boolean",
    "to_date",
    "to_datetime",
    "to_integer",
    "to_number",
    "to_phone_e164",
    "to_string",
    "trim",
    "truncate",
    "upper",
    "value_map",
]

_MISSING = object()


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def trim(value: Any, /) -> Any:
    if value is None:
        return None
    return as_text(value, "trim").strip()


def lower(value: Any, /) -> Any:
    if value is None:
        return None
    return as_text(value, "lower").lower()


def upper(value: Any, /) -> Any:
    if value is None:
        return None
    return as_text(value, "upper").upper()


_WORD_BREAK = re.compile(r"([\s\-]+)")


def title(value: Any, /) -> Any:
    if value is None:
        return None
    # str.title() capitalises after apostrophes ("They'Re"); capitalising each
    # space- or hyphen-separated word reads right for names ("Smith-Jones").
    text = as_text(value, "title")
    if text.isalnum():  # one word: no space or hyphen to split at
        return text.capitalize()
    return "".join(map(str.capitalize, _WORD_BREAK.split(text)))


def split_name(value: Any, /, part: str = "first") -> Any:
    if value is None:
        return None
    text = " ".join(as_text(value, "split_name").split())
    if "," in text:  # "Lovelace, Ada" is the family-name-first form CRMs export
        last, _, first = text.partition(",")
    else:
        first, _, last = text.partition(" ")
    result = (first if part == "first" else last).strip()
    return result or None


def truncate(value: Any, /, length: int = 255) -> Any:
    if value is None:
        return None
    return as_text(value, "truncate")[:length]


def replace(value: Any, /, find: str = "", replacement: str = "") -> Any:
    if value is None:
        return None
    return as_text(value, "replace").replace(find, replacement)


# ---------------------------------------------------------------------------------------------
# Combining several source values
# ---------------------------------------------------------------------------------------------


def _items(value: Any) -> list[Any] | tuple[Any, ...]:
    # A single source (or a path that found one value) is a list of one.
    return value if isinstance(value, list | tuple) else [value]


def join(value: Any, /, separator: str = " ") -> Any:
    parts = []
    for item in value if value.__class__ is list else _items(value):
        text = (item if item.__class__ is str else "" if item is None else as_text(item, "join")).strip()
        if text:
            parts.append(text)
    return separator.join(parts) or None


def first_non_empty(value: Any, /) -> Any:
    for item in value if value.__class__ is list else _items(value):
        # Plain text first: is_empty() costs a call, and these run per record.
        if item.__class__ is str:
            if item and not item.isspace():
                return item
        elif not is_empty(item):
            return item
    return None


def default(current: Any, /, value: Any = None) -> Any:
    if current.__class__ is str:
        return current if current and not current.isspace() else value
    return value if is_empty(current) else current


# ---------------------------------------------------------------------------------------------
# value_map
# ---------------------------------------------------------------------------------------------


def _map_key_normaliser(case_insensitive: bool) -> Callable[[str], str]:
    # Surrounding spaces are never meaningful in a picklist value, so they never block a match.
    if case_insensitive:
        return lambda text: text.strip().casefold()
    return str.strip


def _build_value_map(
    table: Mapping[str, Any], unmapped: str, fallback: Any, case_insensitive: bool
) -> Callable[[Any], Any]:
    normalise = _map_key_normaliser(case_insensitive)
    lookup = {normalise(key): target for key, target in table.items()}
    known = [show(key) for key in list(table)[:8]]
    expected = ", ".join(known) + (", …" if len(table) > len(known) else "")

    def run(value: Any) -> Any:
        if value is None:
            return None
        result = lookup.get(normalise(as_text(value, "value_map")), _MISSING)
        if result is not _MISSING:
            return result
        if unmapped == "pass":
            return value
        if unmapped == "default":
            return fallback
        if unmapped == "drop":
            raise DropValue(f"{show(value)} has no mapping")
        raise TransformError(f"{show(value)} has no mapping (expected one of: {expected or 'nothing'})")

    return run


def value_map(
    value: Any,
    /,
    map: Mapping[str, Any],  # the argument's name in mapping specs
    unmapped: str = "fail",
    default: Any = None,
    case_insensitive: bool = False,
) -> Any:
    return _build_value_map(map, unmapped, default, case_insensitive)(value)


def _prepare_value_map(args: Mapping[str, Any]) -> ValueStep:
    return _build_value_map(args["map"], args["unmapped"], args["default"], args["case_insensitive"])


def _check_value_map(args: Mapping[str, Any]) -> list[str]:
    normalise = _map_key_normaliser(args["case_insensitive"])
    seen: dict[str, str] = {}
    problems = []
    for key, target in args["map"].items():
        earlier = seen.setdefault(normalise(key), key)
        if earlier != key and args["map"][earlier] != target:
            problems.append(
                f"{show(earlier)} and {show(key)} are the same value but map to different results"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Numbers and yes/no
# ---------------------------------------------------------------------------------------------


def to_number(value: Any, /) -> Any:
    number = parse_number(value)
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def to_integer(value: Any, /, rounding: str = "fail") -> Any:
    number = parse_number(value)
    if number is None or isinstance(number, int):
        return number
    if number.is_integer():
        return int(number)
    if rounding == "round":
        # Half away from zero, as people round; Python's round() rounds 2.5 to 2.
        return int(math.copysign(math.floor(abs(number) + 0.5), number))
    if rounding == "truncate":
        return math.trunc(number)
    raise TransformError(f"{show(value)} is not a whole number")


# Results at or beyond this size are refused: past 2**53 a float no longer holds every whole
# number, and no amount of money is that large, so such a value is a mistake in the data.
_LARGEST_SCALED = Decimal(2**53)


def _scale(value: Any, name: str, by: int, *, divide: bool) -> Any:
    """`value` divided or multiplied by `by`, exactly (in decimal, not binary, arithmetic)."""
    number = parse_number(value)
    if number is None:
        return None
    with decimal.localcontext() as context:
        context.prec = 34
        try:
            exact = Decimal(number) if isinstance(number, int) else Decimal(repr(number))
            result = exact / by if divide else exact * by
        except (decimal.DecimalException, ValueError):
            raise TransformError(f"{show(value)} can't be used in {name}") from None
        if not result.is_finite() or abs(result) >= _LARGEST_SCALED:
            raise TransformError(f"{show(value)} is too large for {name}")
        if result == result.to_integral_value():
            return int(result)
        return float(result)


def divide(value: Any, /, by: int = 100) -> Any:
    """E.g. an amount in minor units (cents: 1999) as a decimal amount (19.99)."""
    return _scale(value, "divide", by, divide=True)


def multiply(value: Any, /, by: int = 100) -> Any:
    """E.g. a decimal amount (19.99) in minor units (cents: 1999)."""
    return _scale(value, "multiply", by, divide=False)


# The reading of yes/no is shared with conditions; bound directly, as it runs per record.
to_boolean = parse_yes_no


# ---------------------------------------------------------------------------------------------
# Text output
# ---------------------------------------------------------------------------------------------


_SCALARS = (str, int, float)  # a tuple: isinstance() with one is faster than with a union


def to_string(value: Any, /) -> Any:
    if value is None:
        return None
    if isinstance(value, _SCALARS):
        return as_text(value, "to_string")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple | Mapping):
        try:
            return json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)
        except (TypeError, ValueError, RecursionError):
            raise TransformError(f"{describe_kind(value)} can't be written as text") from None
    raise TransformError(f"{describe_kind(value)} can't be written as text")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


def format_template(value: Any, /, template: str = "", record: Mapping[str, Any] | None = None) -> Any:
    """Fill `{field}` placeholders from the record; the current value is not used."""
    return render_value(parse_template(template), record or {})


def _prepare_format(args: Mapping[str, Any]) -> RecordStep:
    parts = parse_template(args["template"])
    return lambda value, record: render_value(parts, record)


def _check_template(args: Mapping[str, Any]) -> list[str]:
    return template_problems(args["template"])


def _check_phone_region(args: Mapping[str, Any]) -> list[str]:
    problem = check_region(args["default_region"])
    return [] if problem is None else [problem]


def _check_replace(args: Mapping[str, Any]) -> list[str]:
    return [] if args["find"] else ["'find' must not be empty"]


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

ArgType = Literal["text", "integer", "boolean", "choice", "mapping", "text_list", "any"]
ValueKind = Literal["any", "text", "number", "integer", "boolean", "date", "datetime", "list", "same"]
# A bound transform: current value -> new value. The few that read other fields of the
# record (format) are bound as RecordSteps: (current value, the whole record) -> new value,
# and the ones that reach outside the record (lookup_link) as ContextSteps, which are also
# given the ApplyContext of the call.
ValueStep = Callable[[Any], Any]
RecordStep = Callable[[Any, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class ArgSpec:
    name: str
    type: ArgType
    label: str
    description: str = ""
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None

    def check(self, value: Any) -> str | None:
        """Return what is wrong with `value` for this argument, or None."""
        expected = {"text": str, "integer": int, "boolean": bool, "mapping": dict}.get(self.type)
        # bool is an int subclass, but `true` is not a length.
        if expected is not None and (
            not isinstance(value, expected) or (expected is int and type(value) is bool)
        ):
            return f"'{self.name}' must be {_ARG_TYPE_NAMES[self.type]}"
        if self.type == "choice" and value not in self.choices:
            return f"'{self.name}' must be one of: {', '.join(self.choices)}"
        if self.type == "mapping" and not all(isinstance(key, str) for key in value):
            return f"'{self.name}' must map text values"
        if self.type == "text_list" and not (
            isinstance(value, list) and all(isinstance(item, str) and item for item in value)
        ):
            return f"'{self.name}' must be a list of text"
        if self.minimum is not None and value < self.minimum:
            return f"'{self.name}' must be at least {self.minimum}"
        return None


_ARG_TYPE_NAMES = {
    "text": "text",
    "integer": "a whole number",
    "boolean": "true or false",
    "mapping": "a map",
    "text_list": "a list of text",
}


@dataclass(frozen=True)
class TransformSpec:
    name: str
    label: str
    description: str
    func: Callable[..., Any]
    input: ValueKind
    output: ValueKind
    args: tuple[ArgSpec, ...] = ()
    accepts_list: bool = False
    # Optional factories that pre-compute per-spec work (lookup tables, parsed templates);
    # a transform with `prepare_record` reads the record and is bound only as a RecordStep.
    prepare: Callable[[Mapping[str, Any]], ValueStep] | None = None
    prepare_record: Callable[[Mapping[str, Any]], RecordStep] | None = None
    # A transform with `prepare_context` needs a port from the ApplyContext (see lookups).
    prepare_context: Callable[[Mapping[str, Any]], ContextStep] | None = None
    check: Callable[[Mapping[str, Any]], list[str]] | None = None

    def validate_args(self, args: Any) -> tuple[dict[str, Any], list[str]]:
        """Return the arguments with defaults filled in, and the problems found."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return {}, ["settings must be a set of name/value pairs"]
        known = {arg.name: arg for arg in self.args}
        problems = [
            f"unknown setting '{name}'" + (f" (expected: {', '.join(known)})" if known else "")
            for name in args
            if name not in known
        ]
        resolved: dict[str, Any] = {}
        for arg in self.args:
            if arg.name not in args:
                if arg.required:
                    problems.append(f"'{arg.name}' is required")
                resolved[arg.name] = arg.default
                continue
            problem = arg.check(args[arg.name])
            if problem:
                problems.append(problem)
            resolved[arg.name] = args[arg.name]
        if not problems and self.check is not None:
            problems.extend(self.check(resolved))
        return resolved, problems

    @property
    def uses_record(self) -> bool:
        return self.prepare_record is not None

    @property
    def uses_context(self) -> bool:
        return self.prepare_context is not None

    def bind_value(self, args: Mapping[str, Any]) -> ValueStep | None:
        """Bind checked arguments once so each record costs one plain call.

        None if the transform reads the record or the apply context.
        """
        if self.prepare_record is not None or self.prepare_context is not None:
            return None
        return self._value_step(args)

    def bind(self, args: Mapping[str, Any]) -> RecordStep:
        """Bind checked arguments as a step that is also given the whole record.

        A transform that needs the apply context gets none here, so it fails with its
        "not available" message; bind it with `bind_context` to give it one.
        """
        if self.prepare_context is not None:
            context_step = self.prepare_context(args)
            return lambda value, record: context_step(value, record, None)
        if self.prepare_record is not None:
            return self.prepare_record(args)
        step = self._value_step(args)
        return lambda value, record: step(value)

    def bind_context(self, args: Mapping[str, Any]) -> ContextStep:
        """Bind checked arguments as a step given the record and the ApplyContext."""
        if self.prepare_context is not None:
            return self.prepare_context(args)
        record_step = self.bind(args)
        return lambda value, record, context: record_step(value, record)

    def _value_step(self, args: Mapping[str, Any]) -> ValueStep:
        if self.prepare is not None:
            return self.prepare(args)
        # Arguments left at their default are not bound: a partial with keywords builds a
        # dict on every call, the bare function doesn't. (ArgSpec defaults equal the
        # function's defaults; a test keeps them in step.)
        defaults = {arg.name: arg.default for arg in self.args}
        changed = {name: value for name, value in args.items() if defaults.get(name, _MISSING) != value}
        return functools.partial(self.func, **changed) if changed else self.func

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description for the mapping editor."""
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "input": self.input,
            "output": self.output,
            "accepts_list": self.accepts_list,
            "uses_record": self.uses_record,
            "uses_context": self.uses_context,
            "args": [
                {
                    "name": arg.name,
                    "type": arg.type,
                    "label": arg.label,
                    "description": arg.description,
                    "required": arg.required,
                    "default": list(arg.default) if isinstance(arg.default, tuple) else arg.default,
                    "choices": list(arg.choices),
                    "minimum": arg.minimum,
                }
                for arg in self.args
            ],
        }


_INPUT_TIMEZONE = ArgSpec(
    "input_timezone",
    "text",
    "Time zone of the source",
    "Zone of times written without an offset, e.g. Europe/Berlin",
    default="UTC",
)
_OUTPUT_TIMEZONE = ArgSpec(
    "output_timezone", "text", "Time zone of the target", "Zone the result is given in", default="UTC"
)
_FORMATS = ArgSpec(
    "formats",
    "text_list",
    "Formats",
    "Date formats to try first, e.g. %d/%m/%Y %H:%M; the common formats are tried after them",
    default=(),
)
_DAY_FIRST = ArgSpec(
    "day_first", "boolean", "Day before month", "Read 03/04/2024 as 3 April instead of March 4", default=False
)
_EPOCH_UNIT = ArgSpec(
    "epoch_unit",
    "choice",
    "Timestamp unit",
    "Unit of numeric timestamps: milliseconds or seconds",
    default="ms",
    choices=("ms", "s"),
)

_SPECS = (
    TransformSpec("trim", "Trim spaces", "Remove spaces at the start and end", trim, "text", "text"),
    TransformSpec("lower", "Lower case", "Make all letters lower case", lower, "text", "text"),
    TransformSpec("upper", "Upper case", "Make all letters upper case", upper, "text", "text"),
    TransformSpec(
        "title", "Capitalise words", "Capitalise the first letter of each word", title, "text", "text"
    ),
    TransformSpec(
        "split_name",
        "Split full name",
        "Take the first or last name from a full name ('Ada Lovelace' or 'Lovelace, Ada')",
        split_name,
        "text",
        "text",
        args=(
            ArgSpec(
                "part", "choice", "Part", "Which part to keep", default="first", choices=("first", "last")
            ),
        ),
    ),
    TransformSpec(
        "truncate",
        "Shorten",
        "Cut text to at most a number of characters",
        truncate,
        "text",
        "text",
        args=(ArgSpec("length", "integer", "Maximum length", required=True, minimum=1),),
    ),
    TransformSpec(
        "replace",
        "Replace text",
        "Replace every occurrence of some text with other text",
        replace,
        "text",
        "text",
        args=(
            ArgSpec("find", "text", "Find", required=True),
            ArgSpec("replacement", "text", "Replace with", default=""),
        ),
        check=_check_replace,
    ),
    TransformSpec(
        "join",
        "Join",
        "Join several fields into one text, skipping empty ones",
        join,
        "list",
        "text",
        args=(ArgSpec("separator", "text", "Separator", default=" "),),
        accepts_list=True,
    ),
    TransformSpec(
        "first_non_empty",
        "First filled-in",
        "Use the first of several fields that has a value",
        first_non_empty,
        "list",
        "any",
        accepts_list=True,
    ),
    TransformSpec(
        "format",
        "Text template",
        "Build text from fields, e.g. '{firstname} {lastname}'",
        format_template,
        "any",
        "text",
        args=(ArgSpec("template", "text", "Template", "Field names in braces are filled in", required=True),),
        accepts_list=True,
        prepare_record=_prepare_format,
        check=_check_template,
    ),
    TransformSpec(
        "default",
        "Default value",
        "Use this value when the field is empty",
        default,
        "any",
        "same",
        args=(ArgSpec("value", "any", "Value", required=True),),
    ),
    TransformSpec(
        "value_map",
        "Translate values",
        "Translate each value to another, e.g. picklist options",
        value_map,
        "text",
        "any",
        args=(
            ArgSpec("map", "mapping", "Translations", "From value to value", required=True),
            ArgSpec(
                "unmapped",
                "choice",
                "When there is no translation",
                "fail the record, pass the value through, use the default, or leave the field alone",
                default="fail",
                choices=("fail", "pass", "default", "drop"),
            ),
            ArgSpec("default", "any", "Default", "Used when 'unmapped' is 'default'"),
            ArgSpec("case_insensitive", "boolean", "Ignore case", default=False),
        ),
        prepare=_prepare_value_map,
        check=_check_value_map,
    ),
    TransformSpec("to_number", "Number", "Read the value as a number", to_number, "any", "number"),
    TransformSpec(
        "to_integer",
        "Whole number",
        "Read the value as a whole number",
        to_integer,
        "any",
        "integer",
        args=(
            ArgSpec(
                "rounding",
                "choice",
                "Fractions",
                "fail on a fraction, round it, or cut it off",
                default="fail",
                choices=("fail", "round", "truncate"),
            ),
        ),
    ),
    TransformSpec(
        "divide",
        "Divide",
        "Divide a number, e.g. by 100 to turn an amount in cents (1999) into 19.99",
        divide,
        "any",
        "number",
        args=(ArgSpec("by", "integer", "Divide by", "A whole number, e.g. 100", default=100, minimum=1),),
    ),
    TransformSpec(
        "multiply",
        "Multiply",
        "Multiply a number, e.g. by 100 to turn 19.99 into an amount in cents (1999)",
        multiply,
        "any",
        "number",
        args=(ArgSpec("by", "integer", "Multiply by", "A whole number, e.g. 100", default=100, minimum=1),),
    ),
    TransformSpec(
        "to_boolean", "Yes/no", "Read yes/no, true/false, 1/0 or on/off", to_boolean, "any", "boolean"
    ),
    TransformSpec(
        "to_date",
        "Date",
        "Read a date (2024-03-31, 03/31/2024, 31 Mar 2024, timestamps) as YYYY-MM-DD;"
        " a date and time gives its day in the target's time zone",
        to_date,
        "any",
        "date",
        args=(_INPUT_TIMEZONE, _OUTPUT_TIMEZONE, _FORMATS, _DAY_FIRST, _EPOCH_UNIT),
        prepare=prepare_to_date,
        check=check_date_args,
    ),
    TransformSpec(
        "to_datetime",
        "Date and time",
        "Read a date and time as an ISO 8601 timestamp (UTC unless the target's time zone is set)",
        to_datetime,
        "any",
        "datetime",
        args=(_INPUT_TIMEZONE, _OUTPUT_TIMEZONE, _FORMATS, _DAY_FIRST, _EPOCH_UNIT),
        prepare=prepare_to_datetime,
        check=check_date_args,
    ),
    TransformSpec("to_string", "Text", "Write the value as text", to_string, "any", "text"),
    TransformSpec(
        "split_address",
        "Split address",
        "Take the street, city, region, postcode or country from a one-line address"
        " ('221B Baker Street, London NW1 6XE, United Kingdom')",
        split_address,
        "text",
        "text",
        args=(
            ArgSpec("part", "choice", "Part", "Which part to keep", default="street", choices=ADDRESS_PARTS),
        ),
    ),
    TransformSpec(
        "to_phone_e164",
        "Phone number (E.164)",
        "Write a phone number in international form (+442079460958); invalid numbers fail the record."
        " Extensions are left out",
        to_phone_e164,
        "text",
        "text",
        args=(
            ArgSpec(
                "default_region",
                "text",
                "Default country",
                "Two-letter country code for numbers written without +, e.g. GB",
            ),
        ),
        check=_check_phone_region,
    ),
    TransformSpec(
        "lookup_link",
        "Linked record",
        "Use the id of the record this one is linked to in another connection",
        lookup_link,
        "text",
        "text",
        args=(
            ArgSpec(
                "connection", "any", "Connection", "The connection the linked record is in", required=True
            ),
            ArgSpec("object", "text", "Object", "e.g. companies", required=True),
            ArgSpec(
                "missing",
                "choice",
                "When there is no linked record",
                "fail the record, leave the value empty, or leave the field alone",
                default="fail",
                choices=MISSING_LINK_POLICIES,
            ),
        ),
        prepare_context=prepare_lookup_link,
        check=check_lookup_link,
    ),
)

TRANSFORMS: dict[str, TransformSpec] = {spec.name: spec for spec in _SPECS}


def catalog() -> list[dict[str, Any]]:
    """Every transform as JSON-able data, in the order the UI should offer them."""
    return [spec.to_dict() for spec in _SPECS]
