"""Pipedrive webhooks: subscribe, check the basic-auth credentials, parse the v1 payload.

Pipedrive does not sign deliveries. A webhook may carry `http_auth_user` / `http_auth_password`, which
Pipedrive then sends as HTTP basic auth with every delivery; checking them (in constant time) is the
only proof a delivery comes from the account holding the webhook, so we always subscribe with a
generated password. Payload version 1.0: `{"event": "updated.person", "meta": {"action", "object",
"id", "timestamp", ...}, "current": {...}, "previous": {...}, "retry": n}`; `previous` is null for an
added record and `current` null for a deleted one. Version 2.0 payloads (`meta.entity`, `data`) parse
too, so a webhook created in Pipedrive's own settings page works either way.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.base import ConnectorError
from connectors.providers.single_send import send_once
from connectors.webhooks import WebhookSignatureError

if TYPE_CHECKING:
    from connectors.providers.pipedrive.client import PipedriveClient

AUTH_HEADER = "Authorization"
# v2 names its actions differently; events are reported in v1's words.
_V2_ACTIONS = {"create": "added", "change": "updated", "delete": "deleted"}


@dataclass(frozen=True)
class PipedriveEvent:
    action: str  # added, updated, deleted, merged
    object: str  # person, organization, deal, activity, ...
    id: str
    current: dict[str, Any] | None
    previous: dict[str, Any] | None
    timestamp: int | None  # unix seconds
    retry: int

    @property
    def name(self) -> str:
        return f"{self.action}.{self.object}"


@dataclass(frozen=True)
class Subscription:
    id: str
    user: str
    password: str


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verify_basic_auth(headers: Mapping[str, str], user: str, password: str) -> None:
    """Raise WebhookSignatureError(reason) unless the delivery carries exactly these credentials."""
    if not password:
        raise WebhookSignatureError("No webhook password is configured for this Pipedrive webhook.")
    given = (_header(headers, AUTH_HEADER) or "").strip()
    scheme, _, encoded = given.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookSignatureError("The delivery has no HTTP basic auth credentials.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSignatureError("The delivery's basic auth credentials are not base64.") from None
    given_user, sep, given_password = decoded.partition(b":")
    # Both halves are compared in full, so timing tells nothing about which one (or which byte) differs.
    user_ok = hmac.compare_digest(given_user, user.encode("utf-8"))
    password_ok = hmac.compare_digest(given_password, password.encode("utf-8"))
    if not sep or not (user_ok & password_ok):
        raise WebhookSignatureError("The delivery's basic auth credentials do not match the webhook's.")


def parse_event(raw_body: bytes | str) -> PipedriveEvent:
    """The event of one delivery (v1 or v2 payload); raises WebhookSignatureError if it is not one."""
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookSignatureError("The Pipedrive delivery is not JSON.") from None
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        raise WebhookSignatureError("The Pipedrive delivery has no meta object.")
    if "entity" in meta:  # version 2.0
        action = _V2_ACTIONS.get(str(meta.get("action")), str(meta.get("action")))
        object_, record_id = str(meta.get("entity")), meta.get("entity_id")
        current, previous = body.get("data"), body.get("previous")
        timestamp = meta.get("timestamp")
        stamp = int(timestamp) if isinstance(timestamp, int | float) else None
    else:
        action, object_, record_id = str(meta.get("action")), str(meta.get("object")), meta.get("id")
        current, previous = body.get("current"), body.get("previous")
        stamp = int(meta["timestamp"]) if isinstance(meta.get("timestamp"), int | float) else None
    if record_id is None or not action or not object_:
        raise WebhookSignatureError("The Pipedrive delivery does not name an action, an object and an id.")
    return PipedriveEvent(
        action=action,
        object=object_,
        id=str(record_id),
        current=current if isinstance(current, dict) else None,
        previous=previous if isinstance(previous, dict) else None,
        timestamp=stamp,
        retry=int(body.get("retry") or 0),
    )


def subscribe(
    client: PipedriveClient,
    url: str,
    *,
    event_action: str = "*",
    event_object: str = "*",
    user: str = "integrations-hub",
) -> Subscription:
    """Create a v1.0 webhook on `url` with a fresh basic-auth password; keep the result to verify."""
    password = secrets.token_urlsafe(24)
    response = send_once(
        client.http,
        "POST",
        "/v1/webhooks",
        json={
            "subscription_url": url,
            "event_action": event_action,
            "event_object": event_object,
            "http_auth_user": user,
            "http_auth_password": password,
            "version": "1.0",
        },
    )
    data = (response.data or {}).get("data") if isinstance(response.data, dict) else None
    if not isinstance(data, dict) or data.get("id") is None:
        raise ConnectorError(
            "Pipedrive did not answer the webhook subscription with its id.", permanent=False
        )
    return Subscription(id=str(data["id"]), user=user, password=password)


def unsubscribe(client: PipedriveClient, webhook_id: str) -> None:
    client.http.delete(f"/v1/webhooks/{webhook_id}")
