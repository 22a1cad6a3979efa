"""Idempotency keys for POST requests: claim a key, store the first response, replay it to retries.

The claim is an INSERT on a unique (user, key) constraint, committed before the request acts, so of
two identical requests racing only one acts; the other is told to retry and then gets the replay.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations_hub.api.models import IdempotencyKey

KEY_TTL = timedelta(hours=24)
# A claim older than this with no response was lost with its worker process: a retry may take it over.
ABANDONED_AFTER = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
# Headers worth repeating with a replayed response (the rest are recomputed by the server).
REPLAYED_HEADERS = ("Location",)


class IdempotencyError(Exception):
    """Base of the refusals below; each carries a message for the client."""


class IdempotencyKeyInvalid(IdempotencyError):
    pass


class IdempotencyKeyReused(IdempotencyError):
    """The key was first used for another request (other body, path or method)."""


class IdempotencyInProgress(IdempotencyError):
    """The first request with this key has not finished yet."""


class IdempotencyNotReplayable(IdempotencyError):
    """The first request finished, but its response held a secret that is shown only once."""


@dataclass(frozen=True)
class Claim:
    """This request holds the key and must complete (or release) it."""

    pk: int


@dataclass(frozen=True)
class StoredResponse:
    status: int
    content_type: str
    headers: dict[str, str]
    body: str


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise IdempotencyKeyInvalid(
            f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        )
    return key


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    """What identifies "the same request": method, path and body, with JSON compared by value."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode("utf-8")
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode("utf-8"), canonical):
        digest.update(part)
        digest.update(b"\x00")
    return digest.hexdigest()


def idempotency_begin(
    *, user: User, key: str, fingerprint: str, method: str, path: str
) -> Claim | StoredResponse:
    """Claim `key` for this request, or return the stored first response; raises an IdempotencyError."""
    validate_key(key)
    now = timezone.now()
    # Keys live 24 hours; the caller's expired keys go here, everyone's hourly (idempotency_prune).
    IdempotencyKey.objects.filter(user=user, created_at__lt=now - KEY_TTL).delete()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    user=user,
                    key=key,
                    fingerprint=fingerprint,
                    method=method.upper(),
                    path=path[:500],
                    created_at=now,
                    locked_at=now,
                )
            return Claim(pk=row.pk)
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(user=user, key=key).first()
        if existing is None:
            continue  # released between our insert and our read: try to claim it again
        return _existing(existing, fingerprint=fingerprint, now=now)
    raise IdempotencyInProgress("Another request with this Idempotency-Key is in progress; retry shortly.")


def _existing(row: IdempotencyKey, *, fingerprint: str, now: datetime) -> Claim | StoredResponse:
    if row.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"This Idempotency-Key was used for another request ({row.method} {row.path} with another "
            "body) in the last 24 hours; use a new key for a new request."
        )
    if row.completed_at is not None:
        if row.response_body is None or row.response_status is None:
            raise IdempotencyNotReplayable(
                "The request with this Idempotency-Key was done, and its response contained a secret "
                "that is shown only once. Make a new request with a new key to get a new one."
            )
        return StoredResponse(
            status=row.response_status,
            content_type=row.response_content_type,
            headers=dict(row.response_headers),
            body=row.response_body,
        )
    if row.locked_at is None or row.locked_at < now - ABANDONED_AFTER:
        # Conditional update: of several retries of an abandoned request, exactly one takes it over.
        taken = IdempotencyKey.objects.filter(
            pk=row.pk, completed_at__isnull=True, locked_at=row.locked_at
        ).update(locked_at=now)
        if taken:
            return Claim(pk=row.pk)
    raise IdempotencyInProgress(
        "The first request with this Idempotency-Key is still in progress; retry shortly."
    )


def idempotency_complete(
    *,
    claim: Claim,
    status: int,
    content_type: str,
    headers: dict[str, str],
    body: str | None,
) -> None:
    """Store the response of the request holding `claim`. `body=None`: done, but never to be repeated."""
    IdempotencyKey.objects.filter(pk=claim.pk).update(
        completed_at=timezone.now(),
        locked_at=None,
        response_status=status,
        response_content_type=content_type[:100],
        response_headers={name: value for name, value in headers.items() if name in REPLAYED_HEADERS},
        response_body=body,
    )


def idempotency_release(*, claim: Claim) -> None:
    """The request failed on our side (5xx): forget the key so a retry runs again."""
    IdempotencyKey.objects.filter(pk=claim.pk, completed_at__isnull=True).delete()


def idempotency_prune(*, now: datetime | None = None) -> int:
    """Delete every expired key (all users); the hourly task api.prune_idempotency_keys. Returns how many."""
    cutoff = (now or timezone.now()) - KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
