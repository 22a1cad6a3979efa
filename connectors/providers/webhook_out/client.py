"""Outbound webhooks: each record written to this "target" is POSTed as one signed JSON event.

Events follow the Standard Webhooks payload shape (`type`, `timestamp`, `data`) and are signed with
its headers, so a receiver can verify them with any Standard Webhooks library. The `webhook-id` is
kept across the HTTP layer's retries of one delivery (that is what lets a receiver drop the
duplicate); a later run that re-sends a record sends a new event with a new id.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, field_validator

from connectors.base import (
    AuthenticationError,
    ChangePage,
    ConnectionConfig,
    ConnectionSettings,
    ConnectorClient,
    ConnectorError,
    ObjectSchema,
    WriteItem,
    WriteResult,
)
from connectors.http import HttpClient, HttpError, HttpResponse, default_error_message
from connectors.webhooks import (
    MIN_SECRET_BYTES,
    WebhookSignatureError,
    decode_secret,
    new_message_id,
    standard_headers,
)

OBJECTS: dict[str, str] = {"events": "Events"}
TEST_EVENT_TYPE = "webhook.test"
# The specification's advice: identifiers of [a-zA-Z0-9_], grouped with full stops.
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
_ERROR_BODY_CHARS = 500
_SUCCESS = range(200, 300)
# Redirects are handed back instead of followed: the specification treats a 3xx as a failed delivery
# (the URL should be updated), and following it would send the signed payload somewhere unreviewed.
_REDIRECTS = (301, 302, 303, 307, 308)


class WebhookOutConfig(ConnectionConfig):
    base_url: str = Field(title="Endpoint URL", description="Every event is POSTed to this URL.")
    event_type: str = Field(
        default="record.upserted",
        description="The `type` of each event, e.g. contact.synced (letters, digits, _ and .).",
    )
    id_path: str | None = Field(
        default=None,
        description="Optional JMESPath into the receiver's JSON answer that holds its id for the record.",
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL, e.g. https://example.com/hooks/crm")
        return value.strip()

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, value: str) -> str:
        if not _EVENT_TYPE.match(value):
            raise ValueError("use letters, digits and _ in full-stop separated parts, e.g. contact.synced")
        return value

    @field_validator("id_path")
    @classmethod
    def _jmespath(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            jmespath.compile(value)
        except JMESPathError as exc:
            raise ValueError(f"not a valid JMESPath expression: {exc}") from None
        return value


def _iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _error_detail(response: HttpResponse) -> str:
    """What the receiver said: its JSON message when it has one, else the body as text."""
    detail = default_error_message(response)
    if detail:
        return detail
    text = " ".join(response.text.split())
    if len(text) > _ERROR_BODY_CHARS:
        text = text[:_ERROR_BODY_CHARS] + "…"
    return text or response.reason or "no details"


class WebhookOutClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = WebhookOutConfig.model_validate(dict(settings.config))
        self._secret = settings.credentials.get("signing_secret", "") or ""
        self._id_path = jmespath.compile(self.config.id_path) if self.config.id_path else None
        self.http = HttpClient(
            self.config.base_url,
            secrets=[self._secret],
            headers={"Content-Type": "application/json"},
            system="The webhook endpoint",
            error_message=_error_detail,
            connection_id=settings.connection_id,
            rate_limit=settings.rate_limit,
        )

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        """Deliver a `webhook.test` event, as "send test event" buttons do; the receiver must answer 2xx."""
        response = self._deliver({"type": TEST_EVENT_TYPE, "timestamp": _iso_now(), "data": {}})
        if not response.ok:
            raise ConnectorError(
                f"The endpoint answered {response.status} to the test event: "
                f"{self.http.redact(_error_detail(response))}",
                permanent=True,
                status=response.status,
            )
        host = urlsplit(self.config.base_url).hostname or self.config.base_url
        return f"Webhook endpoint at {host} (answered {response.status})"

    def discover_schema(self, object_name: str) -> ObjectSchema:
        # An event carries whatever fields the mapping produces; there is no fixed field list.
        return ObjectSchema(name=object_name, label=OBJECTS.get(object_name, object_name), fields=())

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        raise ConnectorError(
            "An outbound webhook only sends events; it has no records to read. Use it as a target.",
            permanent=True,
        )

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        return [self._send_item(object_name, item, match_field) for item in items]

    # -- helpers -----------------------------------------------------------------------------------

    def _send_item(self, object_name: str, item: WriteItem, match_field: str) -> WriteResult:
        event = {
            "type": self.config.event_type,
            "timestamp": _iso_now(),
            "data": {
                "object": object_name,
                "key": item.key,
                "id": item.target_id,
                "match_field": match_field,
                "fields": dict(item.fields),
            },
        }
        response = self._deliver(event)
        if not response.ok:
            return WriteResult(
                key=item.key,
                ok=False,
                error=f"The endpoint answered {response.status}: {self.http.redact(_error_detail(response))}",
            )
        target_id = self._target_id(response) or item.target_id or item.key
        return WriteResult(
            key=item.key,
            ok=True,
            target_id=target_id,
            action="updated" if item.target_id else "created",
        )

    def _target_id(self, response: HttpResponse) -> str | None:
        if self._id_path is None or response.data is None:
            return None
        value = self._id_path.search(response.data)
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None

    def _signing_headers(self, body: bytes) -> dict[str, str]:
        if not self._secret:
            raise AuthenticationError("No signing secret is configured for this webhook.", status=None)
        try:
            if len(decode_secret(self._secret)) < MIN_SECRET_BYTES:
                raise AuthenticationError(
                    f"The signing secret is shorter than the {MIN_SECRET_BYTES} bytes Standard Webhooks "
                    "requires; generate a new whsec_ secret.",
                    status=None,
                )
            return standard_headers(self._secret, new_message_id(), int(time.time()), body)
        except WebhookSignatureError as exc:
            raise AuthenticationError(exc.reason, status=None) from None

    def _deliver(self, event: Mapping[str, Any]) -> HttpResponse:
        """POST one event. 2xx and 3xx come back as responses; 401/403 and exhausted retries raise.

        A 4xx other than 401/403 is the receiver rejecting this one event: returned as a response so
        the item fails with the receiver's words while the others still go. 401/403 mean it refuses
        our signature or credentials for every event, so the run stops without losing its place.
        """
        # The exact bytes we sign are the bytes we send: serialise once.
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
        try:
            response = self.http.post(
                self.config.base_url,
                data=body,
                headers=self._signing_headers(body),
                expected=[*_SUCCESS, *_REDIRECTS],
            )
        except HttpError as exc:
            if exc.response is not None and exc.permanent and exc.status not in (401, 403):
                return exc.response
            raise
        if response.status in _REDIRECTS:
            location = response.header("Location") or "(no Location header)"
            return HttpResponse(
                status=response.status,
                reason=response.reason,
                headers=response.headers,
                text=f"The endpoint redirected to {location}; update the endpoint URL instead.",
                url=response.url,
                elapsed_seconds=response.elapsed_seconds,
            )
        return response
