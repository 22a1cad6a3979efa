"""The CRM dialect's app webhook subscriptions (HubSpot Webhooks API v3) and their deliveries.

As in HubSpot: a developer app has one target URL (`PUT /webhooks/v3/{appId}/settings`) and a list of
subscriptions (`POST /webhooks/v3/{appId}/subscriptions`: `contact.creation`, `contact.deletion`,
`contact.propertyChange` with the `propertyName` to watch, and the same for companies, deals and
tickets), managed with the developer API key (`?hapikey=`). Every committed change then reaches the
target URL as a JSON array of events (at most 100 per request), signed with version 3:
base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) in `X-HubSpot-Signature-v3` and the
epoch-millisecond timestamp in `X-HubSpot-Request-Timestamp`. A retry carries the next `attemptNumber`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connectors.sandbox.crm_links import APP_ID, PORTAL_ID, signature_v3
from connectors.sandbox.delivery import Dispatcher, Outgoing, Signer, http_url, register_admin
from connectors.sandbox.engine import (
    Change,
    HttpError,
    Request,
    Response,
    Router,
    iso_ms,
    json_response,
    same_secret,
    wall_ms,
)

if TYPE_CHECKING:
    from connectors.sandbox.crm import CrmDialect

DEFAULT_DEVELOPER_KEY = "demo-crm-developer-key"
SETTINGS = "webhook_settings"
SUBSCRIPTIONS = "webhook_subscriptions"
MAX_EVENTS_PER_REQUEST = 100
_OBJECTS = {"contacts": "contact", "companies": "company", "deals": "deal", "tickets": "ticket"}
_KINDS = ("creation", "deletion", "propertyChange", "restore")
# Properties the CRM maintains itself; changing a record changes them, which is not an event of its own.
_MAINTAINED = {"lastmodifieddate", "hs_lastmodifieddate", "createdate", "hs_object_id"}


class CrmWebhooks:
    def __init__(self, dialect: CrmDialect) -> None:
        self.dialect = dialect
        self.dispatcher = Dispatcher()
        self._event_ids = itertools.count(int(time.time() * 1000) * 10)

    @property
    def developer_key(self) -> str:
        return str(self.dialect.options.get("developer_api_key") or DEFAULT_DEVELOPER_KEY)

    def register(self, router: Router) -> None:
        base = "/webhooks/v3/{app}"
        router.add("GET", f"{base}/settings", self.get_settings, auth=False)
        router.add("PUT", f"{base}/settings", self.put_settings, auth=False)
        router.add("DELETE", f"{base}/settings", self.delete_settings, auth=False)
        router.add("GET", f"{base}/subscriptions", self.list_subscriptions, auth=False)
        router.add("POST", f"{base}/subscriptions", self.create_subscription, auth=False)
        router.add("GET", f"{base}/subscriptions/{{id}}", self.get_subscription, auth=False)
        router.add("PATCH", f"{base}/subscriptions/{{id}}", self.update_subscription, auth=False)
        router.add("DELETE", f"{base}/subscriptions/{{id}}", self.delete_subscription, auth=False)
        register_admin(router, self.dispatcher)

    # -- the webhooks API

    def _check(self, req: Request) -> None:
        if not same_secret(req.arg("hapikey"), self.developer_key):
            raise HttpError(
                self.dialect._error(
                    401,
                    "INVALID_AUTHENTICATION",
                    "The webhooks API takes the app developer's API key (hapikey); none or a wrong one was given.",
                )
            )
        if req.params["app"] != str(APP_ID):
            raise HttpError(
                self.dialect._error(404, "OBJECT_NOT_FOUND", f"App {req.params['app']} not found")
            )

    def _bad(self, message: str) -> HttpError:
        return HttpError(self.dialect._error(400, "VALIDATION_ERROR", message))

    def get_settings(self, req: Request) -> Response:
        self._check(req)
        with self.dialect.store.read() as tx:
            settings = tx.get_blob(SETTINGS, str(APP_ID))
        if settings is None:
            return self.dialect._error(404, "OBJECT_NOT_FOUND", "No webhook settings for this app")
        return json_response(200, settings)

    def put_settings(self, req: Request) -> Response:
        self._check(req)
        payload = req.json_object()
        url = http_url(payload.get("targetUrl"))
        if url is None:
            raise self._bad("targetUrl must be an http(s) URL")
        given = payload.get("throttling")
        throttling: dict[str, Any] = given if isinstance(given, dict) else {}
        now = iso_ms(wall_ms())
        settings: dict[str, Any] = {
            "targetUrl": url,
            "throttling": {
                "maxConcurrentRequests": int(throttling.get("maxConcurrentRequests") or 10),
                "period": "SECONDLY",
            },
            "createdAt": now,
            "updatedAt": now,
        }
        with self.dialect.store.write() as tx:
            previous = tx.get_blob(SETTINGS, str(APP_ID))
            if isinstance(previous, dict):
                settings["createdAt"] = previous["createdAt"]
            tx.put_blob(SETTINGS, str(APP_ID), settings)
        return json_response(200, settings)

    def delete_settings(self, req: Request) -> Response:
        self._check(req)
        with self.dialect.store.write() as tx:
            tx.delete_blob(SETTINGS, str(APP_ID))
        return Response(204)

    def _subscriptions(self) -> list[dict[str, Any]]:
        with self.dialect.store.read() as tx:
            found = [data for _, data in tx.blobs(SUBSCRIPTIONS)]
        return sorted(found, key=lambda s: int(s["id"]))

    def list_subscriptions(self, req: Request) -> Response:
        self._check(req)
        return json_response(200, {"results": self._subscriptions()})

    def create_subscription(self, req: Request) -> Response:
        self._check(req)
        payload = req.json_object()
        event_type = str(payload.get("eventType") or "")
        singular, _, kind = event_type.partition(".")
        if singular not in _OBJECTS.values() or kind not in _KINDS:
            raise self._bad(
                f"eventType {event_type!r} is not one of <object>.<kind> with object in "
                f"{', '.join(_OBJECTS.values())} and kind in {', '.join(_KINDS)}"
            )
        name = payload.get("propertyName")
        if kind == "propertyChange" and not (isinstance(name, str) and name):
            raise self._bad("propertyName is required for propertyChange subscriptions")
        now = iso_ms(wall_ms())
        with self.dialect.store.write() as tx:
            subscription_id = tx.next_id("webhook_subscription_ids", 2_100_001)
            subscription: dict[str, Any] = {
                "id": str(subscription_id),
                "eventType": event_type,
                "propertyName": name if kind == "propertyChange" else None,
                "active": bool(payload.get("active", True)),
                "createdAt": now,
                "updatedAt": now,
            }
            tx.put_blob(SUBSCRIPTIONS, subscription["id"], subscription)
        return json_response(201, subscription)

    def _one(self, req: Request) -> dict[str, Any]:
        self._check(req)
        with self.dialect.store.read() as tx:
            found = tx.get_blob(SUBSCRIPTIONS, req.params["id"])
        if not isinstance(found, dict):
            raise HttpError(
                self.dialect._error(404, "OBJECT_NOT_FOUND", f"Subscription {req.params['id']} not found")
            )
        return found

    def get_subscription(self, req: Request) -> Response:
        return json_response(200, self._one(req))

    def update_subscription(self, req: Request) -> Response:
        subscription = self._one(req)
        active = req.json_object().get("active")
        if not isinstance(active, bool):
            raise self._bad("active must be true or false")
        subscription.update(active=active, updatedAt=iso_ms(wall_ms()))
        with self.dialect.store.write() as tx:
            tx.put_blob(SUBSCRIPTIONS, subscription["id"], subscription)
        return json_response(200, subscription)

    def delete_subscription(self, req: Request) -> Response:
        subscription = self._one(req)
        with self.dialect.store.write() as tx:
            tx.delete_blob(SUBSCRIPTIONS, subscription["id"])
        return Response(204)

    # -- deliveries

    def changes_committed(self, changes: list[Change]) -> None:
        relevant = [c for c in changes if c.object.split(":", 1)[0] in _OBJECTS]
        if not relevant:
            return
        with self.dialect.store.read() as tx:
            settings = tx.get_blob(SETTINGS, str(APP_ID))
            subscriptions = [data for _, data in tx.blobs(SUBSCRIPTIONS) if data.get("active")]
        if not isinstance(settings, dict) or not subscriptions:
            return
        events: list[dict[str, Any]] = []
        for change in relevant:
            events.extend(self._events(change, subscriptions))
        for start in range(0, len(events), MAX_EVENTS_PER_REQUEST):
            batch = events[start : start + MAX_EVENTS_PER_REQUEST]
            self.dispatcher.submit(
                Outgoing(
                    url=settings["targetUrl"],
                    body=b"",
                    sign=self._signer(settings["targetUrl"]),
                    subscription=",".join(sorted({str(e["subscriptionId"]) for e in batch})),
                    label=", ".join(f"{e['subscriptionType']} {e['objectId']}" for e in batch[:5]),
                    render=_numbered(batch),
                )
            )

    def _events(self, change: Change, subscriptions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        object_, _, place = change.object.partition(":")
        singular = _OBJECTS[object_]
        to_place = (change.to_object or "").partition(":")[2]
        wanted: list[tuple[str, str | None]] = []
        if change.action == "created" and not place:
            # HubSpot reports a creation, and the properties it was created with as changes.
            wanted.append(("creation", None))
            wanted.extend(("propertyChange", k) for k, v in change.data.items() if v not in (None, ""))
        elif change.action == "updated" and not place:
            previous = change.previous or {}
            keys = set(change.data) | set(previous)
            wanted.extend(
                ("propertyChange", k) for k in sorted(keys) if change.data.get(k) != previous.get(k)
            )
        elif change.action == "moved" and not place and to_place == "archived":
            wanted.append(("deletion", None))
        elif change.action == "moved" and place == "archived" and change.to_object == object_:
            wanted.append(("restore", None))
        elif change.action == "deleted" and not place:
            wanted.append(("deletion", None))
        events: list[dict[str, Any]] = []
        for kind, name in wanted:
            if name in _MAINTAINED:
                continue
            for subscription in subscriptions:
                if subscription["eventType"] != f"{singular}.{kind}":
                    continue
                if kind == "propertyChange" and subscription.get("propertyName") != name:
                    continue
                event: dict[str, Any] = {
                    "eventId": next(self._event_ids),
                    "subscriptionId": int(subscription["id"]),
                    "portalId": PORTAL_ID,
                    "appId": APP_ID,
                    "occurredAt": change.at_ms,
                    "subscriptionType": f"{singular}.{kind}",
                    "attemptNumber": 0,
                    "objectId": change.id,
                    "changeSource": "API",
                }
                if kind == "propertyChange":
                    value = change.data.get(str(name))
                    event["propertyName"] = name
                    event["propertyValue"] = "" if value is None else str(value)
                else:
                    event["changeFlag"] = {
                        "creation": "CREATED",
                        "deletion": "DELETED",
                        "restore": "RESTORED",
                    }[kind]
                events.append(event)
        return events

    def _signer(self, url: str) -> Signer:
        secret = self.dialect.oauth.client_secret

        def sign(body: bytes, attempt: int) -> dict[str, str]:
            timestamp = wall_ms()
            return {
                "Content-Type": "application/json",
                "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon",
                "X-HubSpot-Signature-v3": signature_v3(secret, "POST", url, body, timestamp),
                "X-HubSpot-Request-Timestamp": str(timestamp),
            }

        return sign


def _numbered(events: list[dict[str, Any]]) -> Callable[[int], bytes]:
    """The body of one attempt: HubSpot counts attempts from 0 in every event's `attemptNumber`."""

    def render(attempt: int) -> bytes:
        body = [{**event, "attemptNumber": attempt - 1} for event in events]
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    return render
