"""The marketing dialect: Mailchimp Marketing API 3.0 shapes for one audience and its members.

What makes Mailchimp different, and is imitated here: a member's id is the MD5 of its lower-cased email
(`PUT /3.0/lists/{list_id}/members/{subscriber_hash}` is the upsert), custom data lives in audience
*merge fields* addressed by tag (`FNAME`, `TIER`), status is a small state machine (an unsubscribed or
cleaned address cannot simply be re-subscribed), a batch endpoint takes up to 500 members and reports
errors per address, paging is `count`/`offset` with `since_last_changed`, basic auth takes any user name
with the API key (`xxx-us1`), and errors are RFC 7807 `application/problem+json`. See docs/sandbox.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar

from connectors.sandbox import seed as demo
from connectors.sandbox.engine import (
    Change,
    Dialect,
    HttpError,
    Request,
    Response,
    Router,
    Row,
    Tx,
    basic_credentials,
    json_field,
    json_response,
    parse_timestamp,
    same_secret,
    wall_ms,
)
from connectors.sandbox.marketing_webhooks import MarketingWebhooks

DEFAULT_KEY = "0d3m0marketing0key00000000000000-us1"
LIST_ID = "b7c2e4f1a9"
LIST_NAME = "Demo Newsletter"
MAX_BATCH = 500
MAX_COUNT = 1000
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
# Mailchimp sets `cleaned` itself (bounces) and `archived` through DELETE; the API cannot write them.
WRITABLE_STATUSES = ("subscribed", "unsubscribed", "pending", "transactional")
# Addresses that unsubscribed or bounced may not be subscribed again without a new opt-in.
COMPLIANCE_STATES = ("unsubscribed", "cleaned")
# Subscriber hashes of permanently deleted members, which Mailchimp refuses to re-import.
_FORGOTTEN = "marketing_forgotten"
LIST_CREATED_MS = demo.SEED_ANCHOR_MS - 1000 * 86_400_000


@dataclass(frozen=True)
class MergeField:
    merge_id: int
    tag: str
    name: str
    type: str  # text, number, phone, birthday, dropdown, radio, date, url, zip
    choices: tuple[str, ...] = ()
    required: bool = False

    def definition(self, order: int) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.type in ("dropdown", "radio"):
            options["choices"] = list(self.choices)
        elif self.type == "birthday":
            options["date_format"] = "MM/DD"
        elif self.type == "text":
            options["size"] = 25
        elif self.type == "phone":
            options["phone_format"] = "none"
        return {
            "merge_id": self.merge_id,
            "tag": self.tag,
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default_value": "",
            "public": True,
            "display_order": order + 2,
            "options": options,
            "help_text": "",
            "list_id": LIST_ID,
            "_links": [],
        }

    def clean(self, raw: Any) -> Any:
        """The stored value, or ValueError with Mailchimp's per-field message."""
        if raw is None or raw == "":
            return ""
        if self.type == "number":
            if isinstance(raw, bool):
                raise ValueError("Please enter a number")
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise ValueError("Please enter a number") from None
            return int(number) if number.is_integer() else number
        if isinstance(raw, dict | list | bool):
            raise ValueError("Please enter a valid value")
        text = str(raw).strip()
        if self.type in ("dropdown", "radio") and text not in self.choices:
            raise ValueError(f"Please choose one of: {', '.join(self.choices)}")
        if self.type == "birthday" and not re.fullmatch(r"(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])", text):
            raise ValueError("Please enter a birthday in the format MM/DD")
        if len(text) > 255:
            raise ValueError("Please enter a value of at most 255 characters")
        return text


MERGE_FIELDS = (
    MergeField(1, "FNAME", "First Name", "text"),
    MergeField(2, "LNAME", "Last Name", "text"),
    MergeField(4, "PHONE", "Phone Number", "phone"),
    MergeField(5, "BIRTHDAY", "Birthday", "birthday"),
    MergeField(6, "COMPANY", "Company", "text"),
    MergeField(7, "TIER", "Customer tier", "dropdown", ("Bronze", "Silver", "Gold", "Platinum")),
    MergeField(8, "NPS", "NPS score", "number"),
)
_MERGE_BY_TAG = {f.tag: f for f in MERGE_FIELDS}


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def iso(ms: int) -> str:
    """`2026-01-01T10:00:00+00:00`, Mailchimp's timestamp style (seconds, explicit offset)."""
    return datetime.fromtimestamp(ms // 1000, UTC).isoformat()


def tag_id(name: str) -> int:
    return int(hashlib.sha1(name.lower().encode(), usedforsecurity=False).hexdigest()[:6], 16)


class Invalid(ValueError):
    """A write Mailchimp refuses, with its problem title, detail and per-field errors."""

    def __init__(self, title: str, detail: str, errors: Sequence[dict[str, str]] = ()) -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail
        self.errors = list(errors)


class MarketingDialect(Dialect):
    system = "marketing"
    objects: ClassVar[Mapping[str, int]] = {"members": 1}
    default_port = 8105

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--token", default=DEFAULT_KEY, help="the accepted API key (<key>-<dc>)")

    @property
    def key(self) -> str:
        return str(self.options.get("token") or DEFAULT_KEY)

    @cached_property
    def webhooks(self) -> MarketingWebhooks:
        """List webhooks and their form-encoded deliveries (marketing_webhooks.py)."""
        return MarketingWebhooks(self)

    def changes_committed(self, changes: list[Change]) -> None:
        self.webhooks.changes_committed(changes)

    def reset_hook(self) -> None:
        self.webhooks.dispatcher.clear()

    def register(self, router: Router) -> None:
        base = "/3.0/lists/{list_id}"
        router.add("GET", "/3.0", self.root)
        router.add("GET", "/3.0/ping", self.ping)
        router.add("GET", "/3.0/lists", self.lists)
        router.add("GET", base, self.get_list)
        router.add("POST", base, self.batch)
        router.add("GET", f"{base}/merge-fields", self.merge_fields)
        router.add("GET", f"{base}/members", self.list_members)
        router.add("POST", f"{base}/members", self.add_member)
        router.add("GET", f"{base}/members/{{hash}}", self.get_member)
        router.add("PUT", f"{base}/members/{{hash}}", self.put_member)
        router.add("PATCH", f"{base}/members/{{hash}}", self.patch_member)
        router.add("DELETE", f"{base}/members/{{hash}}", self.archive_member)
        router.add("POST", f"{base}/members/{{hash}}/actions/delete-permanent", self.delete_permanent)
        router.add("GET", f"{base}/members/{{hash}}/tags", self.get_tags)
        router.add("POST", f"{base}/members/{{hash}}/tags", self.post_tags)
        self.webhooks.register(router)
        # Admin edits by subscriber hash or email, not only the store's integer id.
        router.add("PATCH", "/_admin/records/members/{hash}", self.admin_patch, auth=False, admin=True)

    # -- errors and auth

    @staticmethod
    def problem(status: int, title: str, detail: str, errors: Sequence[dict[str, str]] = ()) -> Response:
        body: dict[str, Any] = {
            "type": ERROR_DOCS,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": hashlib.md5(f"{title}{detail}".encode(), usedforsecurity=False).hexdigest(),
        }
        if errors:
            body["errors"] = list(errors)
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        return Response(status, payload, {"Content-Type": "application/problem+json; charset=utf-8"})

    def _fail(self, status: int, title: str, detail: str, errors: Sequence[dict[str, str]] = ()) -> HttpError:
        return HttpError(self.problem(status, title, detail, errors))

    def _invalid(self, exc: Invalid) -> HttpError:
        return self._fail(400, exc.title, exc.detail, exc.errors)

    def error(self, status: int, kind: str, message: str) -> Response:
        if kind == "fault" and status == 429:
            return self.problem(
                429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."
            )
        if kind in ("fault", "internal"):
            return self.problem(
                status,
                "Internal Server Error",
                "An unexpected internal error has occurred. Please try again later.",
            )
        if kind == "not_found":
            return self.problem(404, "Resource Not Found", "The requested resource could not be found.")
        if kind == "method_not_allowed":
            return self.problem(
                405, "Method Not Allowed", "The requested method and resource are not compatible."
            )
        if "JSON" in message or "json" in message:
            return self.problem(
                400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error."
            )
        return self.problem(status, "Invalid Resource", message)

    def authenticate(self, req: Request) -> Response | None:
        # Any user name works; the password is the API key.
        credentials = basic_credentials(req)
        if credentials is not None and same_secret(credentials[1], self.key):
            return None
        return self.problem(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )

    def _list(self, req: Request) -> None:
        if req.params["list_id"] != LIST_ID:
            raise self._fail(404, "Resource Not Found", "The requested resource could not be found.")

    # -- account and audience

    def root(self, req: Request) -> Response:
        with self.store.read() as tx:
            total = tx.count("members", f"{json_field('status')} = 'subscribed'")
        return json_response(
            200,
            {
                "account_id": "d3m0acc0unt0000000000000",
                "login_id": "73000001",
                "account_name": "Demo Marketing",
                "email": "marketing@demo.example",
                "first_name": "Morgan",
                "last_name": "Demo",
                "username": "demo-marketing",
                "role": "owner",
                "member_since": iso(LIST_CREATED_MS),
                "pricing_plan_type": "monthly",
                "account_timezone": "UTC",
                "account_industry": "Software",
                "contact": {
                    "company": "Demo Marketing",
                    "addr1": "1 Demo Street",
                    "city": "London",
                    "country": "GB",
                },
                "total_subscribers": total,
                "_links": [],
            },
        )

    def ping(self, req: Request) -> Response:
        return json_response(200, {"health_status": "Everything's Chimpy!"})

    def _list_body(self, tx: Tx) -> dict[str, Any]:
        counts = {status: tx.count("members", f"{json_field('status')} = ?", [status]) for status in STATUSES}
        return {
            "id": LIST_ID,
            "web_id": 730001,
            "name": LIST_NAME,
            "contact": {
                "company": "Demo Marketing",
                "address1": "1 Demo Street",
                "city": "London",
                "country": "GB",
            },
            "permission_reminder": "You signed up for the demo newsletter.",
            "campaign_defaults": {
                "from_name": "Demo Marketing",
                "from_email": "news@demo.example",
                "subject": "",
                "language": "en",
            },
            "date_created": iso(LIST_CREATED_MS),
            "list_rating": 3,
            "email_type_option": False,
            "double_optin": False,
            "stats": {
                "member_count": counts["subscribed"],
                "unsubscribe_count": counts["unsubscribed"],
                "cleaned_count": counts["cleaned"],
                "member_count_since_send": counts["subscribed"],
            },
            "_links": [],
        }

    def lists(self, req: Request) -> Response:
        with self.store.read() as tx:
            body = self._list_body(tx)
        return json_response(
            200, {"lists": [body], "total_items": 1, "constraints": {"may_create": False}, "_links": []}
        )

    def get_list(self, req: Request) -> Response:
        self._list(req)
        with self.store.read() as tx:
            return json_response(200, self._list_body(tx))

    def merge_fields(self, req: Request) -> Response:
        self._list(req)
        count = req.int_arg("count", 10, maximum=MAX_COUNT)
        offset = req.int_arg("offset", 0, minimum=0)
        fields = [f.definition(i) for i, f in enumerate(MERGE_FIELDS)]
        return json_response(
            200,
            {
                "merge_fields": fields[offset : offset + count],
                "list_id": LIST_ID,
                "total_items": len(fields),
                "_links": [],
            },
        )

    # -- members: rendering and validation

    def render(self, row: Row) -> dict[str, Any]:
        data = row.data
        member_id = subscriber_hash(data["email_address"])
        merge = {f.tag: data.get("merge_fields", {}).get(f.tag, "") for f in MERGE_FIELDS}
        tags = sorted(data.get("tags") or [], key=str.lower)
        return {
            "id": member_id,
            "email_address": data["email_address"],
            "unique_email_id": member_id[:10],
            "contact_id": hashlib.md5(f"contact:{member_id}".encode(), usedforsecurity=False).hexdigest(),
            "full_name": " ".join(p for p in (merge.get("FNAME"), merge.get("LNAME")) if p),
            "web_id": 500_000 + row.id,
            "email_type": data.get("email_type", "html"),
            "status": data["status"],
            "consents_to_one_to_one_messaging": True,
            "merge_fields": merge,
            "interests": {},
            "stats": {"avg_open_rate": data.get("open_rate", 0), "avg_click_rate": data.get("click_rate", 0)},
            "ip_signup": "",
            "timestamp_signup": "",
            "ip_opt": "",
            "timestamp_opt": iso(data.get("opt_ms") or row.created_ms)
            if data["status"] != "transactional"
            else "",
            "member_rating": data.get("member_rating", 2),
            "last_changed": iso(row.updated_ms),
            "language": data.get("language", ""),
            "vip": bool(data.get("vip", False)),
            "email_client": "",
            "location": {
                "latitude": 0,
                "longitude": 0,
                "gmtoff": 0,
                "dstoff": 0,
                "country_code": data.get("country_code", ""),
                "timezone": "",
                "region": "",
            },
            "source": data.get("source", "API - Generic"),
            "tags_count": len(tags),
            "tags": [{"id": tag_id(t), "name": t} for t in tags],
            "list_id": LIST_ID,
            "_links": [],
        }

    def clean(
        self, payload: Mapping[str, Any], current: Mapping[str, Any] | None, *, status_key: str
    ) -> dict[str, Any]:
        """The member after a write; `status_key` names where a new member's status comes from."""
        data: dict[str, Any] = dict(
            current or {"merge_fields": {}, "tags": [], "email_type": "html", "vip": False}
        )
        email = payload.get("email_address")
        if current is None or email is not None:
            if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
                raise Invalid("Invalid Resource", "Please provide a valid email address.")
            data["email_address"] = email.strip()
        status = payload.get("status")
        if current is None or current.get("status") == "archived":
            # Adding an archived contact again brings it back, with the status a new one would get.
            status = payload.get(status_key) or status
            if not status:
                raise Invalid(
                    "Invalid Resource",
                    "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                    [{"field": status_key, "message": "This value should not be blank."}],
                )
        if status is not None:
            if status not in WRITABLE_STATUSES:
                raise Invalid(
                    "Invalid Resource",
                    "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                    [{"field": "status", "message": "Value is not one of enum list"}],
                )
            if current is not None and current.get("status") in COMPLIANCE_STATES and status == "subscribed":
                raise Invalid(
                    "Member In Compliance State",
                    f"{current['email_address']} is already a list member in compliance state due to "
                    "unsubscribe, bounce, or compliance review and cannot be subscribed.",
                )
            if status == "subscribed" and data.get("status") != "subscribed":
                data["opt_ms"] = None
            data["status"] = status
        if "email_type" in payload:
            if payload["email_type"] not in ("html", "text"):
                raise Invalid(
                    "Invalid Resource",
                    "email_type must be html or text",
                    [{"field": "email_type", "message": "Value is not one of enum list"}],
                )
            data["email_type"] = payload["email_type"]
        if "vip" in payload:
            if not isinstance(payload["vip"], bool):
                raise Invalid(
                    "Invalid Resource",
                    "vip must be true or false",
                    [{"field": "vip", "message": "Value is not a boolean"}],
                )
            data["vip"] = payload["vip"]
        if "language" in payload:
            data["language"] = str(payload["language"] or "")
        merge = payload.get("merge_fields")
        if merge is not None:
            if not isinstance(merge, dict):
                raise Invalid("Invalid Resource", "merge_fields must be an object")
            values = dict(data.get("merge_fields") or {})
            errors: list[dict[str, str]] = []
            for tag, raw in merge.items():
                definition = _MERGE_BY_TAG.get(str(tag).upper())
                if definition is None:
                    errors.append(
                        {"field": str(tag), "message": "Merge field does not exist in this audience"}
                    )
                    continue
                try:
                    values[definition.tag] = definition.clean(raw)
                except ValueError as exc:
                    errors.append({"field": definition.tag, "message": str(exc)})
            if errors:
                raise Invalid("Invalid Resource", "Your merge fields were invalid.", errors)
            data["merge_fields"] = values
        return data

    def _save(self, tx: Tx, data: dict[str, Any], existing: Row | None) -> Row:
        unique = {"email": data["email_address"].lower(), "hash": subscriber_hash(data["email_address"])}
        if existing is None:
            if tx.get_blob(_FORGOTTEN, unique["hash"]) is not None:
                raise Invalid(
                    "Forgotten Email Not Subscribed",
                    f"{data['email_address']} was permanently deleted and cannot be re-imported. "
                    "The contact must re-subscribe to get back on the list.",
                )
            return tx.insert("members", data, first_id=1, unique=unique)
        return tx.update("members", existing.id, data, unique=unique)

    def _find(self, tx: Tx, ref: str) -> Row | None:
        """A member by subscriber hash, email address or contact id (Mailchimp accepts all three)."""
        ref = ref.strip()
        if "@" in ref:
            found = tx.find_unique("members", "email", ref.lower())
        elif re.fullmatch(r"[0-9a-f]{32}", ref.lower()):
            found = tx.find_unique("members", "hash", ref.lower())
        else:
            found = None
        return tx.get("members", found) if found is not None else None

    def _not_found(self) -> HttpError:
        return self._fail(404, "Resource Not Found", "The requested resource could not be found.")

    # -- members: endpoints

    def list_members(self, req: Request) -> Response:
        self._list(req)
        count = req.int_arg("count", 10, maximum=MAX_COUNT)
        offset = req.int_arg("offset", 0, minimum=0)
        clauses: list[str] = []
        params: list[Any] = []
        for name, op in (("since_last_changed", ">="), ("before_last_changed", "<")):
            raw = req.arg(name)
            if raw:
                ms = parse_timestamp(raw)
                if ms is None:
                    raise self._fail(400, "Invalid Resource", f"{name} must be an ISO 8601 time, got {raw!r}")
                # Mailchimp keeps whole seconds: "since" means from the start of that second.
                clauses.append(f"updated_ms {op} ?")
                params.append(ms - ms % 1000)
        status = req.arg("status")
        if status:
            if status not in STATUSES:
                raise self._fail(400, "Invalid Resource", f"status must be one of {', '.join(STATUSES)}")
            clauses.append(f"{json_field('status')} = ?")
            params.append(status)
        sort_field = req.arg("sort_field")
        direction = "DESC" if (req.arg("sort_dir") or "ASC").upper() == "DESC" else "ASC"
        if sort_field in (None, ""):
            order = "id ASC"
        elif sort_field == "last_changed":
            order = f"updated_ms {direction}, id {direction}"
        elif sort_field in ("timestamp_opt", "timestamp_signup"):
            order = f"created_ms {direction}, id {direction}"
        else:
            raise self._fail(
                400, "Invalid Resource", "sort_field must be timestamp_opt, timestamp_signup or last_changed"
            )
        where = " AND ".join(clauses) or "1=1"
        with self.store.read() as tx:
            total = tx.count("members", where, params)
            rows = tx.select("members", where, params, order_by=order, limit=count, offset=offset)
        return json_response(
            200,
            {
                "members": [self.render(r) for r in rows],
                "list_id": LIST_ID,
                "total_items": total,
                "_links": [],
            },
        )

    def get_member(self, req: Request) -> Response:
        self._list(req)
        with self.store.read() as tx:
            row = self._find(tx, req.params["hash"])
        if row is None:
            raise self._not_found()
        return json_response(200, self.render(row))

    def add_member(self, req: Request) -> Response:
        self._list(req)
        payload = req.json_object()
        with self.store.write() as tx:
            email = str(payload.get("email_address") or "")
            if email and self._find(tx, email) is not None:
                raise self._fail(
                    400,
                    "Member Exists",
                    f"{email} is already a list member. Use PUT to insert or update list members.",
                )
            try:
                row = self._save(tx, self.clean(payload, None, status_key="status"), None)
            except Invalid as exc:
                raise self._invalid(exc) from None
        return json_response(200, self.render(row))

    def put_member(self, req: Request) -> Response:
        self._list(req)
        payload = req.json_object()
        ref = req.params["hash"]
        email = payload.get("email_address")
        wanted = ref.lower() if "@" not in ref else subscriber_hash(ref)
        if isinstance(email, str) and subscriber_hash(email) != wanted:
            raise self._fail(
                400,
                "Invalid Resource",
                "The subscriber hash in the URL does not match the email_address in the request body.",
            )
        with self.store.write() as tx:
            existing = self._find(tx, ref)
            if existing is None and not email:
                raise self._fail(
                    400,
                    "Invalid Resource",
                    "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                    [{"field": "email_address", "message": "This value should not be blank."}],
                )
            try:
                row = self._save(
                    tx,
                    self.clean(payload, existing.data if existing else None, status_key="status_if_new"),
                    existing,
                )
            except Invalid as exc:
                raise self._invalid(exc) from None
        return json_response(200, self.render(row))

    def patch_member(self, req: Request) -> Response:
        self._list(req)
        payload = req.json_object()
        with self.store.write() as tx:
            existing = self._find(tx, req.params["hash"])
            if existing is None:
                raise self._not_found()
            try:
                row = self._save(tx, self.clean(payload, existing.data, status_key="status"), existing)
            except Invalid as exc:
                raise self._invalid(exc) from None
        return json_response(200, self.render(row))

    def archive_member(self, req: Request) -> Response:
        """DELETE archives: the member stays readable with status `archived` and shows in `since_last_changed`."""
        self._list(req)
        with self.store.write() as tx:
            existing = self._find(tx, req.params["hash"])
            if existing is None or existing.data.get("status") == "archived":
                raise self._not_found()
            tx.update(
                "members",
                existing.id,
                {**existing.data, "status": "archived"},
                unique={
                    "email": existing.data["email_address"].lower(),
                    "hash": subscriber_hash(existing.data["email_address"]),
                },
            )
        return Response(204)

    def delete_permanent(self, req: Request) -> Response:
        """Erase the member and its history; the address can never be added again through the API."""
        self._list(req)
        with self.store.write() as tx:
            existing = self._find(tx, req.params["hash"])
            if existing is None:
                raise self._not_found()
            member_hash = subscriber_hash(existing.data["email_address"])
            tx.remove("members", existing.id)
            tx.put_blob(_FORGOTTEN, member_hash, {"deleted_ms": wall_ms()})
        return Response(204)

    def get_tags(self, req: Request) -> Response:
        self._list(req)
        with self.store.read() as tx:
            row = self._find(tx, req.params["hash"])
        if row is None:
            raise self._not_found()
        stamp = iso(row.updated_ms)
        tags = [
            {"id": tag_id(t), "name": t, "date_added": stamp}
            for t in sorted(row.data.get("tags") or [], key=str.lower)
        ]
        return json_response(200, {"tags": tags, "total_items": len(tags), "_links": []})

    def post_tags(self, req: Request) -> Response:
        self._list(req)
        payload = req.json_object()
        tags = payload.get("tags")
        if not isinstance(tags, list) or not all(isinstance(t, dict) and t.get("name") for t in tags):
            raise self._fail(
                400,
                "Invalid Resource",
                "tags must be a list of {name, status} objects",
                [{"field": "tags", "message": "Schema describes array, object found instead"}],
            )
        with self.store.write() as tx:
            row = self._find(tx, req.params["hash"])
            if row is None:
                raise self._not_found()
            current = list(row.data.get("tags") or [])
            lowered = {t.lower(): t for t in current}
            for tag in tags:
                name = str(tag["name"]).strip()
                status = tag.get("status", "active")
                if status not in ("active", "inactive"):
                    raise self._fail(400, "Invalid Resource", "tag status must be active or inactive")
                if status == "active" and name.lower() not in lowered:
                    current.append(name)
                    lowered[name.lower()] = name
                elif status == "inactive" and name.lower() in lowered:
                    current.remove(lowered.pop(name.lower()))
            if current != list(row.data.get("tags") or []):
                tx.update(
                    "members",
                    row.id,
                    {**row.data, "tags": current},
                    unique={
                        "email": row.data["email_address"].lower(),
                        "hash": subscriber_hash(row.data["email_address"]),
                    },
                )
        return Response(204)

    def batch(self, req: Request) -> Response:
        """Batch subscribe or unsubscribe: each member succeeds or fails on its own, as in Mailchimp."""
        self._list(req)
        payload = req.json_object()
        members = payload.get("members")
        if not isinstance(members, list):
            raise self._fail(
                400,
                "Invalid Resource",
                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
                [{"field": "members", "message": "This value should not be blank."}],
            )
        if len(members) > MAX_BATCH:
            raise self._fail(
                400,
                "Invalid Resource",
                f"You can only batch subscribe up to {MAX_BATCH} members at a time; {len(members)} were given.",
            )
        update_existing = bool(payload.get("update_existing", False))
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.store.write() as tx:
            for member in members:
                email = str(member.get("email_address") or "") if isinstance(member, dict) else ""
                existing = self._find(tx, email) if email and "@" in email else None
                if existing is not None and not update_existing:
                    errors.append(
                        {
                            "email_address": email,
                            "error": f"{email} is already a list member, do you want to update? please provide update_existing:true in the request body",
                            "error_code": "ERROR_CONTACT_EXISTS",
                            "field": "",
                            "field_message": "",
                        }
                    )
                    continue
                try:
                    if not isinstance(member, dict):
                        raise Invalid("Invalid Resource", "each member must be an object")
                    data = self.clean(member, existing.data if existing else None, status_key="status")
                    row = self._save(tx, data, existing)
                except Invalid as exc:
                    errors.append(self._batch_error(email, exc))
                    continue
                (updated if existing else created).append(self.render(row))
        return json_response(
            200,
            {
                "new_members": created,
                "updated_members": updated,
                "errors": errors,
                "total_created": len(created),
                "total_updated": len(updated),
                "error_count": len(errors),
                "_links": [],
            },
        )

    @staticmethod
    def _batch_error(email: str, exc: Invalid) -> dict[str, Any]:
        """One entry of a batch's `errors`: Mailchimp words these differently from the single-call 400s."""
        field_name, field_message = "", ""
        if exc.errors:
            field_name, field_message = exc.errors[0]["field"], exc.errors[0]["message"]
            message = f"{exc.detail} " + "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
        elif "valid email" in exc.detail:
            field_name, field_message = "email_address", "Invalid email address"
            message = f"{email or 'The address'} looks fake or invalid, please enter a real email address."
        else:
            message = exc.detail if exc.title == "Invalid Resource" else f"{exc.title}: {exc.detail}"
        return {
            "email_address": email,
            "error": message,
            "error_code": "ERROR_GENERIC",
            "field": field_name,
            "field_message": field_message,
        }

    # -- seed and admin

    def seed(self, tx: Tx, count: int) -> dict[str, int]:
        data = demo.generate(count, "marketing")
        for index, person in enumerate(sorted(data.people, key=lambda p: p.created_ms)):
            # Status from the person's own fields, so it does not disturb the shared generator.
            roll = (person.created_ms // 1000 + index) % 100
            status = (
                "subscribed"
                if roll < 80
                else "unsubscribed"
                if roll < 90
                else "pending"
                if roll < 95
                else "cleaned"
            )
            merge = {
                "FNAME": person.first_name,
                "LNAME": person.last_name,
                "PHONE": person.phone or "",
                "COMPANY": person.company.name if person.company else "",
                "TIER": person.tier.capitalize(),
                "NPS": "" if person.nps is None else person.nps,
                "BIRTHDAY": "",
            }
            values = {
                "email_address": person.email,
                "status": status,
                "email_type": "html",
                "merge_fields": merge,
                "tags": [t.replace("_", " ").title() for t in person.tags],
                "vip": person.tier == "platinum",
                "language": person.place.locale.split("-")[0],
                "member_rating": 1 + (person.created_ms // 1000) % 5,
                "source": "Import",
                "country_code": "",
            }
            tx.insert(
                "members",
                values,
                first_id=1,
                unique={"email": person.email.lower(), "hash": subscriber_hash(person.email)},
                created_ms=person.created_ms,
                updated_ms=person.updated_ms,
            )
        return {"members": len(data.people)}

    def admin_list(self, req: Request, object_: str) -> list[Any]:
        with self.store.read() as tx:
            return [self.render(r) for r in tx.all("members")]

    def admin_create(self, req: Request, object_: str, payload: dict[str, Any]) -> Response:
        with self.store.write() as tx:
            if self._find(tx, str(payload.get("email_address") or "x")) is not None:
                raise self._fail(
                    400, "Member Exists", f"{payload.get('email_address')} is already a list member."
                )
            try:
                row = self._save(tx, self.clean(payload, None, status_key="status"), None)
            except Invalid as exc:
                raise self._invalid(exc) from None
        return json_response(201, self.render(row))

    def admin_update(self, req: Request, object_: str, id_: int, payload: dict[str, Any]) -> Response:
        with self.store.write() as tx:
            existing = tx.get("members", id_)
            return self._admin_write(tx, existing, payload)

    def admin_patch(self, req: Request) -> Response:
        ref = req.params["hash"]
        with self.store.write() as tx:
            existing = tx.get("members", int(ref)) if ref.isdigit() else self._find(tx, ref)
            return self._admin_write(tx, existing, req.json_object())

    def _admin_write(self, tx: Tx, existing: Row | None, payload: Mapping[str, Any]) -> Response:
        if existing is None:
            raise self._not_found()
        try:
            # A person in the Mailchimp app may change any status, also back to subscribed.
            data = self.clean(
                {k: v for k, v in payload.items() if k != "status"}, existing.data, status_key="status"
            )
        except Invalid as exc:
            raise self._invalid(exc) from None
        if "status" in payload:
            if payload["status"] not in STATUSES:
                raise self._fail(400, "Invalid Resource", f"status must be one of {', '.join(STATUSES)}")
            data["status"] = payload["status"]
        if "tags" in payload and isinstance(payload["tags"], list):
            data["tags"] = [str(t) for t in payload["tags"]]
        row = self._save(tx, data, existing)
        return json_response(200, self.render(row))
