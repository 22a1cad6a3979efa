"""PATCH /api/v1/connections/{id}: rename, and a request budget of the account's own (or the default)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from connectors.base import RateLimit
from connectors.models import Connection
from connectors.registry import get_provider
from integrations_hub.audit.models import AuditEntry
from tests.api.conftest import World

PLAN = {"requests": 190, "interval_seconds": 10, "burst": 10}


def test_a_rename_changes_only_the_name_and_is_audited(
    world: World, editor_api: APIClient, editor: Any
) -> None:
    Connection.objects.filter(pk=world.crm.pk).update(status=Connection.Status.OK)

    response = editor_api.patch(f"/api/v1/connections/{world.crm.pk}", {"name": "Sales CRM"}, format="json")

    assert response.status_code == 200, response.content
    stored = Connection.objects.get(pk=world.crm.pk)
    assert (stored.name, response.json()["name"]) == ("Sales CRM", "Sales CRM")
    # Nothing about the system changed, so the connection is still known to work.
    assert stored.status == Connection.Status.OK
    assert stored.get_credentials() == world.crm.get_credentials()
    entry = AuditEntry.objects.get(action="connection.updated", object_id=str(world.crm.pk))
    assert entry.actor == editor and entry.changes == {"name": ["CRM", "Sales CRM"]}


def test_a_rename_to_a_taken_name_is_refused(world: World, editor_api: APIClient) -> None:
    response = editor_api.patch(f"/api/v1/connections/{world.crm.pk}", {"name": "Helpdesk"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["Your team already has a connection with this name."]}
    assert Connection.objects.get(pk=world.crm.pk).name == "CRM"


def test_a_rate_limit_override_is_stored_used_by_the_client_and_cleared_by_null(
    world: World, editor_api: APIClient
) -> None:
    url = f"/api/v1/connections/{world.crm.pk}"

    response = editor_api.patch(url, {"rate_limit_override": PLAN}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["rate_limit_override"] == PLAN
    stored = Connection.objects.get(pk=world.crm.pk)
    assert stored.client_settings().rate_limit == RateLimit(requests=190, interval_seconds=10.0, burst=10)

    cleared = editor_api.patch(url, {"rate_limit_override": None}, format="json")

    stored.refresh_from_db()
    assert cleared.status_code == 200 and cleared.json()["rate_limit_override"] is None
    assert stored.rate_limit_override is None
    assert stored.rate_limit() == get_provider("hubspot").rate_limit


def test_a_rate_limit_must_be_positive_and_coherent(world: World, editor_api: APIClient) -> None:
    url = f"/api/v1/connections/{world.crm.pk}"
    refused = {
        "zero interval": {"requests": 10, "interval_seconds": 0},
        "negative requests": {"requests": -5, "interval_seconds": 1},
        "burst over requests": {"requests": 10, "interval_seconds": 1, "burst": 10},
        "missing interval": {"requests": 10},
        "unknown key": {"requests": 10, "interval_seconds": 1, "per": "minute"},
        "not an object": "fast",
    }

    for case, value in refused.items():
        response = editor_api.patch(url, {"rate_limit_override": value}, format="json")
        assert response.status_code == 400, case
        assert any(name.startswith("rate_limit_override") for name in response.json()["errors"]), case

    assert Connection.objects.get(pk=world.crm.pk).rate_limit_override is None
