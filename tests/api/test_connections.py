"""The connections API: create, read, change, test, schema, health, delete; credentials write-only."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from connectors.models import Connection
from tests.api.conftest import World


def test_connector_types_describe_config_as_json_schema_credentials_and_objects(
    world: World, editor_api: APIClient
) -> None:
    listing = editor_api.get("/api/v1/connector-types").json()
    hubspot = editor_api.get("/api/v1/connector-types/hubspot").json()

    assert {"hubspot", "zendesk"} <= {item["key"] for item in listing["results"]}
    assert hubspot["auth_scheme"] == "bearer"
    assert hubspot["credential_fields"] == ["access_token"]
    assert hubspot["config_schema"]["properties"]["base_url"]["type"] == "string"
    contacts = next(o for o in hubspot["objects"] if o["name"] == "contacts")
    assert contacts["capabilities"]["upsert_key"] == "email"
    assert editor_api.get("/api/v1/connector-types/nope").status_code == 404


def test_connector_types_say_which_objects_can_be_looked_up_and_deleted(
    world: World, editor_api: APIClient
) -> None:
    def capabilities(kind: str, object_name: str) -> dict[str, Any]:
        body = editor_api.get(f"/api/v1/connector-types/{kind}").json()
        return next(o for o in body["objects"] if o["name"] == object_name)["capabilities"]

    hubspot_contacts = capabilities("hubspot", "contacts")
    slack_messages = capabilities("slack", "messages")

    assert hubspot_contacts["find"] is True and hubspot_contacts["delete"] is True
    assert slack_messages["find"] is False and slack_messages["delete"] is False


def test_a_created_connection_keeps_its_credentials_encrypted_and_never_shows_them(
    world: World, editor_api: APIClient
) -> None:
    response = editor_api.post(
        "/api/v1/connections",
        {
            "name": "Sales CRM",
            "kind": "hubspot",
            "config": {"base_url": world.crm.config["base_url"]},
            "credentials": {"access_token": "demo-crm-token"},
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["has_credentials"] is True
    assert "credentials" not in body and "demo-crm-token" not in response.content.decode()
    assert response["Location"] == f"/api/v1/connections/{body['id']}"
    stored = Connection.objects.get(pk=body["id"])
    assert stored.get_credentials() == {"access_token": "demo-crm-token"}
    assert "demo-crm-token" not in stored.credentials_encrypted


def test_a_connection_name_is_unique_in_a_team(world: World, editor_api: APIClient) -> None:
    response = editor_api.post(
        "/api/v1/connections",
        {"name": "CRM", "kind": "hubspot", "config": {}, "credentials": {"access_token": "t"}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["Your team already has a connection with this name."]}


def test_changing_credentials_keeps_the_ones_not_sent_and_resets_the_status(
    world: World, editor_api: APIClient
) -> None:
    Connection.objects.filter(pk=world.crm.pk).update(status=Connection.Status.OK)

    response = editor_api.patch(
        f"/api/v1/connections/{world.crm.pk}", {"credentials": {"access_token": "rotated"}}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "untested"
    world.crm.refresh_from_db()
    assert world.crm.get_credentials() == {"access_token": "rotated"}
    blank = editor_api.patch(
        f"/api/v1/connections/{world.crm.pk}", {"credentials": {"access_token": ""}}, format="json"
    )
    assert blank.status_code == 200
    world.crm.refresh_from_db()
    assert world.crm.get_credentials() == {"access_token": "rotated"}


def test_testing_a_connection_reports_the_account_or_the_systems_message(
    world: World, editor_api: APIClient
) -> None:
    good = editor_api.post(f"/api/v1/connections/{world.crm.pk}/test").json()
    editor_api.patch(
        f"/api/v1/connections/{world.crm.pk}", {"credentials": {"access_token": "wrong"}}, format="json"
    )
    bad = editor_api.post(f"/api/v1/connections/{world.crm.pk}/test").json()
    health = editor_api.get(f"/api/v1/connections/{world.crm.pk}/health").json()

    assert good["ok"] is True and good["connection"]["status"] == "ok"
    assert bad["ok"] is False and "Authentication" in bad["message"]
    assert health["status"] == "error"
    assert health["last_error"] == bad["message"]
    assert health["last_success_at"] is not None
    assert health["account_label"] == good["message"]


def test_the_schema_of_an_object_comes_from_the_system_and_then_the_cache(
    world: World, editor_api: APIClient, crm_sandbox: Any
) -> None:
    crm_sandbox.admin("DELETE", "/stats")
    first = editor_api.get(f"/api/v1/connections/{world.crm.pk}/schema?object=contacts")
    second = editor_api.get(f"/api/v1/connections/{world.crm.pk}/schema?object=contacts")

    assert first.status_code == 200
    fields = {f["name"]: f for f in first.json()["fields"]}
    assert fields["customer_tier"]["custom"] is True
    assert {"bronze", "gold"} <= {o["value"] for o in fields["customer_tier"]["options"]}
    assert second.json()["fetched_at"] == first.json()["fetched_at"]
    assert crm_sandbox.stats()["total"] == 1
    unknown = editor_api.get(f"/api/v1/connections/{world.crm.pk}/schema?object=no_such_object")
    assert unknown.status_code == 400 and "object" in unknown.json()["errors"]


def test_a_failing_system_is_a_502_problem_with_its_message(world: World, editor_api: APIClient) -> None:
    editor_api.patch(
        f"/api/v1/connections/{world.crm.pk}", {"credentials": {"access_token": "wrong"}}, format="json"
    )

    response = editor_api.get(f"/api/v1/connections/{world.crm.pk}/schema?object=contacts&refresh=true")

    assert response.status_code == 502
    assert response.json()["type"] == "urn:integrations-hub:problem:upstream-error"


def test_a_connection_in_use_cannot_be_deleted_but_a_spare_one_can(
    world: World, editor_api: APIClient
) -> None:
    used = editor_api.delete(f"/api/v1/connections/{world.crm.pk}")
    spare = editor_api.delete(f"/api/v1/connections/{world.spare.pk}")

    assert used.status_code == 409
    assert "Contacts to users" in used.json()["detail"]
    assert spare.status_code == 204
    assert not Connection.objects.filter(pk=world.spare.pk).exists()


def test_connections_are_filtered_and_ordered(world: World, editor_api: APIClient) -> None:
    zendesk = editor_api.get("/api/v1/connections?kind=zendesk").json()
    newest_first = editor_api.get("/api/v1/connections?ordering=-created_at").json()
    bad = editor_api.get("/api/v1/connections?ordering=password")

    assert [c["name"] for c in zendesk["results"]] == ["Helpdesk"]
    assert [c["name"] for c in newest_first["results"]] == ["Spare CRM", "Helpdesk", "CRM"]
    assert bad.status_code == 400 and "ordering" in bad.json()["errors"]


def test_pages_are_bounded(world: World, editor_api: APIClient) -> None:
    page = editor_api.get("/api/v1/connections?limit=1000").json()
    small = editor_api.get("/api/v1/connections?limit=1&offset=1").json()

    assert page["count"] == 3 and len(page["results"]) == 3
    assert [c["name"] for c in small["results"]] == ["Helpdesk"]
    assert "offset=2" in small["next"]
