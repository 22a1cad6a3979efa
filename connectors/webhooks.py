"""Webhook signatures: Standard Webhooks signing and verification, and plain HMAC-SHA256 headers.

Standard Webhooks (https://www.standardwebhooks.com) signs `{webhook-id}.{webhook-timestamp}.{body}`
with HMAC-SHA256 and sends `webhook-signature: v1,<base64>` (several space-separated signatures while a
secret is being rotated). Signing the id and the timestamp with the body is what stops a captured
delivery from being replayed later or under another id. Secrets are `whsec_` + base64 of the key bytes.

Many systems still sign the bare body and put the digest in a header of their choosing (GitHub's
`X-Hub-Signature-256: sha256=<hex>`, Shopify's base64 `X-Shopify-Hmac-Sha256`); `HmacScheme` covers that.

`verify_inbound` is what the webhook intake calls: it returns nothing when the delivery is authentic
and raises `WebhookSignatureError(reason)` otherwise. Every comparison of secret-derived bytes is
constant-time, so the endpoint cannot be used as an oracle that leaks a signature byte by byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as secrets_module
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker of a secret, not a secret
SIGNATURE_VERSION = "v1"
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
DEFAULT_TOLERANCE_SECONDS = 5 * 60
# The specification asks for at least 24 random bytes; we generate 32.
MIN_SECRET_BYTES = 24
GENERATED_SECRET_BYTES = 32

NamedScheme = Literal["standard", "hmac-sha256-hex", "hmac-sha256-base64"]


class WebhookSignatureError(Exception):
    """A delivery that is not provably from the holder of the secret. `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HmacScheme:
    """A bare-body HMAC-SHA256 signature carried in one header.

    `prefix` (e.g. "sha256=") is stripped when present, so headers with and without it both verify.
    """

    header: str = "X-Signature-256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = "sha256="


GITHUB_SCHEME = HmacScheme(header="X-Hub-Signature-256", encoding="hex", prefix="sha256=")
_NAMED_HMAC: dict[str, HmacScheme] = {
    "hmac-sha256-hex": HmacScheme(encoding="hex", prefix="sha256="),
    "hmac-sha256-base64": HmacScheme(encoding="base64", prefix=""),
}


def generate_secret() -> str:
    """A new Standard Webhooks secret (`whsec_` + base64 of 32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets_module.token_bytes(GENERATED_SECRET_BYTES)).decode()


def new_message_id() -> str:
    """A unique `webhook-id`. It must not contain "." because the id is part of the signed text."""
    return f"msg_{uuid.uuid4().hex}"


def decode_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_` secret; the prefix is optional, as in the reference libraries."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    # Some tools print secrets without base64 padding; restore it before strict decoding.
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSignatureError("The signing secret is not a whsec_ base64 secret.") from None
    if not key:
        raise WebhookSignatureError("The signing secret is empty.")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def _check_metadata(msg_id: str, timestamp: int) -> None:
    # A "." in the id would let one signed text be split into a different (id, timestamp, body).
    if not msg_id or "." in msg_id:
        raise WebhookSignatureError("A webhook id must be non-empty and contain no '.'.")
    if timestamp < 0:
        raise WebhookSignatureError("A webhook timestamp must be a non-negative unix time.")


def _standard_digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The `v1,<base64>` signature of one delivery."""
    _check_metadata(msg_id, timestamp)
    digest = _standard_digest(decode_secret(secret), msg_id, timestamp, _as_bytes(body))
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def standard_headers(
    secrets: str | Sequence[str], msg_id: str, timestamp: int, body: bytes | str
) -> dict[str, str]:
    """The three Standard Webhooks headers; several secrets (a rotation) give several signatures."""
    secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
    if not secret_list:
        raise WebhookSignatureError("No signing secret is configured.")
    signatures = " ".join(sign_standard(secret, msg_id, timestamp, body) for secret in secret_list)
    return {HEADER_ID: msg_id, HEADER_TIMESTAMP: str(timestamp), HEADER_SIGNATURE: signatures}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (a plain dict is not, Django's request.headers is)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _secret_list(secret: str | Sequence[str]) -> list[str]:
    found = [secret] if isinstance(secret, str) else list(secret)
    found = [s for s in found if s and s.strip()]
    if not found:
        raise WebhookSignatureError("No signing secret is configured for this webhook.")
    return found


def _v1_signatures(header_value: str) -> Iterable[bytes]:
    """Decoded `v1` signatures from the header; other versions (e.g. asymmetric v1a) are skipped."""
    for part in header_value.split():
        version, sep, encoded = part.partition(",")
        if not sep or version != SIGNATURE_VERSION:
            continue
        try:
            yield base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue


def verify_standard(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str | Sequence[str],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a Standard Webhooks delivery; raise WebhookSignatureError with the reason if it fails.

    `secret` may be a list (accept the old and the new secret while rotating). `now` (unix seconds)
    replaces the clock, for tests and for re-verifying a stored delivery.
    """
    msg_id = _header(headers, HEADER_ID)
    raw_timestamp = _header(headers, HEADER_TIMESTAMP)
    signature_header = _header(headers, HEADER_SIGNATURE)
    missing = [
        name
        for name, value in (
            (HEADER_ID, msg_id),
            (HEADER_TIMESTAMP, raw_timestamp),
            (HEADER_SIGNATURE, signature_header),
        )
        if not value
    ]
    if missing or msg_id is None or raw_timestamp is None or signature_header is None:
        raise WebhookSignatureError(f"Missing header(s): {', '.join(missing)}.")
    if not raw_timestamp.strip().isdigit():
        raise WebhookSignatureError(f"{HEADER_TIMESTAMP} is not a unix timestamp in seconds.")
    timestamp = int(raw_timestamp.strip())
    current = time.time() if now is None else now
    # The timestamp is checked before the signature so a replayed old delivery is named as such.
    if timestamp < current - tolerance_seconds:
        raise WebhookSignatureError(
            f"The delivery is too old ({int(current - timestamp)} s; at most {tolerance_seconds} s allowed)."
        )
    if timestamp > current + tolerance_seconds:
        raise WebhookSignatureError(
            f"The delivery's timestamp is {int(timestamp - current)} s in the future "
            f"(at most {tolerance_seconds} s allowed)."
        )
    if "." in msg_id:
        raise WebhookSignatureError(f"{HEADER_ID} must not contain '.'.")
    candidates = list(_v1_signatures(signature_header))
    if not candidates:
        raise WebhookSignatureError(f"{HEADER_SIGNATURE} has no v1 signature.")
    payload = _as_bytes(body)
    for key in (decode_secret(s) for s in _secret_list(secret)):
        expected = _standard_digest(key, msg_id, timestamp, payload)
        # Compare against every candidate without stopping early, so timing says nothing about which.
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
        if matched:
            return
    raise WebhookSignatureError("No signature matches the body with this secret.")


def sign_hmac(secret: str, body: bytes | str, scheme: HmacScheme | None = None) -> str:
    """The header value a bare-body HMAC-SHA256 sender would put in `scheme.header`."""
    scheme = scheme or HmacScheme()
    digest = hmac.new(secret.encode("utf-8"), _as_bytes(body), hashlib.sha256).digest()
    encoded = digest.hex() if scheme.encoding == "hex" else base64.b64encode(digest).decode("ascii")
    return f"{scheme.prefix}{encoded}"


def verify_hmac(
    headers: Mapping[str, str], body: bytes | str, secret: str | Sequence[str], scheme: HmacScheme
) -> None:
    """Check a bare-body HMAC-SHA256 header. The secret is used as text (UTF-8), as GitHub and Shopify do."""
    value = _header(headers, scheme.header)
    if not value or not value.strip():
        raise WebhookSignatureError(f"Missing header: {scheme.header}.")
    value = value.strip()
    if scheme.prefix and value.lower().startswith(scheme.prefix.lower()):
        value = value[len(scheme.prefix) :]
    try:
        received = (
            bytes.fromhex(value) if scheme.encoding == "hex" else base64.b64decode(value, validate=True)
        )
    except (binascii.Error, ValueError):
        raise WebhookSignatureError(f"{scheme.header} is not a {scheme.encoding} digest.") from None
    payload = _as_bytes(body)
    for text_secret in _secret_list(secret):
        expected = hmac.new(text_secret.encode("utf-8"), payload, hashlib.sha256).digest()
        if hmac.compare_digest(expected, received):
            return
    raise WebhookSignatureError(f"{scheme.header} does not match the body with this secret.")


def verify_inbound(
    headers: Mapping[str, str],
    raw_body: bytes | str,
    secret: str | Sequence[str],
    scheme: NamedScheme | HmacScheme,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Verify an inbound delivery before it is stored; raises WebhookSignatureError(reason).

    `raw_body` must be the bytes as received: re-serialising parsed JSON changes them and breaks the
    signature. `scheme` is "standard" (Standard Webhooks), "hmac-sha256-hex" / "hmac-sha256-base64"
    (bare-body HMAC in `X-Signature-256`), or an `HmacScheme` naming another header.
    """
    if scheme == "standard":
        verify_standard(headers, raw_body, secret, tolerance_seconds=tolerance_seconds, now=now)
        return
    if isinstance(scheme, HmacScheme):
        verify_hmac(headers, raw_body, secret, scheme)
        return
    named = _NAMED_HMAC.get(scheme)
    if named is None:
        raise WebhookSignatureError(
            f"Unknown signature scheme {scheme!r}; use standard, {', '.join(_NAMED_HMAC)}."
        )
    verify_hmac(headers, raw_body, secret, named)
