"""A two-way sync's definition: plain JSON in, a checked and compiled `CompiledSync` out.

The definition is what a person configures; every problem is reported at once, each naming its place::

    {"create": "both",                      # where NEW records are created: a_to_b, b_to_a, both, none
     "first_sync": "match_and_create",      # match_only, match_and_create, start_from_now
     "deletion": {"policy": "ignore"},      # ignore, propagate, archive (+ "archive": {"a": {...}, "b": {...}})
     "deleted_when": {"b": {"field": "active", "op": "equals", "value": false}},
     "filters": {"a": {"field": "email", "op": "is_not_empty"}},
     "match": [{"rule": "email", "a": "email", "b": "email"}],
     "fields": [
        {"key": "notes", "a": "notes_internal", "b": "notes", "direction": "both", "policy": "manual"},
        {"key": "name", "a": "firstname", "b": "name", "direction": "a_to_b",
         "a_to_b": {"source": ["firstname", "lastname"], "transforms": [{"name": "join"}]}},
     ]}

A field pair's A→B and B→A are each a one-row mapping (workflows.engine.mapping), so every named transform
is available in both directions. Conditions (filters, deleted_when) are workflows.engine.conditions trees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from workflows.engine.conditions import Condition, ConditionSpecError, compile_condition
from workflows.engine.mapping import CompiledMapping, MappingSpecError, compile_mapping
from workflows.engine.paths import PATH_PREFIX, path_root

Side = Literal["a", "b"]
SIDES: tuple[Side, Side] = ("a", "b")
Direction = Literal["a_to_b", "b_to_a", "both", "none"]
DIRECTIONS: tuple[Direction, ...] = ("a_to_b", "b_to_a", "both", "none")
Policy = Literal["a_wins", "b_wins", "last_write", "manual"]
POLICIES: tuple[Policy, ...] = ("a_wins", "b_wins", "last_write", "manual")
CreateMode = Literal["a_to_b", "b_to_a", "both", "none"]
FirstSync = Literal["match_only", "match_and_create", "start_from_now"]
FIRST_SYNC_MODES: tuple[FirstSync, ...] = ("match_only", "match_and_create", "start_from_now")
DeletionPolicy = Literal["ignore", "propagate", "archive"]
DELETION_POLICIES: tuple[DeletionPolicy, ...] = ("ignore", "propagate", "archive")
MatchKind = Literal["external_id", "email", "domain", "composite"]
MATCH_KINDS: tuple[MatchKind, ...] = ("external_id", "email", "domain", "composite")
# In match rules and references, this names the record's own id rather than one of its fields.
RECORD_ID = "$id"

_PAIR_KEYS = frozenset(
    {"key", "a", "b", "direction", "policy", "allow_empty", "a_to_b", "b_to_a", "reference", "label"}
)
_ROW_KEYS = frozenset({"source", "transforms"})
_TOP_KEYS = frozenset({"create", "first_sync", "deletion", "deleted_when", "filters", "match", "fields"})


class SyncSpecError(ValueError):
    """The definition can't be compiled; `messages` lists every problem."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def other(side: Side) -> Side:
    return "b" if side == "a" else "a"


@dataclass(frozen=True)
class Reference:
    """The pair's fields point at records of another sync's objects (a contact's company).

    `a_key`/`b_key` say how each side names the related record: by its id ("$id") or by one of its synced
    fields (HubSpot contacts carry the company's *name*). Values are translated through that sync's links.
    `required`: a counterpart is never created without it (a ticket without its requester); the new record
    waits, pending, until the related record is linked.
    """

    sync_id: int
    a_key: str
    b_key: str
    required: bool = False


@dataclass(frozen=True)
class FieldPair:
    key: str
    label: str
    a_field: str
    b_field: str
    direction: Direction
    policy: Policy
    allow_empty: bool
    a_to_b: CompiledMapping | None
    b_to_a: CompiledMapping | None
    # Every field the pair reads on each side: a change to any of them is a change of the pair.
    a_reads: tuple[str, ...]
    b_reads: tuple[str, ...]
    reference: Reference | None = None

    def field(self, side: Side) -> str:
        return self.a_field if side == "a" else self.b_field

    def reads(self, side: Side) -> tuple[str, ...]:
        return self.a_reads if side == "a" else self.b_reads

    def flows(self, source: Side) -> bool:
        """Whether updates travel from `source` to the other side."""
        wanted: Direction = "a_to_b" if source == "a" else "b_to_a"
        return self.direction in (wanted, "both")

    def mapping_from(self, source: Side) -> CompiledMapping | None:
        return self.a_to_b if source == "a" else self.b_to_a


@dataclass(frozen=True)
class MatchRule:
    kind: MatchKind
    a_fields: tuple[str, ...]
    b_fields: tuple[str, ...]

    def fields(self, side: Side) -> tuple[str, ...]:
        return self.a_fields if side == "a" else self.b_fields


@dataclass(frozen=True)
class ArchiveAction:
    field: str
    value: Any


@dataclass(frozen=True)
class CompiledSync:
    pairs: tuple[FieldPair, ...]
    match: tuple[MatchRule, ...]
    create: CreateMode
    first_sync: FirstSync
    deletion: DeletionPolicy
    archive: Mapping[Side, ArchiveAction] = field(default_factory=dict)
    filters: Mapping[Side, Condition] = field(default_factory=dict)
    deleted_when: Mapping[Side, Condition] = field(default_factory=dict)

    def pair(self, key: str) -> FieldPair | None:
        return next((pair for pair in self.pairs if pair.key == key), None)

    def creates_on(self, target: Side) -> bool:
        """Whether a record new on the other side is created on `target`."""
        wanted = "b_to_a" if target == "a" else "a_to_b"
        return self.create in (wanted, "both")

    def stored_fields(self, side: Side) -> frozenset[str]:
        """The fields of `side`'s records the sync must remember between runs (and nothing more)."""
        names: set[str] = set()
        for pair in self.pairs:
            names.update(pair.reads(side))
        for rule in self.match:
            names.update(name for name in rule.fields(side) if name != RECORD_ID)
        for conditions in (self.filters, self.deleted_when):
            condition = conditions.get(side)
            if condition is not None:
                for name in condition.fields:
                    root = path_root(name) if name.startswith(PATH_PREFIX) else name
                    if root:
                        names.add(root)
        return frozenset(names)

    def related_sync_ids(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(pair.reference.sync_id for pair in self.pairs if pair.reference))


def compile_sync(definition: Any) -> CompiledSync:
    """Check a definition and compile it; raise SyncSpecError listing every problem."""
    problems: list[str] = []
    if not isinstance(definition, Mapping):
        raise SyncSpecError(["The sync definition must be a set of settings"])
    problems.extend(f"unknown setting '{key}'" for key in definition if key not in _TOP_KEYS)
    create = _choice(
        definition.get("create", "both"), ("a_to_b", "b_to_a", "both", "none"), "create", problems
    )
    first_sync = _choice(
        definition.get("first_sync", "match_and_create"), FIRST_SYNC_MODES, "first_sync", problems
    )
    deletion, archive = _deletion(definition.get("deletion", {"policy": "ignore"}), problems)
    filters = _conditions(definition.get("filters"), "filters", problems)
    deleted_when = _conditions(definition.get("deleted_when"), "deleted_when", problems)
    match = _match_rules(definition.get("match", []), problems)
    pairs = _pairs(definition.get("fields"), problems)
    if deletion == "archive":
        for side in SIDES:
            if side not in archive:
                problems.append(f"deletion: 'archive' needs the field to set on side {side.upper()}")
    if problems:
        raise SyncSpecError(problems)
    return CompiledSync(
        pairs=tuple(pairs),
        match=tuple(match),
        create=cast(CreateMode, create),
        first_sync=cast(FirstSync, first_sync),
        deletion=cast(DeletionPolicy, deletion),
        archive=archive,
        filters=filters,
        deleted_when=deleted_when,
    )


def _choice(value: Any, allowed: tuple[str, ...], place: str, problems: list[str]) -> str:
    if value not in allowed:
        problems.append(f"{place}: choose one of {', '.join(allowed)} (got {value!r})")
        return allowed[0]
    return str(value)


def _deletion(raw: Any, problems: list[str]) -> tuple[str, dict[Side, ArchiveAction]]:
    if not isinstance(raw, Mapping):
        problems.append("deletion: must be a set of settings with a 'policy'")
        return "ignore", {}
    policy = _choice(raw.get("policy", "ignore"), DELETION_POLICIES, "deletion.policy", problems)
    archive: dict[Side, ArchiveAction] = {}
    for side, action in (raw.get("archive") or {}).items():
        if side not in SIDES or not isinstance(action, Mapping) or not isinstance(action.get("field"), str):
            problems.append(f"deletion.archive.{side}: needs a 'field' and a 'value'")
            continue
        archive[cast(Side, side)] = ArchiveAction(action["field"].strip(), action.get("value"))
    return policy, archive


def _conditions(raw: Any, place: str, problems: list[str]) -> dict[Side, Condition]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"{place}: must map a side ('a' or 'b') to a condition")
        return {}
    compiled: dict[Side, Condition] = {}
    for side, tree in raw.items():
        if side not in SIDES:
            problems.append(f"{place}: unknown side {side!r}")
            continue
        if tree is None:
            continue
        try:
            compiled[cast(Side, side)] = compile_condition(tree)
        except ConditionSpecError as exc:
            problems.extend(f"{place}.{side}: {message}" for message in exc.messages)
    return compiled


def _field_list(raw: Any) -> tuple[str, ...] | None:
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        return None
    if not all(isinstance(name, str) and name.strip() for name in names):
        return None
    return tuple(name.strip() for name in names)


def _match_rules(raw: Any, problems: list[str]) -> list[MatchRule]:
    if not isinstance(raw, list):
        problems.append("match: must be a list of rules")
        return []
    rules = []
    for index, item in enumerate(raw, start=1):
        place = f"match rule {index}"
        if not isinstance(item, Mapping):
            problems.append(f"{place}: must be a set of settings")
            continue
        kind = _choice(item.get("rule"), MATCH_KINDS, f"{place}.rule", problems)
        a_fields, b_fields = _field_list(item.get("a")), _field_list(item.get("b"))
        if a_fields is None or b_fields is None:
            problems.append(f"{place}: name the field(s) to compare on each side ('a' and 'b')")
            continue
        if kind != "composite" and (len(a_fields) != 1 or len(b_fields) != 1):
            problems.append(f"{place}: a {kind} rule compares one field on each side")
            continue
        if kind == "composite" and len(a_fields) != len(b_fields):
            problems.append(f"{place}: a composite key needs as many fields on side A as on side B")
            continue
        rules.append(MatchRule(cast(MatchKind, kind), a_fields, b_fields))
    return rules


def _pairs(raw: Any, problems: list[str]) -> list[FieldPair]:
    if not isinstance(raw, list) or not raw:
        problems.append("fields: add at least one field pair")
        return []
    pairs: list[FieldPair] = []
    seen_keys: set[str] = set()
    written: dict[tuple[str, str], str] = {}
    for index, item in enumerate(raw, start=1):
        pair = _pair(index, item, problems)
        if pair is None:
            continue
        if pair.key in seen_keys:
            problems.append(f"field pair {index}: the key '{pair.key}' is used twice")
        seen_keys.add(pair.key)
        # Two pairs writing one field would fight over it on every run.
        for side in ("a", "b"):
            writes = (side == "a" and pair.flows("b")) or (side == "b" and pair.flows("a"))
            target = (side, pair.field(cast(Side, side)))
            if writes and target in written:
                problems.append(
                    f"field pair {index}: {side.upper()} field '{target[1]}' is already written by "
                    f"pair '{written[target]}'"
                )
            elif writes:
                written[target] = pair.key
        pairs.append(pair)
    return pairs


def _pair(index: int, item: Any, problems: list[str]) -> FieldPair | None:
    place = f"field pair {index}"
    if not isinstance(item, Mapping):
        problems.append(f"{place}: must be a set of settings")
        return None
    before = len(problems)
    problems.extend(f"{place}: unknown setting '{key}'" for key in item if key not in _PAIR_KEYS)
    a_field, b_field = item.get("a"), item.get("b")
    if (
        not isinstance(a_field, str)
        or not a_field.strip()
        or not isinstance(b_field, str)
        or not b_field.strip()
    ):
        problems.append(f"{place}: choose the field on side A ('a') and on side B ('b')")
        return None
    a_field, b_field = a_field.strip(), b_field.strip()
    key = item.get("key") or f"{a_field}~{b_field}"
    if not isinstance(key, str) or not key.strip():
        problems.append(f"{place}: 'key' must be text")
        return None
    place = f"field pair {index} ({key})"
    direction = _choice(item.get("direction", "both"), DIRECTIONS, f"{place}.direction", problems)
    policy = _choice(item.get("policy", "a_wins"), POLICIES, f"{place}.policy", problems)
    allow_empty = item.get("allow_empty", False)
    if not isinstance(allow_empty, bool):
        problems.append(f"{place}: 'allow_empty' must be true or false")
    reference = _reference(item.get("reference"), place, problems)
    a_to_b = _row(item.get("a_to_b"), a_field, b_field, f"{place} A→B", problems, bool(reference))
    b_to_a = _row(item.get("b_to_a"), b_field, a_field, f"{place} B→A", problems, bool(reference))
    if len(problems) > before or a_to_b is None or b_to_a is None:
        return None
    a_reads = tuple(dict.fromkeys((a_field, *sorted(a_to_b.source_fields))))
    b_reads = tuple(dict.fromkeys((b_field, *sorted(b_to_a.source_fields))))
    label = item.get("label") if isinstance(item.get("label"), str) else f"{a_field} ↔ {b_field}"
    return FieldPair(
        key=key.strip(),
        label=str(label),
        a_field=a_field,
        b_field=b_field,
        direction=cast(Direction, direction),
        policy=cast(Policy, policy),
        allow_empty=bool(allow_empty),
        a_to_b=a_to_b,
        b_to_a=b_to_a,
        a_reads=a_reads,
        b_reads=b_reads,
        reference=reference,
    )


def _row(
    raw: Any, source: str, target: str, place: str, problems: list[str], is_reference: bool
) -> CompiledMapping | None:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.append(f"{place}: must be a set of settings (source, transforms)")
        return None
    problems.extend(f"{place}: unknown setting '{key}'" for key in raw if key not in _ROW_KEYS)
    if is_reference and (raw.get("transforms") or raw.get("source")):
        problems.append(f"{place}: a reference pair is translated through links and takes no transforms")
        return None
    # "clear" so an emptied value reaches the conflict policy, which owns the allow-empty-to-erase rule.
    row = {
        "target": target,
        "source": raw.get("source", source),
        "transforms": raw.get("transforms", []),
        "empty": "clear",
    }
    try:
        return compile_mapping({"fields": [row]})
    except MappingSpecError as exc:
        problems.extend(f"{place}: {message}" for message in exc.messages)
        return None


def _reference(raw: Any, place: str, problems: list[str]) -> Reference | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.append(f"{place}.reference: must name a sync and how each side refers to its records")
        return None
    sync_id = raw.get("sync")
    a_key, b_key = raw.get("a_key", RECORD_ID), raw.get("b_key", RECORD_ID)
    if isinstance(sync_id, str) and sync_id.isdigit():
        sync_id = int(sync_id)
    if isinstance(sync_id, bool) or not isinstance(sync_id, int):
        problems.append(
            f"{place}.reference: 'sync' must be the id of the sync that links the related records"
        )
        return None
    if not isinstance(a_key, str) or not a_key.strip() or not isinstance(b_key, str) or not b_key.strip():
        problems.append(f"{place}.reference: 'a_key' and 'b_key' must name a field or '$id'")
        return None
    required = raw.get("required", False)
    if not isinstance(required, bool):
        problems.append(f"{place}.reference: 'required' must be true or false")
        return None
    return Reference(sync_id, a_key.strip(), b_key.strip(), required)
