"""The builder's step list editor: multi-step workflows edited as a list of steps, not as JSON.

A step is a small form (what kind of step, its id, its settings) whose fields are posted as
`s-<key>-<setting>`; the keys come in document order in `step`, and a step inside a branch names its
branch (`s-<key>-parent`) and arm (`s-<key>-arm`, "then" or "else"), so one flat post rebuilds the tree.
An action's mapping is a list of lines (`s-<key>-line`): a target field filled from a source field, or
from a text with `{placeholders}`; the transforms a line had beyond that are carried through unchanged.

A step the editor does not draw (an HTTP call, an outgoing webhook, a condition with nested groups) is
kept exactly as it was, as JSON in its own box. Steps read from JSON and written back unchanged compare
equal, so opening and saving a workflow never changes its steps.

Every problem `compile_definition` finds names its step ("step 2.then.1 (create_company): ..."), so each
message is put next to the step, and next to the setting it is about when the message says which.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from workflows.engine.conditions import OPERATORS
from workflows.engine.definition import OUTPUTS, DefinitionError, compile_definition
from workflows.engine.placeholders import template_fields
from workflows.engine.ports import OPERATIONS
from workflows.engine.transforms import TRANSFORMS

# The kinds the editor draws, in the order the "Add a step" menu offers them.
EDITABLE_KINDS: dict[str, str] = {
    "lookup": "Find a record",
    "action": "Create or update a record",
    "branch": "If / else",
    "filter": "Continue only if",
    "delay": "Wait",
    "notify": "Send a chat message",
}
KIND_LABELS: dict[str, str] = {**EDITABLE_KINDS, "http": "HTTP request", "webhook": "Outgoing webhook"}
# Steps whose outputs later steps read: they need an id.
NEEDS_ID = frozenset({"lookup", "action", "notify", "http", "webhook"})
WRITE_OPERATIONS = ("create", "update", "upsert")
NOT_FOUND = (
    ("continue", "continue (later steps see found = false)"),
    ("skip", "skip the record"),
    ("fail", "fail the record"),
)
UNITS = (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1))
_UNIT_SECONDS = dict(UNITS)
# Which setting a compile message is about, by the words it uses (first match wins).
_SETTING_WORDS = (
    ("'if_not_found'", "if_not_found"),
    ("'by'", "by_field"),
    ("field to search by", "by_field"),
    ("value_from", "value_from"),
    ("'record_id'", "record_id"),
    ("match field", "match_field"),
    ("'match_field'", "match_field"),
    ("'operation'", "operation"),
    ("mapping", "lines"),
    ("choose a connection", "connection"),
    ("choose an object", "object"),
    ("'channel'", "channel"),
    ("'format'", "format"),
    ("message", "format"),
    ("'seconds'", "amount"),
    ("condition", "conditions"),
    ("'if'", "conditions"),
    ("the id", "id"),
    ("an id", "id"),
)


def new_key() -> str:
    """A short random key: unique on the page, valid in an id and a field name."""
    return secrets.token_hex(3)


@dataclass
class ConditionDraft:
    key: str
    field: str = ""
    op: str = "equals"
    value: str = ""

    @property
    def blank(self) -> bool:
        return not self.field and not self.value


@dataclass
class LineDraft:
    """One line of an action's mapping: `target` from `source` (a field, "a, b", or a {template})."""

    key: str
    target: str = ""
    source: str = ""
    # {"transforms": [...], "empty": ...}: what the line had beyond its source, carried through.
    extra: str = ""

    @property
    def blank(self) -> bool:
        return not self.target and not self.source and not self.extra

    @property
    def extra_labels(self) -> list[str]:
        try:
            data = json.loads(self.extra) if self.extra else {}
        except json.JSONDecodeError:
            return []
        labels = [
            TRANSFORMS[t["name"]].label if t.get("name") in TRANSFORMS else str(t.get("name"))
            for t in data.get("transforms") or []
            if isinstance(t, dict)
        ]
        if data.get("empty") == "clear":
            labels.append("clears the field when empty")
        return labels


@dataclass
class StepDraft:
    key: str
    type: str
    parent: str = ""
    arm: str = ""
    id: str = ""
    connection: str = ""
    object: str = ""
    operation: str = "upsert"
    match_field: str = ""
    record_id: str = ""
    by_field: str = ""
    value_from: str = ""
    if_not_found: str = "continue"
    channel: str = ""
    format: str = ""
    amount: str = ""
    unit: str = "minutes"
    conjunction: str = "all"
    conditions: list[ConditionDraft] = field(default_factory=list)
    lines: list[LineDraft] = field(default_factory=list)
    # A step the editor doesn't draw, as JSON text; and a filter's or branch's condition it can't draw.
    raw: str = ""
    condition_raw: str = ""
    # Settings the saved step spelled out even at their default: written back, so a save changes nothing.
    explicit: set[str] = field(default_factory=set)
    # The saved values of conditions, by condition key: a value shown as "false" is written back as false.
    typed_values: dict[str, tuple[str, Any]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def editable(self) -> bool:
        return self.type in EDITABLE_KINDS and not self.raw

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.type, self.type)

    def add_error(self, setting: str, message: str) -> None:
        self.errors.setdefault(setting, []).append(message)


# ---------------------------------------------------------------------------------------------
# In: JSON (a saved workflow, a template, the advanced box)
# ---------------------------------------------------------------------------------------------


def drafts_from_json(steps: list[Any]) -> list[StepDraft]:
    """The steps as editor rows, in document order (a branch's arms right after the branch)."""
    drafts: list[StepDraft] = []
    _read_list(steps, "", "", drafts)
    return drafts


def _read_list(steps: list[Any], parent: str, arm: str, drafts: list[StepDraft]) -> None:
    for raw in steps:
        draft = _read_step(raw, parent, arm)
        drafts.append(draft)
        if draft.type == "branch" and isinstance(raw, dict):
            for name in ("then", "else"):
                if isinstance(raw.get(name), list):
                    _read_list(raw[name], draft.key, name, drafts)


def _read_step(raw: Any, parent: str, arm: str) -> StepDraft:
    kind = raw.get("type") if isinstance(raw, dict) else None
    draft = StepDraft(key=new_key(), type=kind if isinstance(kind, str) else "", parent=parent, arm=arm)
    draft.explicit = set(raw) if isinstance(raw, dict) else set()
    if not isinstance(raw, dict) or kind not in EDITABLE_KINDS or not _drawable(raw):
        # A branch's arms (when they are lists) are read as steps of their own, even here.
        shown = (
            {k: v for k, v in raw.items() if not (k in ("then", "else") and isinstance(v, list))}
            if kind == "branch"
            else raw
        )
        draft.raw = json.dumps(shown, indent=2, ensure_ascii=False)
        return draft
    draft.id = _text(raw.get("id"))
    draft.connection = _text(raw.get("connection"))
    draft.object = _text(raw.get("object"))
    if kind == "lookup":
        by = raw.get("by") or {}
        draft.by_field, draft.value_from = _text(by.get("field")), _text(by.get("value_from"))
        draft.if_not_found = _text(raw.get("if_not_found")) or "continue"
    elif kind == "action":
        draft.operation = _text(raw.get("operation"))
        draft.match_field = _text(raw.get("match_field"))
        draft.record_id = _text(raw.get("record_id"))
        draft.lines = [_read_line(row) for row in (raw.get("mapping") or {}).get("fields") or []]
    elif kind == "notify":
        draft.channel, draft.format = _text(raw.get("channel")), _text(raw.get("format"))
    elif kind == "delay":
        seconds = raw.get("seconds")
        draft.amount, draft.unit = _delay_parts(seconds)
    else:
        name = "condition" if kind == "filter" else "if"
        tree = raw.get(name)
        read = _read_conditions(tree) if name in raw else ("all", [], {})
        if read is None:
            draft.condition_raw = json.dumps(tree, indent=2, ensure_ascii=False)
        else:
            draft.conjunction, draft.conditions, draft.typed_values = read
    return draft


# Per kind: the settings a drawn step must have, and those it may have. A step with any other
# setting, or a setting of another shape, is kept as JSON: the editor never changes what it can't show.
_SHAPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "lookup": (frozenset({"type", "id", "connection", "object", "by"}), frozenset({"if_not_found"})),
    "action": (
        frozenset({"type", "id", "connection", "object", "operation"}),
        frozenset({"match_field", "record_id", "mapping"}),
    ),
    "notify": (frozenset({"type", "id", "connection", "format"}), frozenset({"channel"})),
    "delay": (frozenset({"type", "seconds"}), frozenset({"id"})),
    "filter": (frozenset({"type", "condition"}), frozenset({"id"})),
    "branch": (frozenset({"type", "if"}), frozenset({"id", "then", "else"})),
}
_LINE_KEYS = frozenset({"target", "source", "transforms", "empty"})


def _plain(value: Any, *, filled: bool = True) -> bool:
    """Text a form field gives back unchanged (fields are trimmed when posted)."""
    return isinstance(value, str) and value == value.strip() and (bool(value) or not filled)


def _drawable(raw: dict[str, Any]) -> bool:
    """Whether the editor can show every setting of the step (else it is kept as JSON)."""
    kind = raw["type"]
    # A setting left out is drawn empty (the step can't be saved until it is filled in); an unknown
    # one is not drawable.
    if not set(raw) <= _SHAPES[kind][0] | _SHAPES[kind][1]:
        return False
    if "id" in raw and not _plain(raw["id"], filled=kind not in NEEDS_ID):
        return False
    if not all(
        _plain(raw[name]) for name in ("object", "match_field", "record_id", "channel") if name in raw
    ):
        return False
    connection = raw.get("connection", 1)
    if isinstance(connection, bool) or not (
        isinstance(connection, int) or (_plain(connection) and not connection.isdigit())
    ):
        return False
    if kind == "lookup":
        by = raw.get("by", {"field": "", "value_from": ""})
        return (
            isinstance(by, dict)
            and set(by) == {"field", "value_from"}
            and all(_plain(v, filled=False) for v in by.values())
            and raw.get("if_not_found", "continue") in dict(NOT_FOUND)
        )
    if kind == "action":
        operation = raw.get("operation", "upsert")
        if "mapping" in raw and raw["mapping"] is None:
            return False
        return operation in OPERATIONS and _drawable_mapping(raw.get("mapping"), operation)
    if kind == "notify":
        return isinstance(raw.get("format", ""), str)
    if kind == "delay":
        seconds = raw.get("seconds", 60)
        return isinstance(seconds, int) and not isinstance(seconds, bool)
    return all(isinstance(raw.get(arm, []), list) for arm in ("then", "else"))


def _drawable_mapping(mapping: Any, operation: str) -> bool:
    if mapping is None:
        return operation not in WRITE_OPERATIONS
    rows = mapping.get("fields") if isinstance(mapping, dict) else None
    return (
        isinstance(mapping, dict)
        and set(mapping) == {"fields"}
        and isinstance(rows, list)
        and all(isinstance(row, dict) and _line_source(row) is not None for row in rows)
    )


def _line_source(row: dict[str, Any]) -> str | None:
    """The text a line shows for its source, or None when the editor can't show it faithfully."""
    if not {"target", "source"} <= set(row) <= _LINE_KEYS or not _plain(row["target"], filled=False):
        return None
    transforms = row.get("transforms", [])
    if "transforms" in row and (
        not isinstance(transforms, list) or not transforms or not all(isinstance(t, dict) for t in transforms)
    ):
        return None
    sources = row["source"]
    if isinstance(sources, str):
        # One name, written as text rather than a list: shown as itself, kept as text.
        return sources if _plain(sources) and not set(sources) & {",", "{"} else None
    if not isinstance(sources, list) or not all(_plain(n) and not set(n) & {",", "{"} for n in sources):
        return None
    first = transforms[0] if transforms else {}
    args = first.get("args") if first.get("name") == "format" else None
    template = args.get("template") if isinstance(args, dict) and set(args) == {"template"} else None
    if (
        isinstance(template, str)
        and _plain(template)
        and "{" in template
        and template_fields(template) == sources
    ):
        return template
    return ", ".join(sources)


def _read_line(row: dict[str, Any]) -> LineDraft:
    source = _line_source(row) or ""
    transforms = list(row.get("transforms") or [])
    if "{" in source:
        transforms = transforms[1:]

    extra: dict[str, Any] = {}
    if transforms:
        extra["transforms"] = transforms
    if "empty" in row:
        extra["empty"] = row["empty"]
    # A source given as a single name (not a list) is kept that way.
    if isinstance(row.get("source"), str):
        extra["single"] = True
    return LineDraft(
        key=new_key(),
        target=_text(row.get("target")),
        source=source,
        extra=json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else "",
    )


def _read_conditions(tree: Any) -> tuple[str, list[ConditionDraft], dict[str, tuple[str, Any]]] | None:
    if isinstance(tree, dict) and "field" in tree:
        tree = {"all": [tree]}
        single = True
    else:
        single = False
    if not isinstance(tree, dict) or len(tree) != 1:
        return None
    conjunction, leaves = next(iter(tree.items()))
    if conjunction not in ("all", "any") or not isinstance(leaves, list) or not leaves:
        return None
    conditions: list[ConditionDraft] = []
    typed: dict[str, tuple[str, Any]] = {}
    for leaf in leaves:
        if not isinstance(leaf, dict) or set(leaf) - {"field", "op", "value"}:
            return None
        operator = (
            OPERATORS.get(leaf.get("op", "equals")) if isinstance(leaf.get("op", "equals"), str) else None
        )
        if not _plain(leaf.get("field")) or operator is None:
            return None
        if "value" not in leaf and operator.value != "none":
            return None
        condition = ConditionDraft(new_key(), leaf["field"], leaf.get("op", "equals"))
        if "value" in leaf:
            value = leaf["value"]
            condition.value = _value_text(value)
            typed[condition.key] = (condition.value, value)
        if "op" not in leaf:
            typed[condition.key + "-op"] = ("", None)
        conditions.append(condition)
    if single:
        typed["single"] = ("", None)
    return conjunction, conditions, typed


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _delay_parts(seconds: Any) -> tuple[str, str]:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        return (str(seconds) if seconds is not None else "", "seconds")
    for unit, size in UNITS:
        if seconds % size == 0:
            return str(seconds // size), unit
    return str(seconds), "seconds"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


# ---------------------------------------------------------------------------------------------
# In: a post
# ---------------------------------------------------------------------------------------------


def drafts_from_post(data: QueryDict) -> list[StepDraft]:
    drafts = []
    for key in data.getlist("step"):
        if not key.isalnum():
            continue
        p = f"s-{key}"
        draft = StepDraft(
            key=key,
            type=data.get(f"{p}-type", ""),
            parent=data.get(f"{p}-parent", ""),
            arm=data.get(f"{p}-arm", ""),
            id=data.get(f"{p}-id", "").strip(),
            connection=data.get(f"{p}-connection", "").strip(),
            object=data.get(f"{p}-object", "").strip(),
            operation=data.get(f"{p}-operation", "upsert"),
            match_field=data.get(f"{p}-match_field", "").strip(),
            record_id=data.get(f"{p}-record_id", "").strip(),
            by_field=data.get(f"{p}-by_field", "").strip(),
            value_from=data.get(f"{p}-value_from", "").strip(),
            if_not_found=data.get(f"{p}-if_not_found", "continue"),
            channel=data.get(f"{p}-channel", "").strip(),
            format=data.get(f"{p}-format", ""),
            amount=data.get(f"{p}-amount", "").strip(),
            unit=data.get(f"{p}-unit", "minutes"),
            conjunction="any" if data.get(f"{p}-conjunction") == "any" else "all",
            raw=data.get(f"{p}-raw", ""),
            condition_raw=data.get(f"{p}-condition_raw", ""),
            explicit=set(data.getlist(f"{p}-set")),
        )
        draft.conditions = [
            ConditionDraft(
                key=c,
                field=data.get(f"{p}-c-{c}-field", "").strip(),
                op=data.get(f"{p}-c-{c}-op", "equals"),
                value=data.get(f"{p}-c-{c}-value", ""),
            )
            for c in data.getlist(f"{p}-c")
            if c.isalnum()
        ]
        typed = data.get(f"{p}-typed", "")
        draft.typed_values = _typed_from_text(typed)
        draft.lines = [
            LineDraft(
                key=line,
                target=data.get(f"{p}-l-{line}-target", "").strip(),
                source=data.get(f"{p}-l-{line}-source", "").strip(),
                extra=data.get(f"{p}-l-{line}-extra", ""),
            )
            for line in data.getlist(f"{p}-line")
            if line.isalnum()
        ]
        drafts.append(draft)
    return drafts


def typed_text(draft: StepDraft) -> str:
    """The saved condition values, as the hidden field that carries them through a post."""
    return json.dumps({key: list(pair) for key, pair in draft.typed_values.items()}, ensure_ascii=False)


def _typed_from_text(text: str) -> dict[str, tuple[str, Any]]:
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(key): (str(pair[0]), pair[1])
        for key, pair in data.items()
        if isinstance(pair, list) and len(pair) == 2
    }


# ---------------------------------------------------------------------------------------------
# Out: the steps JSON
# ---------------------------------------------------------------------------------------------


def steps_from_drafts(drafts: list[StepDraft]) -> list[Any]:
    """The definition's steps; what can't be read (a number, a JSON box) is noted on its step."""
    top: list[Any] = []
    arms: dict[tuple[str, str], list[Any]] = {}
    for draft in drafts:
        step = _write_step(draft)
        if draft.type == "branch" and isinstance(step, dict):
            arms[(draft.key, "then")] = step.setdefault("then", [])
            arms[(draft.key, "else")] = step.setdefault("else", [])
        arms.get((draft.parent, draft.arm), top).append(step)
    for draft in drafts:
        for name in ("then", "else"):
            home = arms.get((draft.key, name))
            # An empty arm is left out, as a person writing the JSON would, unless it was saved so.
            if home is not None and not home and name not in draft.explicit:
                _drop_arm(top, home, name)
    return top


def _drop_arm(steps: list[Any], arm: list[Any], name: str) -> None:
    for step in steps:
        if not isinstance(step, dict):
            continue
        if step.get(name) is arm:
            del step[name]
            return
        for inner in ("then", "else"):
            if isinstance(step.get(inner), list):
                _drop_arm(step[inner], arm, name)


def _write_step(draft: StepDraft) -> Any:
    if not draft.editable:
        return _raw(draft, "raw")
    step: dict[str, Any] = {"type": draft.type}
    kind = draft.type

    def put(name: str, value: Any, filled: bool) -> None:
        # A setting left empty is left out (the check then asks for it), unless the step had it.
        if filled or name in draft.explicit:
            step[name] = value

    put("id", draft.id, bool(draft.id))
    if kind in ("lookup", "action", "notify"):
        connection = int(draft.connection) if draft.connection.isdigit() else draft.connection
        put("connection", connection, bool(draft.connection))
    if kind in ("lookup", "action"):
        put("object", draft.object, bool(draft.object))
    if kind == "lookup":
        put(
            "by",
            {"field": draft.by_field, "value_from": draft.value_from},
            bool(draft.by_field or draft.value_from),
        )
        put("if_not_found", draft.if_not_found, draft.if_not_found != "continue")
    elif kind == "action":
        put("operation", draft.operation, bool(draft.operation))
        put("match_field", draft.match_field, bool(draft.match_field))
        put("record_id", draft.record_id, bool(draft.record_id))
        lines = [line for line in draft.lines if not line.blank]
        mapping = {"fields": [_write_line(draft, line) for line in lines]}
        put("mapping", mapping, bool(lines) or draft.operation in WRITE_OPERATIONS)
    elif kind == "notify":
        put("channel", draft.channel, bool(draft.channel))
        put("format", draft.format, bool(draft.format))
    elif kind == "delay":
        if draft.amount or "seconds" in draft.explicit:
            step["seconds"] = _seconds(draft)
    else:
        name = "condition" if kind == "filter" else "if"
        if draft.condition_raw:
            step[name] = _raw(draft, "conditions", draft.condition_raw)
        else:
            put(name, _condition_tree(draft), any(not c.blank for c in draft.conditions))
    return step


def _raw(draft: StepDraft, setting: str, text: str | None = None) -> Any:
    try:
        return json.loads(draft.raw if text is None else text)
    except json.JSONDecodeError as exc:
        draft.add_error(setting, f"This is not valid JSON: {exc.msg} (line {exc.lineno}).")
        return None


def _seconds(draft: StepDraft) -> Any:
    try:
        amount = int(draft.amount)
    except ValueError:
        draft.add_error("amount", "Wait a whole number of minutes, hours or days.")
        return None
    return amount * _UNIT_SECONDS.get(draft.unit, 60)


def _write_line(draft: StepDraft, line: LineDraft) -> dict[str, Any]:
    try:
        extra = json.loads(line.extra) if line.extra else {}
    except json.JSONDecodeError:
        extra = {}
    row: dict[str, Any] = {"target": line.target}
    transforms = list(extra.get("transforms") or [])
    if "{" in line.source:
        row["source"] = template_fields(line.source)
        transforms.insert(0, {"name": "format", "args": {"template": line.source}})
    elif extra.get("single") and line.source and "," not in line.source:
        row["source"] = line.source
    else:
        row["source"] = [name.strip() for name in line.source.split(",") if name.strip()]
    if transforms:
        row["transforms"] = transforms
    if "empty" in extra:
        row["empty"] = extra["empty"]
    return row


def _condition_tree(draft: StepDraft) -> dict[str, Any]:
    leaves = []
    for condition in draft.conditions:
        if condition.blank:
            continue
        leaf: dict[str, Any] = {"field": condition.field}
        if condition.key + "-op" not in draft.typed_values or condition.op != "equals":
            leaf["op"] = condition.op
        operator = OPERATORS.get(condition.op)
        saved = draft.typed_values.get(condition.key)
        if saved is not None and saved[0] == condition.value:
            leaf["value"] = saved[1]
        elif operator is not None and operator.value == "list":
            leaf["value"] = [part.strip() for part in condition.value.split(",") if part.strip()]
        elif operator is None or operator.value != "none":
            leaf["value"] = condition.value
        leaves.append(leaf)
    if "single" in draft.typed_values and len(leaves) == 1:
        return leaves[0]
    return {draft.conjunction: leaves}


# ---------------------------------------------------------------------------------------------
# Checking: compile and put each message next to its step
# ---------------------------------------------------------------------------------------------


def places(drafts: list[StepDraft]) -> dict[str, StepDraft]:
    """Each step by its place as messages name it: "3", "2.then.1"."""
    found: dict[str, StepDraft] = {}
    counters: dict[tuple[str, str], int] = {}
    where: dict[str, str] = {}
    for draft in drafts:
        home = (draft.parent, draft.arm) if draft.parent else ("", "")
        counters[home] = counters.get(home, 0) + 1
        number = counters[home]
        place = f"{where[draft.parent]}.{draft.arm}.{number}" if draft.parent in where else str(number)
        where[draft.key] = place
        found[place] = draft
    return found


def check_steps(drafts: list[StepDraft], trigger: dict[str, Any], steps: list[Any]) -> list[str]:
    """Compile the steps; messages go next to their step. Returns the messages no step claimed."""
    if not drafts:
        return ["Add at least one step."]
    try:
        compile_definition({"trigger": trigger, "steps": steps})
    except DefinitionError as exc:
        return assign_messages(drafts, exc.messages)
    return []


def assign_messages(drafts: list[StepDraft], messages: list[str]) -> list[str]:
    by_place = places(drafts)
    general = []
    for message in messages:
        head, _, rest = message.partition(": ")
        words = head.split(" ")
        draft = by_place.get(words[1]) if len(words) > 1 and words[0] == "step" else None
        if draft is None:
            general.append(message)
            continue
        draft.add_error(_setting_of(draft, rest), rest)
    return general


def _setting_of(draft: StepDraft, message: str) -> str:
    lowered = message.lower()
    if not draft.editable:
        return "raw"
    if message.startswith("'") and ("step" in lowered or "output" in lowered):
        # A name that refers to a step: placed where this kind of step reads names.
        name = message[1:].split("'", 1)[0]
        if draft.type == "action":
            return "record_id" if name == draft.record_id else "lines"
        return {"notify": "format", "lookup": "value_from"}.get(draft.type, "conditions")
    for words, setting in _SETTING_WORDS:
        if words in lowered:
            return setting
    return "step"


# ---------------------------------------------------------------------------------------------
# Changing the list: add, remove, move
# ---------------------------------------------------------------------------------------------


def _default_id(kind: str, drafts: list[StepDraft]) -> str:
    stem = {"lookup": "find", "action": "write", "notify": "tell"}.get(kind, kind)
    taken = {draft.id for draft in drafts}
    number = 1
    while f"{stem}_{number}" in taken:
        number += 1
    return f"{stem}_{number}"


def add_step(drafts: list[StepDraft], kind: str, parent: str = "", arm: str = "") -> StepDraft | None:
    """Append a new step of `kind` at the end of the top list or of a branch's arm."""
    if kind not in EDITABLE_KINDS:
        return None
    if parent and not any(d.key == parent and d.type == "branch" for d in drafts):
        return None
    draft = StepDraft(key=new_key(), type=kind, parent=parent, arm=arm if parent else "")
    if kind in NEEDS_ID:
        draft.id = _default_id(kind, drafts)
    if kind in ("filter", "branch"):
        draft.conditions = [ConditionDraft(new_key())]
    if kind == "action":
        draft.lines = [LineDraft(new_key())]
    if kind == "delay":
        draft.amount, draft.unit = "1", "hours"
    # After the last step of the same list (and everything nested in it).
    index = len(drafts)
    if parent:
        block = _block(drafts, parent)
        index = block.stop
    drafts.insert(index, draft)
    return draft


def _block(drafts: list[StepDraft], key: str) -> range:
    """The positions of the step `key` and everything nested in it."""
    start = next(i for i, d in enumerate(drafts) if d.key == key)
    inside = {key}
    end = start + 1
    while end < len(drafts) and drafts[end].parent in inside:
        inside.add(drafts[end].key)
        end += 1
    return range(start, end)


def remove_step(drafts: list[StepDraft], key: str) -> None:
    if any(d.key == key for d in drafts):
        block = _block(drafts, key)
        del drafts[block.start : block.stop]


def move_step(drafts: list[StepDraft], key: str, direction: str) -> bool:
    """Swap the step (with what is nested in it) with its neighbour in the same list."""
    if not any(d.key == key for d in drafts):
        return False
    me = drafts[_block(drafts, key).start]
    siblings = [d for d in drafts if d.parent == me.parent and d.arm == me.arm]
    index = siblings.index(me)
    other_index = index - 1 if direction == "up" else index + 1
    if not 0 <= other_index < len(siblings):
        return False
    first, second = sorted((me, siblings[other_index]), key=drafts.index)
    a, b = _block(drafts, first.key), _block(drafts, second.key)
    drafts[a.start : b.stop] = drafts[b.start : b.stop] + drafts[a.start : a.stop]
    return True


# ---------------------------------------------------------------------------------------------
# What a step may read: the trigger's fields and the outputs of the steps before it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Readable:
    name: str
    text: str


def readable_before(
    drafts: list[StepDraft], trigger_fields: list[Readable], step_fields: dict[str, list[str]]
) -> dict[str, list[Readable]]:
    """Per step key: the names its settings may use (as the engine reads them).

    `step_fields` gives, per step key, the fields of the record a lookup found or an action wrote.
    A step sees the steps before it in its own list and in the lists around it; after a branch,
    the outputs of both its arms (empty for the arm that did not run).
    """
    children: dict[tuple[str, str], list[StepDraft]] = {}
    keys = {draft.key for draft in drafts}
    for draft in drafts:
        home = (draft.parent, draft.arm) if draft.parent in keys else ("", "")
        children.setdefault(home, []).append(draft)
    seen: dict[str, list[Readable]] = {}

    def walk(items: list[StepDraft], visible: list[Readable]) -> list[Readable]:
        visible = list(visible)
        for draft in items:
            seen[draft.key] = trigger_fields + visible
            if draft.type == "branch":
                grown: list[Readable] = []
                for arm in ("then", "else"):
                    grown += walk(children.get((draft.key, arm), []), visible)[len(visible) :]
                visible += grown
            else:
                visible += _outputs(draft, step_fields.get(draft.key, []))
        return visible

    walk(children.get(("", ""), []), [])
    return seen


def _outputs(draft: StepDraft, fields: list[str]) -> list[Readable]:
    outputs = OUTPUTS.get(draft.type)
    if not outputs or not draft.id:
        return []
    found = [
        Readable(f"steps.{draft.id}.{name}", f"{draft.label} “{draft.id}”: {name}")
        for name in sorted(outputs)
        if name != "fields"
    ]
    if "fields" in outputs:
        found += [
            Readable(f"steps.{draft.id}.fields.{name}", f"{draft.label} “{draft.id}”: {name}")
            for name in fields
        ]
    return found


def operations() -> list[str]:
    """The operations an action offers, the writes first."""
    return list(WRITE_OPERATIONS) + [str(op) for op in OPERATIONS if op not in WRITE_OPERATIONS]
