"""The billing dialect's webhook endpoints (Stripe `/v1/webhook_endpoints`) and their deliveries.

As in Stripe: an endpoint is created with a `url` and `enabled_events` (`*` for all), answers with its
signing secret (`whsec_...`, shown only on creation), and receives every event of an enabled type as
it happens: the event JSON, signed `Stripe-Signature: t=<unix>,v1=<hex>` over `"<t>.<body>"` with that
secret. Failed deliveries are retried; 4xx answers other than 408/429 are not (a receiver that refuses
a signature will refuse it again). The events themselves are the ones the events API lists.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors.sandbox.delivery import Dispatcher, Outgoing, Signer, http_url, register_admin
from connectors.sandbox.engine import Change, Request, Response, Router, Row, json_response

if TYPE_CHECKING:
    from connectors.sandbox.billing import BillingDialect

BLOB = "webhook_endpoints"
# The event types this sandbox emits, and so what `enabled_events` may name (besides `*`).
EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "invoice.updated",
    "invoice.paid",
    "invoice.finalized",
    "invoice.voided",
    "invoice.void",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.processing",
    "payment_intent.requires_action",
)
_PARAMS = ("url", "enabled_events", "description", "metadata", "api_version", "disabled", "connect")


def _final(status: int) -> bool:
    return 400 <= status < 500 and status not in (408, 429)


class BillingWebhooks:
    def __init__(self, dialect: BillingDialect) -> None:
        self.dialect = dialect
        self.dispatcher = Dispatcher()

    def register(self, router: Router) -> None:
        api = self.dialect._api
        router.add("GET", "/v1/webhook_endpoints", api(self.list_endpoints))
        router.add("POST", "/v1/webhook_endpoints", api(self.create_endpoint))
        router.add("GET", "/v1/webhook_endpoints/{id}", api(self.get_endpoint))
        router.add("POST", "/v1/webhook_endpoints/{id}", api(self.update_endpoint))
        router.add("DELETE", "/v1/webhook_endpoints/{id}", api(self.delete_endpoint))
        register_admin(router, self.dispatcher)

    # -- endpoints API

    @staticmethod
    def render(endpoint: Mapping[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
        shown = {k: v for k, v in endpoint.items() if k != "secret"}
        if with_secret:
            shown["secret"] = endpoint["secret"]
        return shown

    def _load(self, raw_id: str) -> dict[str, Any]:
        from connectors.sandbox.billing import _fail

        with self.dialect.store.read() as tx:
            found = tx.get_blob(BLOB, raw_id)
        if not isinstance(found, dict):
            raise _fail(404, f"No such webhook endpoint: '{raw_id}'", code="resource_missing", param="id")
        return found

    def _events(self, value: Any) -> list[str]:
        from connectors.sandbox.billing import _fail

        items = value if isinstance(value, list) else [value] if isinstance(value, str) else None
        if not items:
            raise _fail(400, "Missing required param: enabled_events.", code="parameter_missing")
        for index, name in enumerate(items):
            if name != "*" and name not in EVENT_TYPES:
                raise _fail(
                    400,
                    f"Invalid enabled_events[{index}]: must be one of *, {', '.join(EVENT_TYPES)}",
                    param=f"enabled_events[{index}]",
                )
        return [str(name) for name in items]

    def _url(self, value: Any) -> str:
        from connectors.sandbox.billing import _fail

        url = http_url(value)
        if url is None:
            raise _fail(400, "Invalid URL: URL must be an http(s) URL.", param="url")
        return url

    def create_endpoint(self, req: Request) -> Response:
        from connectors.sandbox.billing import API_VERSION, _fail

        params = self.dialect._params(req, _PARAMS)
        if not params.get("url"):
            raise _fail(400, "Missing required param: url.", code="parameter_missing", param="url")
        metadata = params.get("metadata")
        endpoint: dict[str, Any] = {
            "id": f"we_{secrets.token_urlsafe(18).replace('-', 'A').replace('_', 'b')}",
            "object": "webhook_endpoint",
            "api_version": params.get("api_version") or API_VERSION,
            "application": None,
            "created": int(time.time()),
            "description": params.get("description") or None,
            "enabled_events": self._events(params.get("enabled_events")),
            "livemode": False,
            "metadata": metadata if isinstance(metadata, dict) else {},
            "status": "enabled",
            "url": self._url(params.get("url")),
            "secret": f"whsec_{secrets.token_hex(16)}",
        }
        with self.dialect.store.write() as tx:
            tx.put_blob(BLOB, endpoint["id"], endpoint)
        return json_response(200, self.render(endpoint, with_secret=True))

    def list_endpoints(self, req: Request) -> Response:
        self.dialect._params(req, ("limit", "starting_after", "ending_before"))
        with self.dialect.store.read() as tx:
            endpoints = [data for _, data in tx.blobs(BLOB)]
        endpoints.sort(key=lambda e: (e["created"], e["id"]), reverse=True)
        return json_response(
            200,
            {
                "object": "list",
                "data": [self.render(e) for e in endpoints],
                "has_more": False,
                "url": "/v1/webhook_endpoints",
            },
        )

    def get_endpoint(self, req: Request) -> Response:
        self.dialect._params(req, ())
        return json_response(200, self.render(self._load(req.params["id"])))

    def update_endpoint(self, req: Request) -> Response:
        params = self.dialect._params(req, _PARAMS)
        endpoint = self._load(req.params["id"])
        if "url" in params:
            endpoint["url"] = self._url(params["url"])
        if "enabled_events" in params:
            endpoint["enabled_events"] = self._events(params["enabled_events"])
        if "description" in params:
            endpoint["description"] = params["description"] or None
        if "disabled" in params:
            endpoint["status"] = "disabled" if params["disabled"] == "true" else "enabled"
        if isinstance(params.get("metadata"), dict):
            endpoint["metadata"] = {**endpoint["metadata"], **params["metadata"]}
        with self.dialect.store.write() as tx:
            tx.put_blob(BLOB, endpoint["id"], endpoint)
        return json_response(200, self.render(endpoint))

    def delete_endpoint(self, req: Request) -> Response:
        self.dialect._params(req, ())
        endpoint = self._load(req.params["id"])
        with self.dialect.store.write() as tx:
            tx.delete_blob(BLOB, endpoint["id"])
        return json_response(200, {"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True})

    # -- deliveries

    def changes_committed(self, changes: list[Change]) -> None:
        from connectors.sandbox.billing import EVENT

        created = [c for c in changes if c.action == "created" and c.object == EVENT.object]
        if not created:
            return
        with self.dialect.store.read() as tx:
            endpoints = [data for _, data in tx.blobs(BLOB) if data.get("status") == "enabled"]
        for change in created:
            type_ = str(change.data.get("type"))
            targets = [e for e in endpoints if "*" in e["enabled_events"] or type_ in e["enabled_events"]]
            if not targets:
                continue
            event = self.dialect.render_event(
                Row(EVENT.object, change.id, change.data, change.created_ms or change.at_ms, change.at_ms)
            )
            event["pending_webhooks"] = len(targets)
            # Stripe sends pretty-printed JSON; the signature covers these exact bytes.
            body = json.dumps(event, indent=2).encode("utf-8")
            for endpoint in targets:
                self.dispatcher.submit(
                    Outgoing(
                        url=endpoint["url"],
                        body=body,
                        sign=_signer(endpoint["secret"]),
                        subscription=endpoint["id"],
                        label=f"{event['id']} {type_}",
                        final_statuses=_final,
                    )
                )


def _signer(secret: str) -> Signer:
    from connectors.sandbox.billing import stripe_signature_header

    def sign(body: bytes, attempt: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": stripe_signature_header(secret, int(time.time()), body),
        }

    return sign
