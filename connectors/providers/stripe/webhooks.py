"""Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>` over `"<t>.<raw body>"`.

Stripe signs with the endpoint's `whsec_...` secret (used as-is, not base64-decoded) and may send several
`v1` signatures while a secret is being rolled; any one matching is enough. The timestamp is signed too,
so checking it against a tolerance (Stripe's libraries use 300 seconds) stops replays of a captured
delivery. Mirrors `stripe.Webhook.construct_event` without needing the library.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from connectors.base import ConnectorError
from connectors.providers.single_send import send_once
from connectors.webhooks import WebhookSignatureError

if TYPE_CHECKING:
    from connectors.providers.stripe.client import StripeClient

SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def signature_header(secret: str, timestamp: int, body: bytes | str) -> str:
    """The header Stripe would send for `body` at `timestamp` (for tests and outbound replays)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    headers: Mapping[str, str],
    raw_body: bytes | str,
    secret: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a Stripe delivery and return its event; raises WebhookSignatureError(reason) otherwise.

    `raw_body` must be the bytes as received: parsing and re-serialising the JSON changes them.
    """
    header = _header(headers, SIGNATURE_HEADER)
    if not header:
        raise WebhookSignatureError(f"The delivery has no {SIGNATURE_HEADER} header.")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None:
        raise WebhookSignatureError(f"The {SIGNATURE_HEADER} header has no timestamp.")
    if not signatures:
        raise WebhookSignatureError(f"The {SIGNATURE_HEADER} header has no v1 signature.")
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else raw_body
    expected = signature_header(secret, timestamp, body).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookSignatureError("No Stripe signature matches the signing secret and the body.")
    age = (time.time() if now is None else now) - timestamp
    if tolerance_seconds > 0 and abs(age) > tolerance_seconds:
        raise WebhookSignatureError(
            f"The Stripe signature is {abs(age):.0f} s {'old' if age > 0 else 'in the future'}; "
            f"at most {tolerance_seconds} s are accepted."
        )
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookSignatureError("The signed body is not JSON.") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise WebhookSignatureError("The signed body is not a Stripe event.")
    return event


@dataclass(frozen=True)
class Endpoint:
    """A webhook endpoint as created: its id and the signing secret Stripe shows only then."""

    id: str
    secret: str


def create_endpoint(client: StripeClient, url: str, events: Sequence[str]) -> Endpoint:
    """`POST /v1/webhook_endpoints` for `events` (`"*"` for all); keep the secret to verify deliveries."""
    body = urlencode([("url", url), *((f"enabled_events[{i}]", name) for i, name in enumerate(events))])
    response = send_once(
        client.http,
        "POST",
        "/v1/webhook_endpoints",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    data = response.data if isinstance(response.data, dict) else {}
    if not data.get("id") or not data.get("secret"):
        raise ConnectorError(
            "Stripe did not answer the webhook endpoint with its id and secret.", permanent=False
        )
    return Endpoint(id=str(data["id"]), secret=str(data["secret"]))


def delete_endpoint(client: StripeClient, endpoint_id: str) -> None:
    client.http.delete(f"/v1/webhook_endpoints/{endpoint_id}")
