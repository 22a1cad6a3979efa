"""Comparing values across systems that store the same value differently.

Two comparisons exist on purpose:

* `same_value` (strict, from workflows.engine.diff) decides whether a person changed a field: changing
  "john" to "John" is a change and must travel.
* `loosely_equal` decides whether a value read back is the echo of what we wrote, or whether two sides
  already agree. Systems normalise what they store (HubSpot keeps every property as text, Zendesk lower-cases
  emails and turns a tag string into a list), so the value we read back is rarely byte-identical to the one
  we sent; treating that as a person's edit would bounce the value back and forth forever.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from workflows.engine.diff import same_value
from workflows.engine.values import is_empty

__all__ = ["is_empty", "loose", "loosely_equal", "same_value"]

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
