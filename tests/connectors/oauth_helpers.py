"""Shared steps of the OAuth tests: talk to the sandbox's OAuth endpoints like a browser and an app would."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from connectors.sandbox.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from connectors.sandbox.testing import SandboxProcess

TOKEN_ROUTE = "POST /oauth/v1/token"


def app_settings(sandbox: SandboxProcess) -> dict[str, dict[str, str]]:
    """HUB_OAUTH_APPS pointing the HubSpot app at the sandbox's OAuth server."""
    return {
        "hubspot": {
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "authorize_url": f"{sandbox.url}/oauth/authorize",
            "token_url": f"{sandbox.url}/oauth/v1/token",
        }
    }


def browser_get(url: str) -> tuple[int, dict[str, str], str]:
    """One GET without following redirects, as a browser's first hop: (status, headers, body)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def authorize(url: str) -> dict[str, str]:
    """Visit the sandbox's authorize URL; return the query it redirects back with (code, state...)."""
    status, headers, body = browser_get(url)
    assert status == 302, body
    return {key: values[-1] for key, values in parse_qs(urlsplit(headers["Location"]).query).items()}


def post_form(url: str, form: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=urlencode(form).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def token_requests(sandbox: SandboxProcess) -> int:
    return int(sandbox.stats()["requests"].get(TOKEN_ROUTE, 0))
