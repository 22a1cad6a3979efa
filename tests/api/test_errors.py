"""One error format under /api/: application/problem+json for 400, 401, 403, 404, 405, 415 and 500."""

from __future__ import annotations

from typing import Any
from unittest import mock

from django.test import Client
from rest_framework.test import APIClient

from tests.api.conftest import World

PROBLEM = "application/problem+json"


def _is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:integrations-hub:problem:")
    assert body["title"] and body["detail"]
    return body


def test_validation_errors_list_each_field_with_nested_names(world: World, editor_api: APIClient) -> None:
    response = editor_api.post(
        "/api/v1/connections",
        {"name": "", "kind": "hubspot", "config": {"base_url": 7}, "credentials": {"nonsense": "x"}},
        format="json",
    )

    body = _is_problem(response, 400)
    assert body["type"] == "urn:integrations-hub:problem:validation-error"
    assert set(body["errors"]) >= {"name"}

    response = editor_api.post(
        "/api/v1/connections",
        {"name": "Bad", "kind": "hubspot", "config": {}, "credentials": {"nonsense": "x"}},
        format="json",
    )
    assert _is_problem(response, 400)["errors"] == {
        "credentials.nonsense": ["Unknown credential; this connector takes: access_token."]
    }


def test_settings_the_connector_refuses_are_reported_under_config_and_credentials(
    world: World, editor_api: APIClient
) -> None:
    response = editor_api.post(
        "/api/v1/connections",
        {"name": "No email", "kind": "zendesk", "config": {"base_url": "http://x"}, "credentials": {}},
        format="json",
    )

    errors = _is_problem(response, 400)["errors"]
    assert set(errors) == {"config.email", "credentials.api_token"}


def test_no_credentials_is_a_401_with_the_token_scheme(db: None) -> None:
    body = _is_problem(APIClient().get("/api/v1/workflows"), 401)

    assert body["type"] == "urn:integrations-hub:problem:not-authenticated"


def test_a_wrong_or_revoked_token_is_a_401(world: World, editor: Any) -> None:
    from integrations_hub.api.tokens import token_create, token_revoke

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token ihub_not-a-real-key")
    assert _is_problem(client.get("/api/v1/workflows"), 401)["detail"] == "Invalid or revoked token."

    created = token_create(user=editor, name="short-lived")
    client.credentials(HTTP_AUTHORIZATION=f"Token {created.key}")
    assert client.get("/api/v1/workflows").status_code == 200
    token_revoke(user=editor, token_id=created.token.pk)
    _is_problem(client.get("/api/v1/workflows"), 401)


def test_a_session_without_csrf_token_is_a_403_problem(world: World, editor: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)

    assert client.get("/api/v1/workflows").status_code == 200
    body = _is_problem(client.post(f"/api/v1/workflows/{world.workflow.pk}/run"), 403)
    assert "CSRF" in body["detail"]


def test_unknown_paths_and_objects_are_404_problems(world: World, editor_api: APIClient) -> None:
    _is_problem(editor_api.get("/api/v1/nothing-here"), 404)
    _is_problem(editor_api.get("/api/v1/connections/999999"), 404)
    _is_problem(editor_api.get("/api/v1/connections/not-a-number"), 404)
    _is_problem(APIClient().get("/api/v2/connections"), 404)
    body = _is_problem(editor_api.get("/api/v1/connections/"), 404)
    assert "no trailing slash: /api/v1/connections" in body["detail"]


def test_a_wrong_method_is_a_405_problem(world: World, editor_api: APIClient) -> None:
    body = _is_problem(editor_api.put(f"/api/v1/workflows/{world.workflow.pk}", {}, format="json"), 405)

    assert body["type"] == "urn:integrations-hub:problem:method-not-allowed"


def test_a_body_that_is_not_json_is_a_415_or_400_problem(world: World, editor_api: APIClient) -> None:
    _is_problem(
        editor_api.post("/api/v1/connections", "name=x", content_type="application/x-www-form-urlencoded"),
        415,
    )
    _is_problem(editor_api.post("/api/v1/connections", "{not json", content_type="application/json"), 400)


def test_an_unexpected_error_is_a_logged_500_problem(
    world: World, editor_api: APIClient, caplog: Any
) -> None:
    with mock.patch("workflows.api.workflow_publish", side_effect=RuntimeError("kaboom")):
        response = editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/publish")

    body = _is_problem(response, 500)
    assert "kaboom" not in body["detail"]
    assert "kaboom" in caplog.text
