"""HubSpot webhook signatures, version 3 (`X-HubSpot-Signature-v3`).

HubSpot signs `method + URI + body + timestamp` with HMAC-SHA256 keyed by the app's client secret and
sends the digest base64-encoded, the timestamp (epoch milliseconds) in `X-HubSpot-Request-Timestamp`.
HubSpot asks receivers to reject timestamps older than five minutes, which is what stops replays.
The URI must be the one HubSpot called, as the receiver sees it (scheme, host, path and query).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from connectors.http import HttpClient
from connectors.webhooks import WebhookSignatureError

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_SECONDS = 300
# HubSpot decodes these in the URI before signing; a receiver that sees them encoded must do the same.
_DECODED_IN_URI = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def canonical_uri(uri: str) -> str:
    for encoded in _DECODED_IN_URI:
        uri = uri.replace(encoded, unquote(encoded)).replace(encoded.lower(), unquote(encoded))
    return uri


def signature_v3(client_secret: str, method: str, uri: str, body: bytes | str, timestamp_ms: int) -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    source = method.upper().encode() + canonical_uri(uri).encode() + raw + str(timestamp_ms).encode()
    digest = hmac.new(client_secret.encode("utf-8"), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(
    headers: Mapping[str, str],
    raw_body: bytes | str,
    client_secret: str,
    *,
    method: str,
    uri: str,
    max_age_seconds: int = MAX_AGE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a HubSpot delivery; raises WebhookSignatureError(reason) unless it is authentic and fresh."""
    signature = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not signature:
        raise WebhookSignatureError(f"The delivery has no {SIGNATURE_HEADER} header.")
    if not stamp or not stamp.strip().isdigit():
        raise WebhookSignatureError(f"The delivery has no valid {TIMESTAMP_HEADER} header.")
    timestamp_ms = int(stamp.strip())
    age = (time.time() if now is None else now) - timestamp_ms / 1000
    if age > max_age_seconds:
        raise WebhookSignatureError(
            f"The HubSpot signature is {age:.0f} s old; at most {max_age_seconds} s are accepted."
        )
    if age < -max_age_seconds:
        raise WebhookSignatureError("The HubSpot signature is dated in the future.")
    expected = signature_v3(client_secret, method, uri, raw_body, timestamp_ms)
    if not hmac.compare_digest(expected, signature.strip()):
        raise WebhookSignatureError("The HubSpot signature does not match the client secret and the request.")


@dataclass(frozen=True)
class HubSpotEvent:
    """One event of a delivery (HubSpot batches up to 100 in one JSON array)."""

    event_id: int
    subscription_type: str  # contact.creation, contact.propertyChange, deal.deletion, ...
    object: str  # contact, company, deal, ticket
    object_id: str
    occurred_at: int  # epoch ms
    property_name: str | None
    property_value: str | None
    attempt: int


def parse_events(raw_body: bytes | str) -> list[HubSpotEvent]:
    """The events of one delivery; raises WebhookSignatureError when the body is not a HubSpot batch."""
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookSignatureError("The HubSpot delivery is not JSON.") from None
    if not isinstance(body, list):
        raise WebhookSignatureError("A HubSpot delivery is a JSON array of events.")
    events: list[HubSpotEvent] = []
    for raw in body:
        if not isinstance(raw, dict) or not raw.get("subscriptionType") or raw.get("objectId") is None:
            raise WebhookSignatureError("A HubSpot event needs a subscriptionType and an objectId.")
        subscription = str(raw["subscriptionType"])
        events.append(
            HubSpotEvent(
                event_id=int(raw.get("eventId") or 0),
                subscription_type=subscription,
                object=subscription.split(".", 1)[0],
                object_id=str(raw["objectId"]),
                occurred_at=int(raw.get("occurredAt") or 0),
                property_name=raw.get("propertyName"),
                property_value=None if raw.get("propertyValue") is None else str(raw["propertyValue"]),
                attempt=int(raw.get("attemptNumber") or 0),
            )
        )
    return events


def subscribe_app(
    http: HttpClient,
    *,
    app_id: int | str,
    developer_api_key: str,
    target_url: str,
    subscriptions: Sequence[tuple[str, str | None]],
) -> list[str]:
    """Point a developer app's webhooks at `target_url` and subscribe it to `(eventType, propertyName)`.

    Webhook subscriptions belong to the app, not to an installed account, and are managed with the
    app developer's API key; every account that installs the app is then covered. Returns the ids.
    """
    params = {"hapikey": developer_api_key}
    http.put(f"/webhooks/v3/{app_id}/settings", params=params, json={"targetUrl": target_url})
    created: list[str] = []
    for event_type, property_name in subscriptions:
        body: dict[str, object] = {"eventType": event_type, "active": True}
        if property_name:
            body["propertyName"] = property_name
        response = http.post(f"/webhooks/v3/{app_id}/subscriptions", params=params, json=body)
        created.append(str((response.data or {}).get("id")))
    return created
