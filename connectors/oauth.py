"""OAuth 2.0 connections: "Connect with ..." (authorization code with PKCE) and keeping tokens fresh.

Connecting: `authorization_start` keeps a random `state` and the PKCE verifier in the user's session
and returns the system's authorize URL; the system sends the browser back to the callback, where
`authorization_complete` checks the state, exchanges the code (with the verifier) for tokens and stores
them encrypted with their expiry on the connection.

Using: `ConnectionTokenSource` hands clients the access token, refreshes it shortly before it expires
and once after a 401, with the connection row locked so that two workers never both refresh. A refresh
the system refuses (revoked, app uninstalled) marks the connection "needs reconnect" with the reason.

The app credentials come from settings (HUB_OAUTH_<KIND>_...), see docs/connectors.md.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from connectors.base import AuthenticationError, ConnectorError, ReconnectRequired
from connectors.http import HttpAuthenticationError, HttpClient, HttpError
from connectors.models import Connection
from connectors.registry import UnknownConnector, get_provider
from connectors.services import ConnectionInputError, connection_audit_oauth, connection_create
from integrations_hub.accounts.models import Team

# Refresh this long before the stored expiry: covers clock skew between us and the system and a
# request that is already on its way when the token runs out.
REFRESH_MARGIN = timedelta(minutes=5)
# A sign-in left half-way is forgotten after this long, and a session keeps only a few at once.
FLOW_TTL_SECONDS = 15 * 60
MAX_PENDING_FLOWS = 5
SESSION_KEY = "connectors.oauth.flows"


class OAuthError(Exception):
    """A sign-in that cannot go on, with a message for the person who tried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OAuthNotAvailable(OAuthError):
    """The connector has no OAuth, or this installation has no OAuth app configured for it."""


class TokenGrantRejected(ConnectorError):
    """The token endpoint refused the grant (bad code, revoked refresh token, wrong app secret)."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message, permanent=True, status=status)


@dataclass(frozen=True)
class OAuthApp:
    """This installation's OAuth app at one system."""

    kind: str
    label: str
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime | None


def oauth_app(kind: str) -> OAuthApp:
    try:
        provider = get_provider(kind)
    except UnknownConnector as exc:
        raise OAuthNotAvailable(str(exc)) from None
    spec = provider.oauth
    if spec is None:
        raise OAuthNotAvailable(f"{provider.label} connections do not support signing in with OAuth.")
    configured: Mapping[str, str] = (getattr(settings, "HUB_OAUTH_APPS", {}) or {}).get(kind) or {}
    client_id = configured.get("client_id", "")
    client_secret = configured.get("client_secret", "")
    if not client_id or not client_secret:
        prefix = f"HUB_OAUTH_{kind.upper()}"
        raise OAuthNotAvailable(
            f"Connect with {provider.label} is not set up on this hub: an administrator must set "
            f"{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET (see docs/connectors.md)."
        )
    scopes = tuple(configured["scopes"].split()) if configured.get("scopes") else spec.scopes
    return OAuthApp(
        kind=kind,
        label=provider.label,
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=configured.get("authorize_url") or spec.authorize_url,
        token_url=configured.get("token_url") or spec.token_url,
        scopes=scopes,
    )


def oauth_available(kind: str) -> bool:
    try:
        oauth_app(kind)
    except OAuthNotAvailable:
        return False
    return True


# --- the token endpoint ----------------------------------------------------------------------------


def request_tokens(app: OAuthApp, grant: Mapping[str, str], *, previous_refresh_token: str = "") -> TokenSet:
    """POST one grant to the token endpoint (form-encoded, as RFC 6749 and HubSpot want).

    Never retried: an authorization code works once, and some systems rotate refresh tokens, so a
    repeat after a lost answer would be refused. A transient failure surfaces as one, for the caller
    (a task) to retry later.
    """
    form = {"client_id": app.client_id, "client_secret": app.client_secret, **grant}
    secret_values = [app.client_secret, *(v for k, v in grant.items() if k != "grant_type")]
    client = HttpClient(app.token_url, secrets=secret_values, system=f"{app.label} sign-in")
    try:
        response = client.post(
            app.token_url,
            data=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            retries=0,
        )
    except HttpAuthenticationError as exc:
        raise TokenGrantRejected(exc.message, status=exc.status) from None
    except HttpError as exc:
        if exc.permanent:
            raise TokenGrantRejected(exc.message, status=exc.status) from None
        raise
    finally:
        client.close()
    data = response.data if isinstance(response.data, dict) else {}
    access_token = data.get("access_token")
    token_type = str(data.get("token_type") or "bearer")
    if not isinstance(access_token, str) or not access_token or token_type.lower() != "bearer":
        raise ConnectorError(f"{app.label} sign-in answered without a bearer access token.", permanent=False)
    refresh_token = data.get("refresh_token")
    expires_in = data.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        expires_at = timezone.now() + timedelta(seconds=float(expires_in))
    return TokenSet(
        access_token=access_token,
        # Systems that do not rotate refresh tokens may leave it out of a refresh answer.
        refresh_token=refresh_token
        if isinstance(refresh_token, str) and refresh_token
        else previous_refresh_token,
        expires_at=expires_at,
    )


# --- connecting ----------------------------------------------------------------------------------


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: the unpadded base64url SHA-256 of the verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pending_flows(session: MutableMapping[str, Any]) -> dict[str, dict[str, Any]]:
    now = time.time()
    flows = session.get(SESSION_KEY) or {}
    return {
        state: flow
        for state, flow in flows.items()
        if isinstance(flow, dict) and now - float(flow.get("started", 0)) < FLOW_TTL_SECONDS
    }


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def authorization_start(
    *,
    session: MutableMapping[str, Any],
    app: OAuthApp,
    team: Team,
    redirect_uri: str,
    name: str = "",
    config: Mapping[str, Any] | None = None,
    connection: Connection | None = None,
) -> str:
    """Remember a new sign-in in the session and return the URL to send the browser to.

    For a new connection pass `name` and `config`; to reconnect pass `connection`.
    """
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
    flows = _pending_flows(session)
    flows[state] = {
        "kind": app.kind,
        "team_id": team.pk,
        "name": name,
        "config": dict(config or {}),
        "connection_id": connection.pk if connection is not None else None,
        "redirect_uri": redirect_uri,
        # The verifier never leaves the session until the code exchange: an intercepted code is
        # useless without it. It is short-lived and removed when the flow ends.
        "verifier": verifier,
        "started": time.time(),
    }
    # Oldest first out, so many abandoned attempts cannot grow the session without bound.
    session[SESSION_KEY] = dict(
        sorted(flows.items(), key=lambda item: item[1]["started"])[-MAX_PENDING_FLOWS:]
    )
    return _with_query(
        app.authorize_url,
        {
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(app.scopes),
            "state": state,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        },
    )


def authorization_complete(
    *,
    session: MutableMapping[str, Any],
    team: Team,
    kind: str,
    params: Mapping[str, str],
    actor: Any = None,
) -> Connection:
    """The callback: check the state, exchange the code, create or update the connection."""
    flows = _pending_flows(session)
    flow = flows.pop(params.get("state") or "", None)
    # The state is used up whatever happens next: a callback URL replayed later is refused.
    session[SESSION_KEY] = flows
    if flow is None or flow["kind"] != kind or flow["team_id"] != team.pk:
        raise OAuthError(
            "This sign-in is not valid any more: it expired, was already used, or was started in another "
            "browser. Please start again."
        )
    app = oauth_app(kind)
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        raise OAuthError(f"{app.label} did not grant access: {detail}")
    code = params.get("code")
    if not code:
        raise OAuthError(f"{app.label} sent us back without an authorization code. Please start again.")
    tokens = request_tokens(
        app,
        {
            "grant_type": "authorization_code",
            "redirect_uri": flow["redirect_uri"],
            "code": code,
            "code_verifier": flow["verifier"],
        },
    )
    credentials = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}
    try:
        with transaction.atomic():
            if flow["connection_id"] is not None:
                connection = Connection.objects.select_for_update().get(pk=flow["connection_id"], team=team)
                connection.set_credentials(credentials)
            else:
                connection = connection_create(
                    team=team,
                    name=flow["name"],
                    kind=kind,
                    config=flow["config"],
                    credentials=credentials,
                    actor=actor,
                )
            connection.auth_method = Connection.AuthMethod.OAUTH2
            connection.token_expires_at = tokens.expires_at
            connection.status = Connection.Status.UNTESTED
            connection.last_error = ""
            connection.save()
            connection_audit_oauth(
                connection=connection, actor=actor, reconnect=flow["connection_id"] is not None
            )
    except Connection.DoesNotExist:
        raise OAuthError("The connection to reconnect no longer exists.") from None
    except IntegrityError:
        raise OAuthError(f"Your team already has a connection named {flow['name']!r}.") from None
    except ConnectionInputError as exc:
        raise OAuthError(f"The connection's settings are not valid: {exc}") from None
    return connection


# --- using ---------------------------------------------------------------------------------------


class ConnectionTokenSource:
    """The access token of one OAuth connection, for its client (see connectors.base.TokenSource)."""

    def __init__(
        self, *, connection_id: int, kind: str, access_token: str, expires_at: datetime | None
    ) -> None:
        self.connection_id = connection_id
        self.kind = kind
        self._access_token = access_token
        self._expires_at = expires_at

    def __repr__(self) -> str:
        return f"ConnectionTokenSource(connection_id={self.connection_id}, expires_at={self._expires_at})"

    @classmethod
    def for_connection(cls, connection: Connection) -> ConnectionTokenSource:
        return cls(
            connection_id=connection.pk,
            kind=connection.kind,
            access_token=connection.get_credentials().get("access_token", ""),
            expires_at=connection.token_expires_at,
        )

    def access_token(self) -> str:
        if self._access_token and _fresh(self._expires_at):
            return self._access_token
        return self._renew(rejected=None)

    def refresh(self, *, rejected: str | None) -> str:
        return self._renew(rejected=rejected)

    def _renew(self, *, rejected: str | None) -> str:
        failure: AuthenticationError | None = None
        with transaction.atomic():
            # The row lock makes refreshing one worker's job: the others wait here, then find the
            # new token below and use it. (SQLite has no row locks; its write transaction, which
            # the hub opens IMMEDIATE, serialises the same way.)
            row = Connection.objects.select_for_update().get(pk=self.connection_id)
            credentials = row.get_credentials()
            current = credentials.get("access_token", "")
            if current and current != rejected and _fresh(row.token_expires_at):
                return self._adopt(current, row.token_expires_at)
            if row.status == Connection.Status.NEEDS_RECONNECT:
                # Asking again would only be refused again; the person has to sign in.
                raise ReconnectRequired(row.last_error or f"{row} needs to be reconnected.")
            refresh_token = credentials.get("refresh_token", "")
            try:
                app = oauth_app(self.kind)
            except OAuthNotAvailable as exc:
                raise AuthenticationError(exc.message, status=None) from None
            try:
                if not refresh_token:
                    raise TokenGrantRejected("no refresh token is stored", status=None)
                tokens = request_tokens(
                    app,
                    {"grant_type": "refresh_token", "refresh_token": refresh_token},
                    previous_refresh_token=refresh_token,
                )
            except TokenGrantRejected as exc:
                failure = ReconnectRequired(
                    f"{app.label} refused to renew the access token, so this connection must be "
                    f"reconnected (sign in again): {exc.message}"
                )
                # Recorded in this transaction and raised after it, so the mark is not rolled back.
                Connection.objects.filter(pk=row.pk).update(
                    status=Connection.Status.NEEDS_RECONNECT,
                    last_error=failure.message,
                    last_error_at=timezone.now(),
                )
            else:
                row.set_credentials({**credentials, **_non_empty(tokens)})
                Connection.objects.filter(pk=row.pk).update(
                    credentials_encrypted=row.credentials_encrypted,
                    token_expires_at=tokens.expires_at,
                    updated_at=timezone.now(),
                )
                return self._adopt(tokens.access_token, tokens.expires_at)
        assert failure is not None
        raise failure

    def _adopt(self, access_token: str, expires_at: datetime | None) -> str:
        self._access_token = access_token
        self._expires_at = expires_at
        return access_token


def _fresh(expires_at: datetime | None) -> bool:
    return expires_at is None or expires_at - timezone.now() > REFRESH_MARGIN


def _non_empty(tokens: TokenSet) -> dict[str, str]:
    values = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}
    return {key: value for key, value in values.items() if value}
