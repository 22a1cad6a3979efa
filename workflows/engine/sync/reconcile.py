"""Deciding what moves between two linked records, field pair by field pair.

A link remembers, per side, the values last synced (`a_values`, `b_values`) and the values we wrote and
have not read back yet (`a_expect`, `b_expect`, with the modification time of the record when we wrote, so
the first newer read is known to be the read-back). Given the records as last read on each side:

1. **Change detection.** A side changed a pair when one of the fields the pair reads differs (strictly)
   from the last synced value. A value that matches what we wrote, in the system's own normal form
   (`is_read_back`) in the first read after the write, is our echo: it becomes the synced value and is not
   a change. This is what stops loops: our write, read back, causes no write. Later reads compare strictly
   again, so a person's edit that only differs in case is still an edit.
2. **Decision.** Only one side changed: its value moves if the pair's direction lets it. Both changed and
   now agree: nothing to do. Both changed and disagree: the pair's policy decides — A or B always wins,
   last write wins (by each side's modification time; ties go to A), or manual review holds this pair in
   an open conflict while the others keep syncing.
3. **Empty values** on the deciding side do not erase data on the other side unless the pair allows it.

The functions are pure: the caller stores the returned state, performs `writes` and opens/updates/closes
the conflicts listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from workflows.engine.sync.compare import is_empty, is_read_back, loosely_equal, same_value
from workflows.engine.sync.ports import ReferencePort
from workflows.engine.sync.spec import SIDES, CompiledSync, FieldPair, Side, other

__all__ = [
    "ConflictChange",
    "CreatePlan",
    "DeletePlan",
    "LinkPlan",
    "LinkState",
    "Note",
    "OpenConflict",
    "RecordView",
    "plan_create",
    "plan_delete",
    "reconcile",
    "translate",
]


@dataclass(frozen=True)
class RecordView:
    """One record as last read: its fields and when they changed (per field where known)."""

    id: str
    fields: Mapping[str, Any]
    updated_at: datetime | None = None
    field_times: Mapping[str, datetime] = field(default_factory=dict)
    deleted: bool = False
    # False when the side's filter leaves this record out: its changes don't travel.
    in_scope: bool = True

    def changed_at(self, names: tuple[str, ...]) -> datetime | None:
        times = [self.field_times[name] for name in names if name in self.field_times]
        return max(times) if times else self.updated_at


@dataclass(frozen=True)
class OpenConflict:
    a_value: Any
    b_value: Any


@dataclass(frozen=True)
class LinkState:
    a_id: str
    b_id: str
    a_values: Mapping[str, Any] = field(default_factory=dict)
    b_values: Mapping[str, Any] = field(default_factory=dict)
    a_expect: Mapping[str, Any] = field(default_factory=dict)
    b_expect: Mapping[str, Any] = field(default_factory=dict)
    conflicts: Mapping[str, OpenConflict] = field(default_factory=dict)
    # When each side's record was last read before we wrote to it: a newer read is the read-back.
    a_expect_since: datetime | None = None
    b_expect_since: datetime | None = None

    def expect_since(self, side: Side) -> datetime | None:
        return self.a_expect_since if side == "a" else self.b_expect_since

    def values(self, side: Side) -> Mapping[str, Any]:
        return self.a_values if side == "a" else self.b_values

    def expect(self, side: Side) -> Mapping[str, Any]:
        return self.a_expect if side == "a" else self.b_expect


@dataclass(frozen=True)
class ConflictChange:
    pair_key: str
    action: Literal["open", "update", "close"]
    a_value: Any = None
    b_value: Any = None
    a_changed_at: datetime | None = None
    b_changed_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class Note:
    """Something the run log must show: a value not erased, a transform error, a missing reference."""

    pair_key: str
    kind: Literal["not_erased", "error", "reference"]
    message: str
    # For "reference": the side whose value could not be carried over yet.
    source: Side | None = None


@dataclass
class LinkPlan:
    writes: dict[Side, dict[str, Any]]
    values: dict[Side, dict[str, Any]]
    expect: dict[Side, dict[str, Any]]
    expect_since: dict[Side, datetime | None]
    times: dict[Side, dict[str, datetime]]
    conflicts: list[ConflictChange]
    notes: list[Note]
    # {side: {field: (old, new)}} of what is written, for the run log.
    changes: dict[Side, dict[str, tuple[Any, Any]]]
    # pair key -> how it was decided ("a: only A changed", "b: last write", ...), for pairs that moved.
    decisions: dict[str, str]

    @property
    def writes_anything(self) -> bool:
        return any(self.writes[side] for side in SIDES)


@dataclass(frozen=True)
class _Translated:
    ok: bool
    value: Any = None
    note: Note | None = None


def translate(
    pair: FieldPair, source: Side, fields: Mapping[str, Any], refs: ReferencePort | None
) -> _Translated:
    """The value `pair` writes on the other side, from `source`'s record fields."""
    if pair.reference is not None:
        raw = fields.get(pair.field(source))
        if is_empty(raw):
            return _Translated(True, None)
        if refs is None:
            return _Translated(
                False, note=Note(pair.key, "reference", "related records can't be looked up here")
            )
        translation = refs.translate(pair.reference, source, raw)
        if not translation.found:
            message = f"{raw!r} has no linked record on the other side yet"
            return _Translated(False, note=Note(pair.key, "reference", message, source))
        return _Translated(True, translation.value)
    mapping = pair.mapping_from(source)
    if mapping is None:
        return _Translated(False, note=Note(pair.key, "error", "no mapping in this direction"))
    target_field = pair.field(other(source))
    mapped = mapping.apply(fields)
    if mapped.errors:
        message = "; ".join(message for _, message in mapped.errors)
        return _Translated(False, note=Note(pair.key, "error", message))
    if mapped.dropped and target_field not in mapped.values:
        message = "; ".join(message for _, message in mapped.dropped)
        return _Translated(False, note=Note(pair.key, "error", message))
    return _Translated(True, mapped.values.get(target_field))


class _Work:
    """The link's state being rewritten while its pairs are decided."""

    def __init__(self, link: LinkState, views: Mapping[Side, RecordView | None]) -> None:
        self.link = link
        self.views = views
        self.values: dict[Side, dict[str, Any]] = {side: dict(link.values(side)) for side in SIDES}
        self.expect: dict[Side, dict[str, Any]] = {side: dict(link.expect(side)) for side in SIDES}
        self.since: dict[Side, datetime | None] = {side: link.expect_since(side) for side in SIDES}
        self.times: dict[Side, dict[str, datetime]] = {"a": {}, "b": {}}
        self.writes: dict[Side, dict[str, Any]] = {"a": {}, "b": {}}
        self.changes: dict[Side, dict[str, tuple[Any, Any]]] = {"a": {}, "b": {}}
        self.conflicts: list[ConflictChange] = []
        self.notes: list[Note] = []
        self.decisions: dict[str, str] = {}
        # Detected once, before any pair accepts values, so pairs that share a field all see its change.
        self.changed: dict[Side, set[str]] = {side: self._detect(side) for side in SIDES}

    def _detect(self, side: Side) -> set[str]:
        view = self.views[side]
        if view is None:
            return set()
        values, expect = self.values[side], self.expect[side]
        since = self.link.expect_since(side)
        # Read again since we wrote: this read shows our write (or what a person did after it), so it
        # settles every value we were waiting for. Until then the record shows what we wrote.
        fresh = bool(expect) and view.updated_at is not None and (since is None or view.updated_at > since)
        changed: set[str] = set()
        for name, now in view.fields.items():
            known = name in values
            # Emptied where nothing was (None → "", [] → None) is not an edit anyone could see.
            if known and (same_value(values[name], now) or (is_empty(values[name]) and is_empty(now))):
                continue
            if fresh and name in expect and is_read_back(expect[name], now):
                # Our own write, read back in the system's normal form: remember that form.
                values[name] = now
                continue
            if not known and is_empty(now):
                values[name] = now
                continue
            changed.add(name)
        if fresh:
            expect.clear()
        return changed

    def pair_changed(self, side: Side, pair: FieldPair) -> bool:
        return any(name in self.changed[side] for name in pair.reads(side))

    def current(self, side: Side, name: str) -> Any:
        view = self.views[side]
        return None if view is None else view.fields.get(name)

    def accept(self, side: Side, pair: FieldPair, *, skip: str | None = None) -> None:
        """What `side` holds now for `pair` becomes the synced value (it was decided on)."""
        view = self.views[side]
        if view is None:
            return
        for name in pair.reads(side):
            if name == skip or name not in view.fields:
                continue
            self.values[side][name] = view.fields[name]
            self.expect[side].pop(name, None)
            when = view.field_times.get(name) or view.updated_at
            if when is not None and name in self.changed[side]:
                self.times[side][name] = when

    def write(self, side: Side, name: str, value: Any) -> None:
        self.changes[side][name] = (self.current(side, name), value)
        self.writes[side][name] = value
        self.values[side][name] = value
        self.expect[side][name] = value
        view = self.views[side]
        # The read-back is any read of the record newer than the one this decision was made on.
        self.since[side] = view.updated_at if view is not None else None

    def plan(self) -> LinkPlan:
        return LinkPlan(
            writes=self.writes,
            values=self.values,
            expect=self.expect,
            expect_since=self.since,
            times=self.times,
            conflicts=self.conflicts,
            notes=self.notes,
            changes=self.changes,
            decisions=self.decisions,
        )


def reconcile(
    spec: CompiledSync,
    link: LinkState,
    a: RecordView | None,
    b: RecordView | None,
    refs: ReferencePort | None = None,
) -> LinkPlan:
    """Decide, pair by pair, what to write on each side of a linked pair of records."""
    work = _Work(link, {"a": a, "b": b})
    for pair in spec.pairs:
        if pair.direction != "none":
            _reconcile_pair(work, pair, refs)
    return work.plan()


def _agree(work: _Work, pair: FieldPair, refs: ReferencePort | None) -> bool:
    """Both sides hold the same value for the pair, as the A→B translation sees it."""
    a, b = work.views["a"], work.views["b"]
    if a is None or b is None:
        return False
    translated = translate(pair, "a", a.fields, refs)
    if translated.ok and loosely_equal(translated.value, b.fields.get(pair.b_field)):
        return True
    back = translate(pair, "b", b.fields, refs)
    return back.ok and loosely_equal(back.value, a.fields.get(pair.a_field))


def _reconcile_pair(work: _Work, pair: FieldPair, refs: ReferencePort | None) -> None:
    a_changed = work.pair_changed("a", pair)
    b_changed = work.pair_changed("b", pair)
    held = work.link.conflicts.get(pair.key)
    if held is not None:
        _keep_or_close(work, pair, held, refs)
        return
    if not a_changed and not b_changed:
        return
    if a_changed and b_changed:
        if _agree(work, pair, refs):
            work.accept("a", pair)
            work.accept("b", pair)
            return
        winner, why = _decide(work, pair)
    else:
        source: Side = "a" if a_changed else "b"
        view = work.views[source]
        winner = source if pair.flows(source) and view is not None and view.in_scope else None
        why = f"only {source.upper()} changed"
    if winner is None:
        # A change that this pair doesn't carry (direction, filter): it is simply the new baseline.
        work.accept("a", pair)
        work.accept("b", pair)
        return
    if winner == "manual":
        _open_conflict(work, pair)
        return
    _flow(work, pair, winner, why, refs)


def _decide(work: _Work, pair: FieldPair) -> tuple[Side | Literal["manual"] | None, str]:
    a, b = work.views["a"], work.views["b"]
    a_flows = pair.flows("a") and a is not None and a.in_scope
    b_flows = pair.flows("b") and b is not None and b.in_scope
    if a_flows and not b_flows:
        return "a", "both changed; only A's value travels"
    if b_flows and not a_flows:
        return "b", "both changed; only B's value travels"
    if not a_flows and not b_flows:
        return None, ""
    if pair.policy == "a_wins":
        return "a", "both changed; A is the source of truth"
    if pair.policy == "b_wins":
        return "b", "both changed; B is the source of truth"
    if pair.policy == "manual":
        return "manual", ""
    a_time = a.changed_at(pair.a_reads) if a else None
    b_time = b.changed_at(pair.b_reads) if b else None
    # Ties (and a side that reports no time) go to A: a fixed rule, so both runs of a replay agree.
    if b_time is not None and (a_time is None or b_time > a_time):
        return "b", "both changed; B's change is later"
    return "a", "both changed; A's change is later or at the same time"


def _flow(work: _Work, pair: FieldPair, source: Side, why: str, refs: ReferencePort | None) -> None:
    target = other(source)
    view = work.views[source]
    if view is None:
        return
    translated = translate(pair, source, view.fields, refs)
    if not translated.ok:
        # Leave the synced values alone: the pair still counts as changed, so it is tried again.
        if translated.note is not None:
            work.notes.append(translated.note)
        return
    target_field = pair.field(target)
    current = work.current(target, target_field)
    work.accept(source, pair)
    work.accept(target, pair, skip=target_field)
    value = translated.value
    if is_empty(value) and is_empty(current):
        work.values[target][target_field] = current
        return
    if is_empty(value) and not pair.allow_empty:
        work.values[target][target_field] = current
        work.expect[target].pop(target_field, None)
        work.notes.append(
            Note(pair.key, "not_erased", f"{source.upper()} is empty; {target.upper()} keeps {current!r}")
        )
        return
    if work.views[target] is not None and same_value(value, current):
        work.values[target][target_field] = current
        return
    work.write(target, target_field, value)
    work.decisions[pair.key] = f"{source}: {why}"


def _open_conflict(work: _Work, pair: FieldPair) -> None:
    a, b = work.views["a"], work.views["b"]
    work.conflicts.append(
        ConflictChange(
            pair.key,
            "open",
            work.current("a", pair.a_field),
            work.current("b", pair.b_field),
            a.changed_at(pair.a_reads) if a else None,
            b.changed_at(pair.b_reads) if b else None,
            "both sides changed this field; it waits for a person",
        )
    )


def _keep_or_close(work: _Work, pair: FieldPair, held: OpenConflict, refs: ReferencePort | None) -> None:
    """A conflict stays open until a person decides, unless the two sides come to agree on their own."""
    if _agree(work, pair, refs):
        work.accept("a", pair)
        work.accept("b", pair)
        work.conflicts.append(ConflictChange(pair.key, "close", reason="both sides now hold the same value"))
        return
    a_now, b_now = work.current("a", pair.a_field), work.current("b", pair.b_field)
    if not same_value(a_now, held.a_value) or not same_value(b_now, held.b_value):
        a, b = work.views["a"], work.views["b"]
        work.conflicts.append(
            ConflictChange(
                pair.key,
                "update",
                a_now,
                b_now,
                a.changed_at(pair.a_reads) if a else None,
                b.changed_at(pair.b_reads) if b else None,
                "a side changed the field again while it waited",
            )
        )


# ---------------------------------------------------------------------------------------------
# Records without a counterpart, and deletions
# ---------------------------------------------------------------------------------------------


@dataclass
class CreatePlan:
    """The fields of the counterpart to create, and the state the new link starts from."""

    fields: dict[str, Any]
    source_values: dict[str, Any]
    notes: list[Note]


def plan_create(
    spec: CompiledSync, source: Side, view: RecordView, refs: ReferencePort | None = None
) -> CreatePlan:
    """Build the counterpart of a record new on `source` from every pair that carries that direction."""
    fields: dict[str, Any] = {}
    source_values: dict[str, Any] = {}
    notes: list[Note] = []
    for pair in spec.pairs:
        for name in pair.reads(source):
            if name in view.fields:
                source_values[name] = view.fields[name]
        if not pair.flows(source):
            continue
        translated = translate(pair, source, view.fields, refs)
        if not translated.ok:
            if translated.note is not None:
                notes.append(translated.note)
            # Not remembered as synced, so the first update of the new link carries it once it can.
            for name in pair.reads(source):
                source_values.pop(name, None)
            continue
        if not is_empty(translated.value):
            fields[pair.field(other(source))] = translated.value
    return CreatePlan(fields, source_values, notes)


@dataclass(frozen=True)
class DeletePlan:
    action: Literal["none", "delete", "archive"]
    # The side whose record the action applies to (the counterpart of the deleted record).
    target: Side | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""


def plan_delete(spec: CompiledSync, deleted: Side, counterpart_deleted: bool) -> DeletePlan:
    """What the sync does to the counterpart of a record deleted on `deleted`; the link ends either way."""
    target = other(deleted)
    if counterpart_deleted:
        return DeletePlan("none", message="deleted on both sides")
    if spec.deletion == "propagate":
        return DeletePlan(
            "delete", target, message=f"deleted on {deleted.upper()}; deleting on {target.upper()}"
        )
    if spec.deletion == "archive":
        action = spec.archive[target]
        return DeletePlan(
            "archive",
            target,
            {action.field: action.value},
            f"deleted on {deleted.upper()}; archived on {target.upper()} ({action.field} = {action.value!r})",
        )
    return DeletePlan("none", message=f"deleted on {deleted.upper()}; {target.upper()} keeps its record")
