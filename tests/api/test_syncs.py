"""/api/v1/syncs and /api/v1/sync-runs: define, change, switch on, run and delete two-way syncs."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from integrations_hub.api.problems import PROBLEM_CONTENT_TYPE
from tests.api.conftest import SYNC_FIELDS, SYNC_MATCH, World
from workflows.sync import tasks
from workflows.sync.models import Sync, SyncConflict, SyncRun


def _definition(world: World, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Contacts ↔ users (API)",
        "a_connection": world.crm.pk,
        "a_object": "contacts",
        "b_connection": world.helpdesk.pk,
        "b_object": "users",
        "fields": SYNC_FIELDS,
        "match": SYNC_MATCH,
        "create": "a_to_b",
        "deletion": "ignore",
        "poll_interval_seconds": 120,
    }
    body.update(overrides)
    return body


def test_creating_a_sync_stores_the_checked_definition(editor_api: APIClient, world: World) -> None:
    response = editor_api.post("/api/v1/syncs", _definition(world), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    sync = Sync.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/v1/syncs/{sync.pk}"
    assert (sync.team, sync.a_connection, sync.b_connection) == (world.team, world.crm, world.helpdesk)
    assert sync.fields == SYNC_FIELDS and sync.create == "a_to_b" and not sync.enabled
    assert body["timing_label"] == "near-real-time (every 2 min, both sides)"
    assert body["consistency"] == {
        "linked": 0,
        "held": 0,
        "duplicates_a": 0,
        "duplicates_b": 0,
        "open_conflicts": 0,
    }
    assert body["last_run"] is None


def test_a_definition_that_does_not_compile_is_a_problem_naming_each_field(
    editor_api: APIClient, world: World
) -> None:
    fields = [*SYNC_FIELDS, {"key": "memo", "a": "x", "b": "y", "direction": "sideways"}]

    response = editor_api.post(
        "/api/v1/syncs",
        _definition(world, fields=fields, match=[{"rule": "telepathy", "a": "email", "b": "email"}]),
        format="json",
    )

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    errors = response.json()["errors"]
    assert errors["fields"] == [
        f"field pair {len(SYNC_FIELDS) + 1} (memo).direction: choose one of a_to_b, b_to_a, both, none "
        "(got 'sideways')"
    ]
    assert any("telepathy" in message for message in errors["match"]), errors
    assert not Sync.objects.filter(name="Contacts ↔ users (API)").exists()


def test_a_taken_name_and_another_teams_connection_are_refused(
    editor_api: APIClient, world: World, other_world: World
) -> None:
    response = editor_api.post(
        "/api/v1/syncs",
        _definition(world, name=world.sync.name, b_connection=other_world.helpdesk.pk),
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["name"] == ["Your team already has a sync with this name."]
    assert "does not exist" in errors["b_connection"][0]
    assert Sync.objects.filter(b_connection=other_world.helpdesk).count() == 1  # other_world's own


def test_an_object_the_connector_does_not_have_is_refused(editor_api: APIClient, world: World) -> None:
    response = editor_api.post("/api/v1/syncs", _definition(world, a_object="planets"), format="json")

    assert response.status_code == 400
    assert "no object 'planets'" in response.json()["errors"]["a_object"][0]


def test_patch_changes_the_definition_and_switching_on_schedules_the_sync(
    editor_api: APIClient, world: World
) -> None:
    url = f"/api/v1/syncs/{world.sync.pk}"

    response = editor_api.patch(
        url, {"poll_interval_seconds": 300, "deletion": "ignore", "enabled": True}, format="json"
    )

    assert response.status_code == 200, response.content
    sync = Sync.objects.select_related("periodic_task__interval").get(pk=world.sync.pk)
    assert sync.enabled and sync.started_at is not None and sync.poll_interval_seconds == 300
    assert sync.periodic_task is not None and sync.periodic_task.enabled
    assert response.json()["enabled"] is True

    off = editor_api.patch(url, {"enabled": False}, format="json")

    sync.refresh_from_db()
    assert off.status_code == 200 and not sync.enabled
    assert sync.periodic_task is None or not sync.periodic_task.enabled


def test_patch_cannot_move_a_sync_to_other_connections_or_break_its_definition(
    editor_api: APIClient, world: World
) -> None:
    url = f"/api/v1/syncs/{world.sync.pk}"

    moved = editor_api.patch(url, {"b_connection": world.spare.pk}, format="json")
    broken = editor_api.patch(url, {"fields": [], "enabled": True}, format="json")

    assert moved.status_code == 400 and "b_connection" in moved.json()["errors"]
    assert broken.status_code == 400
    assert broken.json()["errors"]["fields"] == ["fields: add at least one field pair"]
    sync = Sync.objects.get(pk=world.sync.pk)
    assert sync.b_connection_id == world.helpdesk.pk and sync.fields == SYNC_FIELDS and not sync.enabled


def test_list_filters_by_connection_name_and_state(editor_api: APIClient, world: World) -> None:
    other = editor_api.post(
        "/api/v1/syncs",
        _definition(world, name="Spare ↔ users", a_connection=world.spare.pk, enabled=True),
        format="json",
    ).json()

    by_connection = editor_api.get(f"/api/v1/syncs?connection={world.spare.pk}").json()
    enabled = editor_api.get("/api/v1/syncs?enabled=true").json()
    by_name = editor_api.get("/api/v1/syncs?name=CONTACTS").json()

    assert [s["id"] for s in by_connection["results"]] == [other["id"]]
    assert [s["id"] for s in enabled["results"]] == [other["id"]]
    assert [s["id"] for s in by_name["results"]] == [world.sync.pk]


def test_run_now_queues_one_run_on_commit_and_refuses_a_second(
    editor_api: APIClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(tasks.execute_sync_run, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        first = editor_api.post(f"/api/v1/syncs/{world.sync.pk}/run")
    second = editor_api.post(f"/api/v1/syncs/{world.sync.pk}/run")

    assert first.status_code == 202, first.content
    run = SyncRun.objects.get(pk=first.json()["id"])
    assert queued == [run.pk] and run.trigger == "manual" and run.status == "queued"
    assert first["Location"] == f"/api/v1/sync-runs/{run.pk}"
    assert second.status_code == 409
    assert second.json()["type"] == "urn:integrations-hub:problem:run-in-progress"
    assert second["Retry-After"] == "5"


def test_a_sync_with_an_active_run_is_not_deleted_until_it_finishes(
    editor_api: APIClient, world: World
) -> None:
    run = SyncRun.objects.create(sync=world.sync, status=SyncRun.Status.RUNNING)
    url = f"/api/v1/syncs/{world.sync.pk}"

    busy = editor_api.delete(url)
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.SUCCEEDED)
    done = editor_api.delete(url)

    assert busy.status_code == 409
    assert done.status_code == 204
    assert not Sync.objects.filter(pk=world.sync.pk).exists()
    assert not SyncConflict.objects.filter(pk=world.conflict.pk).exists()
    assert editor_api.get(url).status_code == 404


def test_sync_runs_list_and_show_each_record_pair_outcome(
    editor_api: APIClient, world: World, other_world: World
) -> None:
    listed = editor_api.get(f"/api/v1/sync-runs?sync={world.sync.pk}").json()
    outcomes = editor_api.get(f"/api/v1/sync-runs/{world.sync_run.pk}/outcomes").json()
    none_failed = editor_api.get(f"/api/v1/sync-runs/{world.sync_run.pk}/outcomes?outcome=failed").json()
    foreign = editor_api.get(f"/api/v1/sync-runs/{other_world.sync_run.pk}")

    assert [run["id"] for run in listed["results"]] == [world.sync_run.pk]
    assert listed["results"][0]["sync_name"] == world.sync.name
    assert [(o["a_id"], o["b_id"], o["outcome"]) for o in outcomes["results"]] == [
        ("101", "10001", "conflict")
    ]
    assert none_failed["results"] == []
    assert foreign.status_code == 404
