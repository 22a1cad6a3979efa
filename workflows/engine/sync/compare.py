"""Comparing values across systems that store the same value differently.

Two comparisons exist on purpose:

* `same_value` (strict, from workflows.engine.diff) decides whether a person changed a field: changing
  "john" to "John" is a change and must travel.
* `loosely_equal` decides whether two sides already agree. Systems normalise what they store (HubSpot keeps
  every property as text, Zendesk lower-cases emails and turns a tag string into a list), so the value we
  read back is rarely byte-identical to the one we sent; treating that as a person's edit would bounce the
  value back and forth forever.
* `is_read_back` decides whether a value read after our write is its echo: loosely equal, except that a
  change of letter case counts as the system's only when the value read is in lower case (what systems
  normalise to). Any other change of case can only be a person's edit made before we read our write back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from workflows.engine.diff import same_value
from workflows.engine.values import is_empty

__all__ = ["is_empty", "is_read_back", "loose", "loosely_equal", "same_value"]

_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})


def loose(value: Any) -> Any:
    """A form of `value` that two systems' renderings of the same thing share."""
    if is_empty(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        text = " ".join(value.split()).casefold()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        try:
            number = float(text)
        except ValueError:
            return text
        return number if math.isfinite(number) else text
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted((loose(item) for item in value if not is_empty(item)), key=repr)
        # A one-item list and its item are the same value to a system that splits text into a list.
        if len(items) == 1:
            return items[0]
        return tuple(items)
    if isinstance(value, Mapping):
        return tuple(sorted((str(key), loose(item)) for key, item in value.items()))
    return str(value)


def loosely_equal(left: Any, right: Any) -> bool:
    return bool(loose(left) == loose(right))


def is_read_back(written: Any, read: Any) -> bool:
    """Whether `read`, the first read of a record after we wrote `written` to it, is our write's echo."""
    if not loosely_equal(written, read):
        return False
    sent, shown = _single_text(written), _single_text(read)
    if sent is None or shown is None or sent == shown:
        return True
    # Equal but for letter case: systems lower-case what they normalise (emails, domains, tags).
    return shown == shown.lower()


def _single_text(value: Any) -> str | None:
    """The text of a value that is one piece of text (or a one-item list of it), whitespace collapsed."""
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    return " ".join(value.split()) if isinstance(value, str) else None
