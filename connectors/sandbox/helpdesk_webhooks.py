"""The helpdesk dialect's webhooks (Zendesk `/api/v2/webhooks`) and their signed deliveries.

As in Zendesk: a webhook has an endpoint and `subscriptions`, either event types
(`zen:event-type:user.created`, `zen:event-type:organization.name_changed`,
`zen:event-type:ticket.status_changed`, ...) or `conditional_ticket_events` (a webhook that triggers
call). Its signing secret is read with `GET /api/v2/webhooks/{id}/signing_secret` and rolled with a POST
there. Every committed change of a user, organization or ticket becomes one event per matching type,
in Zendesk's event schema (`type`, `account_id`, `id`, `time`, `zendesk_event_version`, `subject`,
`detail`, `event`), signed `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(secret, timestamp + body))
with the ISO 8601 `X-Zendesk-Webhook-Signature-Timestamp`. The sandbox has one built-in trigger for
`conditional_ticket_events` webhooks: "a ticket is created or updated", sending `{"ticket": {...}}`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors.sandbox.delivery import Dispatcher, Outgoing, Signer, http_url, register_admin
from connectors.sandbox.engine import (
    Change,
    HttpError,
    Request,
    Response,
    Router,
    Row,
    iso_s,
    json_response,
    wall_ms,
)
from connectors.sandbox.helpdesk_tickets import ACCOUNT_ID, AGENT_ID, zendesk_signature

if TYPE_CHECKING:
    from connectors.sandbox.helpdesk import HelpdeskDialect

BLOB = "webhooks"
EVENT_PREFIX = "zen:event-type:"
CONDITIONAL = "conditional_ticket_events"
EVENT_VERSION = "2022-11-06"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Which event a change of one attribute is, per object (attributes not listed raise no event).
_CHANGED = {
    "user": {
        "name": "name_changed",
        "email": "identity_changed",
        "role": "role_changed",
        "external_id": "external_id_changed",
        "notes": "notes_changed",
        "details": "details_changed",
        "tags": "tags_changed",
        "time_zone": "time_zone_changed",
        "alias": "alias_changed",
        "active": "active_changed",
        "user_fields": "custom_field_changed",
    },
    "organization": {
        "name": "name_changed",
        "external_id": "external_id_changed",
        "notes": "notes_changed",
        "details": "details_changed",
        "tags": "tags_changed",
        "group_id": "group_changed",
        "domain_names": "domain_names_changed",
        "organization_fields": "custom_field_changed",
    },
    "ticket": {
        "status": "status_changed",
        "priority": "priority_changed",
        "subject": "subject_changed",
        "type": "type_changed",
        "tags": "tags_changed",
        "description": "description_changed",
        "external_id": "external_id_changed",
        "assignee_id": "agent_assignment_changed",
        "group_id": "group_assignment_changed",
        "organization_id": "organization_changed",
        "requester_id": "requester_changed",
        "custom_fields": "custom_field_changed",
        "comments": "comment_added",
    },
}
_SINGULAR = {"users": "user", "organizations": "organization", "tickets": "ticket"}


def _ulid() -> str:
    """A ULID-shaped id (48 bits of time, 80 random), as Zendesk webhook ids are."""
    value = (wall_ms() << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _text(value: Any) -> str:
    """Event `detail` values are strings in Zendesk's payloads (ids too)."""
    return "" if value is None else str(value)


class HelpdeskWebhooks:
    def __init__(self, dialect: HelpdeskDialect) -> None:
        self.dialect = dialect
        self.dispatcher = Dispatcher()

    def register(self, router: Router) -> None:
        router.add("GET", "/api/v2/webhooks", self.list_webhooks)
        router.add("POST", "/api/v2/webhooks", self.create_webhook)
        router.add("GET", "/api/v2/webhooks/{id}", self.get_webhook)
        router.add("PATCH", "/api/v2/webhooks/{id}", self.update_webhook)
        router.add("DELETE", "/api/v2/webhooks/{id}", self.delete_webhook)
        router.add("GET", "/api/v2/webhooks/{id}/signing_secret", self.get_secret)
        router.add("POST", "/api/v2/webhooks/{id}/signing_secret", self.reset_secret)
        register_admin(router, self.dispatcher)

    # -- the webhooks API

    @staticmethod
    def _invalid(title: str, detail: str) -> HttpError:
        return HttpError(
            json_response(400, {"errors": [{"code": "InvalidValue", "title": title, "detail": detail}]})
        )

    @staticmethod
    def render(webhook: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in webhook.items() if k != "secret"}

    def _load(self, raw_id: str) -> dict[str, Any]:
        with self.dialect.store.read() as tx:
            found = tx.get_blob(BLOB, raw_id)
        if not isinstance(found, dict):
            raise HttpError(
                json_response(404, {"errors": [{"code": "WebhookNotFound", "title": "Webhook not found"}]})
            )
        return found

    def _save(self, webhook: dict[str, Any]) -> None:
        with self.dialect.store.write() as tx:
            tx.put_blob(BLOB, webhook["id"], webhook)

    def _check(self, webhook: dict[str, Any]) -> None:
        if not isinstance(webhook.get("name"), str) or not webhook["name"].strip():
            raise self._invalid("Invalid name", "name is required")
        if http_url(webhook.get("endpoint")) is None:
            raise self._invalid("Invalid endpoint", "endpoint must be an http(s) URL")
        if webhook.get("status") not in ("active", "inactive"):
            raise self._invalid("Invalid status", "status must be active or inactive")
        subscriptions = webhook.get("subscriptions")
        if not isinstance(subscriptions, list) or not all(isinstance(s, str) for s in subscriptions):
            raise self._invalid("Invalid subscriptions", "subscriptions must be a list of event types")
        events = [s for s in subscriptions if s != CONDITIONAL]
        if CONDITIONAL in subscriptions and events:
            raise self._invalid(
                "Invalid subscriptions", "conditional_ticket_events cannot be combined with event types"
            )
        for name in events:
            singular, _, kind = name.removeprefix(EVENT_PREFIX).partition(".")
            known = {"created", "deleted", "soft_deleted", *_CHANGED.get(singular, {}).values()}
            if not name.startswith(EVENT_PREFIX) or singular not in _CHANGED or kind not in known:
                raise self._invalid("Invalid subscriptions", f"{name} is not a supported event type")
        if events and (webhook.get("http_method") != "POST" or webhook.get("request_format") != "json"):
            raise self._invalid(
                "Invalid webhook",
                "webhooks subscribed to events must use http_method POST and request_format json",
            )

    def list_webhooks(self, req: Request) -> Response:
        with self.dialect.store.read() as tx:
            found = sorted((data for _, data in tx.blobs(BLOB)), key=lambda w: w["id"])
        return json_response(
            200,
            {"webhooks": [self.render(w) for w in found], "meta": {"has_more": False}, "links": {}},
        )

    def create_webhook(self, req: Request) -> Response:
        payload = req.json_object().get("webhook")
        if not isinstance(payload, dict):
            raise self._invalid("Invalid request", 'the body must be {"webhook": {...}}')
        now = iso_s(wall_ms())
        given = payload.get("signing_secret")
        webhook: dict[str, Any] = {
            "id": _ulid(),
            "name": payload.get("name"),
            "description": payload.get("description"),
            "status": payload.get("status", "active"),
            "endpoint": payload.get("endpoint"),
            "http_method": payload.get("http_method", "POST"),
            "request_format": payload.get("request_format", "json"),
            "subscriptions": payload.get("subscriptions", []),
            "created_at": now,
            "created_by": str(AGENT_ID),
            "updated_at": now,
            "updated_by": str(AGENT_ID),
            "secret": (
                str(given["secret"])
                if isinstance(given, dict) and given.get("secret")
                else base64.b64encode(secrets.token_bytes(32)).decode("ascii")
            ),
        }
        self._check(webhook)
        self._save(webhook)
        return json_response(201, {"webhook": self.render(webhook)})

    def get_webhook(self, req: Request) -> Response:
        return json_response(200, {"webhook": self.render(self._load(req.params["id"]))})

    def update_webhook(self, req: Request) -> Response:
        webhook = self._load(req.params["id"])
        payload = req.json_object().get("webhook")
        if not isinstance(payload, dict):
            raise self._invalid("Invalid request", 'the body must be {"webhook": {...}}')
        for key in (
            "name",
            "description",
            "status",
            "endpoint",
            "http_method",
            "request_format",
            "subscriptions",
        ):
            if key in payload:
                webhook[key] = payload[key]
        webhook["updated_at"] = iso_s(wall_ms())
        self._check(webhook)
        self._save(webhook)
        return Response(204)

    def delete_webhook(self, req: Request) -> Response:
        webhook = self._load(req.params["id"])
        with self.dialect.store.write() as tx:
            tx.delete_blob(BLOB, webhook["id"])
        return Response(204)

    def get_secret(self, req: Request) -> Response:
        webhook = self._load(req.params["id"])
        return json_response(200, {"signing_secret": {"algorithm": "SHA256", "secret": webhook["secret"]}})

    def reset_secret(self, req: Request) -> Response:
        webhook = self._load(req.params["id"])
        webhook["secret"] = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        self._save(webhook)
        return json_response(201, {"signing_secret": {"algorithm": "SHA256", "secret": webhook["secret"]}})

    # -- deliveries

    def changes_committed(self, changes: list[Change]) -> None:
        relevant = [c for c in changes if c.object in _SINGULAR and c.action in ("created", "updated")]
        if not relevant:
            return
        with self.dialect.store.read() as tx:
            webhooks = [data for _, data in tx.blobs(BLOB) if data.get("status") == "active"]
        if not webhooks:
            return
        for change in relevant:
            singular = _SINGULAR[change.object]
            for type_, event in self._events(singular, change):
                for webhook in webhooks:
                    if f"{EVENT_PREFIX}{type_}" in webhook["subscriptions"]:
                        self._submit(webhook, self._payload(singular, change, type_, event), type_)
            if singular == "ticket":
                for webhook in webhooks:
                    if CONDITIONAL in webhook["subscriptions"]:
                        ticket = self.dialect.tickets.render(self._row(change), self.dialect.base_url)
                        self._submit(webhook, {"ticket": ticket}, f"trigger ticket {change.id}")

    @staticmethod
    def _row(change: Change) -> Row:
        return Row(change.object, change.id, change.data, change.created_ms or change.at_ms, change.at_ms)

    def _events(self, singular: str, change: Change) -> list[tuple[str, dict[str, Any]]]:
        if change.action == "created":
            return [(f"{singular}.created", {})]
        before, after = change.previous or {}, change.data
        if singular == "user" and before.get("active") is not False and after.get("active") is False:
            return [("user.deleted", {})]
        if singular == "organization" and not before.get("deleted_at") and after.get("deleted_at"):
            return [("organization.deleted", {})]
        if singular == "ticket" and after.get("status") == "deleted" and before.get("status") != "deleted":
            return [("ticket.soft_deleted", {})]
        found: list[tuple[str, dict[str, Any]]] = []
        for key, suffix in _CHANGED[singular].items():
            old, new = before.get(key), after.get(key)
            if old == new:
                continue
            if suffix == "custom_field_changed" and isinstance(new, dict):
                previous = old if isinstance(old, dict) else {}
                for field in sorted(set(new) | set(previous)):
                    if new.get(field) != previous.get(field):
                        found.append(
                            (
                                f"{singular}.{suffix}",
                                {
                                    "field": {"id": field},
                                    "current": new.get(field),
                                    "previous": previous.get(field),
                                },
                            )
                        )
            elif suffix == "comment_added" and isinstance(new, list):
                for comment in new[len(old or []) :]:
                    found.append((f"{singular}.{suffix}", {"comment": comment}))
            elif suffix == "identity_changed":
                found.append(
                    (
                        f"{singular}.{suffix}",
                        {
                            "current": {"type": "email", "value": new, "primary": True},
                            "previous": {"type": "email", "value": old, "primary": True},
                        },
                    )
                )
            else:
                found.append((f"{singular}.{suffix}", {"current": new, "previous": old}))
        return found

    def _payload(self, singular: str, change: Change, type_: str, event: dict[str, Any]) -> dict[str, Any]:
        data = change.data
        detail: dict[str, Any] = {
            "id": _text(change.id),
            "created_at": iso_s(change.created_ms or change.at_ms),
            "updated_at": iso_s(change.at_ms),
        }
        if singular == "user":
            detail.update(
                email=_text(data.get("email")),
                external_id=_text(data.get("external_id")),
                name=_text(data.get("name")),
                organization_id=_text(data.get("organization_id") or 0),
                role=_text(data.get("role")),
                default_group_id="0",
            )
        elif singular == "organization":
            detail.update(
                name=_text(data.get("name")),
                external_id=_text(data.get("external_id")),
                group_id=_text(data.get("group_id") or 0),
                shared_comments=bool(data.get("shared_comments")),
                shared_tickets=bool(data.get("shared_tickets")),
            )
        else:
            detail.update(
                subject=_text(data.get("subject")),
                description=_text(data.get("description")),
                status=_text(data.get("status")).upper(),
                priority=_text(data.get("priority")).upper(),
                type=_text(data.get("type")).upper(),
                requester_id=_text(data.get("requester_id")),
                assignee_id=_text(data.get("assignee_id")),
                organization_id=_text(data.get("organization_id")),
                group_id=_text(data.get("group_id")),
                submitter_id=_text(data.get("submitter_id") or data.get("requester_id")),
                external_id=_text(data.get("external_id")),
                actor_id=str(AGENT_ID),
                brand_id="",
                form_id="",
                is_public=True,
                via={"channel": _text(data.get("channel") or "api")},
                tags=list(data.get("tags") or []),
            )
        return {
            "type": f"{EVENT_PREFIX}{type_}",
            "account_id": ACCOUNT_ID,
            "id": str(uuid.uuid4()),
            "time": iso_s(change.at_ms),
            "zendesk_event_version": EVENT_VERSION,
            "subject": f"zen:{singular}:{change.id}",
            "detail": detail,
            "event": event,
        }

    def _submit(self, webhook: Mapping[str, Any], payload: Mapping[str, Any], label: str) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.dispatcher.submit(
            Outgoing(
                url=str(webhook["endpoint"]),
                body=body,
                sign=_signer(str(webhook["id"]), str(webhook["secret"])),
                subscription=str(webhook["id"]),
                label=label,
                # Zendesk retries timeouts, 5xx, 409 and 429; other 4xx answers are final.
                final_statuses=lambda status: 400 <= status < 500 and status not in (408, 409, 429),
            )
        )


def _signer(webhook_id: str, secret: str) -> Signer:
    def sign(body: bytes, attempt: int) -> dict[str, str]:
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Account-Id": str(ACCOUNT_ID),
            "X-Zendesk-Webhook-Id": webhook_id,
            "X-Zendesk-Webhook-Invocation-Id": str(secrets.randbits(62)),
            "X-Zendesk-Webhook-Signature": zendesk_signature(secret, timestamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }

    return sign
