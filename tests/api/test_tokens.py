"""API tokens: only a hash is stored; created and revoked on /account/tokens/ and by `manage.py api_token`."""

from __future__ import annotations

import hashlib
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from integrations_hub.api.models import ApiToken


def _authenticated(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return int(client.get("/api/v1/workflows").status_code)


def test_the_token_page_shows_a_new_key_once_and_stores_only_its_hash(editor_client: Client) -> None:
    created = editor_client.post("/account/tokens/", {"name": "nightly export"})
    key = created.context["new_key"]
    listed = editor_client.get("/account/tokens/")

    assert created.status_code == 200 and key.startswith("ihub_")
    assert key in created.content.decode()
    assert created["Cache-Control"] == "no-store"
    assert key not in listed.content.decode() and "nightly export" in listed.content.decode()
    token = ApiToken.objects.get(name="nightly export")
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.key_hash, token.prefix} and key.startswith(token.prefix)
    assert _authenticated(key) == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_revoking_on_the_page_stops_the_token(editor_client: Client, editor: Any) -> None:
    key = editor_client.post("/account/tokens/", {"name": "temp"}).context["new_key"]
    token = ApiToken.objects.get(name="temp")

    response = editor_client.post(f"/account/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    assert _authenticated(key) == 401
    assert "temp" not in editor_client.get("/account/tokens/").content.decode()


def test_nobody_revokes_another_users_token(editor_client: Client, outsider: Any) -> None:
    from integrations_hub.api.tokens import token_create

    theirs = token_create(user=outsider, name="theirs")

    editor_client.post(f"/account/tokens/{theirs.token.pk}/revoke/")

    assert _authenticated(theirs.key) == 200


def test_the_token_page_is_for_team_members_only(client: Client, loner: Any) -> None:
    assert client.get("/account/tokens/").status_code == 302  # to the login page
    client.force_login(loner)
    assert client.get("/account/tokens/").status_code == 404


def test_the_command_creates_lists_and_revokes_tokens(editor: Any) -> None:
    out = StringIO()
    call_command("api_token", "create", "erin-editor", "--name", "ci", stdout=out, stderr=StringIO())
    key = out.getvalue().strip()
    token = ApiToken.objects.get(name="ci")

    listing = StringIO()
    call_command("api_token", "list", "erin-editor", stdout=listing)
    assert _authenticated(key) == 200
    assert token.prefix in listing.getvalue() and key not in listing.getvalue()

    call_command("api_token", "revoke", "erin-editor", str(token.pk), stdout=StringIO())
    assert _authenticated(key) == 401
    with pytest.raises(CommandError):
        call_command("api_token", "revoke", "erin-editor", str(token.pk), stdout=StringIO())


def test_the_command_refuses_users_without_a_team(loner: Any) -> None:
    with pytest.raises(CommandError, match="not a member"):
        call_command("api_token", "create", "lou-loner", stdout=StringIO())
