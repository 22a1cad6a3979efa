"""The CRM sandbox's OAuth server keeps HubSpot's OAuth contract (authorization code + PKCE, refresh)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.sandbox.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, s256
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess
from tests.connectors.oauth_helpers import authorize, browser_get, post_form

REDIRECT = "http://app.example/callback?from=hub"
CONTACTS = "/crm/v3/objects/contacts?limit=1"


def authorize_url(sandbox: SandboxProcess, **overrides: str) -> str:
    params = {
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "crm.objects.contacts.read oauth",
        "state": "st-123",
    }
    params.update(overrides)
    return f"{sandbox.url}/oauth/authorize?{urlencode(params)}"


def code_grant(sandbox: SandboxProcess, code: str, verifier: str | None, **overrides: str) -> tuple[int, Any]:
    form = {
        "grant_type": "authorization_code",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "redirect_uri": REDIRECT,
        "code": code,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    form.update(overrides)
    return post_form(f"{sandbox.url}/oauth/v1/token", form)


def refresh_grant(sandbox: SandboxProcess, refresh_token: str) -> tuple[int, Any]:
    return post_form(
        f"{sandbox.url}/oauth/v1/token",
        {
            "grant_type": "refresh_token",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "refresh_token": refresh_token,
        },
    )


def connected(sandbox: SandboxProcess) -> dict[str, Any]:
    """A full authorization-code-with-PKCE round trip; returns the token answer."""
    verifier = secrets.token_urlsafe(64)
    back = authorize(authorize_url(sandbox, code_challenge=s256(verifier), code_challenge_method="S256"))
    status, tokens = code_grant(sandbox, back["code"], verifier)
    assert status == 200, tokens
    return dict(tokens)


def api(sandbox: SandboxProcess, token: str) -> tuple[int, Any]:
    status, _, body = sandbox.request("GET", CONTACTS, headers={"Authorization": f"Bearer {token}"})
    return status, body


def test_authorize_redirects_back_with_a_code_and_the_state(crm_sandbox: SandboxProcess) -> None:
    back = authorize(authorize_url(crm_sandbox, code_challenge=s256("v" * 50), code_challenge_method="S256"))

    assert back["state"] == "st-123"
    assert back["from"] == "hub"  # the redirect URI's own query is kept
    assert len(back["code"]) >= 20


def test_authorize_refuses_an_unknown_client_without_redirecting(crm_sandbox: SandboxProcess) -> None:
    status, headers, body = browser_get(authorize_url(crm_sandbox, client_id="someone-else"))

    assert status == 400 and "Location" not in headers
    assert '"BAD_CLIENT_ID"' in body


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": s256("v" * 50), "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"scope": ""}, "invalid_scope"),
    ],
)
def test_authorize_reports_bad_requests_to_the_redirect_uri(
    crm_sandbox: SandboxProcess, overrides: dict[str, str], error: str
) -> None:
    back = authorize(authorize_url(crm_sandbox, **overrides))

    assert back["error"] == error and back["state"] == "st-123" and "code" not in back


def test_code_exchange_gives_hubspot_shaped_tokens_that_the_crm_api_accepts(
    crm_sandbox: SandboxProcess,
) -> None:
    tokens = connected(crm_sandbox)

    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 1800
    assert tokens["access_token"] != tokens["refresh_token"]
    assert api(crm_sandbox, tokens["access_token"])[0] == 200
    # The private-app token keeps working next to OAuth.
    assert api(crm_sandbox, CRM_TOKEN)[0] == 200


def test_a_wrong_or_missing_pkce_verifier_gets_no_tokens(crm_sandbox: SandboxProcess) -> None:
    verifier = secrets.token_urlsafe(64)
    url = authorize_url(crm_sandbox, code_challenge=s256(verifier), code_challenge_method="S256")

    wrong = code_grant(crm_sandbox, authorize(url)["code"], secrets.token_urlsafe(64))
    missing = code_grant(crm_sandbox, authorize(url)["code"], None)

    assert wrong[0] == 400 and wrong[1]["status"] == "BAD_AUTH_CODE"
    assert missing[0] == 400 and missing[1]["status"] == "BAD_AUTH_CODE"


def test_a_code_works_once_and_only_with_its_redirect_uri_and_the_app_secret(
    crm_sandbox: SandboxProcess,
) -> None:
    verifier = secrets.token_urlsafe(64)
    url = authorize_url(crm_sandbox, code_challenge=s256(verifier), code_challenge_method="S256")
    code = authorize(url)["code"]

    other_redirect = code_grant(crm_sandbox, code, verifier, redirect_uri="http://evil.example/cb")
    bad_secret = code_grant(crm_sandbox, code, verifier, client_secret="guess")
    first = code_grant(crm_sandbox, code, verifier)
    replay = code_grant(crm_sandbox, code, verifier)

    assert other_redirect[1]["status"] == "BAD_REDIRECT_URI"
    assert bad_secret[1]["status"] == "BAD_CLIENT_SECRET"
    assert first[0] == 200
    assert replay[0] == 400 and replay[1]["status"] == "BAD_AUTH_CODE"


def test_refresh_issues_a_new_access_token_and_keeps_the_refresh_token(crm_sandbox: SandboxProcess) -> None:
    tokens = connected(crm_sandbox)

    status, renewed = refresh_grant(crm_sandbox, tokens["refresh_token"])

    assert status == 200
    assert renewed["refresh_token"] == tokens["refresh_token"]  # as HubSpot: no rotation
    assert renewed["access_token"] != tokens["access_token"]
    assert api(crm_sandbox, renewed["access_token"])[0] == 200


def test_an_expired_access_token_is_a_401_expired_authentication(crm_sandbox: SandboxProcess) -> None:
    tokens = connected(crm_sandbox)

    expired = crm_sandbox.admin("POST", "/oauth/expire", {})
    status, body = api(crm_sandbox, tokens["access_token"])

    assert expired["expired"] == 1
    assert status == 401
    assert body["status"] == "error" and body["category"] == "EXPIRED_AUTHENTICATION"
    assert body["message"].startswith("The OAuth token used to make this call expired ")
    assert api(crm_sandbox, CRM_TOKEN)[0] == 200


def test_a_revoked_refresh_token_cannot_refresh_and_its_access_tokens_stop(
    crm_sandbox: SandboxProcess,
) -> None:
    tokens = connected(crm_sandbox)

    crm_sandbox.admin("POST", "/oauth/revoke", {"refresh_token": tokens["refresh_token"]})
    refresh = refresh_grant(crm_sandbox, tokens["refresh_token"])
    status, body = api(crm_sandbox, tokens["access_token"])

    assert refresh[0] == 400 and refresh[1]["status"] == "BAD_REFRESH_TOKEN"
    assert status == 401 and body["category"] == "INVALID_AUTHENTICATION"


def test_hubspots_token_endpoints_describe_and_delete_tokens(crm_sandbox: SandboxProcess) -> None:
    tokens = connected(crm_sandbox)

    status, _, info = crm_sandbox.request("GET", f"/oauth/v1/access-tokens/{tokens['access_token']}")
    deleted, _, _ = crm_sandbox.request("DELETE", f"/oauth/v1/refresh-tokens/{tokens['refresh_token']}")

    assert status == 200 and info["hub_domain"] == "demo.example" and info["token_type"] == "access"
    assert "crm.objects.contacts.read" in info["scopes"]
    assert deleted == 204
    assert refresh_grant(crm_sandbox, tokens["refresh_token"])[0] == 400


def test_a_reset_forgets_every_token(crm_sandbox: SandboxProcess) -> None:
    tokens = connected(crm_sandbox)

    crm_sandbox.reset(0)

    assert api(crm_sandbox, tokens["access_token"])[0] == 401
    assert crm_sandbox.admin("GET", "/oauth/tokens")["access_tokens"]["issued"] == 0
