"""Plain value helpers shared by transforms, conditions and steps.

Everything a business user reads goes through `show` and `describe_kind`, so messages
quote values the same way wherever they come from.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any


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


def show_value(value: Any) -> str:
    """Like `show`, but numbers and yes/no read bare: "is greater than 1000", "became true"."""
    if isinstance(value, int | float):
        return show(value)[1:-1]
    return show(value)


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
# Reading numbers and yes/no values the way people write them
# ---------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CURRENCY = "$€£¥"


def parse_number(value: Any) -> int | float | None:
    """Read a number from a number or number-like text; None for empty; TransformError otherwise."""
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


YES_WORDS = frozenset({"true", "yes", "y", "t", "1", "on"})
NO_WORDS = frozenset({"false", "no", "n", "f", "0", "off"})


def parse_yes_no(value: Any) -> bool | None:
    """Read yes/no from a boolean, 1/0 or a yes/no word; None for empty; TransformError otherwise."""
    if value.__class__ is str:  # the usual case first: this runs per record
        text = value.strip().casefold()
        if text in YES_WORDS:
            return True
        if text in NO_WORDS:
            return False
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
    if text in YES_WORDS:
        return True
    if text in NO_WORDS:
        return False
    raise TransformError(f"{show(value)} is not yes/no (use yes/no, true/false, 1/0 or on/off)")
