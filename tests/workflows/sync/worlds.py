"""The two systems a state-machine test drives, behind one small interface.

`FakeWorld` uses the in-memory systems (fast, exact write log, deletions). `SandboxWorld` uses the sandbox CRM
(HubSpot dialect) and helpdesk (Zendesk dialect) over HTTP, editing records through their admin APIs as a
person would. Both describe their field pairs with the same logical names, so one model checks both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from connectors.models import Connection
from connectors.providers.hubspot.client import parse_timestamp as hubspot_time
from connectors.providers.zendesk.client import parse_timestamp as zendesk_time
from connectors.sandbox.testing import SandboxProcess
from connectors.services import client_for
from tests.factories import hubspot_connection, zendesk_connection
from tests.workflows.sync.fakes import SYSTEMS, Clock, FakeSystem
from tests.workflows.sync.helpers import fake_connection

Side = Literal["a", "b"]


@dataclass(frozen=True)
class LogicalPair:
    key: str
    a: str
    b: str
    direction: str
    policy: str = "a_wins"
    allow_empty: bool = False
    upper_a_to_b: bool = False
    # Mixed case on purpose: the fake helpdesk stores text in lower case.
    values: tuple[str, ...] = ("", "x", "Y", "z")

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "key": self.key,
            "a": self.a,
            "b": self.b,
            "direction": self.direction,
            "policy": self.policy,
            "allow_empty": self.allow_empty,
        }
        if self.upper_a_to_b:
            spec["a_to_b"] = {"transforms": [{"name": "upper"}]}
        return spec

    def field(self, side: Side) -> str:
        return self.a if side == "a" else self.b

    def to_b(self, value: Any) -> Any:
        return value.upper() if self.upper_a_to_b and isinstance(value, str) else value


@dataclass(frozen=True)
class Snapshot:
    """A record as a world shows it: the pair fields, when it changed (per field where known), alive or not."""

    id: str
    fields: Mapping[str, Any]
    updated_at: datetime
    field_times: Mapping[str, datetime] = field(default_factory=dict)
    alive: bool = True


class FakeWorld:
    supports_delete = True
    exact_writes = True
    # Emails are left to the model to choose; the fake CRM accepts duplicates (a person's mistake).
    emails = ("a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io")
    pairs: tuple[LogicalPair, ...] = (
        LogicalPair("email", "email", "email", "both", "a_wins", values=()),
        LogicalPair("notes", "notes", "notes", "both", "manual"),
        LogicalPair("phone", "phone", "phone", "both", "last_write"),
        LogicalPair("title", "title", "title", "a_to_b", upper_a_to_b=True),
        LogicalPair("plan", "plan", "plan", "b_to_a"),
        LogicalPair("tier", "tier", "tier", "both", "b_wins"),
        LogicalPair("city", "city", "city", "both", "a_wins", allow_empty=True),
    )
    a_field_times = True

    def __init__(self, team: Any) -> None:
        self.team = team
        self.connections = (
            fake_connection(team, "fake_crm", "crm"),
            fake_connection(team, "fake_desk", "desk"),
        )
        self.crm: FakeSystem
        self.desk: FakeSystem

    def reset(self) -> None:
        clock = Clock()
        self.crm = FakeSystem("crm", clock, unique_email=False, first_id=101)
        self.desk = FakeSystem("desk", clock, unique_email=True, first_id=10001, normalise=True)
        SYSTEMS.update({"crm": self.crm, "desk": self.desk})

    def sync_options(self) -> dict[str, Any]:
        archived = {"field": "archived", "op": "equals", "value": True}
        return {
            "a_connection": self.connections[0],
            "a_object": "contacts",
            "b_connection": self.connections[1],
            "b_object": "users",
            "deletion": "propagate",
            "deleted_when": {"a": archived, "b": archived},
        }

    def system(self, side: Side) -> FakeSystem:
        return self.crm if side == "a" else self.desk

    def create(self, side: Side, fields: Mapping[str, Any]) -> str | None:
        row = self.system(side).person_create(dict(fields))
        return row.id if row is not None else None

    def edit(self, side: Side, record_id: str, name: str, value: Any) -> None:
        self.system(side).person_edit(record_id, name, value)

    def delete(self, side: Side, record_id: str) -> None:
        self.system(side).person_delete(record_id)

    def snapshot(self, side: Side) -> dict[str, Snapshot]:
        return {
            row.id: Snapshot(
                row.id, dict(row.fields), row.updated_at, dict(row.field_times), not row.archived
            )
            for row in self.system(side).rows.values()
        }

    def mark_writes(self) -> tuple[int, int]:
        return len(self.crm.writes), len(self.desk.writes)

    def writes_since(self, mark: tuple[int, int]) -> dict[Side, list[Any]]:
        return {"a": self.crm.writes[mark[0] :], "b": self.desk.writes[mark[1] :]}


class SandboxWorld:
    """CRM contacts (A) ↔ helpdesk users (B) over HTTP. People delete through the systems' own APIs (a CRM
    contact goes to the recycle bin, a helpdesk user turns inactive), and the sync propagates deletions."""

    supports_delete = True
    exact_writes = False
    emails = ("a@x.io", "b@x.io", "c@x.io", "d@x.io")
    pairs: tuple[LogicalPair, ...] = (
        LogicalPair("email", "email", "email", "both", "a_wins", values=()),
        LogicalPair("notes", "notes_internal", "notes", "both", "manual"),
        LogicalPair("phone", "phone", "phone", "both", "last_write"),
        # The helpdesk's free-text time_zone stands in for a field only the CRM writes.
        LogicalPair("title", "jobtitle", "time_zone", "a_to_b", upper_a_to_b=True, values=("", "x", "y")),
        LogicalPair(
            "plan",
            "country",
            "user_fields.support_plan",
            "b_to_a",
            values=("basic", "business", "enterprise"),
        ),
        # The helpdesk requires a name, so the pair that carries it never holds an empty value.
        LogicalPair("tier", "lastname", "name", "both", "b_wins", values=("x", "y", "z")),
        LogicalPair("city", "city", "details", "both", "a_wins", allow_empty=True),
    )
    a_field_times = False

    def __init__(self, team: Any, crm: SandboxProcess, helpdesk: SandboxProcess) -> None:
        self.crm = crm
        self.helpdesk = helpdesk
        unlimited = {"requests": 100_000, "interval_seconds": 1, "burst": 10_000}
        a = hubspot_connection(team=team, base_url=crm.url)
        b = zendesk_connection(team=team, base_url=helpdesk.url)
        Connection.objects.filter(pk__in=[a.pk, b.pk]).update(rate_limit_override=unlimited)
        a.refresh_from_db()
        b.refresh_from_db()
        self.connections = (a, b)

    def reset(self) -> None:
        self.crm.reset(0)
        self.helpdesk.reset(0)

    def sync_options(self) -> dict[str, Any]:
        return {
            "a_connection": self.connections[0],
            "a_object": "contacts",
            "b_connection": self.connections[1],
            "b_object": "users",
            "deletion": "propagate",
        }

    def _b_payload(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        for name, value in fields.items():
            if name.startswith("user_fields."):
                payload.setdefault("user_fields", {})[name.split(".", 1)[1]] = value or None
            else:
                payload[name] = value
        return payload

    def create(self, side: Side, fields: Mapping[str, Any]) -> str | None:
        # Both sandboxes refuse a second record with an email in use (409 / 422), as the real systems do.
        if side == "a":
            status, _, body = self.crm.request(
                "POST", "/_admin/records/contacts", {"properties": dict(fields)}
            )
            return str(body["id"]) if status < 400 else None
        status, _, body = self.helpdesk.request("POST", "/_admin/records/users", self._b_payload(fields))
        return str(body["user"]["id"]) if status < 400 else None

    def edit(self, side: Side, record_id: str, name: str, value: Any) -> None:
        if side == "a":
            self.crm.admin("PATCH", f"/_admin/records/contacts/{record_id}", {"properties": {name: value}})
        else:
            self.helpdesk.admin("PATCH", f"/_admin/records/users/{record_id}", self._b_payload({name: value}))

    def delete(self, side: Side, record_id: str) -> None:
        object_name = "contacts" if side == "a" else "users"
        result = client_for(self.connections[0 if side == "a" else 1]).delete(object_name, record_id)
        assert result.ok, result.error

    def snapshot(self, side: Side) -> dict[str, Snapshot]:
        if side == "a":
            found = {}
            for raw in self.crm.records("contacts"):
                properties = raw["properties"]
                moment = hubspot_time(properties.get("lastmodifieddate"))
                assert moment is not None
                found[str(raw["id"])] = Snapshot(str(raw["id"]), properties, moment)
            return found
        users = {}
        for raw in self.helpdesk.records("users"):
            fields = {key: value for key, value in raw.items() if key != "user_fields"}
            for key, value in (raw.get("user_fields") or {}).items():
                fields[f"user_fields.{key}"] = value
            moment = zendesk_time(raw.get("updated_at"))
            assert moment is not None
            users[str(raw["id"])] = Snapshot(
                str(raw["id"]), fields, moment, {}, bool(raw.get("active", True))
            )
        return users

    def mark_writes(self) -> tuple[int, int]:
        return (0, 0)

    def writes_since(self, mark: tuple[int, int]) -> dict[Side, list[Any]]:
        return {"a": [], "b": []}


World = FakeWorld | SandboxWorld
