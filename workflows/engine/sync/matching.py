"""Record identity on first sight: match keys and the decision to link, hold or leave a record alone.

Rules are tried in the order the sync lists them (external id, email, domain, a composite key). The first
rule under which the record has a key that some other record shares decides:

* exactly one unlinked record on the other side, and no look-alike on the record's own side: link them;
* anything else (several candidates, a candidate already linked to another record, a duplicate of the record
  in its own system): hold it as a duplicate risk for a person. Merging on a guess is worse than waiting.

A record with no shared key under any rule is new: the caller may create its counterpart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from workflows.engine.sync.spec import RECORD_ID, MatchRule, Side
from workflows.engine.values import is_empty

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
# Separates the parts of a composite key; a character no person types into a CRM field.
_JOIN = "\x1f"


def normalise_email(value: Any) -> str | None:
    """Trim and lower-case; anything without an @ between two parts is not an email."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    local, at, domain = text.partition("@")
    return text if at and local and domain and " " not in text else None


def normalise_domain(value: Any) -> str | None:
    """acme.com from 'https://www.Acme.com/about', 'acme.com.' or 'ACME.COM'."""
    if not isinstance(value, str):
        return None
    text = _SCHEME.sub("", value.strip().lower())
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].rstrip(".")
    text = text.removeprefix("www.")
    return text if "." in text and " " not in text else None


def normalise_text(value: Any) -> str | None:
    if is_empty(value) or isinstance(value, list | dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = " ".join(str(value).split()).casefold()
    return text or None


def _values(value: Any) -> list[Any]:
    # Some fields hold several keys (Zendesk organizations list their domains).
    if isinstance(value, list | tuple):
        return [item for item in value if not is_empty(item)]
    return [] if is_empty(value) else [value]


def record_keys(rule: MatchRule, side: Side, record_id: str, fields: Mapping[str, Any]) -> frozenset[str]:
    """The normalised keys of one record under one rule (empty: the rule does not apply to it)."""
    names = rule.fields(side)

    def read(name: str) -> Any:
        return record_id if name == RECORD_ID else fields.get(name)

    if rule.kind == "composite":
        parts = [normalise_text(read(name)) for name in names]
        if any(part is None for part in parts):
            return frozenset()
        return frozenset({_JOIN.join(part for part in parts if part is not None)})
    normalise = {"email": normalise_email, "domain": normalise_domain}.get(rule.kind, normalise_text)
    keys = {normalise(item) for item in _values(read(names[0]))}
    return frozenset(key for key in keys if key)


def all_keys(
    rules: Sequence[MatchRule], side: Side, record_id: str, fields: Mapping[str, Any]
) -> list[frozenset[str]]:
    return [record_keys(rule, side, record_id, fields) for rule in rules]


@dataclass(frozen=True)
class KeyHolder:
    """A live record that has a key: which side it is on and whether it is linked already."""

    side: Side
    record_id: str
    linked: bool


# (rule position, key) -> the records holding that key, on both sides.
KeyIndex = Mapping[tuple[int, str], Sequence[KeyHolder]]


@dataclass(frozen=True)
class MatchDecision:
    outcome: Literal["link", "hold", "new"]
    rule: int | None = None
    key: str | None = None
    target_id: str | None = None
    candidates: tuple[str, ...] = ()
    reason: str = ""


def decide_match(
    rules: Sequence[MatchRule],
    side: Side,
    record_id: str,
    keys: Sequence[frozenset[str]],
    index: KeyIndex,
) -> MatchDecision:
    """Link, hold or treat as new, by the first rule under which the record shares a key."""
    for position, rule in enumerate(rules):
        record_keys_ = sorted(keys[position]) if position < len(keys) else []
        if not record_keys_:
            continue
        others: dict[str, KeyHolder] = {}
        siblings: set[str] = set()
        for key in record_keys_:
            for holder in index.get((position, key), ()):
                if holder.side == side and holder.record_id != record_id:
                    siblings.add(holder.record_id)
                elif holder.side != side:
                    others[holder.record_id] = holder
        if not others and not siblings:
            continue
        key_text = record_keys_[0].replace(_JOIN, " / ")
        candidates = tuple(sorted(others))
        label = rule.kind.replace("_", " ")
        if len(others) > 1:
            return MatchDecision(
                "hold",
                position,
                key_text,
                None,
                candidates,
                f"{len(others)} records on the other side have the {label} {key_text!r}",
            )
        if siblings:
            return MatchDecision(
                "hold",
                position,
                key_text,
                None,
                candidates,
                f"{len(siblings) + 1} records on this side have the {label} {key_text!r}",
            )
        (holder,) = others.values()
        if holder.linked:
            return MatchDecision(
                "hold",
                position,
                key_text,
                None,
                candidates,
                f"the record with the {label} {key_text!r} on the other side is already linked to another record",
            )
        return MatchDecision("link", position, key_text, holder.record_id, candidates, f"same {label}")
    return MatchDecision("new")
