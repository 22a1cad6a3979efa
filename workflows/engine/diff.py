"""Change detection: a stable fingerprint of mapped values and a field-level diff.

Fingerprints are stored with each link and compared on the next run, so the canonical
form must never change between releases: changing it makes every record look changed
once. Values are compared as the target will see them in JSON: 1 and 1.0 are the same
number, but true and 1 are different values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

_SIMPLE = (str, int, bool, type(None))
_MAX_PRINTABLE_BITS = 14_000


def canonical(value: Any) -> Any:
    """The JSON-ready form used for comparing and fingerprinting."""
    if isinstance(value, _SIMPLE):
        # Python won't print integers past ~4300 digits; hex has no such limit.
        if isinstance(value, int) and value.bit_length() > _MAX_PRINTABLE_BITS:
            return f"int:{value:x}"
        return value
    if isinstance(value, float):
        # -0.0 and 3.0 are 0 and 3 to the target; beyond 2**53 floats are not exact integers.
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((canonical(item) for item in value), key=canonical_json)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return canonical(float(value))
    return str(value)


_dump = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode
# Values that are their own canonical form, by exact type (ints below are checked for size).
_PLAIN = frozenset({str, bool, type(None)})


def canonical_json(value: Any) -> str:
    # NaN is allowed: this text is hashed and compared, never sent anywhere.
    if value.__class__ is dict and _plain_items(value):
        # A flat record of text, yes/no and small whole numbers (the usual mapped record) is already
        # canonical: canonical() would rebuild an equal dict, value by value.
        return _dump(value)
    return _dump(canonical(value))


def _plain_items(values: dict[Any, Any]) -> bool:
    for key, item in values.items():
        if key.__class__ is not str:
            return False
        kind = item.__class__
        if kind not in _PLAIN and not (kind is int and -(2**53) < item < 2**53):
            return False
    return True


def fingerprint(values: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of `values`; key order doesn't matter."""
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()


def same_value(old: Any, new: Any) -> bool:
    if type(old) is type(new) and isinstance(new, _SIMPLE):
        return bool(old == new)
    return canonical_json(old) == canonical_json(new)


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields of `new` whose value differs from `old`, as {field: (old, new)}.

    Fields only in `old` are not reported: a write of `new` leaves them alone. A field
    missing from `old` counts as changed even when the new value is None, because writing
    None clears whatever the target holds.
    """
    old = old or {}
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in new.items():
        if name not in old:
            changes[name] = (None, value)
        elif not same_value(old[name], value):
            changes[name] = (old[name], value)
    return changes
