"""OAuth 2.0 for the sandboxes: authorization code with PKCE and refresh tokens, in HubSpot's shapes.

A dialect mounts it (`OAuthServer.register(router)`) and asks `check()` about bearer tokens it does not
know, so the same API accepts both its static token and OAuth access tokens. Everything is kept in the
store's blobs, so tokens survive a restart of a file-backed sandbox and a reset clears them.

The authorize endpoint consents at once (a sandbox has nobody to ask) and redirects straight back with
a code. Standard library only, like the rest of the sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from connectors.sandbox.engine import (
    Request,
    Response,
    Router,
    Store,
    Tx,
    json_response,
    same_secret,
    wall_ms,
)

DEFAULT_CLIENT_ID = "demo-oauth-client-id"
DEFAULT_CLIENT_SECRET = "demo-oauth-client-secret"  # noqa: S105 - a demo credential, printed in the docs
# HubSpot's access tokens live 30 minutes; codes are good for a short while and only once.
DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 1800
CODE_TTL_MS = 10 * 60 * 1000

_CODES = "oauth_code"
_REFRESH = "oauth_refresh"
_ACCESS = "oauth_access"


@dataclass(frozen=True)
class TokenCheck:
    """What the server knows about a bearer token."""

    state: Literal["valid", "expired", "unknown"]
    expired_ms_ago: int = 0


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of `verifier` (RFC 7636): unpadded base64url of its SHA-256."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _error(status: str, message: str, http_status: int = 400) -> Response:
    # HubSpot's token endpoint answers `{"status": "BAD_...", "message": ...}`, not RFC 6749's `error`.
    return json_response(
        http_status, {"status": status, "message": message, "correlationId": str(uuid.uuid4())}
    )


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _form(req: Request) -> dict[str, str]:
    """The form-encoded body (last value of each field)."""
    try:
        text = req.body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}


def ago(ms: int) -> str:
    seconds = max(1, ms // 1000)
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}(s)"
    return f"{seconds} second(s)"


class OAuthServer:
    def __init__(
        self,
        store: Store,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        access_token_ttl_seconds: int = DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
        account: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_ttl_ms = access_token_ttl_seconds * 1000
        # What token metadata says about the account the tokens belong to.
        self.account = dict(
            account or {"hub_id": 1001, "hub_domain": "demo.example", "user": "agent@demo.example"}
        )

    def register(self, router: Router) -> None:
        router.add("GET", "/oauth/authorize", self.authorize, auth=False)
        router.add("POST", "/oauth/v1/token", self.token, auth=False)
        router.add("GET", "/oauth/v1/access-tokens/{token}", self.access_token_info, auth=False)
        router.add("GET", "/oauth/v1/refresh-tokens/{token}", self.refresh_token_info, auth=False)
        router.add("DELETE", "/oauth/v1/refresh-tokens/{token}", self.delete_refresh_token, auth=False)
        router.add("GET", "/_admin/oauth/tokens", self.admin_tokens, auth=False, admin=True)
        router.add("POST", "/_admin/oauth/expire", self.admin_expire, auth=False, admin=True)
        router.add("POST", "/_admin/oauth/revoke", self.admin_revoke, auth=False, admin=True)

    # -- used by the dialect's authentication

    def check(self, token: str | None) -> TokenCheck:
        if not token:
            return TokenCheck("unknown")
        with self.store.read() as tx:
            data = tx.get_blob(_ACCESS, token)
            if data is None:
                return TokenCheck("unknown")
            refresh = tx.get_blob(_REFRESH, str(data["refresh_token"]))
        if refresh is None or refresh.get("revoked"):
            # Revoking the refresh token (an uninstall) ends the access tokens it issued too.
            return TokenCheck("unknown")
        left = int(data["expires_ms"]) - wall_ms()
        if left <= 0:
            return TokenCheck("expired", -left)
        return TokenCheck("valid")

    # -- the authorization endpoint

    def authorize(self, req: Request) -> Response:
        client_id = req.arg("client_id") or ""
        redirect_uri = req.arg("redirect_uri") or ""
        # Without a known client and a usable redirect URI there is nowhere safe to send the answer.
        if not same_secret(client_id, self.client_id):
            return _error("BAD_CLIENT_ID", "missing or unknown client id")
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return _error("BAD_REDIRECT_URI", "redirect_uri must be an absolute http(s) URL")
        state = req.arg("state")

        def refuse(error: str, description: str) -> Response:
            params = {"error": error, "error_description": description}
            if state is not None:
                params["state"] = state
            return Response(302, None, {"Location": _with_query(redirect_uri, params)})

        scopes = (req.arg("scope") or "").split()
        if not scopes:
            return refuse("invalid_scope", "at least one scope is required")
        challenge = req.arg("code_challenge")
        method = req.arg("code_challenge_method")
        if challenge is not None or method is not None:
            if method != "S256":
                return refuse("invalid_request", "code_challenge_method must be S256")
            if not challenge or not 43 <= len(challenge) <= 128:
                return refuse("invalid_request", "code_challenge must be 43 to 128 characters")
        code = secrets.token_urlsafe(24)
        with self.store.write() as tx:
            tx.put_blob(
                _CODES,
                code,
                {
                    "client_id": client_id,
                    "redirect_uri": redirect_uri,
                    "scopes": scopes,
                    "challenge": challenge,
                    "expires_ms": wall_ms() + CODE_TTL_MS,
                },
            )
        params = {"code": code}
        if state is not None:
            params["state"] = state
        return Response(302, None, {"Location": _with_query(redirect_uri, params)})

    # -- the token endpoint

    def token(self, req: Request) -> Response:
        form = _form(req)
        if not same_secret(form.get("client_id"), self.client_id):
            return _error("BAD_CLIENT_ID", "missing or unknown client id")
        if not same_secret(form.get("client_secret"), self.client_secret):
            return _error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._grant_code(form)
        if grant == "refresh_token":
            return self._grant_refresh(form)
        return _error("BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")

    def _grant_code(self, form: Mapping[str, str]) -> Response:
        code = form.get("code") or ""
        with self.store.write() as tx:
            data = tx.get_blob(_CODES, code) if code else None
            if data is None or int(data["expires_ms"]) < wall_ms():
                return _error("BAD_AUTH_CODE", "missing or unknown auth code")
            if form.get("redirect_uri") != data["redirect_uri"]:
                return _error("BAD_REDIRECT_URI", "redirect_uri does not match the one used to authorize")
            challenge = data.get("challenge")
            if challenge is not None:
                verifier = form.get("code_verifier") or ""
                if not verifier or not same_secret(s256(verifier), str(challenge)):
                    return _error("BAD_AUTH_CODE", "code_verifier does not match the code challenge")
            # A code works once: a replayed (intercepted) code gets nothing.
            tx.delete_blob(_CODES, code)
            refresh_token = str(uuid.uuid4())
            tx.put_blob(
                _REFRESH,
                refresh_token,
                {
                    "client_id": data["client_id"],
                    "scopes": data["scopes"],
                    "created_ms": wall_ms(),
                    "revoked": False,
                },
            )
            return self._issue(tx, refresh_token, list(data["scopes"]))

    def _grant_refresh(self, form: Mapping[str, str]) -> Response:
        refresh_token = form.get("refresh_token") or ""
        with self.store.write() as tx:
            data = tx.get_blob(_REFRESH, refresh_token) if refresh_token else None
            if data is None or data.get("revoked"):
                return _error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
            # As HubSpot: the refresh token stays the same; only the access token is new.
            return self._issue(tx, refresh_token, list(data["scopes"]))

    def _issue(self, tx: Tx, refresh_token: str, scopes: list[str]) -> Response:
        access_token = "sbx-" + secrets.token_urlsafe(32)
        tx.put_blob(
            _ACCESS,
            access_token,
            {"refresh_token": refresh_token, "scopes": scopes, "expires_ms": wall_ms() + self.access_ttl_ms},
        )
        return json_response(
            200,
            {
                "token_type": "bearer",
                "access_token": access_token,
                "refresh_token": refresh_token,
                "expires_in": self.access_ttl_ms // 1000,
            },
        )

    # -- token metadata and revocation (HubSpot's endpoints)

    def access_token_info(self, req: Request) -> Response:
        token = req.params["token"]
        if self.check(token).state != "valid":
            return _error("error", "access token not found or expired", 404)
        with self.store.read() as tx:
            data = tx.get_blob(_ACCESS, token) or {}
        return json_response(
            200,
            {
                "token": token,
                **self.account,
                "scopes": data.get("scopes", []),
                "app_id": 2001,
                "expires_in": max(0, (int(data.get("expires_ms", 0)) - wall_ms()) // 1000),
                "token_type": "access",
            },
        )

    def refresh_token_info(self, req: Request) -> Response:
        token = req.params["token"]
        with self.store.read() as tx:
            data = tx.get_blob(_REFRESH, token)
        if data is None or data.get("revoked"):
            return _error("error", "refresh token not found", 404)
        return json_response(
            200,
            {
                "token": token,
                **self.account,
                "scopes": data.get("scopes", []),
                "client_id": data.get("client_id"),
                "token_type": "refresh",
            },
        )

    def delete_refresh_token(self, req: Request) -> Response:
        if self._revoke(req.params["token"]) == 0:
            return _error("error", "refresh token not found", 404)
        return Response(204)

    # -- admin: what tests and demos need to make tokens go bad on purpose

    def _revoke(self, token: str | None) -> int:
        count = 0
        with self.store.write() as tx:
            for key, data in tx.blobs(_REFRESH):
                if (token is None or key == token) and not data.get("revoked"):
                    tx.put_blob(_REFRESH, key, dict(data, revoked=True))
                    count += 1
        return count

    def admin_revoke(self, req: Request) -> Response:
        """`{"refresh_token": t}` revokes one (and the access tokens it issued); `{}` revokes all."""
        payload = req.json_object() if req.body.strip() else {}
        token = payload.get("refresh_token")
        if token is not None and not isinstance(token, str):
            return json_response(400, {"ok": False, "error": "refresh_token must be a string"})
        return json_response(200, {"ok": True, "revoked": self._revoke(token)})

    def admin_expire(self, req: Request) -> Response:
        """`{"access_token": t}` expires one access token now; `{}` expires every one."""
        payload = req.json_object() if req.body.strip() else {}
        token = payload.get("access_token")
        if token is not None and not isinstance(token, str):
            return json_response(400, {"ok": False, "error": "access_token must be a string"})
        now = wall_ms()
        count = 0
        with self.store.write() as tx:
            for key, data in tx.blobs(_ACCESS):
                if (token is None or key == token) and int(data["expires_ms"]) > now:
                    tx.put_blob(_ACCESS, key, dict(data, expires_ms=now - 1))
                    count += 1
        return json_response(200, {"ok": True, "expired": count})

    def admin_tokens(self, req: Request) -> Response:
        now = wall_ms()
        with self.store.read() as tx:
            access = tx.blobs(_ACCESS)
            refresh = tx.blobs(_REFRESH)
            codes = tx.blobs(_CODES)
        return json_response(
            200,
            {
                "access_tokens": {
                    "issued": len(access),
                    "valid": sum(1 for _, d in access if int(d["expires_ms"]) > now),
                },
                "refresh_tokens": {
                    "issued": len(refresh),
                    "revoked": sum(1 for _, d in refresh if d.get("revoked")),
                },
                "pending_codes": len(codes),
            },
        )
