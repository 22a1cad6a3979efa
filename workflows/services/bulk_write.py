"""Writing a page's rows in one statement that costs little on both sides of the database connection.

A run records every page it reads: one `RunRecord` per source record and one upserted `RecordLink` per
record written. Django 5.2 sends a bulk insert on PostgreSQL as `UNNEST` arrays, one per column, that
psycopg's client-side binding quotes value by value in Python, after every field has prepared every
value. Here, on PostgreSQL, the rows travel as one JSON document (serialised in C) that the server
expands with `json_populate_recordset` into an `INSERT ... SELECT` (with `ON CONFLICT` for the links).
Other databases use `bulk_create`; the rows written are the same either way.

Both run inside the caller's transaction, so a page's rows, its links and its cursor still commit (or
roll back) together.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.utils import timezone

# A row to write: a model instance, or a dict of its field values by attribute name.
Row = models.Model | dict[str, Any]

# Below this, the plain bulk insert is as cheap.
JSON_ROWS_MIN = 20


class _Encoder(DjangoJSONEncoder):
    """Django's encoder, but moments keep their microseconds (it cuts them to milliseconds)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column
    return field


def _column(model: type[models.Model], name: str) -> str:
    return str(_field(model, name).column)


def _document(fields: list[models.Field[Any, Any]], objs: Sequence[Row]) -> str:
    """The rows as one JSON array of objects keyed by column (JSON columns keep their JSON as is)."""
    # Only fields that compute their value on save (auto_now) need `pre_save`; the rest is read as set.
    computed = [f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    plain = [(str(f.column), f.attname) for f in fields if f not in computed]
    defaults = _defaults(fields, computed)
    moments = _moments(computed)
    rows = []
    for obj in objs:
        if isinstance(obj, dict):
            rows.append({column: obj.get(attname, defaults[column]) for column, attname in plain} | moments)
            continue
        row = {column: getattr(obj, attname) for column, attname in plain}
        for f in computed:
            row[str(f.column)] = f.pre_save(obj, True)
        rows.append(row)
    return json.dumps(rows, cls=_Encoder, separators=(",", ":"))


def _defaults(fields: list[models.Field[Any, Any]], computed: list[models.Field[Any, Any]]) -> dict[str, Any]:
    # Serialised at once, so one default value per column serves every row.
    return {str(f.column): f.get_default() for f in fields if f not in computed}


def _moments(computed: list[models.Field[Any, Any]]) -> dict[str, Any]:
    now = timezone.now()
    return {str(f.column): now for f in computed}


def _instances(model: type[models.Model], objs: Sequence[Row]) -> list[models.Model]:
    return [model(**obj) if isinstance(obj, dict) else obj for obj in objs]


def _json_rows(objs: Sequence[Row]) -> bool:
    return connection.vendor == "postgresql" and len(objs) >= JSON_ROWS_MIN


def _insert_select(model: type[models.Model], fields: list[models.Field[Any, Any]]) -> str:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    # Every name here is quoted metadata of the model; the rows are the one bound parameter.
    return (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608
        f"SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s::json)"
    )


def insert_rows(model: type[models.Model], objs: Sequence[Row]) -> None:
    """Insert `objs` as new rows (their ids are not set on the objects).

    A row is a model instance or a plain dict of field values by attribute name (`run_id`); a dict's
    missing fields take their defaults. Plain dicts spare building an instance per row.
    """
    if not objs:
        return
    if not _json_rows(objs):
        model._default_manager.bulk_create(_instances(model, objs), batch_size=500)
        return
    fields = _fields(model)
    with connection.cursor() as cursor:
        cursor.execute(_insert_select(model, fields), [_document(fields, objs)])


def upsert_rows(
    model: type[models.Model],
    objs: Sequence[Row],
    *,
    unique_fields: Sequence[str],
    update_fields: Sequence[str],
) -> None:
    """Insert `objs`, or update `update_fields` of the rows that already have their `unique_fields`."""
    if not objs:
        return
    if not _json_rows(objs):
        model._default_manager.bulk_create(
            _instances(model, objs),
            update_conflicts=True,
            unique_fields=list(unique_fields),
            update_fields=list(update_fields),
            batch_size=500,
        )
        return
    fields = _fields(model)
    quote = connection.ops.quote_name
    unique = ", ".join(quote(_column(model, name)) for name in unique_fields)
    updates = ", ".join(
        f"{quote(column)} = EXCLUDED.{quote(column)}"
        for column in (_column(model, name) for name in update_fields)
    )
    sql = f"{_insert_select(model, fields)} ON CONFLICT ({unique}) DO UPDATE SET {updates}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [_document(fields, objs)])


def update_where(
    model: type[models.Model],
    where: dict[str, Any],
    *,
    assign: dict[str, Any] | None = None,
    add: dict[str, int | float] | None = None,
) -> int:
    """`UPDATE` one table: set `assign`, add `add` to the current values, where every `where` field
    equals its value (field names, not columns). Returns the rows changed.

    What `Model.objects.filter(...).update(...)` does, without building a query and its compiler for
    a statement a run sends once per page (a millisecond of CPU each time, several times the statement).
    Values are prepared by their fields, as the ORM would.
    """
    quote = connection.ops.quote_name
    sets: list[str] = []
    params: list[Any] = []
    for name, value in (assign or {}).items():
        field = _field(model, name)
        sets.append(f"{quote(str(field.column))} = %s")
        params.append(field.get_db_prep_save(value, connection))
    for name, amount in (add or {}).items():
        column = quote(_column(model, name))
        sets.append(f"{column} = {column} + %s")
        params.append(amount)
    if not sets:
        return 0
    conditions: list[str] = []
    for name, value in where.items():
        field = _field(model, name)
        conditions.append(f"{quote(str(field.column))} = %s")
        params.append(field.get_db_prep_value(value, connection))
    # Every name is quoted metadata of the model; every value a bound parameter.
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {', '.join(sets)} "  # noqa: S608
        f"WHERE {' AND '.join(conditions) or '1=1'}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
