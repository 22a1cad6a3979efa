"""Builders for two-way sync tests."""

from __future__ import annotations

from typing import Any

from connectors.models import Connection
from connectors.services import connection_create
from workflows.sync.models import Sync, SyncRun
from workflows.sync.services.definition import sync_create
from workflows.sync.services.runs import sync_run_execute, sync_run_request

# One pair of each kind the engine knows, over the fake systems' fields.
FAKE_FIELDS: list[dict[str, Any]] = [
    {"key": "email", "a": "email", "b": "email", "direction": "both", "policy": "a_wins"},
    {"key": "notes", "a": "notes", "b": "notes", "direction": "both", "policy": "manual"},
    {"key": "phone", "a": "phone", "b": "phone", "direction": "both", "policy": "last_write"},
    {
        "key": "title",
        "a": "title",
        "b": "title",
        "direction": "a_to_b",
        "a_to_b": {"transforms": [{"name": "upper"}]},
    },
    {"key": "plan", "a": "plan", "b": "plan", "direction": "b_to_a"},
    {"key": "tier", "a": "tier", "b": "tier", "direction": "both", "policy": "b_wins"},
    {"key": "city", "a": "city", "b": "city", "direction": "both", "policy": "a_wins", "allow_empty": True},
]
EMAIL_RULE: list[dict[str, Any]] = [{"rule": "email", "a": "email", "b": "email"}]
ARCHIVED: dict[str, Any] = {
    "a": {"field": "archived", "op": "equals", "value": True},
    "b": {"field": "archived", "op": "equals", "value": True},
}


def fake_connection(team: Any, kind: str, system_name: str) -> Connection:
    return connection_create(
        team=team, name=system_name, kind=kind, config={"base_url": f"memory://{system_name}"}, credentials={}
    )


def fake_sync(team: Any, **overrides: Any) -> Sync:
    options: dict[str, Any] = {
        "team": team,
        "name": "Contacts ↔ users",
        "a_connection": fake_connection(team, "fake_crm", "crm"),
        "a_object": "contacts",
        "b_connection": fake_connection(team, "fake_desk", "desk"),
        "b_object": "users",
        "fields": FAKE_FIELDS,
        "match": EMAIL_RULE,
        "deleted_when": ARCHIVED,
        "deletion": "propagate",
    }
    options.update(overrides)
    return sync_create(**options)


def run_sync(sync: Sync, trigger: str = SyncRun.Trigger.MANUAL) -> SyncRun:
    run = sync_run_request(sync=sync, trigger=trigger, enqueue=False)
    assert run is not None, "another run of this sync is active"
    sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run
