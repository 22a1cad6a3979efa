"""Mailchimp list webhooks: subscribe, check the URL secret, parse the form-encoded deliveries.

Mailchimp does not sign webhook deliveries; its documented practice is a secret in the webhook URL's
query string, which the receiver checks (in constant time) on every delivery. Before it saves a
webhook, Mailchimp GETs the URL and refuses the webhook unless it answers 2xx, so the receiver answers
a GET with 200 and stores nothing. Deliveries are `application/x-www-form-urlencoded`, bracketed keys
for nesting: `type=profile&fired_at=2026-11-28 10:00:00&data[email]=a@b.c&data[merges][FNAME]=Ada`.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.base import ConnectorError
from connectors.providers.single_send import send_once
from connectors.webhooks import WebhookSignatureError

if TYPE_CHECKING:
    from connectors.providers.mailchimp.client import MailchimpClient

SECRET_PARAM = "secret"  # noqa: S105 - the name of the query parameter, not a secret
EVENT_TYPES = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign")
_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")


@dataclass(frozen=True)
class MailchimpEvent:
    type: str
    fired_at: datetime | None
    data: dict[str, Any]

    @property
    def email(self) -> str | None:
        """The address the event is about (the new one for `upemail`)."""
        value = self.data.get("new_email") or self.data.get("email")
        return str(value) if value else None


def webhook_url(url: str, secret: str) -> str:
    """`url` with the secret added to its query string (what Mailchimp is given to call)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != SECRET_PARAM]
    query.append((SECRET_PARAM, secret))
    return urlunsplit(parts._replace(query=urlencode(query)))


def verify_url_secret(query: Mapping[str, Any] | str, secret: str) -> None:
    """Raise WebhookSignatureError(reason) unless the request's query carries `secret`.

    `query` is the raw query string or a mapping of parameters (Django's `request.GET` works).
    """
    if not secret:
        raise WebhookSignatureError("No URL secret is configured for this Mailchimp webhook.")
    if isinstance(query, str):
        values = parse_qs(query, keep_blank_values=True).get(SECRET_PARAM, [])
        given = values[-1] if values else None
    else:
        raw = query.get(SECRET_PARAM)
        given = raw[-1] if isinstance(raw, list) and raw else raw if isinstance(raw, str) else None
    if not given:
        raise WebhookSignatureError(f"The delivery's URL has no {SECRET_PARAM} parameter.")
    if not hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8")):
        raise WebhookSignatureError(f"The delivery's {SECRET_PARAM} parameter does not match the webhook's.")


def is_validation_request(method: str) -> bool:
    """Mailchimp's check of a new webhook URL: a GET, to be answered 200 without storing anything."""
    return method.upper() == "GET"


def parse_form(raw_body: bytes | str) -> MailchimpEvent:
    """The event of one delivery; raises WebhookSignatureError when the body is not one."""
    try:
        text = raw_body.decode("utf-8") if isinstance(raw_body, bytes) else raw_body
    except UnicodeDecodeError:
        raise WebhookSignatureError("The Mailchimp delivery is not UTF-8 form data.") from None
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.fullmatch(key)
        if match is None:
            continue
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[path[-1]] = value
    type_ = root.get("type")
    if type_ not in EVENT_TYPES:
        raise WebhookSignatureError(f"The Mailchimp delivery has no known type (got {type_!r}).")
    fired = root.get("fired_at")
    fired_at = None
    if isinstance(fired, str):
        try:
            fired_at = datetime.strptime(fired, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            fired_at = None
    data = root.get("data")
    return MailchimpEvent(type=str(type_), fired_at=fired_at, data=data if isinstance(data, dict) else {})


def generate_url_secret() -> str:
    return secrets.token_urlsafe(24)


def subscribe(
    client: MailchimpClient,
    url: str,
    secret: str,
    *,
    events: tuple[str, ...] = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned"),
    sources: tuple[str, ...] = ("user", "admin", "api"),
) -> str:
    """Create a list webhook calling `url` with `secret` in its query; returns the webhook's id.

    Mailchimp checks the URL with a GET first, so the receiver must already answer it.
    """
    response = send_once(
        client.http,
        "POST",
        f"/3.0/lists/{client.config.list_id}/webhooks",
        json={
            "url": webhook_url(url, secret),
            "events": {name: name in events for name in EVENT_TYPES},
            "sources": {name: name in sources for name in ("user", "admin", "api")},
        },
    )
    data = response.data if isinstance(response.data, dict) else {}
    if not data.get("id"):
        raise ConnectorError(
            "Mailchimp did not answer the webhook subscription with its id.", permanent=False
        )
    return str(data["id"])


def unsubscribe(client: MailchimpClient, webhook_id: str) -> None:
    client.http.delete(f"/3.0/lists/{client.config.list_id}/webhooks/{webhook_id}")
