"""Slack request signatures: `X-Slack-Signature: v0=<hex>` over `v0:<timestamp>:<raw body>`.

Slack signs every Events API callback, slash command and interaction with the app's signing secret;
the timestamp (`X-Slack-Request-Timestamp`, unix seconds) is part of the signed text, and Slack asks
receivers to refuse requests more than five minutes old. Mirrors slack_sdk's SignatureVerifier.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from connectors.webhooks import WebhookSignatureError

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
MAX_AGE_SECONDS = 300


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def signature(signing_secret: str, timestamp: int | str, body: bytes | str) -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    signed = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(signing_secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify_signature(
    headers: Mapping[str, str],
    raw_body: bytes | str,
    signing_secret: str,
    *,
    max_age_seconds: int = MAX_AGE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a request from Slack; raises WebhookSignatureError(reason) unless it is authentic and fresh."""
    given = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not given:
        raise WebhookSignatureError(f"The request has no {SIGNATURE_HEADER} header.")
    if not stamp or not stamp.strip().isdigit():
        raise WebhookSignatureError(f"The request has no valid {TIMESTAMP_HEADER} header.")
    age = (time.time() if now is None else now) - int(stamp)
    if abs(age) > max_age_seconds:
        raise WebhookSignatureError(
            f"The Slack signature is {abs(age):.0f} s {'old' if age > 0 else 'in the future'}; "
            f"at most {max_age_seconds} s are accepted."
        )
    if not hmac.compare_digest(signature(signing_secret, stamp.strip(), raw_body), given.strip()):
        raise WebhookSignatureError("The Slack signature does not match the signing secret and the body.")
