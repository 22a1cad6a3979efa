"""`Authorization: Token <key>` against hashed API tokens."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions

from integrations_hub.api.tokens import token_authenticate


class ApiTokenAuthentication(authentication.TokenAuthentication):
    """DRF's token header parsing (and its OpenAPI description), checked against our hashed keys."""

    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token = token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This token's user is inactive.")
        return token.user, token
