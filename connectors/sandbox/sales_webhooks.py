"""The sales dialect's webhooks (Pipedrive `/v1/webhooks`, payload version 1.0) and their deliveries.

As in Pipedrive: a webhook names a `subscription_url`, an `event_action` (added, updated, deleted, or
`*`) and an `event_object` (person, organization, deal, activity, or `*`), and may carry
`http_auth_user` / `http_auth_password`: Pipedrive does not sign deliveries, it sends those as HTTP
basic auth, and that is what a receiver checks. Every committed change of a matching record is POSTed
as JSON in the v1 shape: `{"v": 1, "event": "updated.person", "meta": {"action", "object", "id",
"timestamp", ...}, "current": {...}, "previous": {...}, "retry": n}` (`previous` is null for an added
record, `current` null for a deleted one). Failed deliveries are retried, `retry` counting them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from connectors.sandbox.delivery import Dispatcher, Outgoing, Signer, http_url, register_admin
from connectors.sandbox.engine import Change, Request, Response, Router, Row, json_response

if TYPE_CHECKING:
    from connectors.sandbox.sales import SalesDialect

BLOB = "webhooks"
ACTIONS = ("added", "updated", "deleted", "merged", "*")
OBJECTS = ("activity", "deal", "organization", "person", "*")
HOST = "demo.pipedrive.com"


class SalesWebhooks:
    def __init__(self, dialect: SalesDialect) -> None:
        self.dialect = dialect
        self.dispatcher = Dispatcher()

    def register(self, router: Router) -> None:
        api = self.dialect._api
        router.add("GET", "/v1/webhooks", api(self.list_webhooks))
        router.add("POST", "/v1/webhooks", api(self.create_webhook))
        router.add("DELETE", "/v1/webhooks/{id}", api(self.delete_webhook))
        register_admin(router, self.dispatcher)

    # -- the webhooks API

    @staticmethod
    def render(webhook: Mapping[str, Any]) -> dict[str, Any]:
        # Pipedrive never echoes the basic-auth password back.
        return {k: v for k, v in webhook.items() if k != "http_auth_password"}

    def _webhooks(self) -> list[dict[str, Any]]:
        with self.dialect.store.read() as tx:
            return sorted((data for _, data in tx.blobs(BLOB)), key=lambda w: int(w["id"]))

    def list_webhooks(self, req: Request) -> Response:
        return json_response(
            200, {"status": "ok", "success": True, "data": [self.render(w) for w in self._webhooks()]}
        )

    def create_webhook(self, req: Request) -> Response:
        from connectors.sandbox.sales import COMPANY_ID, fmt_time

        payload = self.dialect._body(req)
        errors: dict[str, str] = {}
        url = http_url(payload.get("subscription_url"))
        if url is None:
            errors["subscription_url"] = "subscription_url must be an http(s) URL"
        action, object_ = payload.get("event_action"), payload.get("event_object")
        if action not in ACTIONS:
            errors["event_action"] = f"event_action must be one of {', '.join(ACTIONS)}"
        if object_ not in OBJECTS:
            errors["event_object"] = f"event_object must be one of {', '.join(OBJECTS)}"
        version = str(payload.get("version") or "1.0")
        if version != "1.0":
            errors["version"] = "this sandbox sends webhook payload version 1.0 only"
        if errors:
            return json_response(
                400,
                {"status": "error", "success": False, "errors": errors, "error": "; ".join(errors.values())},
            )
        with self.dialect.store.write() as tx:
            webhook_id = tx.next_id("webhook_ids", 1)
            webhook: dict[str, Any] = {
                "id": webhook_id,
                "company_id": COMPANY_ID,
                "owner_id": 1,
                "user_id": int(payload.get("user_id") or 1),
                "event_action": action,
                "event_object": object_,
                "subscription_url": url,
                "version": version,
                "is_active": 1,
                "add_time": fmt_time(int(time.time() * 1000)),
                "remove_time": None,
                "type": "general",
                "http_auth_user": payload.get("http_auth_user") or None,
                "http_auth_password": payload.get("http_auth_password") or None,
                "additional_data": {},
                "remove_reason": None,
                "last_delivery_time": None,
                "last_http_status": None,
                "admin_id": 1,
            }
            tx.put_blob(BLOB, str(webhook_id), webhook)
        return json_response(201, {"status": "ok", "success": True, "data": self.render(webhook)})

    def delete_webhook(self, req: Request) -> Response:
        with self.dialect.store.write() as tx:
            if not tx.delete_blob(BLOB, req.params["id"]):
                return json_response(
                    404, {"status": "error", "success": False, "error": "Webhook not found", "data": None}
                )
        return json_response(200, {"status": "ok", "success": True})

    # -- deliveries

    def changes_committed(self, changes: list[Change]) -> None:
        from connectors.sandbox.sales import ENTITIES

        relevant = [c for c in changes if c.object in ENTITIES and c.action in ("created", "updated")]
        if not relevant:
            return
        webhooks = [w for w in self._webhooks() if w.get("is_active")]
        if not webhooks:
            return
        for change in relevant:
            entity = ENTITIES[change.object]
            before = change.previous or {}
            if change.action == "created":
                action = "added"
            elif before.get("active_flag") is not False and change.data.get("active_flag") is False:
                action = "deleted"
            else:
                action = "updated"
            targets = [
                w
                for w in webhooks
                if w["event_action"] in ("*", action) and w["event_object"] in ("*", entity.singular)
            ]
            if not targets:
                continue
            with self.dialect.store.read() as tx:
                current_row = Row(change.object, change.id, change.data, change.created_ms, change.at_ms)
                current = self.dialect.render(tx, entity, current_row)
                previous = (
                    self.dialect.render(
                        tx, entity, Row(change.object, change.id, before, change.created_ms, change.at_ms)
                    )
                    if change.previous is not None
                    else None
                )
            for webhook in targets:
                self.dispatcher.submit(
                    Outgoing(
                        url=webhook["subscription_url"],
                        body=b"",
                        sign=_signer(webhook),
                        subscription=str(webhook["id"]),
                        label=f"{action}.{entity.singular} {change.id}",
                        render=_v1_body(
                            webhook,
                            action,
                            entity.singular,
                            change,
                            None if action == "deleted" else current,
                            previous if action != "added" else None,
                        ),
                    )
                )


def _v1_body(
    webhook: Mapping[str, Any],
    action: str,
    object_: str,
    change: Change,
    current: dict[str, Any] | None,
    previous: dict[str, Any] | None,
) -> Callable[[int], bytes]:
    from connectors.sandbox.sales import COMPANY_ID

    def render(attempt: int) -> bytes:
        meta = {
            "v": 1,
            "action": action,
            "object": object_,
            "id": change.id,
            "company_id": COMPANY_ID,
            "user_id": webhook["user_id"],
            "host": HOST,
            "timestamp": change.at_ms // 1000,
            "timestamp_micro": change.at_ms * 1000,
            "permitted_user_ids": [webhook["user_id"]],
            "trans_pending": False,
            "is_bulk_update": False,
            "pipedrive_service_name": False,
            "change_source": "api",
            "matches_filters": {"current": []},
            "webhook_id": str(webhook["id"]),
            "webhook_owner_id": webhook["owner_id"],
        }
        body = {
            "v": 1,
            "matches_filters": {"current": []},
            "meta": meta,
            "current": current,
            "previous": previous,
            "retry": attempt - 1,
            "event": f"{action}.{object_}",
        }
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    return render


def _signer(webhook: Mapping[str, Any]) -> Signer:
    user, password = webhook.get("http_auth_user"), webhook.get("http_auth_password")

    def sign(body: bytes, attempt: int) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "Pipedrive Webhooks"}
        if user or password:
            token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return headers

    return sign
