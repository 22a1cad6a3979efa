"""The helpdesk dialect: Zendesk Support shapes for users and organizations (see docs/sandbox.md).

Bulk endpoints answer with a job status that is already `completed`; each item succeeds or fails on its
own, as in Zendesk, while the whole job is still one SQLite transaction for speed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import urlencode

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
    iso_s,
    json_field,
    json_response,
    same_secret,
    wall_ms,
)
from connectors.sandbox.helpdesk_tickets import DEFAULT_WEBHOOK_SECRET, HelpdeskTickets
from connectors.sandbox.helpdesk_webhooks import HelpdeskWebhooks

MAX_BULK = 100
MAX_PAGE = 100
MAX_EXPORT_PAGE = 1000
DEFAULT_EMAIL = "agent@demo.example"
DEFAULT_TOKEN = "demo-helpdesk-token"  # noqa: S105 - a demo credential, printed in the docs
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
ROLES = ("end-user", "agent", "admin")
# The authenticated agent is not a stored user (so a seed of 0 really is empty); it has a fixed identity.
AGENT_ID = 1
AGENT_CREATED_MS = demo.SEED_ANCHOR_MS - 800 * 86_400_000


@dataclass(frozen=True)
class CustomField:
    id: int
    key: str
    type: str  # text, textarea, checkbox, integer, decimal, date, dropdown
    title: str
    description: str
    options: tuple[tuple[str, str], ...] = ()  # (value, name)

    def definition(self, base_url: str, collection: str, position: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "url": f"{base_url}/api/v2/{collection}/{self.id}.json",
            "key": self.key,
            "type": self.type,
            "title": self.title,
            "raw_title": self.title,
            "description": self.description,
            "raw_description": self.description,
            "position": position,
            "active": True,
            "system": False,
            "regexp_for_validation": None,
            "created_at": iso_s(demo.SEED_ANCHOR_MS - 400 * 86_400_000),
            "updated_at": iso_s(demo.SEED_ANCHOR_MS - 400 * 86_400_000),
        }
        if self.type == "dropdown":
            body["custom_field_options"] = [
                {"id": self.id * 100 + i, "name": name, "raw_name": name, "value": value, "position": i}
                for i, (value, name) in enumerate(self.options)
            ]
        return body

    def clean(self, raw: Any) -> Any:
        """The stored value, or ValueError with Zendesk's description of what is wrong."""
        if raw is None or raw == "":
            return None
        if self.type == "checkbox":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "false", "1", "0"):
                return str(raw).lower() in ("true", "1")
        elif self.type == "integer":
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
                return int(raw)
        elif self.type == "decimal":
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return float(raw)
        elif self.type == "dropdown":
            if str(raw) in {v for v, _ in self.options}:
                return str(raw)
        elif self.type == "date":
            if isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                return raw
        elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
            return str(raw)
        raise ValueError(f"{self.title}: {raw!r} is invalid")


@dataclass(frozen=True)
class Resource:
    name: str  # users
    singular: str  # user
    label: str  # User
    fields_collection: str  # user_fields
    fields_key: str  # the key of custom values inside a record
    fields: tuple[CustomField, ...]
    first_id: int
    unique: tuple[str, ...]  # case-insensitive unique attributes


USERS = Resource(
    name="users",
    singular="user",
    label="User",
    fields_collection="user_fields",
    fields_key="user_fields",
    fields=(
        CustomField(
            360001,
            "customer_tier",
            "dropdown",
            "Customer tier",
            "Commercial tier of the customer",
            (("bronze", "Bronze"), ("silver", "Silver"), ("gold", "Gold"), ("platinum", "Platinum")),
        ),
        CustomField(360002, "nps_score", "integer", "NPS score", "Latest Net Promoter Score answer (0-10)"),
        CustomField(360003, "newsletter_opt_in", "checkbox", "Newsletter opt-in", "Receives the newsletter"),
        CustomField(
            360004,
            "support_plan",
            "dropdown",
            "Support plan",
            "Plan the customer's account is on",
            (("basic", "Basic"), ("business", "Business"), ("enterprise", "Enterprise")),
        ),
    ),
    first_id=10_001,
    unique=("email", "external_id"),
)

ORGANIZATIONS = Resource(
    name="organizations",
    singular="organization",
    label="Organization",
    fields_collection="organization_fields",
    fields_key="organization_fields",
    fields=(
        CustomField(
            370001,
            "account_health",
            "dropdown",
            "Account health",
            "How the account team rates the relationship",
            (("green", "Green"), ("amber", "Amber"), ("red", "Red")),
        ),
        CustomField(370002, "industry", "text", "Industry", "The kind of business"),
    ),
    first_id=50_001,
    unique=("name", "external_id"),
)

RESOURCES = {r.name: r for r in (USERS, ORGANIZATIONS)}

# The stored attributes of each resource with the value a new record starts with.
_USER_DEFAULTS: dict[str, Any] = {
    "name": None,
    "email": None,
    "phone": None,
    "external_id": None,
    "organization_id": None,
    "role": "end-user",
    "time_zone": "UTC",
    "locale": "en-US",
    "notes": "",
    "details": "",
    "tags": [],
    "user_fields": {},
    "active": True,
}
_ORG_DEFAULTS: dict[str, Any] = {
    "name": None,
    "domain_names": [],
    "details": "",
    "notes": "",
    "external_id": None,
    "tags": [],
    "organization_fields": {},
    "deleted_at": None,
}

Details = dict[str, list[dict[str, str]]]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def normalize_tags(raw: Any) -> list[str]:
    """Zendesk tags are lower case without spaces; a string is split on spaces and commas."""
    items = re.split(r"[\s,]+", raw) if isinstance(raw, str) else list(raw or [])
    tags: list[str] = []
    for item in items:
        tag = re.sub(r"\s+", "_", str(item).strip().lower())
        if tag and tag not in tags:
            tags.append(tag)
    return tags


class ItemError(Exception):
    """One rejected record: the details for a 422, and the error name a bulk job result uses."""

    def __init__(self, details: Details, job_error: str = "RecordInvalid") -> None:
        super().__init__(job_error)
        self.details = details
        self.job_error = job_error

    @property
    def description(self) -> str:
        return "; ".join(d["description"] for items in self.details.values() for d in items)


class HelpdeskDialect(Dialect):
    system = "helpdesk"
    # Tickets live in helpdesk_tickets.py: their shapes share little with users and organizations.
    objects: ClassVar[Mapping[str, int]] = {**{r.name: r.first_id for r in RESOURCES.values()}, "tickets": 1}
    default_port = 8102

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--email", default=DEFAULT_EMAIL, help="the accepted agent email")
        parser.add_argument("--token", default=DEFAULT_TOKEN, help="the accepted API token")
        parser.add_argument(
            "--webhook-secret", default=DEFAULT_WEBHOOK_SECRET, help="signing secret of webhook deliveries"
        )

    @cached_property
    def tickets(self) -> HelpdeskTickets:
        return HelpdeskTickets(self)

    @cached_property
    def webhooks(self) -> HelpdeskWebhooks:
        """Webhooks subscribed to events, and their signed deliveries (helpdesk_webhooks.py)."""
        return HelpdeskWebhooks(self)

    def changes_committed(self, changes: list[Change]) -> None:
        self.webhooks.changes_committed(changes)

    def reset_hook(self) -> None:
        self.webhooks.dispatcher.clear()

    @property
    def agent_email(self) -> str:
        return str(self.options.get("email") or DEFAULT_EMAIL)

    @property
    def token(self) -> str:
        return str(self.options.get("token") or DEFAULT_TOKEN)

    def register(self, router: Router) -> None:
        router.add("GET", "/api/v2/users/me.json", self.me)
        router.add("GET", "/api/v2/job_statuses/{id}.json", self.job_status)
        router.add("GET", "/api/v2/search.json", self.search_all)
        self.tickets.register(router)
        self.webhooks.register(router)
        for res in RESOURCES.values():
            base = f"/api/v2/{res.name}"

            def bind(
                fn: Callable[[Request, Resource], Response], res: Resource = res
            ) -> Callable[[Request], Response]:
                return lambda req: fn(req, res)

            router.add("GET", f"{base}.json", bind(self.list_records))
            router.add("POST", f"{base}.json", bind(self.create_one))
            router.add("GET", f"{base}/count.json", bind(self.count))
            router.add("GET", f"{base}/search.json", bind(self.search))
            router.add("GET", f"{base}/show_many.json", bind(self.show_many))
            router.add("POST", f"{base}/create_or_update.json", bind(self.create_or_update))
            router.add("POST", f"{base}/create_many.json", bind(self.create_many))
            router.add("PUT", f"{base}/update_many.json", bind(self.update_many))
            if res is USERS:
                # Zendesk has no create_or_update_many for organizations.
                router.add("POST", f"{base}/create_or_update_many.json", bind(self.create_or_update_many))
            router.add("GET", f"{base}/{{id}}.json", bind(self.get_one))
            router.add("PUT", f"{base}/{{id}}.json", bind(self.update_one))
            router.add("DELETE", f"{base}/{{id}}.json", bind(self.delete_one))
            router.add("GET", f"/api/v2/incremental/{res.name}/cursor.json", bind(self.incremental))
            router.add("GET", f"/api/v2/{res.fields_collection}.json", bind(self.list_fields))

    # -- errors and auth

    def error(self, status: int, kind: str, message: str) -> Response:
        if kind == "fault" and status == 429:
            return json_response(429, {"error": "TooManyRequests", "description": "Rate limit exceeded"})
        if kind == "fault":
            return json_response(
                status, {"error": "ServiceUnavailable", "description": f"Try again later ({message})"}
            )
        if kind in ("not_found", "method_not_allowed"):
            return json_response(status, {"error": "InvalidEndpoint", "description": "Not found"})
        if kind == "internal":
            return json_response(status, {"error": "InternalError", "description": message})
        return json_response(status, {"error": "InvalidValue", "description": message})

    def _bad(self, message: str) -> HttpError:
        return HttpError(json_response(400, {"error": "InvalidValue", "description": message}))

    @staticmethod
    def _not_found() -> HttpError:
        return HttpError(json_response(404, {"error": "RecordNotFound", "description": "Not found"}))

    @staticmethod
    def _invalid(exc: ItemError) -> HttpError:
        body = {"error": "RecordInvalid", "description": "Record validation errors", "details": exc.details}
        return HttpError(json_response(422, body))

    def authenticate(self, req: Request) -> Response | None:
        credentials = basic_credentials(req)
        if credentials is not None:
            user, secret = credentials
            email, _, kind = user.partition("/")
            if (
                email.lower() == self.agent_email.lower()
                and kind == "token"
                and same_secret(secret, self.token)
            ):
                return None
        return json_response(401, {"error": "Couldn't authenticate you"})

    # -- rendering

    def render(self, res: Resource, row: Row, base_url: str) -> dict[str, Any]:
        defaults = _USER_DEFAULTS if res is USERS else _ORG_DEFAULTS
        body: dict[str, Any] = {"id": row.id, "url": f"{base_url}/api/v2/{res.name}/{row.id}.json"}
        for key, default in defaults.items():
            value = row.data.get(key, default)
            body[key] = list(value) if isinstance(value, list) else value
        stored = row.data.get(res.fields_key) or {}
        body[res.fields_key] = {f.key: stored.get(f.key) for f in res.fields}
        body["created_at"] = iso_s(row.created_ms)
        body["updated_at"] = iso_s(row.updated_ms)
        return body

    def me(self, req: Request) -> Response:
        agent = {
            "id": AGENT_ID,
            "url": f"{req.base_url}/api/v2/users/{AGENT_ID}.json",
            **_USER_DEFAULTS,
            "name": "Demo Agent",
            "email": self.agent_email,
            "role": "admin",
            "user_fields": {f.key: None for f in USERS.fields},
            "created_at": iso_s(AGENT_CREATED_MS),
            "updated_at": iso_s(AGENT_CREATED_MS),
        }
        return json_response(200, {"user": agent})

    # -- validation

    def clean(self, tx: Tx, res: Resource, payload: Any, existing: Row | None) -> dict[str, Any]:
        """The record's data after applying `payload`, or ItemError; unknown attributes are ignored."""
        if not isinstance(payload, dict):
            raise ItemError(
                {"base": [{"description": f"{res.label} must be an object", "error": "InvalidValue"}]}
            )
        defaults = _USER_DEFAULTS if res is USERS else _ORG_DEFAULTS
        data: dict[str, Any] = dict(existing.data) if existing else {k: v for k, v in defaults.items()}
        details: Details = {}
        job_error = "RecordInvalid"

        def fail(key: str, description: str, error: str = "InvalidValue", **extra: str) -> None:
            details.setdefault(key, []).append({"description": description, "error": error, **extra})

        for key, raw in payload.items():
            if key not in defaults:
                continue
            if key == "name":
                if raw is None or not str(raw).strip():
                    fail("name", "Name:  is too short (minimum one character)", "ValueTooShort")
                else:
                    data["name"] = str(raw).strip()
            elif key == "email" and res is USERS:
                if raw is None or raw == "":
                    data["email"] = None
                elif not isinstance(raw, str) or not EMAIL_RE.match(raw.strip()):
                    fail("email", f"Email: {raw} is not properly formatted", "InvalidFormat")
                    job_error = "EmailInvalid"
                else:
                    data["email"] = raw.strip().lower()
            elif key == "external_id":
                data["external_id"] = None if raw is None or raw == "" else str(raw)
            elif key == "organization_id":
                if raw is None:
                    data["organization_id"] = None
                elif (
                    isinstance(raw, int | str) and str(raw).isdigit() and tx.get(ORGANIZATIONS.name, int(raw))
                ):
                    data["organization_id"] = int(raw)
                else:
                    fail("organization_id", f"Organization: {raw} is invalid")
            elif key == "role":
                if raw not in ROLES:
                    fail("role", f"Role: {raw} is not included in the list")
                else:
                    data["role"] = raw
            elif key == "active":
                if not isinstance(raw, bool):
                    fail("active", "Active: must be true or false")
                else:
                    data["active"] = raw
            elif key in ("tags", "domain_names"):
                if raw is not None and not isinstance(raw, str | list):
                    fail(key, f"{key}: must be a list of strings")
                elif key == "tags":
                    data["tags"] = normalize_tags(raw)
                else:
                    data["domain_names"] = normalize_tags(raw)
            elif key == res.fields_key:
                if not isinstance(raw, dict):
                    fail(key, f"{key}: must be an object")
                    continue
                values = dict(data.get(key) or {})
                for field in res.fields:
                    if field.key not in raw:
                        continue
                    try:
                        values[field.key] = field.clean(raw[field.key])
                    except ValueError as exc:
                        fail("base", str(exc), field_key=field.key)
                data[key] = values
            elif raw is None or (isinstance(raw, str | int | float) and not isinstance(raw, bool)):
                # phone, time_zone, locale, notes, details: free text.
                data[key] = None if raw is None else str(raw)
            else:
                fail(key, f"{key}: must be text")
        if not data.get("name") and "name" not in details:
            fail("name", "Name:  is too short (minimum one character)", "ValueTooShort")
        if not details:
            self._check_unique(tx, res, data, existing.id if existing else None, fail)
            if "email" in details or "external_id" in details or "name" in details:
                job_error = "DuplicateValue"
        if details:
            raise ItemError(details, job_error)
        return data

    def _check_unique(
        self, tx: Tx, res: Resource, data: Mapping[str, Any], own_id: int | None, fail: Callable[..., None]
    ) -> None:
        for key in res.unique:
            value = data.get(key)
            if not value:
                continue
            taken = tx.find_unique(res.name, key, str(value))
            if taken is None or taken == own_id:
                continue
            if key == "email":
                fail("email", f"Email: {value} is already being used by another user", "DuplicateValue")
            elif key == "external_id":
                fail("external_id", f"External: {value} has already been taken", "DuplicateValue")
            else:
                fail(key, f"{key.capitalize()}: has already been taken", "DuplicateValue")

    def _save(self, tx: Tx, res: Resource, data: dict[str, Any], existing: Row | None) -> Row:
        unique = {key: data.get(key) for key in res.unique}
        if existing is None:
            return tx.insert(res.name, data, first_id=res.first_id, unique=unique)
        return tx.update(res.name, existing.id, data, unique=unique)

    def _match(self, tx: Tx, res: Resource, payload: Mapping[str, Any]) -> Row | None:
        """The record a create_or_update payload refers to: by id, external_id, then email (users)."""
        keys = [("external_id", payload.get("external_id"))]
        if res is USERS:
            keys.append(("email", payload.get("email")))
        id_ = payload.get("id")
        if res is ORGANIZATIONS and isinstance(id_, int) and not isinstance(id_, bool):
            found = tx.get(res.name, id_)
            if found:
                return found
        for key, value in keys:
            if value is not None and value != "":
                match_id = tx.find_unique(res.name, key, str(value).strip())
                if match_id is not None:
                    return tx.get(res.name, match_id)
        return None

    def _payload(self, req: Request, res: Resource) -> dict[str, Any]:
        body = req.json_object()
        payload = body.get(res.singular)
        if not isinstance(payload, dict):
            raise self._bad(f'the body must be {{"{res.singular}": {{...}}}}')
        return payload

    @staticmethod
    def _id(raw: str) -> int:
        if not raw.isdigit():
            raise HelpdeskDialect._not_found()
        return int(raw)

    # -- single records

    @staticmethod
    def is_deleted(res: Resource, row: Row) -> bool:
        """Deleted users stay readable (active: false); deleted organizations only show in the export."""
        return row.data.get("active") is False if res is USERS else bool(row.data.get("deleted_at"))

    def get_one(self, req: Request, res: Resource) -> Response:
        with self.store.read() as tx:
            row = tx.get(res.name, self._id(req.params["id"]))
        if row is None or (res is ORGANIZATIONS and self.is_deleted(res, row)):
            raise self._not_found()
        return json_response(200, {res.singular: self.render(res, row, req.base_url)})

    def create_one(self, req: Request, res: Resource) -> Response:
        payload = self._payload(req, res)
        with self.store.write() as tx:
            try:
                row = self._save(tx, res, self.clean(tx, res, payload, None), None)
            except ItemError as exc:
                raise self._invalid(exc) from None
        return json_response(201, {res.singular: self.render(res, row, req.base_url)})

    def delete_one(self, req: Request, res: Resource) -> Response:
        """As Zendesk: a deleted user is soft-deleted (200 with `active: false`, still in the incremental
        export); a deleted organization answers 204 and appears in the export with `deleted_at`. Either
        way its email, name and external id are free for a new record."""
        with self.store.write() as tx:
            existing = tx.get(res.name, self._id(req.params["id"]))
            if existing is None or self.is_deleted(res, existing):
                raise self._not_found()
            if res is USERS:
                data = {**existing.data, "active": False}
            else:
                data = {**existing.data, "deleted_at": iso_s(wall_ms())}
            row = tx.update(res.name, existing.id, data, unique={key: None for key in res.unique})
        if res is USERS:
            return json_response(200, {"user": self.render(res, row, req.base_url)})
        return Response(204)

    def update_one(self, req: Request, res: Resource) -> Response:
        payload = self._payload(req, res)
        with self.store.write() as tx:
            existing = tx.get(res.name, self._id(req.params["id"]))
            if existing is None or self.is_deleted(res, existing):
                raise self._not_found()
            try:
                row = self._save(tx, res, self.clean(tx, res, payload, existing), existing)
            except ItemError as exc:
                raise self._invalid(exc) from None
        return json_response(200, {res.singular: self.render(res, row, req.base_url)})

    def create_or_update(self, req: Request, res: Resource) -> Response:
        payload = self._payload(req, res)
        with self.store.write() as tx:
            existing = self._match(tx, res, payload)
            try:
                row = self._save(tx, res, self.clean(tx, res, payload, existing), existing)
            except ItemError as exc:
                raise self._invalid(exc) from None
        return json_response(
            201 if existing is None else 200, {res.singular: self.render(res, row, req.base_url)}
        )

    # -- reading many

    def _page_cursor(self, raw: str) -> int:
        try:
            kind, _, value = _unb64(raw).partition(":")
            if kind != "p":
                raise ValueError(kind)
            return int(value)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise HttpError(
                json_response(
                    400, {"error": "InvalidPaginationParameter", "description": "page cursor is invalid"}
                )
            ) from None

    def list_records(self, req: Request, res: Resource) -> Response:
        size = req.int_arg("page[size]", MAX_PAGE, maximum=MAX_PAGE)
        after_raw, before_raw = req.arg("page[after]"), req.arg("page[before]")
        with self.store.read() as tx:
            if before_raw:
                before = self._page_cursor(before_raw)
                rows = tx.page_by_id(res.name, before=before, limit=size + 1)
                has_more = len(rows) > size
                rows = rows[-size:] if has_more else rows
            else:
                after = self._page_cursor(after_raw) if after_raw else None
                rows = tx.page_by_id(res.name, after=after, limit=size + 1)
                has_more = len(rows) > size
                rows = rows[:size]
        after_cursor = _b64(f"p:{rows[-1].id}") if rows else None
        before_cursor = _b64(f"p:{rows[0].id}") if rows else None
        link = f"{req.base_url}/api/v2/{res.name}.json"
        body = {
            res.name: [self.render(res, r, req.base_url) for r in rows],
            "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
            "links": {
                "next": f"{link}?{urlencode({'page[size]': size, 'page[after]': after_cursor})}"
                if after_cursor and (has_more or before_raw)
                else None,
                "prev": f"{link}?{urlencode({'page[size]': size, 'page[before]': before_cursor})}"
                if before_cursor
                else None,
            },
        }
        return json_response(200, body)

    def count(self, req: Request, res: Resource) -> Response:
        with self.store.read() as tx:
            total = tx.count(res.name)
        return json_response(200, {"count": {"value": total, "refreshed_at": iso_s(wall_ms())}})

    def show_many(self, req: Request, res: Resource) -> Response:
        rows: list[Row] = []
        with self.store.read() as tx:
            if req.arg("ids"):
                ids = [int(i) for i in (req.arg("ids") or "").split(",") if i.strip().isdigit()][:MAX_PAGE]
                found = tx.get_many(res.name, ids)
                rows = [found[i] for i in ids if i in found]
            elif req.arg("external_ids"):
                for value in (req.arg("external_ids") or "").split(",")[:MAX_PAGE]:
                    id_ = tx.find_unique(res.name, "external_id", value.strip()) if value.strip() else None
                    row = tx.get(res.name, id_) if id_ is not None else None
                    if row:
                        rows.append(row)
            else:
                raise self._bad("ids or external_ids is required")
        return json_response(200, {res.name: [self.render(res, r, req.base_url) for r in rows]})

    def search(self, req: Request, res: Resource) -> Response:
        clauses: list[str] = []
        params: list[Any] = []
        exact: list[tuple[str, str]] = []
        if req.arg("external_id") is not None:
            exact.append(("external_id", req.arg("external_id") or ""))
        if res is ORGANIZATIONS and req.arg("name") is not None:
            exact.append(("name", req.arg("name") or ""))
        for token in re.findall(r'(\w+:"[^"]*"|\w+:\S+|"[^"]*"|\S+)', req.arg("query") or ""):
            key, sep, value = token.partition(":")
            value = value.strip('"')
            if sep and key in ("email", "external_id", "name", "role", "phone"):
                if key in ("email", "external_id") and key in res.unique:
                    exact.append((key, value))
                else:
                    clauses.append(f"lower({json_field(key)}) = ?")
                    params.append(value.lower())
            else:
                needle = f"%{token.strip(chr(34)).lower()}%"
                clauses.append(f"(lower({json_field('name')}) LIKE ? OR lower({json_field('email')}) LIKE ?)")
                params.extend([needle, needle])
        if not exact and not clauses:
            raise self._bad("query or external_id is required")
        per_page = req.int_arg("per_page", MAX_PAGE, maximum=MAX_PAGE)
        page = req.int_arg("page", 1)
        with self.store.read() as tx:
            for key, value in exact:
                match_id = tx.find_unique(res.name, key, value.strip())
                clauses.append("id = ?")
                params.append(match_id if match_id is not None else -1)
            clauses.append(self._live(res))
            where = " AND ".join(clauses)
            total = tx.count(res.name, where, params)
            rows = tx.select(res.name, where, params, limit=per_page, offset=(page - 1) * per_page)
        base = f"{req.base_url}/api/v2/{res.name}/search.json"
        query = {k: v[-1] for k, v in req.query.items() if k != "page"}
        body = {
            res.name: [self.render(res, r, req.base_url) for r in rows],
            "next_page": f"{base}?{urlencode({**query, 'page': page + 1})}"
            if page * per_page < total
            else None,
            "previous_page": f"{base}?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
            "count": total,
        }
        return json_response(200, body)

    @staticmethod
    def _live(res: Resource) -> str:
        """SQL: the record is not deleted (search never returns deleted records)."""
        if res is USERS:
            return f"coalesce({json_field('active')}, 1) != 0"
        return f"{json_field('deleted_at')} IS NULL"

    def search_all(self, req: Request) -> Response:
        """Zendesk's unified search: `type:user|organization|ticket` plus `field:value` terms (exact,
        case-insensitive) over one type, newest-updated last; results carry their `result_type`."""
        terms = re.findall(r'(\w+:"[^"]*"|\w+:\S+)', req.arg("query") or "")
        pairs = [(key, value.strip('"')) for key, _, value in (t.partition(":") for t in terms)]
        kinds = {"user": "users", "organization": "organizations", "ticket": "tickets"}
        wanted = next((kinds.get(v) for k, v in pairs if k == "type"), None)
        if wanted is None:
            raise self._bad("query needs type:user, type:organization or type:ticket")
        clauses: list[str] = []
        params: list[Any] = []
        for key, value in pairs:
            if key == "type":
                continue
            try:
                column = json_field(key)
            except ValueError:
                raise self._bad(f"{key} is not a searchable property") from None
            clauses.append(f"lower(CAST({column} AS TEXT)) = ?")
            params.append(value.lower())
        if wanted == "tickets":
            clauses.append(f"coalesce({json_field('status')}, '') != 'deleted'")
        else:
            clauses.append(self._live(RESOURCES[wanted]))
        per_page = req.int_arg("per_page", MAX_PAGE, maximum=MAX_PAGE)
        page = req.int_arg("page", 1)
        where = " AND ".join(clauses)
        with self.store.read() as tx:
            total = tx.count(wanted, where, params)
            rows = tx.select(wanted, where, params, limit=per_page, offset=(page - 1) * per_page)
        singular = {v: k for k, v in kinds.items()}[wanted]
        results = [
            {
                **(
                    self.tickets.render(r, req.base_url)
                    if wanted == "tickets"
                    else self.render(RESOURCES[wanted], r, req.base_url)
                ),
                "result_type": singular,
            }
            for r in rows
        ]
        base = f"{req.base_url}/api/v2/search.json"
        query = {k: v[-1] for k, v in req.query.items() if k != "page"}
        body = {
            "results": results,
            "facets": None,
            "next_page": f"{base}?{urlencode({**query, 'page': page + 1})}"
            if page * per_page < total
            else None,
            "previous_page": f"{base}?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
            "count": total,
        }
        return json_response(200, body)

    def _export_position(self, req: Request) -> tuple[int, int]:
        """Where an incremental export continues: after (updated_ms, id)."""
        cursor, start = req.arg("cursor"), req.arg("start_time")
        if cursor:
            try:
                kind, _, rest = _unb64(cursor).partition(":")
                ms, _, id_ = rest.partition(".")
                if kind != "x":
                    raise ValueError(kind)
                return int(ms), int(id_)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise HttpError(
                    json_response(
                        400, {"error": "InvalidPaginationParameter", "description": "cursor is invalid"}
                    )
                ) from None
        if start is None or not start.strip().isdigit():
            raise self._bad("start_time (epoch seconds) or cursor is required")
        # Everything updated at or after start_time: strictly after (start_ms, -1).
        return int(start) * 1000, -1

    def incremental(self, req: Request, res: Resource) -> Response:
        position = self._export_position(req)
        per_page = req.int_arg("per_page", MAX_EXPORT_PAGE, maximum=MAX_EXPORT_PAGE)
        with self.store.read() as tx:
            rows = tx.changes_after(res.name, position, per_page + 1)
        end_of_stream = len(rows) <= per_page
        rows = rows[:per_page]
        last = (rows[-1].updated_ms, rows[-1].id) if rows else position
        # The after cursor always points just past what was returned, so a client can store it at the
        # end of the stream and resume later to get only newer changes.
        after_cursor = _b64(f"x:{last[0]}.{last[1]}")
        before_cursor = _b64(f"x:{rows[0].updated_ms}.{rows[0].id - 1}") if rows else None
        link = f"{req.base_url}/api/v2/incremental/{res.name}/cursor.json"
        body = {
            res.name: [self.render(res, r, req.base_url) for r in rows],
            "after_url": f"{link}?{urlencode({'cursor': after_cursor, 'per_page': per_page})}",
            "after_cursor": after_cursor,
            "before_url": f"{link}?{urlencode({'cursor': before_cursor, 'per_page': per_page})}"
            if before_cursor
            else None,
            "before_cursor": before_cursor,
            "end_of_stream": end_of_stream,
        }
        return json_response(200, body)

    def list_fields(self, req: Request, res: Resource) -> Response:
        fields = [f.definition(req.base_url, res.fields_collection, i) for i, f in enumerate(res.fields)]
        return json_response(
            200,
            {res.fields_collection: fields, "next_page": None, "previous_page": None, "count": len(fields)},
        )

    # -- bulk jobs

    def _items(self, req: Request, res: Resource) -> list[Any]:
        body = req.json_object()
        items = body.get(res.name)
        if not isinstance(items, list):
            raise self._bad(f'the body must be {{"{res.name}": [...]}}')
        if len(items) > MAX_BULK:
            raise self._bad(f"Too many {res.name}: {len(items)} given, at most {MAX_BULK} per request")
        return items

    def _job(
        self,
        req: Request,
        res: Resource,
        job_type: str,
        items: Sequence[Any],
        locate: Callable[[Tx, Any], tuple[Row | None, bool]],
    ) -> Response:
        """Run a bulk job item by item in one transaction and store its (completed) status.

        `locate` returns the existing record for an item (None to create) and whether the item may
        create; an item that must update but matches nothing fails with RecordNotFound.
        """
        results: list[dict[str, Any]] = []
        job_id = uuid.uuid4().hex
        with self.store.write() as tx:
            for index, item in enumerate(items):
                existing, may_create = locate(tx, item)
                if existing is None and not may_create:
                    results.append(
                        {
                            "index": index,
                            "error": "RecordNotFound",
                            "details": f"{res.label} not found",
                            "status": "Failed",
                            "success": False,
                        }
                    )
                    continue
                try:
                    row = self._save(tx, res, self.clean(tx, res, item, existing), existing)
                except ItemError as exc:
                    results.append(
                        {
                            "index": index,
                            "error": exc.job_error,
                            "details": exc.description,
                            "status": "Failed",
                            "success": False,
                        }
                    )
                    continue
                created = existing is None
                results.append(
                    {
                        "index": index,
                        "id": row.id,
                        "action": "create" if created else "update",
                        "status": "Created" if created else "Updated",
                        "success": True,
                    }
                )
            stamp = wall_ms()
            job = {
                "id": job_id,
                "url": f"{req.base_url}/api/v2/job_statuses/{job_id}.json",
                "job_type": job_type,
                "total": len(items),
                "progress": len(items),
                "status": "completed",
                "message": f"Completed at {iso_s(stamp).replace('T', ' ').replace('Z', ' +0000')}",
                "results": results,
            }
            tx.put_blob("job_status", job_id, job)
        return json_response(200, {"job_status": job})

    def create_many(self, req: Request, res: Resource) -> Response:
        items = self._items(req, res)
        return self._job(req, res, f"Bulk Create {res.label}s", items, lambda tx, item: (None, True))

    def create_or_update_many(self, req: Request, res: Resource) -> Response:
        items = self._items(req, res)

        def locate(tx: Tx, item: Any) -> tuple[Row | None, bool]:
            return (self._match(tx, res, item) if isinstance(item, dict) else None), True

        return self._job(req, res, f"Bulk Create or Update {res.label}s", items, locate)

    def update_many(self, req: Request, res: Resource) -> Response:
        body = req.json_object()
        if isinstance(body.get(res.singular), dict):
            # `?ids=1,2` (or `?external_ids=`) with one change applied to all of them.
            change = body[res.singular]
            if req.arg("ids"):
                items: list[Any] = [
                    {**change, "id": i.strip()} for i in (req.arg("ids") or "").split(",") if i.strip()
                ]
            elif req.arg("external_ids"):
                refs = [e.strip() for e in (req.arg("external_ids") or "").split(",") if e.strip()]
                items = [{**change, "external_id": ref} for ref in refs]
            else:
                raise self._bad("ids or external_ids is required with a single change")
            if len(items) > MAX_BULK:
                raise self._bad(f"Too many {res.name}: {len(items)} given, at most {MAX_BULK} per request")
        else:
            items = self._items(req, res)

        def locate(tx: Tx, item: Any) -> tuple[Row | None, bool]:
            if not isinstance(item, dict):
                return None, False
            id_ = item.get("id")
            if isinstance(id_, str) and id_.isdigit():
                id_ = int(id_)
            if isinstance(id_, int) and not isinstance(id_, bool):
                return tx.get(res.name, id_), False
            if item.get("external_id"):
                found = tx.find_unique(res.name, "external_id", str(item["external_id"]))
                return (tx.get(res.name, found) if found is not None else None), False
            return None, False

        return self._job(req, res, f"Bulk Update {res.label}s", items, locate)

    def job_status(self, req: Request) -> Response:
        with self.store.read() as tx:
            job = tx.get_blob("job_status", req.params["id"])
        if job is None:
            raise self._not_found()
        return json_response(200, {"job_status": job})

    # -- seed and admin

    def seed(self, tx: Tx, count: int) -> dict[str, int]:
        data = demo.generate(count, "helpdesk")
        org_ids: dict[str, int] = {}
        for number, company in enumerate(data.companies, start=1):
            values = {
                **_ORG_DEFAULTS,
                "name": company.name,
                "domain_names": [company.domain],
                "details": f"{company.place.city}, {company.place.country}",
                "external_id": f"ACCT-{number:05d}",
                "tags": [company.support_plan],
                "organization_fields": {"account_health": company.health, "industry": company.industry},
            }
            row = tx.insert(
                ORGANIZATIONS.name,
                values,
                first_id=ORGANIZATIONS.first_id,
                unique={k: values.get(k) for k in ORGANIZATIONS.unique},
                created_ms=company.created_ms,
                updated_ms=company.updated_ms,
            )
            org_ids[company.domain] = row.id
        for number, person in enumerate(data.people, start=1):
            fields: dict[str, Any] = {
                "customer_tier": person.tier,
                "nps_score": person.nps,
                "newsletter_opt_in": person.newsletter,
                "support_plan": person.company.support_plan if person.company else None,
            }
            values = {
                **_USER_DEFAULTS,
                "name": person.name,
                "email": person.email,
                "phone": person.phone,
                # About a third of customers come with an id from a billing system.
                "external_id": f"cus_{number:06d}" if number % 3 == 0 else None,
                "organization_id": org_ids.get(person.company.domain) if person.company else None,
                "time_zone": person.place.time_zone,
                "locale": person.place.locale,
                "notes": person.notes or "",
                "tags": list(person.tags),
                "user_fields": fields,
            }
            tx.insert(
                USERS.name,
                values,
                first_id=USERS.first_id,
                unique={k: values.get(k) for k in USERS.unique},
                created_ms=person.created_ms,
                updated_ms=person.updated_ms,
            )
        return {
            USERS.name: len(data.people),
            ORGANIZATIONS.name: len(data.companies),
            **self.tickets.seed(tx, count),
        }

    @staticmethod
    def _unwrap(res: Resource, payload: dict[str, Any]) -> dict[str, Any]:
        inner = payload.get(res.singular)
        return inner if len(payload) == 1 and isinstance(inner, dict) else payload

    def admin_list(self, req: Request, object_: str) -> list[Any]:
        if object_ == "tickets":
            return self.tickets.admin_list(req)
        res = RESOURCES[object_]
        with self.store.read() as tx:
            rows = tx.all(res.name)
        return [self.render(res, r, req.base_url) for r in rows]

    def admin_create(self, req: Request, object_: str, payload: dict[str, Any]) -> Response:
        if object_ == "tickets":
            return self.tickets.admin_create(req, payload)
        res = RESOURCES[object_]
        with self.store.write() as tx:
            try:
                row = self._save(tx, res, self.clean(tx, res, self._unwrap(res, payload), None), None)
            except ItemError as exc:
                raise self._invalid(exc) from None
        return json_response(201, {res.singular: self.render(res, row, req.base_url)})

    def admin_update(self, req: Request, object_: str, id_: int, payload: dict[str, Any]) -> Response:
        if object_ == "tickets":
            return self.tickets.admin_update(req, id_, payload)
        res = RESOURCES[object_]
        with self.store.write() as tx:
            existing = tx.get(res.name, id_)
            if existing is None:
                raise self._not_found()
            try:
                row = self._save(tx, res, self.clean(tx, res, self._unwrap(res, payload), existing), existing)
            except ItemError as exc:
                raise self._invalid(exc) from None
        return json_response(200, {res.singular: self.render(res, row, req.base_url)})
