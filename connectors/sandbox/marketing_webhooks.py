"""The marketing dialect's list webhooks (Mailchimp `/3.0/lists/{list_id}/webhooks`) and their deliveries.

As in Mailchimp: a webhook has a `url`, the `events` it wants (subscribe, unsubscribe, profile, upemail,
cleaned, campaign) and the `sources` whose changes it hears (user, admin, api; every change made through
this sandbox's API counts as `api`). Before saving one, Mailchimp checks the URL with a GET and refuses
the webhook unless it answers 2xx. Deliveries are POSTed form-encoded, not JSON:
`type=subscribe&fired_at=2026-11-28 10:00:00&data[id]=...&data[email]=...&data[merges][FNAME]=...`.
Mailchimp does not sign them; the documented practice is a secret in the webhook URL's query string,
which the receiver checks.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from connectors.sandbox.delivery import Dispatcher, Outgoing, deliver, http_url, register_admin
from connectors.sandbox.engine import Change, HttpError, Request, Response, Router, json_response

if TYPE_CHECKING:
    from connectors.sandbox.marketing import MarketingDialect

BLOB = "webhooks"
EVENTS = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign")
SOURCES = ("user", "admin", "api")
USER_AGENT = "MailChimp.com WebHook"


def _headers(body: bytes, attempt: int) -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT}


class MarketingWebhooks:
    def __init__(self, dialect: MarketingDialect) -> None:
        self.dialect = dialect
        self.dispatcher = Dispatcher()

    def register(self, router: Router) -> None:
        base = "/3.0/lists/{list_id}/webhooks"
        router.add("GET", base, self.list_webhooks)
        router.add("POST", base, self.create_webhook)
        router.add("GET", f"{base}/{{id}}", self.get_webhook)
        router.add("PATCH", f"{base}/{{id}}", self.update_webhook)
        router.add("DELETE", f"{base}/{{id}}", self.delete_webhook)
        register_admin(router, self.dispatcher)

    # -- the webhooks API

    def _invalid(self, field: str, message: str) -> HttpError:
        return self.dialect._fail(
            400,
            "Invalid Resource",
            "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
            [{"field": field, "message": message}],
        )

    def _load(self, req: Request) -> dict[str, Any]:
        self.dialect._list(req)
        with self.dialect.store.read() as tx:
            found = tx.get_blob(BLOB, req.params["id"])
        if not isinstance(found, dict):
            raise self.dialect._fail(404, "Resource Not Found", "The requested resource could not be found.")
        return found

    def _flags(
        self, value: Any, names: tuple[str, ...], current: Mapping[str, bool], field: str
    ) -> dict[str, bool]:
        if value is None:
            return dict(current)
        if not isinstance(value, dict) or any(
            k not in names or not isinstance(v, bool) for k, v in value.items()
        ):
            raise self._invalid(
                field, f"{field} must be an object of true/false flags among {', '.join(names)}"
            )
        return {**current, **value}

    def _validate_url(self, url: str) -> None:
        """Mailchimp GETs the URL before it saves the webhook; anything but a 2xx refuses it."""
        answer = deliver(url, b"", {"User-Agent": "MailChimp.com WebHook Validator"}, method="GET")
        if answer.error is not None or answer.status is None or not 200 <= answer.status < 300:
            raise self._invalid("url", "We couldn't verify the URL is working. Please try again.")

    def create_webhook(self, req: Request) -> Response:
        from connectors.sandbox.marketing import LIST_ID

        self.dialect._list(req)
        payload = req.json_object()
        url = http_url(payload.get("url"))
        if url is None:
            raise self._invalid("url", "This value should be a valid URL.")
        events = self._flags(payload.get("events"), EVENTS, {name: True for name in EVENTS}, "events")
        sources = self._flags(
            payload.get("sources"), SOURCES, {"user": True, "admin": True, "api": False}, "sources"
        )
        self._validate_url(url)
        webhook: dict[str, Any] = {
            "id": secrets.token_hex(5),
            "url": url,
            "events": events,
            "sources": sources,
            "list_id": LIST_ID,
            "_links": [],
        }
        with self.dialect.store.write() as tx:
            tx.put_blob(BLOB, webhook["id"], webhook)
        return json_response(200, webhook)

    def list_webhooks(self, req: Request) -> Response:
        from connectors.sandbox.marketing import LIST_ID

        self.dialect._list(req)
        with self.dialect.store.read() as tx:
            found = [data for _, data in tx.blobs(BLOB)]
        return json_response(
            200, {"webhooks": found, "list_id": LIST_ID, "total_items": len(found), "_links": []}
        )

    def get_webhook(self, req: Request) -> Response:
        return json_response(200, self._load(req))

    def update_webhook(self, req: Request) -> Response:
        webhook = self._load(req)
        payload = req.json_object()
        if "url" in payload:
            url = http_url(payload["url"])
            if url is None:
                raise self._invalid("url", "This value should be a valid URL.")
            self._validate_url(url)
            webhook["url"] = url
        webhook["events"] = self._flags(payload.get("events"), EVENTS, webhook["events"], "events")
        webhook["sources"] = self._flags(payload.get("sources"), SOURCES, webhook["sources"], "sources")
        with self.dialect.store.write() as tx:
            tx.put_blob(BLOB, webhook["id"], webhook)
        return json_response(200, webhook)

    def delete_webhook(self, req: Request) -> Response:
        webhook = self._load(req)
        with self.dialect.store.write() as tx:
            tx.delete_blob(BLOB, webhook["id"])
        return Response(204)

    # -- deliveries

    def changes_committed(self, changes: list[Change]) -> None:
        relevant = [c for c in changes if c.object == "members"]
        if not relevant:
            return
        with self.dialect.store.read() as tx:
            webhooks = [data for _, data in tx.blobs(BLOB) if data["sources"].get("api")]
        if not webhooks:
            return
        for change in relevant:
            for type_, data in self._events(change):
                body = urlencode(
                    [
                        ("type", type_),
                        ("fired_at", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(change.at_ms / 1000))),
                    ]
                    + [(f"data{key}", value) for key, value in data]
                ).encode("ascii")
                for webhook in webhooks:
                    if not webhook["events"].get(type_):
                        continue
                    self.dispatcher.submit(
                        Outgoing(
                            url=webhook["url"],
                            body=body,
                            sign=_headers,
                            subscription=webhook["id"],
                            label=f"{type_} member {change.id}",
                        )
                    )

    def _events(self, change: Change) -> list[tuple[str, list[tuple[str, str]]]]:
        from connectors.sandbox.marketing import LIST_ID, subscriber_hash

        after = change.data
        before = change.previous or {}
        email = str(after.get("email_address") or "")
        member = [
            ("[id]", subscriber_hash(email)),
            ("[email]", email),
            ("[email_type]", str(after.get("email_type") or "html")),
            ("[ip_opt]", ""),
            ("[web_id]", str(500_000 + change.id)),
        ]
        merges = [("[merges][EMAIL]", email)] + [
            (f"[merges][{tag}]", "" if value is None else str(value))
            for tag, value in sorted((after.get("merge_fields") or {}).items())
        ]
        listed = [("[list_id]", LIST_ID)]
        status, was = after.get("status"), before.get("status")
        if change.action == "deleted":
            return [
                ("unsubscribe", [*member, ("[action]", "delete"), ("[reason]", "manual"), *merges, *listed])
            ]
        if change.action == "created":
            return [("subscribe", [*member, *merges, *listed])] if status == "subscribed" else []
        if change.action != "updated":
            return []
        if status != was:
            if status == "subscribed":
                return [("subscribe", [*member, *merges, *listed])]
            if status == "unsubscribed":
                return [
                    (
                        "unsubscribe",
                        [*member, ("[action]", "unsub"), ("[reason]", "manual"), *merges, *listed],
                    )
                ]
            if status == "archived":
                return [
                    (
                        "unsubscribe",
                        [*member, ("[action]", "delete"), ("[reason]", "manual"), *merges, *listed],
                    )
                ]
            if status == "cleaned":
                return [
                    ("cleaned", [*listed, ("[campaign_id]", ""), ("[reason]", "hard"), ("[email]", email)])
                ]
            return []
        found: list[tuple[str, list[tuple[str, str]]]] = []
        old_email = str(before.get("email_address") or "")
        if old_email and old_email.lower() != email.lower():
            found.append(
                (
                    "upemail",
                    [
                        *listed,
                        ("[new_id]", subscriber_hash(email)),
                        ("[new_email]", email),
                        ("[old_email]", old_email),
                    ],
                )
            )
        if status == "subscribed" and (after.get("merge_fields") or {}) != (before.get("merge_fields") or {}):
            found.append(("profile", [*member, *merges, *listed]))
        return found
