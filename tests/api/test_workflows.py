"""The workflows API: drafts through the services, publish, enable, run, versions, export/import, webhook."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from integrations_hub.audit.models import AuditEntry
from tests.api.conftest import World
from tests.workflows.helpers import CONTACT_MAPPING
from workflows.models import Run, Workflow
from workflows.services.webhooks import webhook_secret


def _create(client: APIClient, world: World, **overrides: Any) -> Any:
    body = {
        "name": "Leads to users",
        "source_connection": world.crm.pk,
        "source_object": "contacts",
        "target_connection": world.helpdesk.pk,
        "target_object": "users",
        "mapping": CONTACT_MAPPING,
        **overrides,
    }
    return client.post("/api/v1/workflows", body, format="json")


def test_a_workflow_is_created_as_an_unpublished_disabled_draft(
    world: World, editor_api: APIClient, editor: Any
) -> None:
    response = _create(editor_api, world)

    assert response.status_code == 201
    body = response.json()
    assert body["enabled"] is False
    assert body["published_version"] is None and body["has_unpublished_changes"] is True
    assert body["timing_label"] == "near-real-time (every 1 min)"
    assert AuditEntry.objects.filter(action="workflow.created", actor=editor).exists()


def test_connections_of_another_team_cannot_be_used(
    world: World, other_world: World, editor_api: APIClient
) -> None:
    response = _create(editor_api, world, target_connection=other_world.helpdesk.pk)

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["target_connection"]


def test_a_mapping_the_engine_cannot_compile_is_refused_per_field(
    world: World, editor_api: APIClient
) -> None:
    response = _create(
        editor_api, world, mapping={"fields": [{"target": "email", "transforms": [{"name": "nope"}]}]}
    )

    assert response.status_code == 400
    assert "mapping" in response.json()["errors"]
    assert not Workflow.objects.filter(name="Leads to users").exists()


def test_publish_makes_a_version_once_per_change(world: World, editor_api: APIClient) -> None:
    workflow_id = _create(editor_api, world).json()["id"]

    first = editor_api.post(f"/api/v1/workflows/{workflow_id}/publish")
    unchanged = editor_api.post(f"/api/v1/workflows/{workflow_id}/publish")
    editor_api.patch(
        f"/api/v1/workflows/{workflow_id}", {"match_field": "external_id", "publish": True}, format="json"
    )
    versions = editor_api.get(f"/api/v1/workflows/{workflow_id}/versions").json()

    assert (first.status_code, first.json()["number"]) == (201, 1)
    assert (unchanged.status_code, unchanged.json()["number"]) == (200, 1)
    assert [(v["number"], v["is_published"]) for v in versions["results"]] == [(2, True), (1, False)]
    assert versions["results"][0]["definition"]["match_field"] == "external_id"
    assert versions["results"][0]["created_by"] == "erin-editor"


def test_editing_the_draft_does_not_change_the_published_version(world: World, editor_api: APIClient) -> None:
    response = editor_api.patch(
        f"/api/v1/workflows/{world.workflow.pk}", {"description": "new words"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["description"] == "new words"
    assert response.json()["has_unpublished_changes"] is False  # the description is not part of a version
    changed = editor_api.patch(
        f"/api/v1/workflows/{world.workflow.pk}", {"match_field": "phone"}, format="json"
    )
    assert changed.json()["has_unpublished_changes"] is True
    assert changed.json()["published_version"] == 1


def test_connections_of_a_workflow_cannot_be_changed(world: World, editor_api: APIClient) -> None:
    response = editor_api.patch(
        f"/api/v1/workflows/{world.workflow.pk}", {"target_connection": world.spare.pk}, format="json"
    )

    world.workflow.refresh_from_db()
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "target_connection": ["Unknown field, or one that cannot be set here."]
    }
    assert world.workflow.target_connection_id == world.helpdesk.pk


def test_enable_and_disable_keep_the_schedule_in_step(world: World, editor_api: APIClient) -> None:
    enabled = editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/enable").json()
    world.workflow.refresh_from_db()
    assert enabled["enabled"] is True and world.workflow.periodic_task is not None

    disabled = editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/disable").json()
    world.workflow.refresh_from_db()
    assert disabled["enabled"] is False and world.workflow.periodic_task is None


def test_run_now_queues_a_run_and_refuses_a_second_while_it_is_active(
    world: World, editor_api: APIClient
) -> None:
    first = editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/run")
    second = editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/run")

    assert first.status_code == 202
    assert first.json()["status"] == "queued" and first.json()["trigger"] == "manual"
    assert first["Location"] == f"/api/v1/runs/{first.json()['id']}"
    assert second.status_code == 409
    assert second.json()["type"] == "urn:integrations-hub:problem:run-in-progress"


def test_an_unpublished_workflow_cannot_run(world: World, editor_api: APIClient) -> None:
    workflow_id = _create(editor_api, world).json()["id"]

    response = editor_api.post(f"/api/v1/workflows/{workflow_id}/run")

    assert response.status_code == 409
    assert response.json()["type"] == "urn:integrations-hub:problem:not-published"


def test_export_references_connections_by_name_and_imports_into_another_team(
    world: World, other_world: World, editor_api: APIClient, outsider_api: APIClient
) -> None:
    exported = editor_api.get(f"/api/v1/workflows/{world.workflow.pk}/export").json()
    assert exported["trigger"]["connection"] == "CRM"
    assert exported["target"] == {"connection": "Helpdesk", "object": "users"}

    missing = outsider_api.post("/api/v1/workflows/import", exported, format="json")
    assert missing.status_code == 400
    assert set(missing.json()["errors"]) == {"trigger.connection", "target.connection"}

    renamed = {
        **exported,
        "trigger": {**exported["trigger"], "connection": "Other CRM", "flood_threshold": 500},
        "target": {**exported["target"], "connection": "Other Helpdesk"},
    }
    imported = outsider_api.post("/api/v1/workflows/import", renamed, format="json")
    assert imported.status_code == 201, imported.content
    workflow = Workflow.objects.get(pk=imported.json()["id"])
    assert workflow.team == other_world.team
    assert workflow.source_connection == other_world.crm and workflow.flood_threshold == 500
    assert workflow.mapping == world.workflow.mapping and workflow.published_version is None


def test_importing_a_name_the_team_already_has_is_refused(world: World, editor_api: APIClient) -> None:
    exported = editor_api.get(f"/api/v1/workflows/{world.workflow.pk}/export").json()

    response = editor_api.post("/api/v1/workflows/import", exported, format="json")

    assert response.status_code == 400 and list(response.json()["errors"]) == ["name"]


def test_the_webhook_url_is_shown_and_a_rotated_secret_only_once(world: World, editor_api: APIClient) -> None:
    before = editor_api.get(f"/api/v1/workflows/{world.workflow.pk}/webhook")
    rotated = editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/webhook/rotate-secret")
    after = editor_api.get(f"/api/v1/workflows/{world.workflow.pk}/webhook")

    world.workflow.refresh_from_db()
    secret = rotated.json()["secret"]
    assert before.json()["url"] == f"http://testserver/hooks/{world.workflow.webhook_token}"
    assert before.json()["has_secret"] is True
    assert world.webhook_secret not in before.content.decode()
    assert secret.startswith("whsec_") and webhook_secret(world.workflow) == secret
    assert rotated["Cache-Control"] == "no-store"
    assert secret not in after.content.decode()


def test_deleting_a_workflow_removes_its_history(world: World, editor_api: APIClient) -> None:
    response = editor_api.delete(f"/api/v1/workflows/{world.workflow.pk}")

    assert response.status_code == 204
    assert not Workflow.objects.filter(pk=world.workflow.pk).exists()
    assert not Run.objects.filter(pk=world.run.pk).exists()


def test_a_workflow_with_an_active_run_is_not_deleted(world: World, editor_api: APIClient) -> None:
    editor_api.post(f"/api/v1/workflows/{world.workflow.pk}/run")

    response = editor_api.delete(f"/api/v1/workflows/{world.workflow.pk}")

    assert response.status_code == 409
    assert Workflow.objects.filter(pk=world.workflow.pk).exists()


def test_workflows_are_filtered(world: World, editor_api: APIClient) -> None:
    _create(editor_api, world, name="Webhook flow", trigger="webhook")

    webhooks = editor_api.get("/api/v1/workflows?trigger=webhook").json()
    disabled = editor_api.get("/api/v1/workflows?enabled=false").json()
    by_connection = editor_api.get(f"/api/v1/workflows?connection={world.spare.pk}").json()

    assert [w["name"] for w in webhooks["results"]] == ["Webhook flow"]
    assert disabled["count"] == 2
    assert by_connection["count"] == 0
