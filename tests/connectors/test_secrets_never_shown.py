"""Stored secrets never come back out: not in pages, the admin, error messages, reprs or logs."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from connectors.base import WriteItem
from connectors.models import Connection
from connectors.services import client_for, connection_create, connection_test

PRIVATE_APP_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
OAUTH_ACCESS_TOKEN = "CJSP5qf1KhICAQEYs-gDIIGOBii1AQ-access-secret"
OAUTH_REFRESH_TOKEN = "6f18f21e-a743-4509-b7fd-1a5e632fffa1"
SECRETS = (PRIVATE_APP_TOKEN, OAUTH_ACCESS_TOKEN, OAUTH_REFRESH_TOKEN)


class EchoServer(ThreadingHTTPServer):
    """A careless API: every answer quotes the request, credentials included, in its error message."""

    daemon_threads = True

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.status = status
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _EchoHandler(BaseHTTPRequestHandler):
    server: EchoServer

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length).decode() if length else ""
        message = f"Rejected {self.command} {self.path} with {self.headers.get('Authorization')} and {sent}"
        body = json.dumps({"status": "error", "message": message, "category": "VALIDATION_ERROR"}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _echo
    do_POST = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(params=[400, 401, 500])
def echo(request: pytest.FixtureRequest) -> Iterator[EchoServer]:
    server = EchoServer(request.param)
    yield server
    server.shutdown()
    server.server_close()


def private_app_connection(team: Any, base_url: str) -> Connection:
    return connection_create(
        team=team,
        name="Typed token",
        kind="hubspot",
        config={"base_url": base_url},
        credentials={"access_token": PRIVATE_APP_TOKEN},
    )


def oauth_connection(team: Any, base_url: str) -> Connection:
    connection = connection_create(
        team=team,
        name="Signed in",
        kind="hubspot",
        config={"base_url": base_url},
        credentials={"access_token": OAUTH_ACCESS_TOKEN, "refresh_token": OAUTH_REFRESH_TOKEN},
    )
    connection.auth_method = Connection.AuthMethod.OAUTH2
    connection.token_expires_at = timezone.now() + timedelta(hours=1)
    connection.save()
    return connection


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture
def superuser_client(django_user_model: Any) -> Client:
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-for-tests")
    client = Client()
    client.force_login(root)
    return client


def test_pages_and_admin_never_show_stored_secrets(
    editor_client: Client, superuser_client: Client, team: Any
) -> None:
    connections = [
        private_app_connection(team, "https://api.hubapi.com"),
        oauth_connection(team, "https://api.hubapi.com"),
    ]
    pages = [editor_client.get("/connections/"), superuser_client.get("/admin/connectors/connection/")]
    for connection in connections:
        pages += [
            editor_client.get(f"/connections/{connection.pk}/"),
            editor_client.get(f"/connections/{connection.pk}/edit/"),
            superuser_client.get(f"/admin/connectors/connection/{connection.pk}/change/"),
        ]

    for page in pages:
        assert page.status_code == 200
        assert_no_secret(page.content.decode())
    for connection in connections:
        assert_no_secret(str(connection) + repr(connection))
        assert_no_secret(repr(connection.client_settings()))


def test_an_error_that_echoes_the_token_is_redacted_everywhere_it_lands(
    echo: EchoServer, editor_client: Client, team: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.HUB_HTTP_MAX_RETRIES = 1
    connection = private_app_connection(team, echo.url)

    with caplog.at_level(logging.DEBUG):
        result = connection_test(connection=connection)

    connection.refresh_from_db()
    page = editor_client.get(f"/connections/{connection.pk}/").content.decode()
    assert not result.ok
    # The system's message is still there for people to act on, with the secret cut out.
    assert "Rejected GET /crm/v3/objects/contacts" in connection.last_error
    assert "[REDACTED]" in connection.last_error
    for text in (result.message, connection.last_error, page, caplog.text):
        assert_no_secret(text)


@pytest.mark.parametrize("echo", [400], indirect=True)
def test_a_rejected_record_whose_error_echoes_the_token_is_redacted(echo: EchoServer, team: Any) -> None:
    client = client_for(private_app_connection(team, echo.url))

    (result,) = client.upsert_batch(
        "contacts", [WriteItem("k1", {"email": "a@example.com"})], match_field="email"
    )

    assert not result.ok and result.error is not None and "[REDACTED]" in result.error
    assert_no_secret(result.error)


@pytest.mark.parametrize("echo", [400, 500], indirect=True)
def test_an_oauth_connections_error_is_redacted_too(echo: EchoServer, team: Any, settings: Any) -> None:
    settings.HUB_HTTP_MAX_RETRIES = 0
    connection = oauth_connection(team, echo.url)

    result = connection_test(connection=connection)

    connection.refresh_from_db()
    assert not result.ok and "[REDACTED]" in connection.last_error
    assert_no_secret(result.message + connection.last_error)
