"""The sync editor's form: a `SyncDraft` read from the posted page or from a saved sync, and written back.

The page is one form; every part (field pairs, match rules, each side's filter conditions) is a list of rows
keyed by a short random key, as in the workflow builder. Anything the editor doesn't show (a pair's
transforms or reference, a filter tree it can't draw as rows) is carried through unchanged in a hidden
JSON field, so saving from the page never loses what was set elsewhere (the REST API, the admin).
The definition is checked by `workflows.sync.services.definition.sync_check`; its messages are placed next to
the row or setting they name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from workflows.builder_steps import ConditionDraft, new_key
from workflows.engine.conditions import OPERATORS
from workflows.engine.sync.spec import MATCH_KINDS, SIDES
from workflows.sync.models import Sync

DIRECTION_CHOICES = (
    ("both", "↔ both ways"),
    ("a_to_b", "→ A to B"),
    ("b_to_a", "← B to A"),
    ("none", "— not synced"),
)
POLICY_CHOICES = (
    ("a_wins", "A is the source of truth"),
    ("b_wins", "B is the source of truth"),
    ("last_write", "Last write wins (ties: A)"),
    ("manual", "Manual review"),
)
MATCH_CHOICES = (
    ("email", "Email (trimmed, lower case)"),
    ("external_id", "External id"),
    ("domain", "Domain (companies)"),
    ("composite", "Composite key (several fields)"),
)
POLL_CHOICES = (
    (30, "every 30 seconds"),
    (60, "every minute"),
    (300, "every 5 minutes"),
    (900, "every 15 minutes"),
    (3600, "every hour"),
)
# A pair's settings the editor shows as controls; the rest of a saved pair is kept as it was.
_PAIR_SHOWN = frozenset({"key", "a", "b", "direction", "policy", "allow_empty"})
_KEY = re.compile(r"^[a-z0-9]{1,12}$")


@dataclass
class PairDraft:
    key: str
    a: str = ""
    b: str = ""
    direction: str = "both"
    policy: str = "a_wins"
    allow_empty: bool = False
    # The pair's key in the definition (conflicts name it) and its settings the page doesn't edit.
    pair_key: str = ""
    kept: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return not self.a and not self.b

    @property
    def kept_json(self) -> str:
        return json.dumps(self.kept) if self.kept else ""

    def to_json(self) -> dict[str, Any]:
        pair: dict[str, Any] = {
            **self.kept,
            "a": self.a,
            "b": self.b,
            "direction": self.direction,
            "policy": self.policy,
            "allow_empty": self.allow_empty,
        }
        if self.pair_key:
            pair["key"] = self.pair_key
        return pair


@dataclass
class MatchDraft:
    key: str
    rule: str = "email"
    a: str = ""
    b: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return not self.a and not self.b

    def to_json(self) -> dict[str, Any]:
        def names(text: str) -> str | list[str]:
            parts = [part.strip() for part in text.split(",") if part.strip()]
            return parts if self.rule == "composite" else (parts[0] if len(parts) == 1 else parts)

        return {"rule": self.rule, "a": names(self.a), "b": names(self.b)}


@dataclass
class SyncDraft:
    name: str = ""
    a_connection_id: int | None = None
    a_object: str = ""
    b_connection_id: int | None = None
    b_object: str = ""
    create: str = Sync.Create.BOTH
    first_sync: str = Sync.FirstSync.MATCH_AND_CREATE
    deletion: str = Sync.Deletion.IGNORE
    archive: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"a": {"field": "", "value": ""}, "b": {"field": "", "value": ""}}
    )
    poll_interval_seconds: int = 60
    review_alert_threshold: int = 25
    pairs: list[PairDraft] = field(default_factory=list)
    match: list[MatchDraft] = field(default_factory=list)
    filters: dict[str, list[ConditionDraft]] = field(default_factory=lambda: {"a": [], "b": []})
    # A side's filter the rows can't show (nested any/all): kept as saved until the rows replace it.
    filters_kept: dict[str, Any] = field(default_factory=dict)
    deleted_when: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(p.errors for p in self.pairs) or any(m.errors for m in self.match)

    @property
    def filled_pairs(self) -> list[PairDraft]:
        return [pair for pair in self.pairs if not pair.blank]

    @property
    def filled_match(self) -> list[MatchDraft]:
        return [rule for rule in self.match if not rule.blank]

    # -- out -------------------------------------------------------------------------------------

    def filter_tree(self, side: str) -> dict[str, Any] | None:
        leaves = [_leaf(condition) for condition in self.filters[side] if not condition.blank]
        if leaves:
            return {"all": leaves}
        kept = self.filters_kept.get(side)
        return kept if isinstance(kept, dict) else None

    def archive_json(self) -> dict[str, Any]:
        if self.deletion != Sync.Deletion.ARCHIVE:
            return {}
        return {
            side: {"field": action["field"], "value": _typed(action["value"])}
            for side, action in self.archive.items()
            if action.get("field")
        }

    def options(self) -> dict[str, Any]:
        """The settings a definition service takes (`sync_create` / `sync_update`), besides the connections."""
        filters = {side: tree for side in SIDES if (tree := self.filter_tree(side)) is not None}
        return {
            "name": self.name,
            "create": self.create,
            "first_sync": self.first_sync,
            "deletion": self.deletion,
            "archive": self.archive_json(),
            "fields": [pair.to_json() for pair in self.filled_pairs],
            "match": [rule.to_json() for rule in self.filled_match],
            "filters": filters,
            "deleted_when": self.deleted_when,
            "poll_interval_seconds": self.poll_interval_seconds,
            "review_alert_threshold": self.review_alert_threshold,
        }

    # -- placing the definition's problems -------------------------------------------------------

    def place(self, messages: list[str]) -> None:
        """Put each of sync_check's messages next to what it is about; the rest go to the top of the page."""
        pairs, rules = self.filled_pairs, self.filled_match
        for message in messages:
            if found := re.match(r"field pair (\d+)", message):
                index = int(found.group(1)) - 1
                if 0 <= index < len(pairs):
                    pairs[index].errors.append(_after_colon(message))
                    continue
            if found := re.match(r"match rule (\d+)", message):
                index = int(found.group(1)) - 1
                if 0 <= index < len(rules):
                    rules[index].errors.append(_after_colon(message))
                    continue
            target = _place_of(message)
            self.add_error(target, _after_colon(message) if target != "general" else message)


def _place_of(message: str) -> str:
    for prefix, place in (
        ("fields:", "pairs"),
        ("match:", "match"),
        ("filters.a", "filters_a"),
        ("filters.b", "filters_b"),
        ("filters", "filters_a"),
        ("deletion", "deletion"),
        ("create", "create"),
        ("first_sync", "first_sync"),
        ("poll_interval_seconds", "poll_interval_seconds"),
        ("both connections", "a_connection"),
        ("a reference", "pairs"),
    ):
        if message.startswith(prefix):
            return place
    return "general"


def _after_colon(message: str) -> str:
    head, sep, tail = message.partition(": ")
    return tail[:1].upper() + tail[1:] if sep and len(head) < 60 else message


def _leaf(condition: ConditionDraft) -> dict[str, Any]:
    operator = OPERATORS.get(condition.op)
    leaf: dict[str, Any] = {"field": condition.field.strip(), "op": condition.op}
    if operator is not None and operator.value == "list":
        leaf["value"] = [part.strip() for part in condition.value.split(",") if part.strip()]
    elif operator is None or operator.value != "none":
        leaf["value"] = _typed(condition.value)
    return leaf


def _typed(text: Any) -> Any:
    """A value typed in a box: true/false and whole numbers as such, everything else as text."""
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if stripped.lower() in {"true", "false"}:
        return stripped.lower() == "true"
    if re.fullmatch(r"-?\d{1,15}", stripped):
        return int(stripped)
    return text


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(part) for part in value)
    return str(value)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _choice(value: str | None, choices: Any, default: str) -> str:
    return value if value is not None and value in {c[0] for c in choices} else default


# ---------------------------------------------------------------------------------------------
# In: the posted page
# ---------------------------------------------------------------------------------------------


def draft_from_post(data: QueryDict) -> SyncDraft:
    """Everything the editor posted; malformed parts are left out, never guessed."""
    draft = SyncDraft(
        name=data.get("name", "").strip(),
        a_connection_id=_int(data.get("a_connection"), 0) or None,
        a_object=data.get("a_object", "").strip(),
        b_connection_id=_int(data.get("b_connection"), 0) or None,
        b_object=data.get("b_object", "").strip(),
        create=_choice(data.get("create"), Sync.Create.choices, Sync.Create.BOTH),
        first_sync=_choice(data.get("first_sync"), Sync.FirstSync.choices, Sync.FirstSync.MATCH_AND_CREATE),
        deletion=_choice(data.get("deletion"), Sync.Deletion.choices, Sync.Deletion.IGNORE),
        archive={
            side: {
                "field": data.get(f"archive_{side}_field", "").strip(),
                "value": data.get(f"archive_{side}_value", ""),
            }
            for side in SIDES
        },
        poll_interval_seconds=_int(data.get("poll_interval_seconds"), 60),
        review_alert_threshold=_int(data.get("review_alert_threshold"), 25),
    )
    draft.pairs = [_pair_from_post(data, key) for key in data.getlist("pair") if _KEY.match(key)]
    draft.match = [
        MatchDraft(
            key=key,
            rule=_choice(data.get(f"m-{key}-rule"), MATCH_CHOICES, "email"),
            a=data.get(f"m-{key}-a", "").strip(),
            b=data.get(f"m-{key}-b", "").strip(),
        )
        for key in data.getlist("match")
        if _KEY.match(key)
    ]
    draft.filters = {side: [] for side in SIDES}
    for key in data.getlist("condition"):
        side = key[:1]
        if side in SIDES and key.isalnum():
            draft.filters[side].append(
                ConditionDraft(
                    key=key,
                    field=data.get(f"c-{key}-field", "").strip(),
                    op=data.get(f"c-{key}-op", "equals"),
                    value=data.get(f"c-{key}-value", ""),
                )
            )
    for side in SIDES:
        kept = _json(data.get(f"filter_{side}_kept", ""))
        if isinstance(kept, dict):
            draft.filters_kept[side] = kept
    deleted_when = _json(data.get("deleted_when", ""))
    draft.deleted_when = deleted_when if isinstance(deleted_when, dict) else {}
    return draft


def _pair_from_post(data: QueryDict, key: str) -> PairDraft:
    prefix = f"p-{key}"
    kept = _json(data.get(f"{prefix}-kept", ""))
    return PairDraft(
        key=key,
        a=data.get(f"{prefix}-a", "").strip(),
        b=data.get(f"{prefix}-b", "").strip(),
        direction=_choice(data.get(f"{prefix}-direction"), DIRECTION_CHOICES, "both"),
        policy=_choice(data.get(f"{prefix}-policy"), POLICY_CHOICES, "a_wins"),
        allow_empty=data.get(f"{prefix}-allow_empty") == "on",
        pair_key=data.get(f"{prefix}-key", "").strip(),
        kept={k: v for k, v in kept.items() if k not in _PAIR_SHOWN} if isinstance(kept, dict) else {},
    )


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


# ---------------------------------------------------------------------------------------------
# In: a saved sync
# ---------------------------------------------------------------------------------------------


def draft_from_sync(sync: Sync) -> SyncDraft:
    archive = sync.archive or {}
    draft = SyncDraft(
        name=sync.name,
        a_connection_id=sync.a_connection_id,
        a_object=sync.a_object,
        b_connection_id=sync.b_connection_id,
        b_object=sync.b_object,
        create=sync.create,
        first_sync=sync.first_sync,
        deletion=sync.deletion,
        archive={
            side: {
                "field": str((archive.get(side) or {}).get("field", "")),
                "value": _shown((archive.get(side) or {}).get("value")),
            }
            for side in SIDES
        },
        poll_interval_seconds=sync.poll_interval_seconds,
        review_alert_threshold=sync.review_alert_threshold,
        deleted_when=dict(sync.deleted_when or {}),
    )
    for pair in sync.fields or []:
        if not isinstance(pair, dict):
            continue
        draft.pairs.append(
            PairDraft(
                key=new_key(),
                a=str(pair.get("a", "")),
                b=str(pair.get("b", "")),
                direction=str(pair.get("direction", "both")),
                policy=str(pair.get("policy", "a_wins")),
                allow_empty=bool(pair.get("allow_empty", False)),
                pair_key=str(pair.get("key", "")),
                kept={k: v for k, v in pair.items() if k not in _PAIR_SHOWN},
            )
        )
    for rule in sync.match or []:
        if isinstance(rule, dict) and rule.get("rule") in MATCH_KINDS:
            draft.match.append(
                MatchDraft(key=new_key(), rule=rule["rule"], a=_shown(rule.get("a")), b=_shown(rule.get("b")))
            )
    for side in SIDES:
        tree = (sync.filters or {}).get(side)
        rows = _rows_of(tree, side)
        if rows is None:
            draft.filters_kept[side] = tree
        else:
            draft.filters[side] = rows
    return draft


def _rows_of(tree: Any, side: str) -> list[ConditionDraft] | None:
    """A filter as condition rows, when it is one condition or an "all" of plain conditions; else None."""
    if tree is None:
        return []
    leaves = tree.get("all") if isinstance(tree, dict) and set(tree) == {"all"} else [tree]
    rows = []
    for leaf in leaves if isinstance(leaves, list) else []:
        if not isinstance(leaf, dict) or not isinstance(leaf.get("field"), str) or "op" not in leaf:
            return None
        rows.append(
            ConditionDraft(
                key=f"{side}{new_key()}",
                field=leaf["field"],
                op=str(leaf["op"]),
                value=_shown(leaf.get("value")),
            )
        )
    return rows if isinstance(leaves, list) else None


def new_draft() -> SyncDraft:
    """A new sync starts with one empty pair and the email match rule, the usual first choice."""
    return SyncDraft(
        pairs=[PairDraft(key=new_key())], match=[MatchDraft(key=new_key(), a="email", b="email")]
    )
