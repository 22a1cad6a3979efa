"""Zendesk webhook signatures: `X-Zendesk-Webhook-Signature` over timestamp + body.

Zendesk signs `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601) followed by the raw body with
HMAC-SHA256 keyed by the webhook's signing secret, and sends the digest base64-encoded. Zendesk states
no replay window; we refuse timestamps more than five minutes away, like the other systems' checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from datetime import datetime

from connectors.webhooks import WebhookSignatureError

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def signature(secret: str, timestamp: str, body: bytes | str) -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + raw, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(
    headers: Mapping[str, str],
    raw_body: bytes | str,
    secret: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a Zendesk delivery; raises WebhookSignatureError(reason) unless it is authentic and fresh."""
    given = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not given:
        raise WebhookSignatureError(f"The delivery has no {SIGNATURE_HEADER} header.")
    if not stamp:
        raise WebhookSignatureError(f"The delivery has no {TIMESTAMP_HEADER} header.")
    try:
        sent = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WebhookSignatureError(f"The {TIMESTAMP_HEADER} header is not an ISO 8601 time.") from None
    if sent.tzinfo is None:
        raise WebhookSignatureError(f"The {TIMESTAMP_HEADER} header has no time zone.")
    age = (time.time() if now is None else now) - sent.timestamp()
    if tolerance_seconds > 0 and abs(age) > tolerance_seconds:
        raise WebhookSignatureError(
            f"The Zendesk signature is {abs(age):.0f} s {'old' if age > 0 else 'in the future'}; "
            f"at most {tolerance_seconds} s are accepted."
        )
    # The timestamp is signed as sent (its exact text), not as parsed.
    if not hmac.compare_digest(signature(secret, stamp, raw_body), given.strip()):
        raise WebhookSignatureError("The Zendesk signature does not match the signing secret and the body.")
