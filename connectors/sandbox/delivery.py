"""Webhook deliveries from a sandbox to a URL a test (or the demo) names.

The real systems push events to a subscriber's HTTPS endpoint, signed with their own schemes. A sandbox
cannot know where the hub listens, so its admin API takes the target URL per delivery; the dialect builds
the body and the signed headers, this module sends them and reports what the receiver answered. Standard
library only, like the rest of the sandbox.
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from connectors.sandbox.engine import HttpError, Request, json_response

# A receiver that takes longer than this is treated as failed, as the real senders do (Stripe and
# HubSpot give up after a few seconds and retry later; the sandbox does not retry).
DELIVERY_TIMEOUT_SECONDS = 10.0
_ANSWER_CHARS = 2000


@dataclass(frozen=True)
class Delivery:
    url: str
    status: int | None
    answer: str
    error: str | None

    def as_json(self, body: bytes, headers: Mapping[str, str], **extra: Any) -> dict[str, Any]:
        """What the admin API reports: the exact bytes and headers sent, and the receiver's answer."""
        return {
            "ok": self.error is None and self.status is not None and 200 <= self.status < 300,
            "url": self.url,
            "status": self.status,
            "response_body": self.answer,
            "error": self.error,
            "request": {"headers": dict(headers), "body": body.decode("utf-8")},
            **extra,
        }


def target_url(req: Request) -> str:
    """The `url` of an admin delivery request, checked to be http(s) (else a 400 in the admin shape)."""
    payload = req.json_object()
    url = payload.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise HttpError(json_response(400, {"ok": False, "error": "url must be an http(s) URL"}))
    return url


def deliver(url: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
    """POST `body` to `url` once; never raises for the receiver's failures (they are the report).

    http.client rather than urllib: urllib rewrites header names (`X-HubSpot-Signature-v3` becomes
    `X-hubspot-signature-v3`), and receivers should see them as the real systems send them.
    """
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = connection_class(parts.netloc, timeout=DELIVERY_TIMEOUT_SECONDS)
    try:
        connection.request("POST", target, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = connection.getresponse()
        answer = response.read(_ANSWER_CHARS).decode("utf-8", "replace")
        return Delivery(url, int(response.status), answer, None)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Delivery(url, None, "", f"delivery failed: {exc}")
    finally:
        connection.close()
