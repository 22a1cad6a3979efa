"""What the sync editor shows for a SyncDraft: both sides' objects and field pickers, and the choices.

Both sides are loaded as the workflow builder loads its source and target (`builder_context.load_side`):
schemas come from the cache, fetched from the system only the first time an object is used, so the page and
its HTMX refresh show the same pickers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from connectors.models import Connection
from connectors.registry import UnknownConnector, get_provider
from workflows.builder_context import Side, load_side
from workflows.builder_schema import suggest_pairs
from workflows.builder_steps import new_key
from workflows.engine.conditions import OPERATORS
from workflows.engine.sync.spec import SIDES
from workflows.sync.editor import (
    DIRECTION_CHOICES,
    MATCH_CHOICES,
    POLICY_CHOICES,
    POLL_CHOICES,
    PairDraft,
    SyncDraft,
)
from workflows.sync.models import Sync
from workflows.sync.services.deletions import connector_can_delete, describe, reported_deletion


@dataclass
class Editor:
    draft: SyncDraft
    connections: list[Connection]
    a: Side
    b: Side
    sync: Sync | None = None

    def check_choices(self) -> None:
        """What the page itself must have before the definition is checked: a name, both systems, objects."""
        draft = self.draft
        if not draft.name:
            draft.add_error("name", "Give the sync a name.")
        for side, label in (("a", "A"), ("b", "B")):
            if getattr(self, side).connection is None:
                draft.add_error(f"{side}_connection", f"Choose the connection of side {label}.")
            elif not getattr(draft, f"{side}_object"):
                draft.add_error(f"{side}_object", f"Choose the records of side {label}.")
        if not draft.filled_pairs:
            draft.add_error("pairs", "Add at least one field pair.")
        for pair in draft.filled_pairs:
            if not pair.a or not pair.b:
                pair.errors.append("Choose a field on both sides.")
        if draft.deletion == Sync.Deletion.ARCHIVE:
            for side in ("a", "b"):
                if not draft.archive[side]["field"]:
                    draft.add_error(f"archive_{side}", "Name the field to set when the other side deletes.")

    def deletion_signals(self) -> str:
        """How each side's feed shows a deletion: the sync's own condition, else the connector's."""
        parts = []
        for side in SIDES:
            condition = self.draft.deleted_when.get(side)
            connection = getattr(self, side).connection
            if condition is None and connection is not None:
                condition = reported_deletion(connection.kind, getattr(self.draft, f"{side}_object"))
            parts.append(f"{side.upper()}: {describe(condition)}")
        return "; ".join(parts)

    def context(self) -> dict[str, Any]:
        a_options, b_options = self.a.options, self.b.options
        return {
            "editor": self,
            "draft": self.draft,
            "sync": self.sync,
            "connections": self.connections,
            "a_options": a_options,
            "b_options": b_options,
            "a_names": {option.name for option in a_options},
            "b_names": {option.name for option in b_options},
            "directions": DIRECTION_CHOICES,
            "policies": POLICY_CHOICES,
            "match_kinds": MATCH_CHOICES,
            "poll_choices": _poll_choices(self.draft.poll_interval_seconds),
            "create_choices": Sync.Create.choices,
            "first_sync_choices": Sync.FirstSync.choices,
            "deletion_choices": Sync.Deletion.choices,
            "operators": list(OPERATORS.values()),
            "can_delete": {
                side: connector_can_delete(
                    getattr(self, side).connection, getattr(self.draft, f"{side}_object")
                )
                for side in SIDES
            },
            "filters_kept_json": {side: json.dumps(tree) for side, tree in self.draft.filters_kept.items()},
            "deleted_when_json": json.dumps(self.draft.deleted_when),
            "deletion_signals": self.deletion_signals(),
        }


def _poll_choices(current: int) -> list[tuple[int, str]]:
    choices = list(POLL_CHOICES)
    if current not in {value for value, _ in choices}:
        choices.append((current, f"every {current} seconds"))
    return choices


def editor_for(
    *, draft: SyncDraft, connections: list[Connection], sync: Sync | None = None, fetch: bool = True
) -> Editor:
    by_id = {c.pk: c for c in connections}
    if sync is not None:
        # A saved sync keeps its connections and objects: its links, cursors and records belong to them.
        draft.a_connection_id, draft.a_object = sync.a_connection_id, sync.a_object
        draft.b_connection_id, draft.b_object = sync.b_connection_id, sync.b_object
    a_connection = by_id.get(draft.a_connection_id) if draft.a_connection_id else None
    b_connection = by_id.get(draft.b_connection_id) if draft.b_connection_id else None
    draft.a_object = _known_object(a_connection, draft.a_object)
    draft.b_object = _known_object(b_connection, draft.b_object)
    return Editor(
        draft=draft,
        connections=connections,
        a=load_side(a_connection, draft.a_object, fetch=fetch),
        b=load_side(b_connection, draft.b_object, fetch=fetch),
        sync=sync,
    )


def _known_object(connection: Connection | None, object_name: str) -> str:
    if connection is None:
        return ""
    try:
        objects = get_provider(connection.kind).objects
    except UnknownConnector:
        return object_name
    # Connectors whose objects come from their settings (a table, a manifest) list none: anything goes.
    return object_name if not objects or object_name in objects else ""


def suggest_pairs_for(editor: Editor) -> list[PairDraft]:
    """Two-way pairs for fields with the same meaning on both sides that no pair uses yet."""
    if editor.a.schema is None or editor.b.schema is None:
        return []
    used_a = {pair.a for pair in editor.draft.filled_pairs}
    used_b = {pair.b for pair in editor.draft.filled_pairs}
    suggested = suggest_pairs(editor.a.schema, editor.b.schema, taken_targets=used_b, taken_sources=used_a)
    pairs = []
    for pair in suggested:
        # Read-only on A means it can only travel A → B.
        direction = "a_to_b" if pair.source.read_only else "both"
        pairs.append(PairDraft(key=new_key(), a=pair.source.name, b=pair.target.name, direction=direction))
    return pairs
