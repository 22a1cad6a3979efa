"""A PostgreSQL table as a source or a target, over psycopg 3.

This connector speaks the PostgreSQL protocol, not HTTP, so it opens its own connections (the shared
HTTP layer does not apply). Each call opens one autocommit connection and closes it when the call (or
the read) ends; every statement is its own short transaction, so nothing stays locked or open in a
transaction while the engine works on a page.

Reading is keyset pagination on (updated-at column, key column): each page's cursor is the last
(updated_at, key) read, and the next query asks for rows strictly after it in that order, so storing a
cursor and resuming never skips a row and an idle poll reads nothing. Rows whose updated-at is NULL
cannot be placed in that order; the first read takes them first (by key), then moves on. Append-only
tables without an updated-at column are read by an ever-growing id column instead.

Writing updates the rows that exist (matched on the key for linked records, else on the workflow's
match column, which needs a unique constraint) and inserts the others with INSERT ... ON CONFLICT, in
multi-row statements; a statement the database rejects is split in halves until the rejected rows
are isolated, and each gets the database's own message while the others are written.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

import psycopg
from django.conf import settings as django_settings
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from pydantic import Field, field_validator, model_validator

from connectors.base import (
    AuthenticationError,
    ChangePage,
    ConnectionConfig,
    ConnectionSettings,
    ConnectorClient,
    ConnectorError,
    FieldSchema,
    FieldType,
    ObjectSchema,
    PicklistOption,
    SourceRecord,
    WriteItem,
    WriteResult,
)
from connectors.http import redact

DEFAULT_PORT = 5432
CONNECT_TIMEOUT_SECONDS = 10
MAX_PAGE_SIZE = 5000
MAX_ROWS_PER_STATEMENT = 500
# PostgreSQL's bind-parameter limit per statement (a 16-bit count in the protocol).
MAX_PARAMETERS = 65_535
ALLOW_HUB_DATABASE_SETTING = "HUB_PG_CONNECTOR_ALLOW_HUB_DATABASE"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_IDENTIFIER_BYTES = 63

_NUMBER_TYPES = frozenset({"smallint", "integer", "bigint", "numeric", "decimal", "real", "double precision"})
_DATETIME_TYPES = frozenset({"timestamp without time zone", "timestamp with time zone"})
_TIME_ORDERED_TYPES = _DATETIME_TYPES | {"date"}
# SQLSTATE classes/codes that describe a problem with the values of a row rather than the request:
# data exceptions (22), integrity violations (23), a value of the wrong type (42804) and writing a
# generated column (428C9).
_RECORD_ERROR_CLASSES = ("22", "23")
_RECORD_ERROR_CODES = frozenset({"42804", "428C9"})


def _identifier(value: str) -> str:
    if not value or not value.strip():
        raise ValueError("must not be empty")
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    if len(value.encode("utf-8")) > _MAX_IDENTIFIER_BYTES:
        raise ValueError(f"PostgreSQL names are at most {_MAX_IDENTIFIER_BYTES} bytes")
    return value


class PostgresTableConfig(ConnectionConfig):
    base_url: str = Field(
        default="",
        description="Not used: the server is given by the DSN credential.",
        json_schema_extra={"form_widget": "none"},
    )
    schema_name: str = Field(default="public", description="Schema of the table.")
    table: str = Field(description="Table name (as in the database, case-sensitive).")
    key_column: str = Field(
        description="Column that identifies a row: the primary key or a NOT NULL unique column."
    )
    updated_at_column: str | None = Field(
        default=None, description="Column set to the modification time on every write (read incrementally)."
    )
    id_column: str | None = Field(
        default=None,
        description="For append-only tables without an updated-at column: a column that only grows "
        "(e.g. a serial id). New rows are read; changes to old rows are not seen.",
    )
    settle_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="Leave rows changed in the last N seconds (database clock) for the next read. A "
        "transaction that stamps updated_at when it starts but commits later would otherwise land "
        "behind a cursor that already moved past it; set this to your longest write transaction.",
    )
    statement_timeout_seconds: int = Field(default=60, ge=1, le=3600)

    @field_validator("schema_name", "table", "key_column")
    @classmethod
    def _name(cls, value: str) -> str:
        return _identifier(value)

    @field_validator("updated_at_column", "id_column")
    @classmethod
    def _optional_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _identifier(value)

    @model_validator(mode="after")
    def _how_to_read(self) -> PostgresTableConfig:
        if not self.updated_at_column and not self.id_column:
            raise ValueError(
                "set updated_at_column, or id_column for an append-only table, so changes can be read"
            )
        return self


# -- the hub's own database ------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseTarget:
    hosts: tuple[str, ...]
    port: int
    name: str


def _host_identities(host: str) -> set[str]:
    """What a host name means on the network: "local" for this machine, else its addresses."""
    lowered = host.strip().lower()
    if not lowered or lowered.startswith("/") or lowered == "localhost":
        return {"local"}  # a Unix socket or the loopback name
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(lowered, None)}
    except OSError:
        return {lowered}
    identities: set[str] = set()
    for address in addresses:
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            identities.add(address)
            continue
        identities.add("local" if parsed.is_loopback else str(parsed))
    return identities or {lowered}


def same_database(a: DatabaseTarget, b: DatabaseTarget) -> bool:
    if a.name != b.name or a.port != b.port:
        return False
    a_hosts = set().union(*(_host_identities(h) for h in a.hosts))
    b_hosts = set().union(*(_host_identities(h) for h in b.hosts))
    return bool(a_hosts & b_hosts)


def target_from_params(params: Mapping[str, Any]) -> DatabaseTarget:
    """Where libpq would connect for these parameters (its defaults included)."""
    hosts = tuple(h for h in str(params.get("host") or params.get("hostaddr") or "").split(",")) or ("",)
    raw_port = str(params.get("port") or "").split(",")[0]
    port = int(raw_port) if raw_port.isdigit() else DEFAULT_PORT
    user = str(params.get("user") or os.environ.get("PGUSER") or "")
    name = str(params.get("dbname") or os.environ.get("PGDATABASE") or user)
    return DatabaseTarget(hosts=hosts, port=port, name=name)


def hub_databases() -> list[DatabaseTarget]:
    """The PostgreSQL databases the hub itself uses (by settings, and as Django runs them in tests)."""
    from django.db import connections

    found: list[DatabaseTarget] = []
    entries: list[Mapping[str, Any]] = list(getattr(django_settings, "DATABASES", {}).values())
    entries += [connections[alias].settings_dict for alias in connections]
    for entry in entries:
        if "postgresql" not in str(entry.get("ENGINE") or ""):
            continue
        found.append(
            target_from_params(
                {"host": entry.get("HOST"), "port": entry.get("PORT"), "dbname": entry.get("NAME")}
            )
        )
    return found


# -- table description ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    udt_schema: str
    udt_name: str
    nullable: bool
    has_default: bool
    identity: bool
    generated: bool
    options: tuple[str, ...] = ()

    @property
    def field_type(self) -> FieldType:
        if self.data_type in _NUMBER_TYPES:
            return "number"
        if self.data_type == "boolean":
            return "boolean"
        if self.data_type == "date":
            return "date"
        if self.data_type in _DATETIME_TYPES:
            return "datetime"
        if self.data_type in ("json", "jsonb", "ARRAY"):
            return "json"
        if self.options:
            return "enumeration"
        return "string"

    @property
    def type_sql(self) -> sql.Composable:
        """The column's type for a CAST, as the catalog names it (schema-qualified, without length or
        precision, so a cast never silently truncates; the assignment then checks them)."""
        return sql.Identifier(self.udt_schema, self.udt_name)

    @property
    def is_json(self) -> bool:
        return self.data_type in ("json", "jsonb")

    def schema(self) -> FieldSchema:
        # A NOT NULL column with a default (or filled by the database) need not be given on insert.
        required = not self.nullable and not self.has_default and not self.identity and not self.generated
        return FieldSchema(
            name=self.name,
            label=self.name.replace("_", " ").capitalize(),
            type=self.field_type,
            required=required,
            read_only=self.identity or self.generated,
            options=tuple(PicklistOption(value=o, label=o) for o in self.options),
        )


@dataclass(frozen=True)
class TableInfo:
    columns: dict[str, Column]
    unique_columns: frozenset[str]


# -- value conversion ----------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A database value as plain JSON, exactly: run records and links store values as JSON."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        # Only when the float says the same number; otherwise the exact text beats a rounded number.
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def _cursor_text(value: Any) -> str:
    """A cursor value as text PostgreSQL parses back to exactly the same value of the column's type."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _as_moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        seconds = float(value)
        # Epoch numbers: milliseconds when too large to be seconds of this era.
        return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, tz=UTC)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _param(column: Column, value: Any) -> Any:
    """A value to bind for `column`. Scalars go as untyped text so PostgreSQL converts them to the
    column's type itself (and rejects what does not fit with its own message)."""
    if value is None:
        return None
    if column.is_json:
        return Jsonb(value)
    if column.data_type == "ARRAY" and isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


# -- cursor -------------------------------------------------------------------------------------------

Phase = Literal["null", "ts", "id"]


@dataclass(frozen=True)
class _Position:
    """Where a read continues: the phase and the last (updated_at, key) or id read in it."""

    phase: Phase
    updated: str | None = None
    key: str | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {"p": self.phase}
        if self.updated is not None:
            data["u"] = self.updated
        if self.key is not None:
            data["k"] = self.key
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: str | None, *, append_only: bool) -> _Position:
        if cursor is None or not cursor.strip():
            return cls("id" if append_only else "null")
        try:
            data = json.loads(cursor)
            phase = data["p"]
        except (ValueError, TypeError, KeyError):
            raise ConnectorError(f"Not a PostgreSQL table cursor: {cursor!r}", permanent=True) from None
        updated, key = data.get("u"), data.get("k")
        valid = (
            phase in ("null", "ts", "id")
            and (updated is None or isinstance(updated, str))
            and (key is None or isinstance(key, str))
            and (phase == "id") == append_only
        )
        if not valid:
            raise ConnectorError(
                f"The stored cursor {cursor!r} does not fit this table's settings (were the updated-at / "
                "id columns changed?); reset the workflow's cursor to read the table again.",
                permanent=True,
            )
        return cls(phase, updated, key)


@dataclass
class _Pending:
    index: int
    key: str
    conflict: str
    values: dict[str, Any]
    conflict_value: str = field(default="")


class PostgresTableClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = PostgresTableConfig.model_validate(dict(settings.config))
        self._dsn = settings.credentials.get("dsn", "") or ""
        self._table_sql = sql.Identifier(self.config.schema_name, self.config.table)

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        with self._connect() as conn:
            info = self._table_info(conn)
            self._check_columns(info, reading=True)
            server = conn.info.host or "local socket"
            database = conn.info.dbname
        return f"{self.config.schema_name}.{self.config.table} on {server}/{database} ({len(info.columns)} columns)"

    def discover_schema(self, object_name: str) -> ObjectSchema:
        self._check_object(object_name)
        with self._connect() as conn:
            info = self._table_info(conn)
        return ObjectSchema(
            name=object_name,
            label=self.config.table,
            fields=tuple(column.schema() for column in info.columns.values()),
        )

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        self._check_object(object_name)
        append_only = not self.config.updated_at_column
        position = _Position.decode(cursor, append_only=append_only)
        limit = max(1, min(page_size, MAX_PAGE_SIZE))
        with self._connect() as conn:
            info = self._table_info(conn)
            self._check_columns(info, reading=True)
            settle = self._settle_applies(info)
            while True:
                rows = self._fetch(conn, position, limit, settle)
                records = [self._record(row, position.phase) for row in rows]
                following = self._after(position, rows[-1]) if rows else position
                more = len(rows) == limit
                if position.phase == "null" and not more:
                    # Every row without an updated-at has been read; from here on, keyset on (updated_at, key).
                    following, more = _Position("ts"), True
                if records or not more:
                    yield ChangePage(records=records, cursor=following.encode(), has_more=more)
                if not more:
                    return
                position = following

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        self._check_object(object_name)
        results: dict[int, WriteResult] = {}
        with self._connect() as conn:
            info = self._table_info(conn)
            pending: list[_Pending] = []
            for index, item in enumerate(items):
                prepared = self._prepare(info, index, item, match_field)
                if isinstance(prepared, WriteResult):
                    results[index] = prepared
                else:
                    pending.append(prepared)
            for group in _statement_groups(pending):
                results.update(self._write(conn, info, group))
        return [results[i] for i in range(len(items))]

    # -- connection --------------------------------------------------------------------------------

    def _check_object(self, object_name: str) -> None:
        accepted = {self.config.table, f"{self.config.schema_name}.{self.config.table}"}
        if object_name not in accepted:
            raise ConnectorError(
                f"This connection is the table {self.config.schema_name}.{self.config.table}; "
                f"it has no object {object_name!r}.",
                permanent=True,
            )

    def _redact(self, text: str) -> str:
        secrets = [self._dsn]
        try:
            password = conninfo_to_dict(self._dsn).get("password")
        except psycopg.Error:
            password = None
        if password:
            secrets.append(str(password))
        return redact(text, secrets)

    def _connect(self) -> psycopg.Connection[DictRow]:
        if not self._dsn:
            raise AuthenticationError("No PostgreSQL DSN is configured for this connection.", status=None)
        try:
            params = conninfo_to_dict(self._dsn)
        except psycopg.Error as exc:
            raise ConnectorError(
                self._redact(f"The PostgreSQL DSN is not valid: {exc}"), permanent=True
            ) from None
        self._refuse_hub_database(params)
        options: dict[str, Any] = {}
        # The DSN's own choices win; these only fill gaps.
        if "connect_timeout" not in params:
            options["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        if "application_name" not in params:
            options["application_name"] = "integrations-hub"
        try:
            conn = psycopg.connect(self._dsn, autocommit=True, row_factory=dict_row, **options)
        except psycopg.Error as exc:
            raise self._translate(exc) from None
        try:
            # UTC so timestamps without a time zone compare with now() the way they were written.
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false), set_config('TimeZone', 'UTC', false)",
                [f"{self.config.statement_timeout_seconds}s"],
            )
        except psycopg.Error as exc:
            conn.close()
            raise self._translate(exc) from None
        return conn

    def _refuse_hub_database(self, params: Mapping[str, Any]) -> None:
        """Refuse the hub's own database unless an administrator allowed it.

        The hub's database holds every team's connections, workflows and run history; a connection
        pointed at it (with credentials someone learnt) would let one team read or rewrite another
        team's data through a workflow. Comparing name, port and host (resolved) catches the usual
        spellings; it is a guard against mistakes and casual misuse, not a network boundary (blocking
        arbitrary destinations is out of scope for this connector).
        """
        if getattr(django_settings, ALLOW_HUB_DATABASE_SETTING, False):
            return
        wanted = target_from_params(params)
        if any(same_database(wanted, hub) for hub in hub_databases()):
            raise ConnectorError(
                f"The DSN points at the hub's own database ({wanted.name}); connections to it are refused "
                f"unless an administrator sets {ALLOW_HUB_DATABASE_SETTING}.",
                permanent=True,
            )

    def _translate(self, exc: psycopg.Error) -> ConnectorError:
        message = self._redact(_db_message(exc))
        state = exc.sqlstate or ""
        lowered = message.lower()
        if state.startswith("28") or "authentication failed" in lowered or "no password supplied" in lowered:
            return AuthenticationError(f"PostgreSQL refused the login: {message}", status=None)
        if state == "42501":
            return ConnectorError(f"PostgreSQL refused access: {message}", permanent=True, status=403)
        if state == "3D000" or ("does not exist" in lowered and not state):
            return ConnectorError(f"PostgreSQL: {message}", permanent=True)
        if state.startswith(("08", "53", "57")) or isinstance(exc, psycopg.OperationalError):
            # Connection trouble, resources, cancelled statements: worth another try later.
            return ConnectorError(f"PostgreSQL is unavailable: {message}", permanent=False)
        return ConnectorError(f"PostgreSQL: {message}", permanent=True)

    def _table_info(self, conn: psycopg.Connection[DictRow]) -> TableInfo:
        schema, table = self.config.schema_name, self.config.table
        try:
            rows = conn.execute(
                """
                SELECT column_name, data_type, udt_schema, udt_name, is_nullable, column_default,
                       is_identity, is_generated
                FROM information_schema.columns
                WHERE table_schema = %s AND table_name = %s
                ORDER BY ordinal_position
                """,
                [schema, table],
            ).fetchall()
            if not rows:
                raise ConnectorError(
                    f"The table {schema}.{table} was not found, or this login may not see its columns.",
                    permanent=True,
                )
            enum_names = sorted(
                {f"{r['udt_schema']}.{r['udt_name']}" for r in rows if r["data_type"] == "USER-DEFINED"}
            )
            options: dict[str, list[str]] = {}
            if enum_names:
                for row in conn.execute(
                    """
                    SELECT n.nspname || '.' || t.typname AS type_name, e.enumlabel
                    FROM pg_enum e
                    JOIN pg_type t ON t.oid = e.enumtypid
                    JOIN pg_namespace n ON n.oid = t.typnamespace
                    WHERE n.nspname || '.' || t.typname = ANY(%s)
                    ORDER BY t.typname, e.enumsortorder
                    """,
                    [enum_names],
                ):
                    options.setdefault(row["type_name"], []).append(row["enumlabel"])
            # ON CONFLICT needs a unique index on exactly the match column (not partial, not an expression).
            unique = {
                row["attname"]
                for row in conn.execute(
                    """
                    SELECT a.attname
                    FROM pg_index i
                    JOIN pg_class c ON c.oid = i.indrelid
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                    WHERE n.nspname = %s AND c.relname = %s AND i.indisunique
                      AND i.indnkeyatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL
                    """,
                    [schema, table],
                )
            }
        except psycopg.Error as exc:
            raise self._translate(exc) from None
        columns = {
            r["column_name"]: Column(
                name=r["column_name"],
                data_type=r["data_type"],
                udt_schema=r["udt_schema"],
                udt_name=r["udt_name"],
                nullable=r["is_nullable"] == "YES",
                has_default=r["column_default"] is not None,
                identity=r["is_identity"] == "YES",
                generated=r["is_generated"] == "ALWAYS",
                options=tuple(options.get(f"{r['udt_schema']}.{r['udt_name']}", ())),
            )
            for r in rows
        }
        return TableInfo(columns=columns, unique_columns=frozenset(unique))

    def _check_columns(self, info: TableInfo, *, reading: bool) -> None:
        configured = {
            "key_column": self.config.key_column,
            "updated_at_column": self.config.updated_at_column,
            "id_column": self.config.id_column,
        }
        for setting, name in configured.items():
            if name and name not in info.columns:
                raise ConnectorError(
                    f"{setting}: the table {self.config.schema_name}.{self.config.table} has no column "
                    f"{name!r} (columns: {', '.join(info.columns)}).",
                    permanent=True,
                )
        if reading:
            # Rows are identified by the key and paged by it (or by the id column): a NULL there would
            # make a row unreadable, and skipping such rows quietly is not an option.
            for name in {self.config.key_column, self.config.id_column or self.config.key_column}:
                if info.columns[name].nullable:
                    raise ConnectorError(
                        f"The column {name!r} may be NULL, so some rows could not be identified or paged; "
                        "choose the primary key or a NOT NULL unique column.",
                        permanent=True,
                    )

    # -- reading -----------------------------------------------------------------------------------

    def _settle_applies(self, info: TableInfo) -> bool:
        column = info.columns.get(self.config.updated_at_column or "")
        return (
            bool(self.config.settle_seconds)
            and column is not None
            and column.data_type in _TIME_ORDERED_TYPES
        )

    def _fetch(
        self, conn: psycopg.Connection[DictRow], position: _Position, limit: int, settle: bool
    ) -> list[dict[str, Any]]:
        key = sql.Identifier(self.config.key_column)
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        if position.phase == "id":
            ident = sql.Identifier(self.config.id_column or self.config.key_column)
            conditions.append(sql.SQL("{} IS NOT NULL").format(ident))
            if position.key is not None:
                conditions.append(sql.SQL("{} > %s").format(ident))
                params.append(position.key)
            order: sql.Composable = ident
        else:
            updated = sql.Identifier(self.config.updated_at_column or "")
            conditions.append(sql.SQL("{} IS NOT NULL").format(key))
            if position.phase == "null":
                conditions.append(sql.SQL("{} IS NULL").format(updated))
                if position.key is not None:
                    conditions.append(sql.SQL("{} > %s").format(key))
                    params.append(position.key)
                order = key
            else:
                conditions.append(sql.SQL("{} IS NOT NULL").format(updated))
                if position.updated is not None and position.key is not None:
                    conditions.append(sql.SQL("({}, {}) > (%s, %s)").format(updated, key))
                    params.extend([position.updated, position.key])
                if settle:
                    conditions.append(sql.SQL("{} <= now() - make_interval(secs => %s)").format(updated))
                    params.append(self.config.settle_seconds)
                order = sql.SQL("{}, {}").format(updated, key)
        query = sql.SQL("SELECT * FROM {table} WHERE {where} ORDER BY {order} LIMIT %s").format(
            table=self._table_sql, where=sql.SQL(" AND ").join(conditions), order=order
        )
        params.append(limit)
        try:
            return list(conn.execute(query, params).fetchall())
        except psycopg.Error as exc:
            raise self._translate(exc) from None

    def _after(self, position: _Position, row: Mapping[str, Any]) -> _Position:
        if position.phase == "id":
            return _Position("id", key=_cursor_text(row[self.config.id_column or self.config.key_column]))
        key = _cursor_text(row[self.config.key_column])
        if position.phase == "null":
            return _Position("null", key=key)
        return _Position("ts", updated=_cursor_text(row[self.config.updated_at_column or ""]), key=key)

    def _record(self, row: Mapping[str, Any], phase: Phase) -> SourceRecord:
        if phase == "id":
            # An append-only row has no modification time; when we first saw it is the honest stand-in.
            updated = datetime.now(UTC)
        else:
            # Rows without an updated-at sort before every dated change.
            updated = _as_moment(row[self.config.updated_at_column or ""]) or _EPOCH
        return SourceRecord(
            id=str(jsonable(row[self.config.key_column])),
            updated_at=updated,
            fields={name: jsonable(value) for name, value in row.items()},
        )

    # -- writing -----------------------------------------------------------------------------------

    def _prepare(
        self, info: TableInfo, index: int, item: WriteItem, match_field: str
    ) -> _Pending | WriteResult:
        values = dict(item.fields)
        # A linked record is found by its key (the target id we returned before); a new one by the
        # workflow's match field.
        conflict = self.config.key_column if item.target_id else match_field
        if item.target_id:
            values[self.config.key_column] = item.target_id
        if conflict not in info.columns:
            return WriteResult(
                key=item.key, ok=False, error=f"The table has no column {conflict!r} to match rows on."
            )
        if conflict not in info.unique_columns:
            return WriteResult(
                key=item.key,
                ok=False,
                error=f"Rows can only be matched on a column with a unique constraint; {conflict!r} "
                "has none (add one, or match on the key column).",
            )
        if not item.target_id and values.get(match_field) in (None, ""):
            return WriteResult(
                key=item.key,
                ok=False,
                error=f"No {match_field} to match the row on; the row was not written.",
            )
        unknown = sorted(name for name in values if name not in info.columns)
        if unknown:
            return WriteResult(
                key=item.key,
                ok=False,
                error=f"The table {self.config.schema_name}.{self.config.table} has no column(s) "
                f"{', '.join(unknown)}.",
            )
        params = {name: _param(info.columns[name], value) for name, value in values.items()}
        return _Pending(index, item.key, conflict, params, conflict_value=str(values.get(conflict)))

    def _write(
        self, conn: psycopg.Connection[DictRow], info: TableInfo, group: Sequence[_Pending]
    ) -> dict[int, WriteResult]:
        """Write one group (same columns, same match column, distinct match values) in one transaction.

        Existing rows are updated first and only the rest inserted. A plain INSERT ... ON CONFLICT DO
        UPDATE cannot do partial updates: PostgreSQL checks NOT NULL on the proposed new row before it
        looks for the conflict, so updating only the changed fields of an existing row would fail.
        """
        try:
            with conn.transaction():
                results = self._update_existing(conn, info, group)
                missing = [entry for entry in group if entry.index not in results]
                if missing:
                    results.update(self._insert(conn, info, missing))
        except psycopg.Error as exc:
            if not _is_record_error(exc):
                raise self._translate(exc) from None
            if len(group) == 1:
                only = group[0]
                return {only.index: WriteResult(key=only.key, ok=False, error=self._redact(_db_message(exc)))}
            # One bad row rejects the whole statement; halving finds the bad rows in O(bad * log n)
            # statements while every good row is still written.
            middle = len(group) // 2
            halves = self._write(conn, info, group[:middle])
            halves.update(self._write(conn, info, group[middle:]))
            return halves
        return results

    def _values(
        self, info: TableInfo, group: Sequence[_Pending], names: Sequence[str], *, ordinal: bool
    ) -> tuple[sql.Composable, list[Any]]:
        """A VALUES list with every value cast to its column's type (VALUES outside an INSERT would
        otherwise type untyped parameters as text)."""
        casts = [
            sql.SQL("CAST({} AS {})").format(sql.Placeholder(), info.columns[name].type_sql) for name in names
        ]
        if ordinal:
            casts.insert(0, sql.SQL("CAST({} AS integer)").format(sql.Placeholder()))
        row = sql.SQL("({})").format(sql.SQL(", ").join(casts))
        params: list[Any] = []
        for position, entry in enumerate(group):
            if ordinal:
                params.append(position)
            params.extend(entry.values[name] for name in names)
        return sql.SQL("VALUES {}").format(sql.SQL(", ").join([row] * len(group))), params

    def _update_existing(
        self, conn: psycopg.Connection[DictRow], info: TableInfo, group: Sequence[_Pending]
    ) -> dict[int, WriteResult]:
        conflict = group[0].conflict
        names = list(group[0].values)
        aliases = {name: sql.Identifier(f"c{i}") for i, name in enumerate(names)}
        values, params = self._values(info, group, names, ordinal=True)
        source = sql.SQL("({values}) AS v(hub_ord, {aliases})").format(
            values=values, aliases=sql.SQL(", ").join(aliases.values())
        )
        match = sql.SQL("t.{} = v.{}").format(sql.Identifier(conflict), aliases[conflict])
        key = sql.Identifier(self.config.key_column)
        changes = [name for name in names if name != conflict]
        if changes:
            query = sql.SQL(
                "UPDATE {table} AS t SET {sets} FROM {source} WHERE {match} RETURNING v.hub_ord, t.{key} AS hub_key"
            ).format(
                table=self._table_sql,
                sets=sql.SQL(", ").join(
                    sql.SQL("{} = v.{}").format(sql.Identifier(name), aliases[name]) for name in changes
                ),
                source=source,
                match=match,
                key=key,
            )
        else:
            # Nothing to change but the match value itself: find the row without touching it.
            query = sql.SQL(
                "SELECT v.hub_ord, t.{key} AS hub_key FROM {table} AS t JOIN {source} ON {match}"
            ).format(table=self._table_sql, source=source, match=match, key=key)
        results: dict[int, WriteResult] = {}
        for row in conn.execute(query, params).fetchall():
            entry = group[row["hub_ord"]]
            results[entry.index] = WriteResult(
                key=entry.key, ok=True, target_id=str(jsonable(row["hub_key"])), action="updated"
            )
        return results

    def _insert(
        self, conn: psycopg.Connection[DictRow], info: TableInfo, group: Sequence[_Pending]
    ) -> dict[int, WriteResult]:
        conflict = group[0].conflict
        names = list(group[0].values)
        values, params = self._values(info, group, names, ordinal=False)
        # ON CONFLICT still matters: another writer may have inserted the row since our UPDATE.
        updates = [name for name in names if name != conflict] or [conflict]
        query = sql.SQL(
            "INSERT INTO {table} ({columns}) {values} ON CONFLICT ({conflict}) DO UPDATE SET {sets} "
            "RETURNING {key} AS hub_key, (xmax = 0) AS hub_inserted"
        ).format(
            table=self._table_sql,
            columns=sql.SQL(", ").join(sql.Identifier(name) for name in names),
            values=values,
            conflict=sql.Identifier(conflict),
            sets=sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(name), sql.Identifier(name))
                for name in updates
            ),
            key=sql.Identifier(self.config.key_column),
        )
        returned = conn.execute(query, params).fetchall()
        # RETURNING hands rows back in VALUES order for a multi-row INSERT (Django's bulk_create
        # relies on the same), so results pair with the inputs by position.
        return {
            entry.index: WriteResult(
                key=entry.key,
                ok=True,
                target_id=str(jsonable(row["hub_key"])),
                action="created" if row["hub_inserted"] else "updated",
            )
            for entry, row in zip(group, returned, strict=True)
        }


def _db_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    primary = diag.message_primary or str(exc).strip() or type(exc).__name__
    if diag.message_detail:
        return f"{primary} ({diag.message_detail})"
    return primary


def _is_record_error(exc: psycopg.Error) -> bool:
    state = exc.sqlstate or ""
    return state.startswith(_RECORD_ERROR_CLASSES) or state in _RECORD_ERROR_CODES


def _statement_groups(pending: Sequence[_Pending]) -> Iterator[list[_Pending]]:
    """Split writes into INSERT statements: same columns and match column per statement, and no match
    value twice in one statement (PostgreSQL refuses to update a row twice in one command). A record
    that appears twice goes into a later wave, so writes to one row keep the caller's order."""
    waves: list[list[_Pending]] = []
    wave_keys: list[set[tuple[str, str]]] = []
    for entry in pending:
        marker = (entry.conflict, entry.conflict_value)
        for keys, wave in zip(wave_keys, waves, strict=True):
            if marker not in keys:
                keys.add(marker)
                wave.append(entry)
                break
        else:
            wave_keys.append({marker})
            waves.append([entry])
    for wave in waves:
        groups: dict[tuple[str, tuple[str, ...]], list[_Pending]] = {}
        for entry in wave:
            groups.setdefault((entry.conflict, tuple(entry.values)), []).append(entry)
        for (_, names), members in groups.items():
            size = max(1, min(MAX_ROWS_PER_STATEMENT, MAX_PARAMETERS // max(1, len(names))))
            for start in range(0, len(members), size):
                yield members[start : start + size]
