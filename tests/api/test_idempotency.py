"""Idempotency-Key on POST: replay of the first response, 409 on reuse, one effect under concurrency."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection as db_connection
from django.utils import timezone
from rest_framework.test import APIClient

from connectors.models import Connection
from integrations_hub.api.models import IdempotencyKey
from tests.api.conftest import World, token_client
from workflows.models import Run


def _new_connection(world: World, name: str = "Idempotent CRM") -> dict[str, Any]:
    return {
        "name": name,
        "kind": "hubspot",
        "config": {"base_url": world.crm.config["base_url"]},
        "credentials": {"access_token": "demo-crm-token"},
    }


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(
    world: World, editor_api: APIClient
) -> None:
    first = editor_api.post(
        "/api/v1/connections", _new_connection(world), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = editor_api.post(
        "/api/v1/connections", _new_connection(world), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert Connection.objects.filter(name="Idempotent CRM").count() == 1


def test_the_same_body_with_other_key_order_and_spacing_counts_as_the_same_request(
    world: World, editor_api: APIClient
) -> None:
    body = _new_connection(world)
    # The same JSON as `body`, with other key order and spacing.
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)
    editor_api.post("/api/v1/connections", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    again = editor_api.post(
        "/api/v1/connections", reordered, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-2"
    )

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_a_409_problem(world: World, editor_api: APIClient) -> None:
    editor_api.post("/api/v1/connections", _new_connection(world), format="json", HTTP_IDEMPOTENCY_KEY="k-3")

    other = editor_api.post(
        "/api/v1/connections", _new_connection(world, "Another"), format="json", HTTP_IDEMPOTENCY_KEY="k-3"
    )

    assert other.status_code == 409
    assert other["Content-Type"] == "application/problem+json"
    assert other.json()["type"] == "urn:integrations-hub:problem:idempotency-key-reused"
    assert not Connection.objects.filter(name="Another").exists()


def test_keys_belong_to_one_user(world: World, editor_api: APIClient, admin_api: APIClient) -> None:
    editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/run", HTTP_IDEMPOTENCY_KEY="shared")
    Run.objects.filter(workflow=world.workflow).update(status=Run.Status.SUCCEEDED)

    admins = admin_api.post(f"/api/v1/workflows/{world.workflow.pk}/run", HTTP_IDEMPOTENCY_KEY="shared")

    assert admins.status_code == 202
    assert "Idempotent-Replayed" not in admins


def test_errors_are_replayed_too_but_server_errors_release_the_key(
    world: World, editor_api: APIClient
) -> None:
    bad = {"name": "", "kind": "hubspot"}
    first = editor_api.post("/api/v1/connections", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    again = editor_api.post("/api/v1/connections", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert first.status_code == again.status_code == 400
    assert again["Idempotent-Replayed"] == "true"

    with mock.patch("connectors.api.connection_create", side_effect=RuntimeError("boom")):
        failed = editor_api.post(
            "/api/v1/connections", _new_connection(world), format="json", HTTP_IDEMPOTENCY_KEY="k-5"
        )
    retried = editor_api.post(
        "/api/v1/connections", _new_connection(world), format="json", HTTP_IDEMPOTENCY_KEY="k-5"
    )

    assert failed.status_code == 500
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried


def test_a_key_older_than_24_hours_is_forgotten(world: World, editor_api: APIClient) -> None:
    url = f"/api/v1/workflows/{world.workflow.pk}/run"
    editor_api.post(url, HTTP_IDEMPOTENCY_KEY="old")
    Run.objects.filter(workflow=world.workflow).update(status=Run.Status.SUCCEEDED)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))

    again = editor_api.post(url, HTTP_IDEMPOTENCY_KEY="old")

    assert again.status_code == 202
    assert "Idempotent-Replayed" not in again
    # The world's own run, and one per request: the expired key did not stop the second.
    assert Run.objects.filter(workflow=world.workflow).count() == 3


def test_pruning_deletes_only_expired_keys_of_every_user(
    world: World, editor_api: APIClient, admin_api: APIClient
) -> None:
    from integrations_hub.api.idempotency import idempotency_prune

    editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/publish", HTTP_IDEMPOTENCY_KEY="old")
    admin_api.post(f"/api/v1/workflows/{world.workflow.pk}/publish", HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))

    assert idempotency_prune() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_a_request_still_in_progress_makes_a_retry_wait_with_409(world: World, editor_api: APIClient) -> None:
    url = f"/api/v1/workflows/{world.workflow.pk}/run"
    from integrations_hub.api.idempotency import idempotency_begin, request_fingerprint

    user = world.team.memberships.get(role="editor").user
    idempotency_begin(
        user=user,
        key="busy",
        fingerprint=request_fingerprint(method="POST", path=url, body=b""),
        method="POST",
        path=url,
    )

    response = editor_api.post(url, HTTP_IDEMPOTENCY_KEY="busy")

    assert response.status_code == 409
    assert response.json()["type"] == "urn:integrations-hub:problem:idempotency-request-in-progress"
    assert response["Retry-After"] == "1"
    assert Run.objects.filter(workflow=world.workflow).count() == 1  # only the world's own run


def test_a_claim_abandoned_by_a_crashed_request_is_taken_over(world: World, editor_api: APIClient) -> None:
    url = f"/api/v1/workflows/{world.workflow.pk}/run"
    from integrations_hub.api.idempotency import idempotency_begin, request_fingerprint

    user = world.team.memberships.get(role="editor").user
    idempotency_begin(
        user=user,
        key="lost",
        fingerprint=request_fingerprint(method="POST", path=url, body=b""),
        method="POST",
        path=url,
    )
    IdempotencyKey.objects.update(locked_at=timezone.now() - timedelta(minutes=6))

    response = editor_api.post(url, HTTP_IDEMPOTENCY_KEY="lost")

    assert response.status_code == 202


def test_an_invalid_key_is_a_validation_problem(world: World, editor_api: APIClient) -> None:
    response = editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/run", HTTP_IDEMPOTENCY_KEY="x" * 256)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]


def test_a_rotated_webhook_secret_is_never_replayed(world: World, editor_api: APIClient) -> None:
    url = f"/api/v1/workflows/{world.workflow.pk}/webhook/rotate-secret"
    first = editor_api.post(url, HTTP_IDEMPOTENCY_KEY="rotate-1")
    again = editor_api.post(url, HTTP_IDEMPOTENCY_KEY="rotate-1")

    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["type"] == "urn:integrations-hub:problem:idempotency-response-withheld"
    assert first.json()["secret"] not in again.content.decode()
    stored = IdempotencyKey.objects.get(key="rotate-1")
    assert stored.response_body is None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_the_same_key_have_one_effect(
    team: Any, editor: Any, crm_sandbox_process: Any, helpdesk_sandbox_process: Any
) -> None:
    if db_connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises all writers, so two requests cannot overlap")
    from tests.api.conftest import build_world

    world = build_world(team, crm_url=crm_sandbox_process.url, helpdesk_url=helpdesk_sandbox_process.url)
    body = _new_connection(world, "Raced CRM")
    first_inside = threading.Event()
    second_done = threading.Event()
    from connectors import api as connectors_api

    real_create = connectors_api.connection_create

    def slow_create(**kwargs: Any) -> Connection:
        # Hold the first request inside its effect until the second one has been answered.
        first_inside.set()
        assert second_done.wait(10)
        return real_create(**kwargs)

    results: dict[str, Any] = {}

    def first_request() -> None:
        try:
            results["first"] = token_client(editor).post(
                "/api/v1/connections", body, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
        finally:
            db_connection.close()

    with mock.patch.object(connectors_api, "connection_create", side_effect=slow_create):
        thread = threading.Thread(target=first_request)
        thread.start()
        assert first_inside.wait(10)
        second = token_client(editor).post(
            "/api/v1/connections", body, format="json", HTTP_IDEMPOTENCY_KEY="race"
        )
        second_done.set()
        thread.join(15)
    third = token_client(editor).post("/api/v1/connections", body, format="json", HTTP_IDEMPOTENCY_KEY="race")

    assert results["first"].status_code == 201
    assert second.status_code == 409
    assert second.json()["type"] == "urn:integrations-hub:problem:idempotency-request-in-progress"
    assert third.status_code == 201 and third["Idempotent-Replayed"] == "true"
    assert Connection.objects.filter(name="Raced CRM").count() == 1
