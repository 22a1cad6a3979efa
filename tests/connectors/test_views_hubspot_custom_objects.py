"""The HubSpot connection form's "Discover custom objects" button: the account's custom objects are read
with the token typed in (or the stored one, when editing) and shown in the settings to review and save."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from connectors.models import Connection
from connectors.registry import get_provider
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from connectors.services import connection_create

pytestmark = pytest.mark.django_db
NEW_URL = reverse("connection_new")


@pytest.fixture
def crm(crm_sandbox: SandboxProcess) -> SandboxProcess:
    crm_sandbox.admin("POST", "/schemas", {"example": "cars"})
    return crm_sandbox


def _shown(response: Any, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', response.content.decode())
    return html.unescape(found.group(1)) if found else ""


def test_discovery_fills_in_the_custom_objects_and_saving_keeps_them(editor_client: Client, crm: Any) -> None:
    data = {"kind": "hubspot", "name": "CRM", "base_url": crm.url, "access_token": CRM_TOKEN}

    page = editor_client.post(f"{NEW_URL}?kind=hubspot", {**data, "discover": "1"})
    shown = _shown(page, "custom_objects")
    saved = editor_client.post(f"{NEW_URL}?kind=hubspot", {**data, "custom_objects": shown})

    assert page.status_code == 200 and "Discover custom objects" in page.content.decode()
    assert "Read from HubSpot CRM" in page.content.decode()
    assert shown == "p7300001_cars:vin"  # the object's only unique property is offered as its upsert key
    assert saved.status_code == 302
    connection = Connection.objects.get(name="CRM")
    assert connection.config["custom_objects"] == {"p7300001_cars": "vin"}
    assert get_provider("hubspot").objects_for(connection.config)["p7300001_cars"] == "Cars"


def test_discovery_when_editing_uses_the_stored_token(editor_client: Client, team: Any, crm: Any) -> None:
    connection = connection_create(
        team=team,
        name="CRM",
        kind="hubspot",
        config={"base_url": crm.url},
        credentials={"access_token": CRM_TOKEN},
    )
    url = reverse("connection_edit", args=[connection.pk])

    page = editor_client.post(url, {"name": "CRM", "base_url": crm.url, "access_token": "", "discover": "1"})

    assert page.status_code == 200
    assert _shown(page, "custom_objects") == "p7300001_cars:vin"
    connection.refresh_from_db()
    assert "custom_objects" not in connection.config  # shown for review; saving is the person's call


def test_discovery_with_a_wrong_token_says_what_hubspot_said(editor_client: Client, crm: Any) -> None:
    page = editor_client.post(
        f"{NEW_URL}?kind=hubspot",
        {"kind": "hubspot", "name": "CRM", "base_url": crm.url, "access_token": "wrong", "discover": "1"},
    )

    assert page.status_code == 200
    assert "Authentication credentials not found" in html.unescape(page.content.decode())
    assert not Connection.objects.exists()
