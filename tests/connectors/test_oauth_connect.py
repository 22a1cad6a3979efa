"""Connect with HubSpot (OAuth 2.0 + PKCE) through the hub's pages, and keeping the tokens fresh.

The browser is the Django test client until it leaves for the sandbox's authorize URL; that hop is a
real HTTP request to the sandbox process, whose redirect brings the test back to the hub's callback.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.utils import timezone

from connectors.base import AuthenticationError, ReconnectRequired
from connectors.models import Connection
from connectors.oauth import SESSION_KEY, ConnectionTokenSource
from connectors.sandbox.testing import SandboxProcess
from connectors.services import client_for, connection_test
from tests.connectors.oauth_helpers import app_settings, authorize, token_requests

CONNECT_URL = "/connections/oauth/hubspot/"


@pytest.fixture
def oauth_crm(crm_sandbox: SandboxProcess, settings: Any) -> SandboxProcess:
    """The CRM sandbox with the hub's HubSpot OAuth app pointed at it."""
    settings.HUB_OAUTH_APPS = app_settings(crm_sandbox)
    return crm_sandbox


def start(client: Client, sandbox: SandboxProcess, name: str = "CRM via OAuth") -> str:
    """Submit the connect form; return the sandbox authorize URL the hub redirects to."""
    response = client.post(CONNECT_URL, {"name": name, "base_url": sandbox.url})
    assert response.status_code == 302, response.content.decode()
    location = str(response["Location"])
    assert location.startswith(f"{sandbox.url}/oauth/authorize?")
    return location


def come_back(client: Client, authorize_url: str) -> Any:
    """Let the sandbox redirect the browser back to the hub's callback, and follow that redirect."""
    back = authorize(authorize_url)
    assert urlsplit(authorize_url).query  # the sandbox sent us somewhere with the state
    callback = parse_qs(urlsplit(authorize_url).query)["redirect_uri"][0]
    return client.get(urlsplit(callback).path, back)


def connect(client: Client, sandbox: SandboxProcess, name: str = "CRM via OAuth") -> Connection:
    response = come_back(client, start(client, sandbox, name))
    assert response.status_code == 302, response.content.decode()
    connection = Connection.objects.get(name=name)
    assert response["Location"] == f"/connections/{connection.pk}/"
    return connection


def stored_tokens(connection: Connection) -> dict[str, str]:
    connection.refresh_from_db()
    return connection.get_credentials()


def test_connect_with_hubspot_creates_a_working_oauth_connection(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    page = editor_client.get(CONNECT_URL)
    authorize_url = start(editor_client, oauth_crm)
    query = parse_qs(urlsplit(authorize_url).query)

    response = come_back(editor_client, authorize_url)

    assert page.status_code == 200 and b"Connect with HubSpot CRM" in page.content
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["http://testserver/connections/oauth/hubspot/callback/"]
    assert response.status_code == 302
    connection = Connection.objects.get(name="CRM via OAuth")
    assert connection.auth_method == Connection.AuthMethod.OAUTH2
    assert connection.status == Connection.Status.OK  # tested right after connecting
    assert connection.token_expires_at is not None
    assert timedelta(minutes=29) < connection.token_expires_at - timezone.now() <= timedelta(minutes=30)
    tokens = connection.get_credentials()
    assert set(tokens) == {"access_token", "refresh_token"}
    # Encrypted at rest: the row's ciphertext does not contain the tokens.
    assert tokens["access_token"] not in connection.credentials_encrypted
    # The sign-in is over: nothing of it (verifier, state) stays in the session.
    assert editor_client.session[SESSION_KEY] == {}
    detail = editor_client.get(response["Location"])
    assert b"Signed in with HubSpot CRM (OAuth)" in detail.content


def test_the_kind_page_offers_connect_with_hubspot_only_when_the_app_is_configured(
    editor_client: Client, crm_sandbox: SandboxProcess, settings: Any
) -> None:
    settings.HUB_OAUTH_APPS = {}
    without = editor_client.get("/connections/new/")
    unavailable = editor_client.get(CONNECT_URL)
    settings.HUB_OAUTH_APPS = app_settings(crm_sandbox)
    with_app = editor_client.get("/connections/new/")

    assert b"Connect with HubSpot CRM" not in without.content
    assert unavailable.status_code == 404 and b"HUB_OAUTH_HUBSPOT_CLIENT_ID" in unavailable.content
    assert b'href="/connections/oauth/hubspot/"' in with_app.content


def test_a_callback_with_an_unknown_or_used_state_is_refused(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    authorize_url = start(editor_client, oauth_crm)
    back = authorize(authorize_url)
    callback = "/connections/oauth/hubspot/callback/"

    forged = editor_client.get(callback, {**back, "state": "forged-state"})
    first = editor_client.get(callback, back)
    replayed = editor_client.get(callback, back)

    # A forged state does not burn the real one, which then works once.
    assert forged.status_code == 400 and b"not valid any more" in forged.content
    assert first.status_code == 302
    assert replayed.status_code == 400
    assert Connection.objects.count() == 1


def test_another_users_callback_cannot_complete_my_sign_in(
    editor_client: Client, outsider: Any, oauth_crm: SandboxProcess
) -> None:
    back = authorize(start(editor_client, oauth_crm))
    # A separate browser: the other user's session never saw this sign-in.
    outsider_browser = Client()
    outsider_browser.force_login(outsider)

    stolen = outsider_browser.get("/connections/oauth/hubspot/callback/", back)

    assert stolen.status_code == 400
    assert not Connection.objects.exists()


def test_a_refused_consent_shows_the_systems_reason_and_creates_nothing(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    state = parse_qs(urlsplit(start(editor_client, oauth_crm)).query)["state"][0]

    response = editor_client.get(
        "/connections/oauth/hubspot/callback/",
        {"state": state, "error": "access_denied", "error_description": "The user declined"},
    )

    assert response.status_code == 400
    assert b"did not grant access: The user declined" in response.content
    assert not Connection.objects.exists()


def test_a_code_the_token_endpoint_refuses_is_reported_and_creates_nothing(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    back = authorize(start(editor_client, oauth_crm))

    response = editor_client.get("/connections/oauth/hubspot/callback/", {**back, "code": "not-the-code"})

    assert response.status_code == 502
    assert b"missing or unknown auth code" in response.content
    assert b"not-the-code" not in response.content  # the code is a secret too: redacted
    assert not Connection.objects.exists()


def test_the_token_is_refreshed_shortly_before_it_expires(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    connection = connect(editor_client, oauth_crm)
    before = stored_tokens(connection)
    Connection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(seconds=60)
    )
    connection.refresh_from_db()
    oauth_crm.admin("DELETE", "/stats")

    client_for(connection).test()

    after = stored_tokens(connection)
    stats = oauth_crm.stats()
    assert token_requests(oauth_crm) == 1
    assert "401" not in stats["statuses"]  # refreshed before, not after, a refusal
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] == before["refresh_token"]
    assert connection.token_expires_at is not None
    assert connection.token_expires_at - timezone.now() > timedelta(minutes=29)


def test_a_401_refreshes_once_and_the_call_goes_through(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    connection = connect(editor_client, oauth_crm)
    before = stored_tokens(connection)
    oauth_crm.admin("POST", "/oauth/expire", {})  # HubSpot ended it early; our expiry says it is fine
    oauth_crm.admin("DELETE", "/stats")
    client = client_for(connection)

    client.test()
    schema = client.discover_schema("contacts")  # later calls use the new token without refreshing

    stats = oauth_crm.stats()
    assert schema.field("email") is not None
    assert stats["statuses"].get("401") == 1
    assert token_requests(oauth_crm) == 1
    assert stored_tokens(connection)["access_token"] != before["access_token"]


def test_a_revoked_refresh_token_marks_the_connection_needs_reconnect(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    connection = connect(editor_client, oauth_crm)
    oauth_crm.admin("POST", "/oauth/revoke", {})  # the customer uninstalled the app

    with pytest.raises(ReconnectRequired) as caught:
        client_for(connection).test()

    connection.refresh_from_db()
    assert isinstance(caught.value, AuthenticationError) and caught.value.permanent
    assert connection.status == Connection.Status.NEEDS_RECONNECT
    assert "missing or unknown refresh token" in connection.last_error
    assert "reconnected" in connection.last_error
    # Testing again neither hides the state behind "Failing" nor asks the token endpoint again.
    oauth_crm.admin("DELETE", "/stats")
    result = connection_test(connection=connection)
    connection.refresh_from_db()
    assert not result.ok
    assert connection.status == Connection.Status.NEEDS_RECONNECT
    assert token_requests(oauth_crm) == 0
    page = editor_client.get(f"/connections/{connection.pk}/")
    assert b"Reconnect with HubSpot CRM" in page.content


def test_reconnecting_replaces_the_tokens_and_the_connection_works_again(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    connection = connect(editor_client, oauth_crm)
    old = stored_tokens(connection)
    oauth_crm.admin("POST", "/oauth/revoke", {})
    connection_test(connection=connection)

    response = editor_client.post(f"/connections/{connection.pk}/reconnect/")
    done = come_back(editor_client, str(response["Location"]))

    connection.refresh_from_db()
    assert done.status_code == 302 and done["Location"] == f"/connections/{connection.pk}/"
    assert connection.status == Connection.Status.OK
    assert connection.get_credentials()["refresh_token"] != old["refresh_token"]
    assert Connection.objects.count() == 1


def test_a_worker_that_waited_for_the_lock_uses_the_token_the_other_one_got(
    editor_client: Client, oauth_crm: SandboxProcess
) -> None:
    connection = connect(editor_client, oauth_crm)
    Connection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(seconds=30)
    )
    connection.refresh_from_db()
    # Two workers loaded the connection while its token was about to expire.
    first = ConnectionTokenSource.for_connection(connection)
    second = ConnectionTokenSource.for_connection(connection)
    stale = connection.get_credentials()["access_token"]
    oauth_crm.admin("DELETE", "/stats")

    got_first = first.access_token()
    got_second = second.access_token()
    after_401 = second.refresh(rejected=stale)  # a 401 for the old token does not refresh again

    assert got_first == got_second == after_401 != stale
    assert token_requests(oauth_crm) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_the_same_moment_refresh_only_once(
    editor: Any, client: Client, oauth_crm: SandboxProcess
) -> None:
    if db_connection.vendor != "postgresql":
        pytest.skip("needs row locks seen across connections (PostgreSQL, as in CI)")
    client.force_login(editor)
    connection = connect(client, oauth_crm)
    Connection.objects.filter(pk=connection.pk).update(
        token_expires_at=timezone.now() + timedelta(seconds=30)
    )
    connection.refresh_from_db()
    sources = [ConnectionTokenSource.for_connection(connection) for _ in range(2)]
    # A slow token endpoint, so the second worker surely asks while the first one holds the lock.
    oauth_crm.set_faults(latency_ms=500, path_prefix="/oauth/v1/token")
    oauth_crm.admin("DELETE", "/stats")
    barrier = threading.Barrier(2)
    got: list[str] = []

    def work(source: ConnectionTokenSource) -> None:
        from django.db import connection as thread_connection

        try:
            barrier.wait(timeout=10)
            got.append(source.access_token())
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=work, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not any(thread.is_alive() for thread in threads)
    assert len(got) == 2 and got[0] == got[1]
    assert token_requests(oauth_crm) == 1
