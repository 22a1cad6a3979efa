"""The helpdesk dialect's tickets (Zendesk Support) and its signed webhook deliveries.

Tickets differ from users and organizations in ways the shared resource code does not cover: custom
values are a list of `{"id", "value"}` (ticket fields have ids, not keys), the description is the first
comment (`comment.body`), the requester may be given by email and is then found or created, and ticket
fields include Zendesk's system fields. Webhooks are signed as Zendesk signs them:
`X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(secret, timestamp + body)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from connectors.sandbox import seed as demo
from connectors.sandbox.delivery import deliver, target_url
from connectors.sandbox.engine import (
    HttpError,
    Request,
    Response,
    Router,
    Row,
    Tx,
    iso_s,
    json_response,
    wall_ms,
)

if TYPE_CHECKING:
    from connectors.sandbox.helpdesk import HelpdeskDialect

FIRST_ID = 1
MAX_BULK = 100
MAX_PAGE = 100
MAX_EXPORT_PAGE = 1000
DEFAULT_WEBHOOK_SECRET = "ZGVtby1oZWxwZGVzay13ZWJob29rLXNlY3JldA=="  # noqa: S105 - a demo credential
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
TYPES = ("problem", "incident", "question", "task")
ACCOUNT_ID = 7_300_001
AGENT_ID = 1
_FIELDS_CREATED_MS = demo.SEED_ANCHOR_MS - 400 * 86_400_000


@dataclass(frozen=True)
class TicketField:
    id: int
    type: str  # subject, description, status, tickettype, priority, group, assignee (system); tagger, text, integer
    title: str
    options: tuple[tuple[str, str], ...] = ()  # (value, name)
    system: bool = False

    def definition(self, base_url: str, position: int) -> dict[str, Any]:
        stamp = iso_s(_FIELDS_CREATED_MS)
        body: dict[str, Any] = {
            "url": f"{base_url}/api/v2/ticket_fields/{self.id}.json",
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "raw_title": self.title,
            "description": "",
            "position": position,
            "active": True,
            "required": self.type == "subject",
            "removable": not self.system,
            "visible_in_portal": True,
            "editable_in_portal": self.system,
            "created_at": stamp,
            "updated_at": stamp,
        }
        if self.options:
            key = "system_field_options" if self.system else "custom_field_options"
            body[key] = [
                {"id": self.id * 100 + i, "name": name, "raw_name": name, "value": value}
                for i, (value, name) in enumerate(self.options)
            ]
        return body


TICKET_FIELDS = (
    TicketField(360100, "subject", "Subject", system=True),
    TicketField(360101, "description", "Description", system=True),
    TicketField(360102, "status", "Status", tuple((s, s.capitalize()) for s in STATUSES), system=True),
    TicketField(360103, "tickettype", "Type", tuple((t, t.capitalize()) for t in TYPES), system=True),
    TicketField(360104, "priority", "Priority", tuple((p, p.capitalize()) for p in PRIORITIES), system=True),
    TicketField(360105, "group", "Group", system=True),
    TicketField(360106, "assignee", "Assignee", system=True),
    TicketField(
        380001,
        "tagger",
        "Product area",
        (
            ("reporting", "Reporting"),
            ("integrations", "Integrations"),
            ("billing", "Billing"),
            ("mobile", "Mobile"),
        ),
    ),
    TicketField(380002, "text", "Order number"),
    TicketField(380003, "integer", "Affected seats"),
)
_CUSTOM = {f.id: f for f in TICKET_FIELDS if not f.system}


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)), Zendesk's webhook signature."""
    return base64.b64encode(
        hmac.new(secret.encode("utf-8"), timestamp.encode() + body, hashlib.sha256).digest()
    ).decode()


class TicketInvalid(ValueError):
    """A ticket Zendesk refuses: the 422 `details`, and the error name a bulk job result uses."""

    def __init__(self, details: dict[str, list[dict[str, str]]]) -> None:
        super().__init__("RecordInvalid")
        self.details = details

    @property
    def description(self) -> str:
        return "; ".join(d["description"] for items in self.details.values() for d in items)


class HelpdeskTickets:
    def __init__(self, dialect: HelpdeskDialect) -> None:
        self.dialect = dialect

    @property
    def webhook_secret(self) -> str:
        return str(self.dialect.options.get("webhook_secret") or DEFAULT_WEBHOOK_SECRET)

    def register(self, router: Router) -> None:
        router.add("GET", "/api/v2/tickets.json", self.list_tickets)
        router.add("POST", "/api/v2/tickets.json", self.create_ticket)
        router.add("POST", "/api/v2/tickets/create_many.json", self.create_many)
        router.add("GET", "/api/v2/tickets/{id}.json", self.get_ticket)
        router.add("PUT", "/api/v2/tickets/{id}.json", self.update_ticket)
        router.add("DELETE", "/api/v2/tickets/{id}.json", self.delete_ticket)
        router.add("GET", "/api/v2/incremental/tickets/cursor.json", self.incremental)
        router.add("GET", "/api/v2/ticket_fields.json", self.ticket_fields)
        router.add("POST", "/_admin/webhooks/deliver", self.admin_deliver, auth=False, admin=True)

    # -- rendering

    @staticmethod
    def render(row: Row, base_url: str) -> dict[str, Any]:
        data = row.data
        stored = data.get("custom_fields") or {}
        custom = [{"id": field_id, "value": stored.get(str(field_id))} for field_id in _CUSTOM]
        return {
            "url": f"{base_url}/api/v2/tickets/{row.id}.json",
            "id": row.id,
            "external_id": data.get("external_id"),
            "via": {"channel": data.get("channel", "api"), "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": iso_s(row.created_ms),
            "updated_at": iso_s(row.updated_ms),
            "type": data.get("type"),
            "subject": data.get("subject"),
            "raw_subject": data.get("subject"),
            "description": data.get("description"),
            "priority": data.get("priority"),
            "status": data.get("status", "new"),
            "recipient": None,
            "requester_id": data.get("requester_id"),
            "submitter_id": data.get("submitter_id", data.get("requester_id")),
            "assignee_id": data.get("assignee_id"),
            "organization_id": data.get("organization_id"),
            "group_id": data.get("group_id"),
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "problem_id": None,
            "has_incidents": False,
            "is_public": True,
            "due_at": data.get("due_at"),
            "tags": list(data.get("tags") or []),
            "custom_fields": custom,
            "fields": custom,
            "satisfaction_rating": None,
            "ticket_form_id": None,
            "brand_id": None,
            "allow_channelback": False,
            "allow_attachments": True,
        }

    # -- validation

    def clean(self, tx: Tx, payload: Any) -> dict[str, Any]:
        """A new ticket's data, creating its requester from `requester: {email, name}` if needed."""
        if not isinstance(payload, dict):
            raise TicketInvalid(
                {"base": [{"description": "Ticket must be an object", "error": "InvalidValue"}]}
            )
        details: dict[str, list[dict[str, str]]] = {}

        def fail(key: str, description: str, error: str = "InvalidValue") -> None:
            details.setdefault(key, []).append({"description": description, "error": error})

        comment = payload.get("comment")
        if isinstance(comment, dict):
            body = comment.get("body") or comment.get("html_body")
        else:
            body = payload.get("description")
        if not isinstance(body, str) or not body.strip():
            fail("description", "Description: cannot be blank", "BlankValue")
        data: dict[str, Any] = {
            "subject": str(payload.get("subject") or (body or "").strip().split("\n")[0][:150]) or None,
            "description": body.strip() if isinstance(body, str) else None,
            "status": "new",
            "tags": [],
            "custom_fields": {},
            "channel": "api",
        }
        for key, allowed in (("status", STATUSES), ("priority", PRIORITIES), ("type", TYPES)):
            value = payload.get(key)
            if value in (None, ""):
                continue
            if value not in allowed:
                fail(key, f"{key.capitalize()}: {value} is not valid")
            else:
                data[key] = value
        if data["status"] == "new" and payload.get("assignee_id"):
            data["status"] = "open"
        for key in ("assignee_id", "group_id"):
            if payload.get(key) is not None:
                data[key] = payload[key]
        if payload.get("external_id") not in (None, ""):
            data["external_id"] = str(payload["external_id"])
        if payload.get("due_at"):
            data["due_at"] = str(payload["due_at"])
        tags = payload.get("tags")
        if tags is not None:
            items = re.split(r"[\s,]+", tags) if isinstance(tags, str) else list(tags)
            data["tags"] = sorted(
                {re.sub(r"\s+", "_", str(t).strip().lower()) for t in items if str(t).strip()}
            )
        organization = payload.get("organization_id")
        if organization is not None:
            if str(organization).isdigit() and tx.get("organizations", int(organization)) is not None:
                data["organization_id"] = int(organization)
            else:
                fail("organization_id", f"Organization: {organization} is invalid")
        for entry in payload.get("custom_fields") or []:
            field = (
                _CUSTOM.get(int(entry.get("id") or 0))
                if isinstance(entry, dict) and str(entry.get("id") or "").isdigit()
                else None
            )
            if field is None:
                fail("base", f"Custom field: {entry!r} is not a ticket field")
                continue
            value = entry.get("value")
            if (
                field.type == "tagger"
                and value not in (None, "")
                and value not in {v for v, _ in field.options}
            ):
                fail("base", f"{field.title}: {value} is not a valid option")
            elif (
                field.type == "integer" and value not in (None, "") and not re.fullmatch(r"-?\d+", str(value))
            ):
                fail("base", f"{field.title}: {value} is not a whole number")
            else:
                data["custom_fields"][str(field.id)] = None if value in (None, "") else value
        requester = self._requester(tx, payload, fail)
        if details:
            raise TicketInvalid(details)
        data["requester_id"] = requester
        data["submitter_id"] = requester
        if "organization_id" not in data and requester != AGENT_ID:
            user = tx.get("users", requester)
            if user is not None and user.data.get("organization_id"):
                data["organization_id"] = user.data["organization_id"]
        return data

    @staticmethod
    def _requester(tx: Tx, payload: Mapping[str, Any], fail: Any) -> int:
        raw_id = payload.get("requester_id")
        if raw_id is not None:
            if str(raw_id).isdigit() and (
                int(raw_id) == AGENT_ID or tx.get("users", int(raw_id)) is not None
            ):
                return int(raw_id)
            fail("requester", "Requester: Requester is invalid")
            return AGENT_ID
        requester = payload.get("requester")
        if isinstance(requester, dict) and requester.get("email"):
            email = str(requester["email"]).strip().lower()
            if not EMAIL_RE.match(email):
                fail("requester", f"Requester: Email: {email} is not properly formatted", "InvalidFormat")
                return AGENT_ID
            found = tx.find_unique("users", "email", email)
            if found is not None:
                return found
            # Zendesk creates the end user a ticket names by email.
            name = str(requester.get("name") or email.split("@", 1)[0])
            values = {
                "name": name,
                "email": email,
                "role": "end-user",
                "tags": [],
                "user_fields": {},
                "active": True,
            }
            return tx.insert(
                "users", values, first_id=10_001, unique={"email": email, "external_id": None}
            ).id
        # Without a requester, the ticket is the authenticated agent's.
        return AGENT_ID

    # -- endpoints

    def _not_found(self) -> HttpError:
        return HttpError(json_response(404, {"error": "RecordNotFound", "description": "Not found"}))

    def get_ticket(self, req: Request) -> Response:
        raw = req.params["id"]
        with self.dialect.store.read() as tx:
            row = tx.get("tickets", int(raw)) if raw.isdigit() else None
        if row is None or row.data.get("status") == "deleted":
            raise self._not_found()
        return json_response(200, {"ticket": self.render(row, req.base_url)})

    def delete_ticket(self, req: Request) -> Response:
        """204; the ticket leaves reads and search, and the incremental export shows it as `deleted`."""
        raw = req.params["id"]
        with self.dialect.store.write() as tx:
            row = tx.get("tickets", int(raw)) if raw.isdigit() else None
            if row is None or row.data.get("status") == "deleted":
                raise self._not_found()
            tx.update("tickets", row.id, {**row.data, "status": "deleted"})
        return Response(204)

    def update_ticket(self, req: Request) -> Response:
        """PUT: status, priority, type, subject, assignee, group, tags (or additional_tags / remove_tags),
        custom field values, external id, due date and a new comment; 200 with the ticket and the audit."""
        payload = req.json_object().get("ticket")
        if not isinstance(payload, dict):
            raise HttpError(
                json_response(
                    400, {"error": "InvalidValue", "description": 'the body must be {"ticket": {...}}'}
                )
            )
        raw = req.params["id"]
        with self.dialect.store.write() as tx:
            row = tx.get("tickets", int(raw)) if raw.isdigit() else None
            if row is None or row.data.get("status") == "deleted":
                raise self._not_found()
            if row.data.get("status") == "closed":
                raise HttpError(
                    json_response(
                        422,
                        {
                            "error": "RecordInvalid",
                            "description": "Record validation errors",
                            "details": {
                                "status": [
                                    {
                                        "description": "Status: closed prevents ticket update",
                                        "error": "ClosedTicket",
                                    }
                                ]
                            },
                        },
                    )
                )
            updated = tx.update("tickets", row.id, self.changed(tx, row, payload))
        ticket = self.render(updated, req.base_url)
        events: list[dict[str, Any]] = []
        before, after = row.data, updated.data
        for key in ("status", "priority", "type", "subject", "assignee_id", "group_id", "tags"):
            if before.get(key) != after.get(key):
                events.append(
                    {
                        "id": updated.updated_ms * 10 + len(events),
                        "type": "Change",
                        "field_name": key,
                        "value": after.get(key),
                        "previous_value": before.get(key),
                    }
                )
        for comment in (after.get("comments") or [])[len(before.get("comments") or []) :]:
            events.append({"id": comment["id"], "type": "Comment", **comment})
        audit = {
            "id": updated.updated_ms,
            "ticket_id": updated.id,
            "created_at": ticket["updated_at"],
            "author_id": AGENT_ID,
            "events": events,
        }
        return json_response(200, {"ticket": ticket, "audit": audit})

    def changed(self, tx: Tx, row: Row, inner: Mapping[str, Any]) -> dict[str, Any]:
        """The ticket's data after an update; a 422 in Zendesk's shape names every invalid value."""
        data = dict(row.data)
        details: dict[str, list[dict[str, str]]] = {}

        def fail(key: str, description: str) -> None:
            details.setdefault(key, []).append({"description": description, "error": "InvalidValue"})

        for key, allowed in (("status", STATUSES), ("priority", PRIORITIES), ("type", TYPES)):
            if key in inner:
                value = inner[key]
                if value in (None, "") and key != "status":
                    data[key] = None
                elif value not in allowed or value == "deleted":
                    fail(key, f"{key.capitalize()}: {value} is not valid")
                else:
                    data[key] = value
        if "subject" in inner:
            data["subject"] = None if inner["subject"] is None else str(inner["subject"])
        for key in ("assignee_id", "group_id"):
            if key in inner:
                data[key] = inner[key]
        if data.get("status") == "new" and data.get("assignee_id"):
            data["status"] = "open"
        if "external_id" in inner:
            data["external_id"] = None if inner["external_id"] in (None, "") else str(inner["external_id"])
        if "due_at" in inner:
            data["due_at"] = None if not inner["due_at"] else str(inner["due_at"])

        def tag_set(value: Any) -> set[str]:
            items = re.split(r"[\s,]+", value) if isinstance(value, str) else list(value or [])
            return {re.sub(r"\s+", "_", str(t).strip().lower()) for t in items if str(t).strip()}

        if "tags" in inner:
            data["tags"] = sorted(tag_set(inner["tags"]))
        if "additional_tags" in inner:
            data["tags"] = sorted(set(data.get("tags") or []) | tag_set(inner["additional_tags"]))
        if "remove_tags" in inner:
            data["tags"] = sorted(set(data.get("tags") or []) - tag_set(inner["remove_tags"]))
        custom = dict(data.get("custom_fields") or {})
        for entry in inner.get("custom_fields") or []:
            field = (
                _CUSTOM.get(int(entry.get("id") or 0))
                if isinstance(entry, dict) and str(entry.get("id") or "").isdigit()
                else None
            )
            if field is None:
                fail("base", f"Custom field: {entry!r} is not a ticket field")
                continue
            value = entry.get("value")
            if (
                field.type == "tagger"
                and value not in (None, "")
                and value not in {v for v, _ in field.options}
            ):
                fail("base", f"{field.title}: {value} is not a valid option")
            elif (
                field.type == "integer" and value not in (None, "") and not re.fullmatch(r"-?\d+", str(value))
            ):
                fail("base", f"{field.title}: {value} is not a whole number")
            else:
                custom[str(field.id)] = None if value in (None, "") else value
        data["custom_fields"] = custom
        comment = inner.get("comment")
        if comment is not None:
            body = comment.get("body") or comment.get("html_body") if isinstance(comment, dict) else None
            if not isinstance(body, str) or not body.strip():
                fail("comment", "Comment: body cannot be blank")
            else:
                comments = list(data.get("comments") or [])
                comments.append(
                    {
                        "id": row.id * 1000 + len(comments) + 2,
                        "body": body.strip(),
                        "public": bool(comment.get("public", True)) if isinstance(comment, dict) else True,
                        "author_id": int(comment.get("author_id") or AGENT_ID)
                        if isinstance(comment, dict)
                        else AGENT_ID,
                    }
                )
                data["comments"] = comments
        if details:
            raise HttpError(
                json_response(
                    422,
                    {"error": "RecordInvalid", "description": "Record validation errors", "details": details},
                )
            )
        return data

    def create_ticket(self, req: Request) -> Response:
        payload = req.json_object().get("ticket")
        with self.dialect.store.write() as tx:
            try:
                data = self.clean(tx, payload)
            except TicketInvalid as exc:
                body = {
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": exc.details,
                }
                raise HttpError(json_response(422, body)) from None
            row = tx.insert("tickets", data, first_id=FIRST_ID)
        ticket = self.render(row, req.base_url)
        audit = {
            "id": row.id * 1000 + 1,
            "ticket_id": row.id,
            "created_at": ticket["created_at"],
            "author_id": AGENT_ID,
            "events": [
                {"id": row.id * 1000 + 2, "type": "Comment", "body": data["description"], "public": True}
            ],
        }
        return json_response(201, {"ticket": ticket, "audit": audit})

    def create_many(self, req: Request) -> Response:
        items = req.json_object().get("tickets")
        if not isinstance(items, list):
            raise HttpError(
                json_response(
                    400, {"error": "InvalidValue", "description": 'the body must be {"tickets": [...]}'}
                )
            )
        if len(items) > MAX_BULK:
            raise HttpError(
                json_response(
                    400,
                    {
                        "error": "InvalidValue",
                        "description": f"Too many tickets: {len(items)} given, at most {MAX_BULK} per request",
                    },
                )
            )
        results: list[dict[str, Any]] = []
        job_id = uuid.uuid4().hex
        with self.dialect.store.write() as tx:
            for index, item in enumerate(items):
                try:
                    data = self.clean(tx, item)
                except TicketInvalid as exc:
                    results.append(
                        {
                            "index": index,
                            "error": "RecordInvalid",
                            "details": exc.description,
                            "status": "Failed",
                            "success": False,
                        }
                    )
                    continue
                row = tx.insert("tickets", data, first_id=FIRST_ID)
                results.append(
                    {"index": index, "id": row.id, "action": "create", "status": "Created", "success": True}
                )
            job = {
                "id": job_id,
                "url": f"{req.base_url}/api/v2/job_statuses/{job_id}.json",
                "job_type": "Bulk Create Tickets",
                "total": len(items),
                "progress": len(items),
                "status": "completed",
                "message": f"Completed at {iso_s(wall_ms()).replace('T', ' ').replace('Z', ' +0000')}",
                "results": results,
            }
            # Stored where the dialect's /api/v2/job_statuses/{id}.json finds every job.
            tx.put_blob("job_status", job_id, job)
        return json_response(200, {"job_status": job})

    def list_tickets(self, req: Request) -> Response:
        size = req.int_arg("page[size]", MAX_PAGE, maximum=MAX_PAGE)
        raw = req.arg("page[after]")
        after: int | None = None
        if raw:
            try:
                after = int(_unb64(raw).removeprefix("p:"))
            except ValueError:
                raise HttpError(
                    json_response(
                        400, {"error": "InvalidPaginationParameter", "description": "page cursor is invalid"}
                    )
                ) from None
        with self.dialect.store.read() as tx:
            rows = tx.page_by_id("tickets", after=after, limit=size + 1)
        has_more = len(rows) > size
        rows = rows[:size]
        after_cursor = _b64(f"p:{rows[-1].id}") if rows else None
        next_link = (
            f"{req.base_url}/api/v2/tickets.json?{urlencode({'page[size]': size, 'page[after]': after_cursor})}"
            if has_more and after_cursor
            else None
        )
        return json_response(
            200,
            {
                "tickets": [self.render(r, req.base_url) for r in rows],
                "meta": {
                    "has_more": has_more,
                    "after_cursor": after_cursor,
                    "before_cursor": _b64(f"p:{rows[0].id}") if rows else None,
                },
                "links": {"next": next_link, "prev": None},
            },
        )

    def incremental(self, req: Request) -> Response:
        # Same cursors and semantics as the users and organizations exports of the dialect.
        position = self.dialect._export_position(req)
        per_page = req.int_arg("per_page", MAX_EXPORT_PAGE, maximum=MAX_EXPORT_PAGE)
        with self.dialect.store.read() as tx:
            rows = tx.changes_after("tickets", position, per_page + 1)
        end_of_stream = len(rows) <= per_page
        rows = rows[:per_page]
        last = (rows[-1].updated_ms, rows[-1].id) if rows else position
        after_cursor = _b64(f"x:{last[0]}.{last[1]}")
        before_cursor = _b64(f"x:{rows[0].updated_ms}.{rows[0].id - 1}") if rows else None
        link = f"{req.base_url}/api/v2/incremental/tickets/cursor.json"
        return json_response(
            200,
            {
                "tickets": [self.render(r, req.base_url) for r in rows],
                "after_url": f"{link}?{urlencode({'cursor': after_cursor, 'per_page': per_page})}",
                "after_cursor": after_cursor,
                "before_url": f"{link}?{urlencode({'cursor': before_cursor, 'per_page': per_page})}"
                if before_cursor
                else None,
                "before_cursor": before_cursor,
                "end_of_stream": end_of_stream,
            },
        )

    def ticket_fields(self, req: Request) -> Response:
        fields = [f.definition(req.base_url, i) for i, f in enumerate(TICKET_FIELDS)]
        return json_response(
            200, {"ticket_fields": fields, "next_page": None, "previous_page": None, "count": len(fields)}
        )

    # -- webhooks

    def admin_deliver(self, req: Request) -> Response:
        """POST a ticket event to `url`, signed as a Zendesk webhook.

        Body: `{"url": ..., "ticket": id (default: the newest), "type": "ticket.created" (default),
        "payload": {...} (sent as-is instead of the event), "secret": (override),
        "timestamp": (override, ISO 8601)}`.
        """
        url = target_url(req)
        options = req.json_object()
        payload = options.get("payload")
        if payload is None:
            with self.dialect.store.read() as tx:
                wanted = str(options.get("ticket") or "")
                row = (
                    tx.get("tickets", int(wanted))
                    if wanted.isdigit()
                    else next(iter(tx.select("tickets", order_by="id DESC", limit=1)), None)
                )
            if row is None:
                return json_response(404, {"ok": False, "error": "no ticket to deliver an event for"})
            ticket = self.render(row, req.base_url)
            payload = {
                "type": f"zen:event-type:{options.get('type') or 'ticket.created'}",
                "account_id": ACCOUNT_ID,
                "id": str(uuid.uuid4()),
                "time": iso_s(wall_ms()),
                "zendesk_event_version": "2022-11-06",
                "subject": f"zen:ticket:{row.id}",
                "detail": {
                    k: ticket[k]
                    for k in (
                        "id",
                        "subject",
                        "description",
                        "status",
                        "priority",
                        "type",
                        "requester_id",
                        "organization_id",
                        "created_at",
                        "updated_at",
                        "tags",
                    )
                },
                "event": {},
            }
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        timestamp = str(options.get("timestamp") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        secret = str(options.get("secret") or self.webhook_secret)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Account-Id": str(ACCOUNT_ID),
            "X-Zendesk-Webhook-Id": "01HDEMOWEBHOOK00000000000",
            "X-Zendesk-Webhook-Invocation-Id": str(int(time.time() * 1000)),
            "X-Zendesk-Webhook-Signature": zendesk_signature(secret, timestamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }
        delivery = deliver(url, body, headers)
        return json_response(200, delivery.as_json(body, headers))

    # -- seed and admin

    def seed(self, tx: Tx, count: int) -> dict[str, int]:
        """Tickets from the seeded users; their own generator keeps users and organizations unchanged."""
        rng = random.Random(f"integrations-hub-sandbox:helpdesk-tickets:{count}")
        subjects = (
            "Cannot log in",
            "Export is empty",
            "Invoice shows the wrong VAT",
            "Sync stopped",
            "How do I add a user?",
        )
        made = 0
        for user in tx.all("users"):
            if rng.random() >= 0.3:
                continue
            created = user.created_ms + rng.randrange(0, max(1, demo.SEED_ANCHOR_MS - user.created_ms))
            subject = rng.choice(subjects)
            values: dict[str, Any] = {
                "subject": subject,
                "description": f"{subject}. Reported by {user.data.get('name')}.",
                "status": rng.choice(STATUSES),
                "priority": rng.choice(PRIORITIES),
                "type": rng.choice(TYPES[:3]),
                "requester_id": user.id,
                "submitter_id": user.id,
                "organization_id": user.data.get("organization_id"),
                "tags": [],
                "custom_fields": {"380001": rng.choice(("reporting", "integrations", "billing", "mobile"))},
                "channel": rng.choice(("email", "web", "api")),
            }
            tx.insert("tickets", values, first_id=FIRST_ID, created_ms=created, updated_ms=created)
            made += 1
        return {"tickets": made}

    def admin_list(self, req: Request) -> list[Any]:
        with self.dialect.store.read() as tx:
            return [self.render(r, req.base_url) for r in tx.all("tickets")]

    def admin_create(self, req: Request, payload: dict[str, Any]) -> Response:
        wrapped = payload.get("ticket")
        inner: dict[str, Any] = wrapped if isinstance(wrapped, dict) else payload
        with self.dialect.store.write() as tx:
            try:
                row = tx.insert("tickets", self.clean(tx, inner), first_id=FIRST_ID)
            except TicketInvalid as exc:
                raise HttpError(
                    json_response(
                        422,
                        {
                            "error": "RecordInvalid",
                            "description": "Record validation errors",
                            "details": exc.details,
                        },
                    )
                ) from None
        return json_response(201, {"ticket": self.render(row, req.base_url)})

    def admin_update(self, req: Request, id_: int, payload: dict[str, Any]) -> Response:
        """An agent's edit, with the same attributes as the API's update."""
        wrapped = payload.get("ticket")
        inner: dict[str, Any] = wrapped if isinstance(wrapped, dict) else payload
        with self.dialect.store.write() as tx:
            row = tx.get("tickets", id_)
            if row is None:
                raise self._not_found()
            updated = tx.update("tickets", id_, self.changed(tx, row, inner))
        return json_response(200, {"ticket": self.render(updated, req.base_url)})
