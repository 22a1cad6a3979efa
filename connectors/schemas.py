"""Schema discovery with a cache: the fields of a connection's object, kept in ObjectSchemaCache.

Discovery asks the external system (one or more HTTP requests), so pages and runs read the cached
copy and refresh it when it is older than they can accept. Every refresh compares the new fields with
the cached ones and says what changed; type changes are also kept per field, with when they were seen,
so the drift check can ask "what type did this field have when the mapping was published?".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast, get_args

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.base import (
    ConnectorClient,
    ConnectorError,
    FieldSchema,
    FieldType,
    ObjectSchema,
    PicklistOption,
)
from connectors.models import Connection, ObjectSchemaCache
from connectors.services import client_for

DEFAULT_MAX_AGE = timedelta(hours=6)
# A field that flips type back and forth needs only its recent history: the drift check asks about the
# time since a workflow's last publish, and older entries only matter for very old publishes.
TYPE_HISTORY_PER_FIELD = 10

_FIELD_TYPES: frozenset[str] = frozenset(get_args(FieldType))


class SchemaFormatError(ValueError):
    """Stored schema JSON that is not in the shape `schema_to_json` writes."""


# ---------------------------------------------------------------------------------------------
# ObjectSchema <-> JSON
# ---------------------------------------------------------------------------------------------


def field_to_json(schema_field: FieldSchema) -> dict[str, Any]:
    return {
        "name": schema_field.name,
        "label": schema_field.label,
        "type": schema_field.type,
        "required": schema_field.required,
        "read_only": schema_field.read_only,
        "custom": schema_field.custom,
        "options": [{"value": o.value, "label": o.label} for o in schema_field.options],
    }


def field_from_json(data: Any) -> FieldSchema:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise SchemaFormatError(f"a field must be an object with a name, got {data!r}")
    kind = data.get("type")
    if kind not in _FIELD_TYPES:
        raise SchemaFormatError(f"field {data['name']!r} has an unknown type {kind!r}")
    options = data.get("options") or []
    if not isinstance(options, list):
        raise SchemaFormatError(f"the options of field {data['name']!r} must be a list")
    return FieldSchema(
        name=data["name"],
        label=str(data.get("label") or data["name"]),
        type=cast(FieldType, kind),
        required=bool(data.get("required", False)),
        read_only=bool(data.get("read_only", False)),
        custom=bool(data.get("custom", False)),
        options=tuple(
            PicklistOption(value=str(o["value"]), label=str(o.get("label", o["value"])))
            for o in options
            if isinstance(o, dict) and "value" in o
        ),
    )


def schema_to_json(schema: ObjectSchema) -> dict[str, Any]:
    return {
        "name": schema.name,
        "label": schema.label,
        "fields": [field_to_json(f) for f in schema.fields],
    }


def schema_from_json(data: Any) -> ObjectSchema:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise SchemaFormatError("a schema must be an object with a name")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list):
        raise SchemaFormatError("a schema's fields must be a list")
    return ObjectSchema(
        name=data["name"],
        label=str(data.get("label") or data["name"]),
        fields=tuple(field_from_json(f) for f in raw_fields),
    )


def schema_hash(schema: ObjectSchema) -> str:
    """Equal for equal field sets, whatever order the system listed them in."""
    ordered = sorted((field_to_json(f) for f in schema.fields), key=lambda f: f["name"])
    canonical = json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Comparing two versions of a schema
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeChange:
    name: str
    old: FieldType
    new: FieldType


@dataclass(frozen=True)
class SchemaChange:
    """What a refresh found, compared with the cached fields.

    `first_fetch`: there was nothing cached, so everything is "new" and nothing is reported as added.
    `modified`: fields whose label, flags (required, read-only) or picklist options changed.
    """

    schema: ObjectSchema
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    type_changed: tuple[TypeChange, ...] = ()
    modified: tuple[str, ...] = ()
    first_fetch: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.type_changed or self.modified)

    def summary(self) -> str:
        if self.first_fetch:
            return f"Fetched {len(self.schema.fields)} fields."
        if not self.changed:
            return "No changes."
        parts = []
        if self.added:
            parts.append(f"added {', '.join(self.added)}")
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        if self.type_changed:
            parts.append(
                "type changed " + ", ".join(f"{c.name} ({c.old} → {c.new})" for c in self.type_changed)
            )
        if self.modified:
            parts.append(f"details changed {', '.join(self.modified)}")
        return "; ".join(parts).capitalize() + "."

    def as_json(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "type_changed": [[c.name, c.old, c.new] for c in self.type_changed],
            "modified": list(self.modified),
            "first_fetch": self.first_fetch,
        }


def schema_diff(previous: ObjectSchema | None, current: ObjectSchema) -> SchemaChange:
    if previous is None:
        return SchemaChange(schema=current, first_fetch=True)
    before = {f.name: f for f in previous.fields}
    after = {f.name: f for f in current.fields}
    added = tuple(name for name in after if name not in before)
    removed = tuple(name for name in before if name not in after)
    type_changed = []
    modified = []
    for name, new in after.items():
        old = before.get(name)
        if old is None:
            continue
        if old.type != new.type:
            type_changed.append(TypeChange(name, old.type, new.type))
        elif old != new:
            modified.append(name)
    return SchemaChange(
        schema=current,
        added=added,
        removed=removed,
        type_changed=tuple(type_changed),
        modified=tuple(modified),
    )


def _next_type_history(
    history: dict[str, Any], change: SchemaChange, at: datetime
) -> dict[str, list[dict[str, str]]]:
    kept: dict[str, list[dict[str, str]]] = {
        name: list(entries)
        for name, entries in history.items()
        if isinstance(entries, list) and name not in change.removed
    }
    for type_change in change.type_changed:
        entries = kept.setdefault(type_change.name, [])
        entries.append({"at": at.isoformat(), "from": type_change.old, "to": type_change.new})
        del entries[:-TYPE_HISTORY_PER_FIELD]
    return kept


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedSchema:
    """A cached schema with its bookkeeping; `change` is set when this call fetched it."""

    schema: ObjectSchema
    fetched_at: datetime
    changed_at: datetime
    hash: str
    last_change: dict[str, Any] = field(default_factory=dict)
    type_history: dict[str, Any] = field(default_factory=dict)
    change: SchemaChange | None = None

    @property
    def refreshed(self) -> bool:
        return self.change is not None

    def type_at(self, name: str, moment: datetime) -> FieldType | None:
        """The type field `name` had at `moment`, as far as the refreshes saw; None: not known to differ
        from now (no type change recorded after `moment`)."""
        for entry in self.type_history.get(name) or []:
            seen_at = parse_datetime(str(entry.get("at", "")))
            if seen_at is not None and seen_at > moment and entry.get("from") in _FIELD_TYPES:
                return cast(FieldType, entry["from"])
        return None


def _from_row(row: ObjectSchemaCache, change: SchemaChange | None = None) -> CachedSchema:
    schema = ObjectSchema(
        name=row.object_name,
        label=row.object_label or row.object_name,
        fields=tuple(field_from_json(f) for f in row.fields),
    )
    return CachedSchema(
        schema=schema,
        fetched_at=row.fetched_at,
        changed_at=row.changed_at,
        hash=row.hash,
        last_change=dict(row.last_change or {}),
        type_history=dict(row.type_history or {}),
        change=change,
    )


def schema_cached(*, connection: Connection, object_name: str) -> CachedSchema | None:
    """What is cached, however old; never asks the system."""
    row = ObjectSchemaCache.objects.filter(connection=connection, object_name=object_name).first()
    return _from_row(row) if row is not None else None


def schema_entry(
    *,
    connection: Connection,
    object_name: str,
    max_age: timedelta = DEFAULT_MAX_AGE,
    refresh: bool = False,
) -> CachedSchema:
    """The cached schema if it is at most `max_age` old (and `refresh` is off), else a fresh one.

    Raises ConnectorError when it has to ask the system and the system fails.
    """
    cached = None if refresh else schema_cached(connection=connection, object_name=object_name)
    if cached is not None and timezone.now() - cached.fetched_at <= max_age:
        return cached
    return _refresh(connection=connection, object_name=object_name)[0]


def schema_get(
    *, connection: Connection, object_name: str, max_age: timedelta = DEFAULT_MAX_AGE
) -> ObjectSchema:
    """The object's fields, from the cache when it is fresh enough. Raises ConnectorError."""
    return schema_entry(connection=connection, object_name=object_name, max_age=max_age).schema


def schema_refresh(*, connection: Connection, object_name: str) -> SchemaChange:
    """Ask the system for the object's fields now, cache them and say what changed. Raises ConnectorError."""
    return _refresh(connection=connection, object_name=object_name)[1]


def _refresh(*, connection: Connection, object_name: str) -> tuple[CachedSchema, SchemaChange]:
    # The request runs outside any transaction: no row lock is held while the system answers.
    schema = client_for(connection).discover_schema(object_name)
    digest = schema_hash(schema)
    now = timezone.now()
    with transaction.atomic():
        row = (
            ObjectSchemaCache.objects.select_for_update()
            .filter(connection=connection, object_name=object_name)
            .first()
        )
        # Compared with what is cached now (another worker may have refreshed meanwhile), so each
        # change is reported once.
        previous = _from_row(row).schema if row is not None else None
        change = schema_diff(previous, schema)
        if row is None:
            row = ObjectSchemaCache(connection=connection, object_name=object_name, changed_at=now)
        elif row.hash != digest:
            row.changed_at = now
        if change.first_fetch or row.hash != digest:
            row.last_change = change.as_json()
        row.type_history = _next_type_history(dict(row.type_history or {}), change, now)
        row.object_label = schema.label[:200]
        row.fields = [field_to_json(f) for f in schema.fields]
        row.hash = digest
        row.fetched_at = now
        row.save()
    return _from_row(row, change), change


# ---------------------------------------------------------------------------------------------
# Handing the cached copy to a client
# ---------------------------------------------------------------------------------------------


def schema_prime(
    *, client: ConnectorClient, connection: Connection, object_name: str, max_age: timedelta = DEFAULT_MAX_AGE
) -> bool:
    """Give `client` the cached schema of `object_name` (refreshed first if older than `max_age`), so that
    reading or writing with it does not ask the system for the fields again.

    Clients that discover a schema before listing or writing keep what they discovered in `_schemas`
    (object name -> ObjectSchema) for their lifetime; a client is built per run, so without this every
    run, even a poll that finds nothing, would cost a schema request. The cache is refreshed on its own
    schedule (`max_age`) and whenever drift is suspected, so the copy handed over is never staler than
    the one the drift check trusts. Returns whether the client took it; failures to refresh are left to
    the client, which then discovers the schema itself.
    """
    schemas = getattr(client, "_schemas", None)
    if not object_name or not isinstance(schemas, dict) or object_name in schemas:
        return False
    try:
        entry = schema_entry(connection=connection, object_name=object_name, max_age=max_age)
    except ConnectorError:
        return False
    schemas[object_name] = entry.schema
    return True
