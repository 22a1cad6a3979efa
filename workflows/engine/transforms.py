"""The fixed library of named value transforms a mapping row can chain.

Mapping specs are written by business users in the UI, so nothing in them is ever
evaluated as code: a transform is looked up by name in `TRANSFORMS` and called with
arguments that were checked against its argument schema. Every transform returns the
new value or raises `TransformError` with a message the user can act on; `None` (an
empty source value) passes through unchanged unless the transform exists to fill it.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TransformError(Exception):
    """A value could not be transformed; `message` is shown to the user as-is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DropValue(TransformError):
    """The transform decided this target should be left alone for this record (not an error)."""


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------

_SHOW_LIMIT = 60


def show(value: Any) -> str:
    """Quote a value for a message; long values are cut so one bad record can't flood the log."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            # e.g. an integer too long for Python to print: describe it instead.
            return describe_kind(value)
    if len(text) > _SHOW_LIMIT:
        text = text[: _SHOW_LIMIT - 1] + "…"
    return f"'{text}'"


def describe_kind(value: Any) -> str:
    """Name a value's kind in business terms ("a list", not "list")."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a yes/no value"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a group of fields"
    return f"a value of type {type(value).__name__}"


def is_empty(value: Any) -> bool:
    """Empty means "nothing to write": None, blank text, or an empty list/object."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value or value.isspace()
    if isinstance(value, list | tuple | dict):
        return not value
    return False


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        raise TransformError(f"{show(value)} is not a usable number")
    # 3.0 reads as "3" to a person; beyond 2**53 floats stop being exact integers.
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def as_text(value: Any, transform: str) -> str:
    """Turn a scalar into text for a text transform; lists and objects are refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # Python refuses to print integers with thousands of digits
            raise TransformError("the number is too long to use as text") from None
    if isinstance(value, float):
        return _float_text(value)
    raise TransformError(f"{transform} expects text, not {describe_kind(value)}")


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
    return "".join(part.capitalize() for part in _WORD_BREAK.split(as_text(value, "title")))


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
    for item in _items(value):
        text = (item if item.__class__ is str else "" if item is None else as_text(item, "join")).strip()
        if text:
            parts.append(text)
    return separator.join(parts) or None


def first_non_empty(value: Any, /) -> Any:
    for item in _items(value):
        if not is_empty(item):
            return item
    return None


def default(current: Any, /, value: Any = None) -> Any:
    return value if is_empty(current) else current


# ---------------------------------------------------------------------------------------------
# value_map
# ---------------------------------------------------------------------------------------------

_MISSING = object()


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

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CURRENCY = "$€£¥"


def _parse_number(value: Any) -> int | float | None:
    if not isinstance(value, str):
        if value is None:
            return None
        if isinstance(value, bool):  # checkboxes often land in number fields as 1/0
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise TransformError(f"{show(value)} is not a number")
            return value
        raise TransformError(f"expected a number, not {describe_kind(value)}")
    text = value.strip()
    if not text:
        return None
    # A regex rather than float(): float() also accepts "nan", "inf" and "1_000".
    if not _NUMBER.fullmatch(text):
        if text[0] in _CURRENCY:
            text = text[1:].lstrip()
        # Only unambiguous thousands grouping ("1,234.5") is accepted: "1,5" may mean 1.5.
        if _GROUPED.fullmatch(text):
            text = text.replace(",", "")
        if not _NUMBER.fullmatch(text):
            raise TransformError(f"{show(value)} is not a number")
    try:
        if "." not in text and "e" not in text.lower():
            return int(text)
        number = float(text)
    except ValueError:  # an integer with thousands of digits
        raise TransformError(f"{show(value)} is too long to be a number") from None
    if not math.isfinite(number):
        raise TransformError(f"{show(value)} is too large to be a number")
    return number


def to_number(value: Any, /) -> Any:
    number = _parse_number(value)
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def to_integer(value: Any, /, rounding: str = "fail") -> Any:
    number = _parse_number(value)
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


_TRUE = frozenset({"true", "yes", "y", "t", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "off"})


def to_boolean(value: Any, /) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value == 1:
            return True
        if value == 0:
            return False
        raise TransformError(f"{show(value)} is not yes/no (numbers must be 1 or 0)")
    if not isinstance(value, str):
        raise TransformError(f"expected yes/no, not {describe_kind(value)}")
    text = value.strip().casefold()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise TransformError(f"{show(value)} is not yes/no (use yes/no, true/false, 1/0 or on/off)")


# ---------------------------------------------------------------------------------------------
# Dates and times
# ---------------------------------------------------------------------------------------------

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
)
_TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")
_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)


def _from_epoch(amount: float, unit: str, original: Any) -> datetime:
    try:
        if unit == "s":
            return _EPOCH_START + timedelta(seconds=amount)
        return _EPOCH_START + timedelta(milliseconds=amount)
    except (OverflowError, ValueError):
        raise TransformError(f"{show(original)} is out of the range of dates") from None


def _parse_moment(value: Any, day_first: bool, epoch_unit: str) -> date | datetime | None:
    """Read a date or a date-time; a date-only input stays a `date` so no time is invented."""
    if not isinstance(value, str):
        if value is None or isinstance(value, date):  # datetime is a subclass of date
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TransformError(f"expected a date, not {describe_kind(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise TransformError(f"{show(value)} is not a date")
        return _from_epoch(value, epoch_unit, value)
    text = value.strip()
    if not text:
        return None
    # Character checks rather than regexes: this runs per record and regexes cost more here.
    if len(text) >= 10 and text[4] == "-" and text[7] == "-" and text[:4].isdigit():
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise TransformError(f"{show(value)} is not a valid date") from None
    digits = text.removeprefix("-")
    if len(digits) > 8 and digits.isascii() and digits.isdigit():
        if len(digits) > 20:  # also keeps int() away from its limit on huge digit strings
            raise TransformError(f"{show(value)} is out of the range of dates")
        return _from_epoch(int(text), epoch_unit, value)
    slash = "%d/%m/%Y" if day_first else "%m/%d/%Y"
    for date_format in (slash, "%Y%m%d", *_DATE_FORMATS):
        for time_format in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(text, date_format + time_format)  # zone applied by the caller
            except ValueError:
                continue
            return parsed if time_format else parsed.date()
    raise TransformError(f"{show(value)} is not a date (use e.g. 2024-03-31)")


def to_date(value: Any, /, day_first: bool = False, epoch_unit: str = "ms") -> Any:
    # Most sources already send ISO dates: checked by shape and by date.fromisoformat (which
    # rejects anything but ASCII digits there), the text is already the output.
    if value.__class__ is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            date.fromisoformat(value)
        except ValueError:
            raise TransformError(f"{show(value)} is not a valid date") from None
        return value
    moment = _parse_moment(value, day_first, epoch_unit)
    if moment is None:
        return None
    # The calendar date as written: "2024-03-01T23:30-05:00" is 1 March to its author.
    day = moment.date() if isinstance(moment, datetime) else moment
    return day.isoformat()


def to_datetime(value: Any, /, timezone: str = "UTC", day_first: bool = False, epoch_unit: str = "ms") -> Any:
    return _to_datetime(value, ZoneInfo(timezone), day_first, epoch_unit)


def _is_canonical_utc(value: Any) -> bool:
    """Already in the output form "YYYY-MM-DDTHH:MM:SSZ" (what most APIs send)."""
    if value.__class__ is not str or len(value) != 20 or value[19] != "Z" or value[10] != "T":
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return value[4] == value[7] == "-" and value[13] == value[16] == ":"


def _to_datetime(value: Any, zone: tzinfo, day_first: bool, epoch_unit: str) -> Any:
    # Formatting a datetime costs over a microsecond; input already in output form is returned.
    if _is_canonical_utc(value):
        return value
    moment = _parse_moment(value, day_first, epoch_unit)
    if moment is None:
        return None
    try:
        if not isinstance(moment, datetime):
            moment = datetime.combine(moment, time())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        moment = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise TransformError(f"{show(value)} is out of the range of dates") from None
    # One spelling of UTC for every output so unchanged records fingerprint the same;
    # slicing off "+00:00" is several times cheaper than replace(tzinfo=None).
    return moment.isoformat()[:-6] + "Z"


def _check_timezone(args: Mapping[str, Any]) -> list[str]:
    try:
        ZoneInfo(args["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        return [f"{show(args['timezone'])} is not a known time zone (use e.g. Europe/Berlin)"]
    return []


def _prepare_to_datetime(args: Mapping[str, Any]) -> ValueStep:
    zone, day_first, unit = ZoneInfo(args["timezone"]), args["day_first"], args["epoch_unit"]
    return lambda value: _to_datetime(value, zone, day_first, unit)


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


# `{{` and `}}` are literal braces; anything else between braces names a record field.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")

TemplatePart = tuple[str, str | None]


def parse_template(template: str) -> list[TemplatePart]:
    """Split a template into (literal text, field name or None) parts, once, at compile time."""
    parts: list[TemplatePart] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[position : match.start()]
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((literal + token[0], None))
        else:
            parts.append((literal, match.group(1).strip()))
    parts.append((template[position:], None))
    return parts


def template_fields(template: str) -> list[str]:
    return [name for _, name in parse_template(template) if name is not None]


def _render(parts: list[TemplatePart], record: Mapping[str, Any]) -> Any:
    chunks: list[str] = []
    has_fields = filled = False
    for literal, name in parts:
        chunks.append(literal)
        if name is None:
            continue
        has_fields = True
        field_value = record.get(name)
        if not is_empty(field_value):
            filled = True
            chunks.append(as_text(field_value, "format"))
    # A template whose fields are all empty would write bare punctuation (" ", ", ").
    if has_fields and not filled:
        return None
    return "".join(chunks)


def format_template(value: Any, /, template: str = "", record: Mapping[str, Any] | None = None) -> Any:
    """Fill `{field}` placeholders from the record; the current value is not used."""
    return _render(parse_template(template), record or {})


def _prepare_format(args: Mapping[str, Any]) -> RecordStep:
    parts = parse_template(args["template"])
    return lambda value, record: _render(parts, record)


def _check_template(args: Mapping[str, Any]) -> list[str]:
    if any(name == "" for _, name in parse_template(args["template"])):
        return ["the template has an empty placeholder {}; put a field name between the braces"]
    return []


def _check_replace(args: Mapping[str, Any]) -> list[str]:
    return [] if args["find"] else ["'find' must not be empty"]


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

ArgType = Literal["text", "integer", "boolean", "choice", "mapping", "any"]
ValueKind = Literal["any", "text", "number", "integer", "boolean", "date", "datetime", "list", "same"]
# A bound transform: current value -> new value. The few that read other fields of the
# record (format) are bound as RecordSteps: (current value, the whole record) -> new value.
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
        if self.minimum is not None and value < self.minimum:
            return f"'{self.name}' must be at least {self.minimum}"
        return None


_ARG_TYPE_NAMES = {
    "text": "text",
    "integer": "a whole number",
    "boolean": "true or false",
    "mapping": "a map",
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

    def bind_value(self, args: Mapping[str, Any]) -> ValueStep | None:
        """Bind checked arguments once so each record costs one plain call; None if it reads the record."""
        return None if self.prepare_record is not None else self._value_step(args)

    def bind(self, args: Mapping[str, Any]) -> RecordStep:
        """Bind checked arguments as a step that is also given the whole record."""
        if self.prepare_record is not None:
            return self.prepare_record(args)
        step = self._value_step(args)
        return lambda value, record: step(value)

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
            "args": [
                {
                    "name": arg.name,
                    "type": arg.type,
                    "label": arg.label,
                    "description": arg.description,
                    "required": arg.required,
                    "default": arg.default,
                    "choices": list(arg.choices),
                    "minimum": arg.minimum,
                }
                for arg in self.args
            ],
        }


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
        "to_boolean", "Yes/no", "Read yes/no, true/false, 1/0 or on/off", to_boolean, "any", "boolean"
    ),
    TransformSpec(
        "to_date",
        "Date",
        "Read a date (2024-03-31, 03/31/2024, 31 Mar 2024, timestamps) as YYYY-MM-DD",
        to_date,
        "any",
        "date",
        args=(_DAY_FIRST, _EPOCH_UNIT),
    ),
    TransformSpec(
        "to_datetime",
        "Date and time",
        "Read a date and time as an ISO 8601 UTC timestamp",
        to_datetime,
        "any",
        "datetime",
        args=(
            ArgSpec("timezone", "text", "Time zone", "Zone of times written without one", default="UTC"),
            _DAY_FIRST,
            _EPOCH_UNIT,
        ),
        prepare=_prepare_to_datetime,
        check=_check_timezone,
    ),
    TransformSpec("to_string", "Text", "Write the value as text", to_string, "any", "text"),
)

TRANSFORMS: dict[str, TransformSpec] = {spec.name: spec for spec in _SPECS}


def catalog() -> list[dict[str, Any]]:
    """Every transform as JSON-able data, in the order the UI should offer them."""
    return [spec.to_dict() for spec in _SPECS]
