"""Zendesk webhook signatures: `X-Zendesk-Webhook-Signature` over timestamp + body.

Zendesk signs `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601) followed by the raw body with
HMAC-SHA256 keyed by the webhook's signing secret, and sends the digest base64-encoded. Zendesk states
no replay window; we refuse timestamps more than five minutes away, like the other systems' checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connectors.base import ConnectorError
from connectors.providers.single_send import send_once
from connectors.webhooks import WebhookSignatureError

if TYPE_CHECKING:
    from connectors.providers.zendesk.client import ZendeskClient

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300
EVENT_PREFIX = "zen:event-type:"


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


@dataclass(frozen=True)
class ZendeskEvent:
    """One event-type delivery: `zen:event-type:user.name_changed` about `zen:user:123`."""

    type: str  # user.name_changed (without the zen:event-type: prefix)
    object: str  # user, organization, ticket
    id: str
    detail: dict[str, Any]
    change: dict[str, Any]  # the payload's `event`: {"current", "previous"} for a changed attribute


@dataclass(frozen=True)
class Webhook:
    id: str
    secret: str


def parse_event(raw_body: bytes | str) -> ZendeskEvent:
    """The event of a delivery to a webhook subscribed to event types; raises WebhookSignatureError."""
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookSignatureError("The Zendesk delivery is not JSON.") from None
    if not isinstance(body, dict) or not str(body.get("type", "")).startswith(EVENT_PREFIX):
        raise WebhookSignatureError("The Zendesk delivery is not an event (no zen:event-type: type).")
    kind, _, record_id = str(body.get("subject", "")).removeprefix("zen:").partition(":")
    if not kind or not record_id:
        raise WebhookSignatureError("The Zendesk event has no zen:<object>:<id> subject.")
    detail, change = body.get("detail"), body.get("event")
    return ZendeskEvent(
        type=str(body["type"]).removeprefix(EVENT_PREFIX),
        object=kind,
        id=record_id,
        detail=detail if isinstance(detail, dict) else {},
        change=change if isinstance(change, dict) else {},
    )


def create_webhook(client: ZendeskClient, url: str, subscriptions: Sequence[str], *, name: str) -> Webhook:
    """`POST /api/v2/webhooks`, then read its signing secret (Zendesk does not return it on creation).

    `subscriptions` are event types, with or without the `zen:event-type:` prefix, or
    `conditional_ticket_events` alone (a webhook that triggers call).
    """
    wanted = [
        s if s == "conditional_ticket_events" or s.startswith(EVENT_PREFIX) else EVENT_PREFIX + s
        for s in subscriptions
    ]
    response = send_once(
        client.http,
        "POST",
        "/api/v2/webhooks",
        json={
            "webhook": {
                "name": name,
                "endpoint": url,
                "http_method": "POST",
                "request_format": "json",
                "status": "active",
                "subscriptions": wanted,
            }
        },
    )
    webhook = (response.data or {}).get("webhook") if isinstance(response.data, dict) else None
    if not isinstance(webhook, dict) or not webhook.get("id"):
        raise ConnectorError("Zendesk did not answer the webhook with its id.", permanent=False)
    secret = client.http.get(f"/api/v2/webhooks/{webhook['id']}/signing_secret").data
    value = (secret or {}).get("signing_secret", {}).get("secret") if isinstance(secret, dict) else None
    if not value:
        raise ConnectorError("Zendesk did not show the webhook's signing secret.", permanent=False)
    return Webhook(id=str(webhook["id"]), secret=str(value))


def delete_webhook(client: ZendeskClient, webhook_id: str) -> None:
    client.http.delete(f"/api/v2/webhooks/{webhook_id}")
