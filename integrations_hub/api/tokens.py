"""API tokens: create (the key is returned once), list, revoke, and look a presented key up."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from integrations_hub.api.models import ApiToken

KEY_PREFIX = "ihub_"
PREFIX_LENGTH = 12
# last_used_at is for people ("is this token still in use?"); minute precision spares a write per request.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    key: str


def hash_key(key: str) -> str:
    # The key is 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def token_create(*, user: User, name: str) -> NewToken:
    """A new token for `user`. The key in the result is never stored and cannot be shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100] or "API token", prefix=key[:PREFIX_LENGTH], key_hash=hash_key(key)
    )
    return NewToken(token=token, key=key)


def token_list(*, user: User, include_revoked: bool = False) -> QuerySet[ApiToken]:
    tokens = ApiToken.objects.filter(user=user)
    if not include_revoked:
        tokens = tokens.filter(revoked_at__isnull=True)
    return tokens.order_by("-created_at", "-id")


def token_revoke(*, user: User, token_id: int) -> bool:
    """Revoke one of `user`'s tokens. False when there is no such active token (safe to repeat)."""
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def token_authenticate(key: str) -> ApiToken | None:
    """The active token with this key (its user loaded), or None. Marks it used."""
    if not key.startswith(KEY_PREFIX):
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)
    ).update(last_used_at=now)
    return token
