"""What the workflow builder knows about fields: pickers, suggested pairs, value-map prefill, coercion.

Plain functions over the connectors' ObjectSchema, so the suggestions can be tested without a database
or a browser. The builder asks these instead of hard-coding any system's field names.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from connectors.base import FieldSchema, ObjectSchema

# Containers that systems put custom fields in ("user_fields.tier", "merge_fields.FNAME",
# "properties.tier"); a name is compared without them, so a custom field pairs with its plain twin.
_CONTAINERS = ("user_fields.", "merge_fields.", "properties.", "custom_fields.", "fields.")
# Two names this alike (difflib's ratio) are offered as a pair; lower pairs "city" with "country".
_SIMILAR = 0.86
# Well-known spellings of the same thing in different systems, after normalising.
_SYNONYMS: dict[str, frozenset[str]] = {
    "email": frozenset({"emailaddress", "mail", "email"}),
    "phone": frozenset({"phonenumber", "phone", "mobilephone", "tel"}),
    "firstname": frozenset({"firstname", "fname", "givenname"}),
    "lastname": frozenset({"lastname", "lname", "surname", "familyname"}),
    "company": frozenset({"company", "companyname", "organization", "organisation"}),
}
_TEXT_TYPES = frozenset({"string", "email", "phone"})


def normalise(name: str) -> str:
    """'user_fields.Customer_Tier' -> 'customertier': the part people recognise, in one spelling."""
    lowered = name.strip().lower()
    for prefix in _CONTAINERS:
        if lowered.startswith(prefix):
            lowered = lowered[len(prefix) :]
            break
    return re.sub(r"[^a-z0-9]", "", lowered)


def _canonical(name: str) -> str:
    key = normalise(name)
    return next((canon for canon, spellings in _SYNONYMS.items() if key in spellings), key)


def writable(schema: ObjectSchema) -> list[FieldSchema]:
    return [f for f in schema.fields if not f.read_only]


@dataclass(frozen=True)
class Pair:
    """A suggested mapping row: `why` is shown next to it so a person can judge the match."""

    source: FieldSchema
    target: FieldSchema
    why: str


def suggest_pairs(
    source: ObjectSchema, target: ObjectSchema, *, taken_targets: set[str], taken_sources: set[str]
) -> list[Pair]:
    """Auto-pair target fields that are not mapped yet with the source field of the same meaning.

    Equal names first, then equal labels, then well-known synonyms, then names that differ by a typo or a
    separator. Each source field is offered once, so two targets never fight over one source.
    """
    pairs: list[Pair] = []
    used = set(taken_sources)
    candidates = [f for f in source.fields if f.name not in used]
    for target_field in writable(target):
        if target_field.name in taken_targets:
            continue
        match = _best_source(target_field, [f for f in candidates if f.name not in used])
        if match is not None:
            pairs.append(Pair(match[0], target_field, match[1]))
            used.add(match[0].name)
    return pairs


def _best_source(target: FieldSchema, sources: list[FieldSchema]) -> tuple[FieldSchema, str] | None:
    target_name, target_label = normalise(target.name), normalise(target.label)
    for field in sources:
        if normalise(field.name) == target_name:
            return field, "same name"
    for field in sources:
        if target_label and normalise(field.label) == target_label:
            return field, "same label"
    target_canon = _canonical(target.name)
    for field in sources:
        if _canonical(field.name) == target_canon and target_canon in _SYNONYMS:
            return field, "same meaning"
    best: tuple[float, FieldSchema] | None = None
    for field in sources:
        score = max(
            difflib.SequenceMatcher(None, normalise(field.name), target_name).ratio(),
            difflib.SequenceMatcher(None, normalise(field.label), target_label).ratio(),
        )
        if score >= _SIMILAR and (best is None or score > best[0]):
            best = (score, field)
    return (best[1], "similar name") if best else None


def suggested_transforms(source: FieldSchema, target: FieldSchema) -> list[dict[str, Any]]:
    """The transforms a pair needs so the target accepts the value (what preview would tell them to add)."""
    if target.type == "email":
        return [{"name": "trim"}, {"name": "lower"}]
    if target.type == "enumeration" and source.options and target.options:
        return [{"name": "value_map", "args": {"map": dict(value_map_prefill(source, target))}}]
    conversions = {
        "number": "to_number",
        "boolean": "to_boolean",
        "date": "to_date",
        "datetime": "to_datetime",
    }
    # Added between fields of the same type too: many APIs (HubSpot's among them) send numbers and yes/no
    # as text, and the conversion leaves a value that already is a number or a yes/no alone.
    if target.type in conversions:
        return [{"name": conversions[target.type]}]
    if target.type in _TEXT_TYPES and source.type in {"number", "boolean"}:
        return [{"name": "to_string"}]
    return []


def value_map_prefill(source: FieldSchema | None, target: FieldSchema | None) -> list[tuple[str, str]]:
    """One row per source picklist option, translated to the target option with the same value or label.

    Options that have no obvious counterpart get an empty "to", for the person to fill in.
    """
    if source is None or not source.options:
        return []
    by_key: dict[str, str] = {}
    for option in target.options if target is not None else ():
        by_key.setdefault(normalise(option.value), option.value)
        by_key.setdefault(normalise(option.label), option.value)
    if target is None or not target.options:
        return [(option.value, option.value) for option in source.options]
    return [
        (option.value, by_key.get(normalise(option.value)) or by_key.get(normalise(option.label)) or "")
        for option in source.options
    ]


def coerce_for(field_type: str | None, text: str) -> Any:
    """A value typed in a text box, as the target field's type expects it ("3" for a number is 3)."""
    stripped = text.strip()
    if field_type == "boolean" and stripped.lower() in {"true", "false", "yes", "no"}:
        return stripped.lower() in {"true", "yes"}
    if field_type == "number":
        try:
            number = float(stripped)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in stripped else number
    return text


def field_note(field: FieldSchema) -> str:
    """The short marker list a picker shows next to a field's label: type and flags."""
    parts: list[str] = [field.type]
    if field.custom:
        parts.append("custom")
    if field.required:
        parts.append("required")
    if field.read_only:
        parts.append("read-only")
    return " · ".join(parts)
