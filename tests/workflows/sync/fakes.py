"""In-memory systems behind the ConnectorClient contract, for fast two-way sync tests.

A `FakeSystem` holds records with a shared millisecond clock, a change feed ordered by modification time
(deletions stay in it as archived tombstones, as HubSpot's archived records and Zendesk's inactive users
do), and a log of every write the sync makes. `FakeCrm` allows two records with the same email (person
creates), keeps per-field change times (like HubSpot's property history) and offers them to the sync;
the helpdesk-like system enforces unique emails (like Zendesk), knows only record-level times and normalises
what it stores (text in lower case, as Zendesk does with emails and tags; an empty text as null, as HubSpot
does), so what the sync reads back is not always byte for byte what it wrote.

Connections reach a system through their base URL (`memory://<name>`), so the sync service builds its
clients through the ordinary connector registry (`fake_providers` registers the two kinds).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors.base import (
    Capabilities,
    ChangePage,
    ConnectorClient,
    ConnectorError,
    FieldSchema,
    ObjectSchema,
    Provider,
    SourceRecord,
    WriteItem,
    WriteResult,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """Strictly increasing milliseconds shared by both systems, so their times are comparable."""

    def __init__(self) -> None:
        self._ticks = itertools.count(1)
        self._base = EPOCH

    def now(self) -> datetime:
        return self._base + timedelta(milliseconds=next(self._ticks))

    def jump_to(self, moment: datetime) -> None:
        """Later edits happen from `moment` on (e.g. after a sync was switched on in real time)."""
        self._base = moment


@dataclass
class Row:
    id: str
    fields: dict[str, Any]
    updated_at: datetime
    field_times: dict[str, datetime]
    archived: bool = False


@dataclass(frozen=True)
class Write:
    kind: str  # "create", "update", "delete"
    record_id: str
    fields: Mapping[str, Any]
    # For creates: live records that already had this email (a duplicate the sync should never make).
    email_taken_by: tuple[str, ...] = ()


@dataclass
class FakeSystem:
    name: str
    clock: Clock
    unique_email: bool
    first_id: int = 1
    # Store text in lower case and "" as None: what is read back differs from what was written.
    normalise: bool = False
    rows: dict[str, Row] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    _ids: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self._ids = itertools.count(self.first_id)

    # -- a person using the system ---------------------------------------------------------------

    def live(self) -> list[Row]:
        return [row for row in self.rows.values() if not row.archived]

    def with_email(self, email: str, *, exclude: str | None = None) -> list[str]:
        wanted = email.strip().lower()
        return [
            row.id
            for row in self.live()
            if row.id != exclude and str(row.fields.get("email") or "").strip().lower() == wanted
        ]

    def person_create(self, fields: Mapping[str, Any]) -> Row | None:
        """Create as a person would; a system with unique emails refuses a taken one (returns None)."""
        email = fields.get("email")
        if self.unique_email and email and self.with_email(str(email)):
            return None
        return self._insert(dict(fields))

    def _stored(self, value: Any) -> Any:
        if not self.normalise or not isinstance(value, str):
            return value
        return value.lower() or None

    def person_edit(self, record_id: str, name: str, value: Any) -> datetime:
        row = self.rows[record_id]
        now = self.clock.now()
        row.fields[name] = self._stored(value)
        row.field_times[name] = now
        row.updated_at = now
        return now

    def person_delete(self, record_id: str) -> None:
        self._archive(self.rows[record_id])

    # -- the connector side ----------------------------------------------------------------------

    def _insert(self, fields: dict[str, Any]) -> Row:
        now = self.clock.now()
        record_id = str(next(self._ids))
        fields = {
            "email": None,
            **{name: self._stored(value) for name, value in fields.items()},
            "archived": False,
        }
        row = Row(record_id, fields, now, {name: now for name in fields})
        self.rows[record_id] = row
        return row

    def _archive(self, row: Row) -> None:
        now = self.clock.now()
        row.archived = True
        row.fields["archived"] = True
        row.field_times["archived"] = now
        row.updated_at = now

    def upsert(self, item: WriteItem, match_field: str) -> WriteResult:
        fields = dict(item.fields)
        if item.target_id is not None:
            row = self.rows.get(item.target_id)
            if row is None or row.archived:
                return WriteResult(item.key, False, error=f"{self.name}: record {item.target_id} not found")
            email = fields.get("email")
            if self.unique_email and email and self.with_email(str(email), exclude=row.id):
                return WriteResult(item.key, False, error=f"{self.name}: email {email} is already used")
            now = self.clock.now()
            for name, value in fields.items():
                row.fields[name] = self._stored(value)
                row.field_times[name] = now
            row.updated_at = now
            self.writes.append(Write("update", row.id, fields))
            return WriteResult(item.key, True, row.id, "updated")
        email = fields.get("email")
        taken = tuple(self.with_email(str(email))) if email else ()
        if self.unique_email and taken and match_field == "email":
            # Upsert by email, as Zendesk's create_or_update does: the existing record is updated.
            existing = self.rows[taken[0]]
            now = self.clock.now()
            for name, value in fields.items():
                existing.fields[name] = self._stored(value)
                existing.field_times[name] = now
            existing.updated_at = now
            self.writes.append(Write("create", existing.id, fields, taken))
            return WriteResult(item.key, True, existing.id, "updated")
        row = self._insert(fields)
        self.writes.append(Write("create", row.id, fields, taken))
        return WriteResult(item.key, True, row.id, "created")

    def delete(self, record_id: str) -> WriteResult:
        row = self.rows.get(record_id)
        if row is None:
            return WriteResult(record_id, False, error=f"{self.name}: record {record_id} not found")
        if not row.archived:
            self._archive(row)
        self.writes.append(Write("delete", record_id, {}))
        return WriteResult(record_id, True, record_id, "deleted")

    def changes(self, cursor: str | None) -> list[Row]:
        ordered = sorted(self.rows.values(), key=lambda row: (row.updated_at, int(row.id)))
        if cursor is None:
            return ordered
        ms, _, last_id = cursor.partition(":")
        position = (int(ms), int(last_id))
        return [row for row in ordered if (_ms(row.updated_at), int(row.id)) > position]


def _ms(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() * 1000)


SYSTEMS: dict[str, FakeSystem] = {}


class FakeClient(ConnectorClient):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "email",
        "notes",
        "phone",
        "title",
        "plan",
        "tier",
        "city",
        "archived",
    )

    @property
    def system(self) -> FakeSystem:
        return SYSTEMS[str(self.settings.config["base_url"]).removeprefix("memory://")]

    def test(self) -> str:
        return self.system.name

    def discover_schema(self, object_name: str) -> ObjectSchema:
        fields = tuple(FieldSchema(name, name, "string") for name in self.FIELDS)
        return ObjectSchema(object_name, object_name, fields)

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        rows = self.system.changes(cursor)
        if not rows:
            yield ChangePage([], cursor, False)
            return
        for start in range(0, len(rows), page_size):
            page = rows[start : start + page_size]
            last = page[-1]
            records = [SourceRecord(row.id, row.updated_at, dict(row.fields)) for row in page]
            yield ChangePage(records, f"{_ms(last.updated_at)}:{last.id}", start + page_size < len(rows))

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        return [self.system.upsert(item, match_field) for item in items]

    def delete(self, object_name: str, target_id: str) -> WriteResult:
        if target_id not in self.system.rows:
            raise ConnectorError(
                f"{self.system.name}: record {target_id} not found", permanent=True, status=404
            )
        return self.system.delete(target_id)


class FakeCrmClient(FakeClient):
    def field_times(self, object_name: str, record: SourceRecord) -> Mapping[str, datetime]:
        row = self.system.rows.get(record.id)
        return dict(row.field_times) if row is not None else {}


class FakeCrmProvider(Provider):
    key = "fake_crm"
    label = "Fake CRM"
    auth_scheme = "none"
    objects = {"contacts": "Contacts"}
    capabilities = {"contacts": Capabilities(upsert_key="email", batch_size=50, delete=True)}
    client_class = FakeCrmClient


class FakeDeskProvider(Provider):
    key = "fake_desk"
    label = "Fake helpdesk"
    auth_scheme = "none"
    objects = {"users": "Users"}
    capabilities = {"users": Capabilities(upsert_key="email", batch_size=50, delete=True)}
    client_class = FakeClient
