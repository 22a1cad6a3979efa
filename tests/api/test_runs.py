"""The runs API: filters, per-record outcomes, replay."""

from __future__ import annotations

from datetime import timedelta

from rest_framework.test import APIClient

from tests.api.conftest import World
from workflows.models import Run


def test_runs_are_filtered_by_workflow_status_trigger_date_and_record_key(
    world: World, editor_api: APIClient
) -> None:
    older = Run.objects.create(
        workflow=world.workflow, version=world.workflow.published_version, status="failed", trigger="poll"
    )
    Run.objects.filter(pk=older.pk).update(created_at=world.run.created_at - timedelta(days=2))
    cutoff = (world.run.created_at - timedelta(days=1)).isoformat()

    def ids(query: str) -> list[int]:
        response = editor_api.get(f"/api/v1/runs?{query}")
        assert response.status_code == 200, response.content
        return [run["id"] for run in response.json()["results"]]

    assert ids("") == [world.run.pk, older.pk]
    assert ids("status=failed") == [older.pk]
    assert ids("trigger=manual") == [world.run.pk]
    assert ids(f"workflow={world.workflow.pk}&ordering=created_at") == [older.pk, world.run.pk]
    assert ids(f"created_after={cutoff.replace('+', '%2B')}") == [world.run.pk]
    assert ids(f"created_before={cutoff.replace('+', '%2B')}") == [older.pk]
    assert ids("record_key=lead@example.com") == [world.run.pk]
    assert editor_api.get("/api/v1/runs?status=exploded").status_code == 400


def test_run_records_are_filtered_by_outcome_and_search(world: World, editor_api: APIClient) -> None:
    url = f"/api/v1/runs/{world.run.pk}/records"

    failed = editor_api.get(f"{url}?outcome=failed").json()["results"]
    searched = editor_api.get(f"{url}?q=ada@").json()["results"]
    detail = editor_api.get(f"/api/v1/runs/{world.run.pk}").json()

    assert [(r["source_id"], r["error"]) for r in failed] == [("102", "Name: is too short")]
    assert [r["outcome"] for r in searched] == ["created"]
    assert (detail["status"], detail["failed_count"], detail["version"]) == ("partial", 1, 1)


def test_replay_queues_a_run_of_the_chosen_failed_records(world: World, editor_api: APIClient) -> None:
    response = editor_api.post(
        f"/api/v1/runs/{world.run.pk}/replay",
        {"record_ids": [world.failed_record.pk], "version": "current"},
        format="json",
    )

    assert response.status_code == 202
    replay = Run.objects.get(pk=response.json()["id"])
    assert replay.trigger == "replay" and replay.replay_of_id == world.run.pk
    assert replay.replay_record_ids == [world.failed_record.pk]


def test_replay_refuses_records_that_did_not_fail_in_this_run(world: World, editor_api: APIClient) -> None:
    response = editor_api.post(
        f"/api/v1/runs/{world.run.pk}/replay", {"record_ids": [world.ok_record.pk]}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["record_ids"]
