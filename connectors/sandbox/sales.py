"""The sales dialect: Pipedrive API v1 shapes for persons, organizations, deals and activities.

What makes Pipedrive different, and is imitated here: custom fields are keys of 40 hex characters
(`d7a1...`) described by `/v1/personFields` and friends, single-option fields store the option *id*,
emails and phones are lists of `{label, value, primary}`, every answer is wrapped in
`{"success": true, "data": ...}` with `additional_data.pagination` (`start`/`limit`/`next_start`),
changes are read through `/v1/recents?since_timestamp=YYYY-MM-DD HH:MM:SS`, nothing is unique (two
persons may share an email, so an upsert has to search first), and every answer carries the
`x-ratelimit-*` headers of Pipedrive's two-second burst window. See docs/sandbox.md for the contract.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from connectors.sandbox import seed as demo
from connectors.sandbox.engine import (
    Change,
    Dialect,
    HttpError,
    JsonBodyError,
    Request,
    Response,
    Router,
    Row,
    Tx,
    json_field,
    json_response,
    same_secret,
)
from connectors.sandbox.sales_webhooks import SalesWebhooks

DEFAULT_TOKEN = "demo-sales-api-token"  # noqa: S105 - a demo credential, printed in the docs
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
COMPANY_ID = 7_300_001
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
# Pipedrive's burst limit is counted per token in two-second windows.
RATE_WINDOW_SECONDS = 2
REPORTED_RATE_LIMIT = 80
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
VISIBILITY = ("1", "3", "5", "7")
MARKETING_STATUSES = ("no_consent", "unsubscribed", "subscribed", "archived")
DEAL_STATUSES = ("open", "won", "lost", "deleted")
ACTIVITY_TYPES = ("call", "meeting", "task", "deadline", "email", "lunch")
USERS = {
    1: {"id": 1, "name": "Dana Demo", "email": "dana.owner@demo.example"},
    2: {"id": 2, "name": "Sam Seller", "email": "sam.seller@demo.example"},
}
PIPELINES = {1: "Sales pipeline", 2: "Partnerships"}
# (id, pipeline, name, probability)
STAGES = (
    (1, 1, "Qualified", 10),
    (2, 1, "Contact made", 20),
    (3, 1, "Demo scheduled", 40),
    (4, 1, "Proposal made", 60),
    (5, 1, "Negotiations started", 80),
    (6, 2, "Introduction", 20),
    (7, 2, "Evaluation", 50),
    (8, 2, "Signed", 90),
)
_STAGE_BY_ID = {stage[0]: stage for stage in STAGES}
_CREATED_MS = demo.SEED_ANCHOR_MS - 900 * 86_400_000


def custom_key(object_: str, name: str) -> str:
    """A custom field key as Pipedrive makes them: 40 hex characters, stable for the same field."""
    return hashlib.sha1(f"{object_}:{name}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class FieldDef:
    key: str
    name: str
    field_type: str  # varchar, text, double, monetary, date, enum, set, phone, org, people, user, ...
    id: int
    # (option id, label); a few system fields (statuses) use their value as the id.
    options: tuple[tuple[int | str, str], ...] = ()
    mandatory: bool = False
    custom: bool = False
    writable: bool = True

    def definition(self, order: int) -> dict[str, Any]:
        stamp = time.strftime(TIME_FORMAT, time.gmtime(_CREATED_MS / 1000))
        body: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "name": self.name,
            "order_nr": order,
            "field_type": self.field_type,
            "add_time": stamp,
            "update_time": stamp,
            "last_updated_by_user_id": 1,
            "active_flag": True,
            "edit_flag": self.custom,
            "index_visible_flag": True,
            "details_visible_flag": True,
            "add_visible_flag": self.writable,
            "important_flag": False,
            "bulk_edit_allowed": self.writable,
            "searchable_flag": self.field_type in ("varchar", "text"),
            "filtering_allowed": True,
            "sortable_flag": True,
            "mandatory_flag": self.mandatory,
        }
        if self.options:
            body["options"] = [{"id": oid, "label": label} for oid, label in self.options]
        return body


@dataclass(frozen=True)
class Entity:
    name: str  # persons
    singular: str  # person (the `item` name in recents)
    label: str  # Person (in messages)
    fields: tuple[FieldDef, ...]
    title_field: str  # the field that must be given on create
    search_fields: tuple[str, ...]
    by_key: dict[str, FieldDef] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_key.update({f.key: f for f in self.fields})

    @property
    def fields_path(self) -> str:
        return f"/v1/{self.singular}Fields"


def _system(object_: str, start: int, *extra: FieldDef) -> tuple[FieldDef, ...]:
    return (
        FieldDef("id", "ID", "int", start, writable=False),
        *extra,
        FieldDef("owner_id", "Owner", "user", start + 90),
        FieldDef(
            "visible_to",
            "Visible to",
            "visible_to",
            start + 91,
            options=(
                (1, "Owner & followers"),
                (3, "Entire company"),
                (5, "Owner's visibility group"),
                (7, "Owner's visibility group and sub-groups"),
            ),
        ),
        FieldDef("add_time", f"{object_} created", "date", start + 92, writable=False),
        FieldDef("update_time", "Update time", "date", start + 93, writable=False),
    )


PERSONS = Entity(
    name="persons",
    singular="person",
    label="Person",
    fields=_system(
        "Person",
        9000,
        FieldDef("name", "Name", "varchar", 9001, mandatory=True),
        FieldDef("first_name", "First name", "varchar", 9002),
        FieldDef("last_name", "Last name", "varchar", 9003),
        FieldDef("email", "Email", "varchar", 9004),
        FieldDef("phone", "Phone", "phone", 9005),
        FieldDef("org_id", "Organization", "org", 9006),
        FieldDef("job_title", "Job title", "varchar", 9007),
        FieldDef(
            "label",
            "Label",
            "enum",
            9008,
            options=((5, "Customer"), (6, "Hot lead"), (7, "Warm lead"), (8, "Cold lead")),
        ),
        FieldDef(
            "marketing_status",
            "Marketing status",
            "enum",
            9009,
            options=tuple((status, status.replace("_", " ").capitalize()) for status in MARKETING_STATUSES),
        ),
        FieldDef(
            custom_key("person", "Customer tier"),
            "Customer tier",
            "enum",
            9050,
            options=((101, "Bronze"), (102, "Silver"), (103, "Gold"), (104, "Platinum")),
            custom=True,
        ),
        FieldDef(custom_key("person", "NPS score"), "NPS score", "double", 9051, custom=True),
        FieldDef(
            custom_key("person", "Newsletter opt-in"),
            "Newsletter opt-in",
            "enum",
            9052,
            options=((111, "Yes"), (112, "No")),
            custom=True,
        ),
        FieldDef(
            custom_key("person", "Interests"),
            "Interests",
            "set",
            9053,
            options=((121, "Analytics"), (122, "Automation"), (123, "Integrations"), (124, "Mobile")),
            custom=True,
        ),
    ),
    title_field="name",
    search_fields=("name", "email", "phone", "notes", "custom_fields"),
)
ORGANIZATIONS = Entity(
    name="organizations",
    singular="organization",
    label="Organization",
    fields=_system(
        "Organization",
        4000,
        FieldDef("name", "Name", "varchar", 4001, mandatory=True),
        FieldDef("address", "Address", "address", 4002),
        FieldDef(
            "label",
            "Label",
            "enum",
            4003,
            options=((1, "Customer"), (2, "Hot lead"), (3, "Warm lead"), (4, "Cold lead")),
        ),
        FieldDef("people_count", "People", "int", 4004, writable=False),
        FieldDef(custom_key("organization", "Industry"), "Industry", "varchar", 4050, custom=True),
        FieldDef(
            custom_key("organization", "Account health"),
            "Account health",
            "enum",
            4051,
            options=((201, "Green"), (202, "Amber"), (203, "Red")),
            custom=True,
        ),
        FieldDef(custom_key("organization", "Website"), "Website", "varchar", 4052, custom=True),
    ),
    title_field="name",
    search_fields=("name", "address", "notes", "custom_fields"),
)
DEALS = Entity(
    name="deals",
    singular="deal",
    label="Deal",
    fields=_system(
        "Deal",
        12000,
        FieldDef("title", "Title", "varchar", 12001, mandatory=True),
        FieldDef("value", "Value", "monetary", 12002),
        FieldDef("currency", "Currency", "varchar", 12003),
        FieldDef(
            "status", "Status", "status", 12004, options=tuple((s, s.capitalize()) for s in DEAL_STATUSES)
        ),
        FieldDef("pipeline_id", "Pipeline", "double", 12005),
        FieldDef(
            "stage_id",
            "Stage",
            "stage",
            12006,
            options=tuple((s[0], f"{PIPELINES[s[1]]}: {s[2]}") for s in STAGES),
        ),
        FieldDef("person_id", "Contact person", "people", 12007),
        FieldDef("org_id", "Organization", "org", 12008),
        FieldDef("expected_close_date", "Expected close date", "date", 12009),
        FieldDef("probability", "Deal probability", "double", 12010),
        FieldDef("lost_reason", "Lost reason", "varchar", 12011),
        FieldDef(
            custom_key("deal", "Deal source"),
            "Deal source",
            "enum",
            12050,
            options=((301, "Inbound"), (302, "Outbound"), (303, "Partner"), (304, "Event")),
            custom=True,
        ),
    ),
    title_field="title",
    search_fields=("title", "notes", "custom_fields"),
)
ACTIVITIES = Entity(
    name="activities",
    singular="activity",
    label="Activity",
    fields=(
        FieldDef("id", "ID", "int", 15000, writable=False),
        FieldDef("subject", "Subject", "varchar", 15001, mandatory=True),
        FieldDef(
            "type", "Type", "varchar", 15002, options=tuple((t, t.capitalize()) for t in ACTIVITY_TYPES)
        ),
        FieldDef("due_date", "Due date", "date", 15003),
        FieldDef("due_time", "Due time", "time", 15004),
        FieldDef("duration", "Duration", "time", 15005),
        FieldDef("done", "Done", "boolean", 15006),
        FieldDef("note", "Note", "text", 15007),
        FieldDef("person_id", "Contact person", "people", 15008),
        FieldDef("org_id", "Organization", "org", 15009),
        FieldDef("deal_id", "Deal", "deal", 15010),
        FieldDef("user_id", "Assigned to user", "user", 15011),
        FieldDef("add_time", "Add time", "date", 15092, writable=False),
        FieldDef("update_time", "Update time", "date", 15093, writable=False),
    ),
    title_field="subject",
    search_fields=(),
)
ENTITIES = {e.name: e for e in (PERSONS, ORGANIZATIONS, DEALS, ACTIVITIES)}
_BY_ITEM = {e.singular: e for e in ENTITIES.values()}


def fmt_time(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> int | None:
    """Epoch ms of `YYYY-MM-DD HH:MM:SS` (UTC), or None when it is not that format."""
    try:
        parsed = datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(parsed.timestamp()) * 1000


class ItemInvalid(ValueError):
    """A write Pipedrive refuses; the message is Pipedrive's `error` text."""


@dataclass
class RateWindow:
    """Counts requests per two-second window for the x-ratelimit headers (and, if asked, enforces them)."""

    limit: int
    enforce: bool
    _window: int = 0
    _used: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[int, int, bool]:
        """(remaining, seconds to reset, over the limit) after counting one request."""
        now = time.time()
        window = int(now // RATE_WINDOW_SECONDS)
        with self._lock:
            if window != self._window:
                self._window, self._used = window, 0
            self._used += 1
            used = self._used
        reset = max(1, int((window + 1) * RATE_WINDOW_SECONDS - now + 0.999))
        return max(0, self.limit - used), reset, self.enforce and used > self.limit


class SalesDialect(Dialect):
    system = "sales"
    objects: ClassVar[Mapping[str, int]] = {name: 1 for name in ENTITIES}
    default_port = 8104

    def __init__(self, store: Any, options: Mapping[str, Any]) -> None:
        super().__init__(store, options)
        enforced = int(self.options.get("rate_limit") or 0)
        self.rate = RateWindow(limit=enforced or REPORTED_RATE_LIMIT, enforce=enforced > 0)
        self.webhooks = SalesWebhooks(self)

    def changes_committed(self, changes: list[Change]) -> None:
        self.webhooks.changes_committed(changes)

    def reset_hook(self) -> None:
        self.webhooks.dispatcher.clear()

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--token", default=DEFAULT_TOKEN, help="the accepted API token")
        parser.add_argument(
            "--rate-limit",
            type=int,
            default=0,
            metavar="N",
            help="answer 429 past N requests per two-second window (0: only report the headers)",
        )

    @property
    def token(self) -> str:
        return str(self.options.get("token") or DEFAULT_TOKEN)

    def register(self, router: Router) -> None:
        api = self._api
        router.add("GET", "/v1/users/me", api(self.me))
        router.add("GET", "/v1/recents", api(self.recents))
        router.add("GET", "/v1/pipelines", api(self.pipelines))
        router.add("GET", "/v1/stages", api(self.stages))
        self.webhooks.register(router)
        for entity in ENTITIES.values():
            base = f"/v1/{entity.name}"

            def bind(
                fn: Callable[[Request, Entity], Response], entity: Entity = entity
            ) -> Callable[[Request], Response]:
                return api(lambda req: fn(req, entity))

            router.add("GET", base, bind(self.list_records))
            router.add("POST", base, bind(self.create))
            router.add("GET", f"{base}/{{id}}", bind(self.get_one))
            router.add("PUT", f"{base}/{{id}}", bind(self.update))
            router.add("DELETE", f"{base}/{{id}}", bind(self.delete))
            router.add("GET", entity.fields_path, bind(self.list_fields))
            if entity.search_fields:
                router.add("GET", f"{base}/search", bind(self.search))

    # -- plumbing

    def _api(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Every answer carries the rate-limit headers of the current two-second window."""

        def wrapped(req: Request) -> Response:
            remaining, reset, over = self.rate.take()
            headers = {
                "x-ratelimit-limit": str(self.rate.limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": str(reset),
            }
            if over:
                resp = self._error(429, "Request over limit", headers={"Retry-After": str(reset)})
            else:
                try:
                    resp = handler(req)
                except HttpError as exc:
                    exc.response.headers.update(headers)
                    raise
            resp.headers.update(headers)
            return resp

        return wrapped

    @staticmethod
    def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
        body = {
            "success": False,
            "error": message,
            "errorCode": status,
            "error_info": ERROR_INFO,
            "data": None,
        }
        return json_response(status, body, headers)

    def _fail(self, status: int, message: str) -> HttpError:
        return HttpError(self._error(status, message))

    def error(self, status: int, kind: str, message: str) -> Response:
        if kind == "fault" and status == 429:
            return self._error(
                429,
                "Request over limit",
                {
                    "x-ratelimit-limit": str(self.rate.limit),
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": "2",
                },
            )
        if kind == "fault":
            return self._error(status, "Service temporarily unavailable")
        if kind in ("not_found", "method_not_allowed"):
            return self._error(status, "Unknown method .")
        if kind == "internal":
            return self._error(status, message)
        return self._error(status, message)

    def authenticate(self, req: Request) -> Response | None:
        # v1 takes the token as the api_token query parameter or the x-api-token header.
        given = req.header("x-api-token") or req.arg("api_token")
        if same_secret(given, self.token):
            return None
        return self._error(401, "unauthorized access")

    @staticmethod
    def _page_args(req: Request) -> tuple[int, int]:
        start = req.int_arg("start", 0, minimum=0)
        limit = req.int_arg("limit", DEFAULT_LIMIT, maximum=MAX_LIMIT)
        return start, limit

    @staticmethod
    def _pagination(start: int, limit: int, more: bool) -> dict[str, Any]:
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return pagination

    def _body(self, req: Request) -> dict[str, Any]:
        if "json" in (req.header("content-type") or "json").lower():
            return req.json_object()
        # Pipedrive also takes form-encoded bodies (flat keys only).
        try:
            return dict(parse_qsl(req.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise JsonBodyError("the request body is not UTF-8") from None

    # -- rendering

    @staticmethod
    def _user(id_: Any) -> dict[str, Any] | None:
        user = USERS.get(id_) if isinstance(id_, int) else None
        if user is None:
            return None
        return {**user, "has_pic": 0, "pic_hash": None, "active_flag": True, "value": user["id"]}

    def render(
        self, tx: Tx, entity: Entity, row: Row, cache: dict[tuple[str, int], Row | None] | None = None
    ) -> dict[str, Any]:
        cache = cache if cache is not None else {}

        def ref(object_: str, id_: Any) -> Row | None:
            if not isinstance(id_, int):
                return None
            if (object_, id_) not in cache:
                cache[(object_, id_)] = tx.get(object_, id_)
            return cache[(object_, id_)]

        data = row.data
        body: dict[str, Any] = {"id": row.id, "company_id": COMPANY_ID}
        for definition in entity.fields:
            key = definition.key
            if key in ("id", "add_time", "update_time", "people_count"):
                continue
            value = data.get(key)
            if key in ("owner_id", "user_id"):
                body[key] = self._user(value)
            elif key == "org_id":
                org = ref(ORGANIZATIONS.name, value)
                body[key] = (
                    {
                        "name": org.data.get("name"),
                        "owner_id": org.data.get("owner_id"),
                        "active_flag": True,
                        "value": org.id,
                    }
                    if org
                    else None
                )
            elif key == "person_id":
                person = ref(PERSONS.name, value)
                body[key] = (
                    {
                        "name": person.data.get("name"),
                        "email": person.data.get("email"),
                        "phone": person.data.get("phone"),
                        "value": person.id,
                    }
                    if person and entity is DEALS
                    else (value if person else None)
                )
            elif key in ("email", "phone"):
                body[key] = list(value) if value else [{"value": "", "primary": True}]
            elif key == "visible_to":
                body[key] = str(value or "3")
            elif key == "done":
                body[key] = bool(value)
            else:
                body[key] = value
        body["add_time"] = fmt_time(row.created_ms)
        body["update_time"] = fmt_time(row.updated_ms)
        body["active_flag"] = data.get("active_flag") is not False
        if entity is PERSONS:
            body["label_ids"] = [data["label"]] if data.get("label") else []
            org = ref(ORGANIZATIONS.name, data.get("org_id"))
            body["org_name"] = org.data.get("name") if org else None
        elif entity is ORGANIZATIONS:
            body["people_count"] = tx.count(PERSONS.name, f"{json_field('org_id')} = ?", [row.id])
        elif entity is DEALS:
            stage = _STAGE_BY_ID.get(data.get("stage_id") or 0)
            body["pipeline_id"] = stage[1] if stage else None
            body["stage_change_time"] = body["update_time"]
            body["won_time"] = body["update_time"] if data.get("status") == "won" else None
            body["lost_time"] = body["update_time"] if data.get("status") == "lost" else None
            body["close_time"] = body["won_time"] or body["lost_time"]
            body["creator_user_id"] = self._user(data.get("owner_id"))
            body["user_id"] = body.pop("owner_id")
        elif entity is ACTIVITIES:
            person = ref(PERSONS.name, data.get("person_id"))
            org = ref(ORGANIZATIONS.name, data.get("org_id"))
            deal = ref(DEALS.name, data.get("deal_id"))
            body["person_name"] = person.data.get("name") if person else None
            body["org_name"] = org.data.get("name") if org else None
            body["deal_title"] = deal.data.get("title") if deal else None
            body["user_id"] = data.get("user_id") or 1
            body["marked_as_done_time"] = body["update_time"] if data.get("done") else ""
        return body

    # -- validation

    def clean(
        self, tx: Tx, entity: Entity, payload: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Stored data after a write, or ItemInvalid; like Pipedrive, unknown keys are ignored."""
        data: dict[str, Any] = dict(current or {"owner_id": 1, "visible_to": "3"})
        for key, raw in payload.items():
            definition = entity.by_key.get(key)
            if definition is None or not definition.writable:
                continue
            data[key] = self._value(tx, entity, definition, raw)
        if entity is PERSONS:
            parts_given = "first_name" in payload or "last_name" in payload
            if "name" in payload and not parts_given and data.get("name"):
                # Pipedrive splits a full name into its parts, and joins the parts when only they come.
                first, _, last = str(data["name"]).partition(" ")
                data["first_name"], data["last_name"] = first, last or None
            elif parts_given and "name" not in payload:
                joined = " ".join(str(p) for p in (data.get("first_name"), data.get("last_name")) if p)
                data["name"] = joined or data.get("name")
        if not data.get(entity.title_field):
            if entity is ACTIVITIES:
                data["subject"] = str(data.get("type") or "task").capitalize()
            else:
                raise ItemInvalid(f"{entity.label} {entity.title_field} must be given.")
        if entity is DEALS:
            data.setdefault("status", "open")
            data.setdefault("currency", "USD")
            data.setdefault("stage_id", 1)
        if entity is ACTIVITIES:
            data.setdefault("type", "task")
            data.setdefault("done", False)
        return data

    def _value(self, tx: Tx, entity: Entity, definition: FieldDef, raw: Any) -> Any:
        key, kind = definition.key, definition.field_type
        if raw is None or raw == "":
            if definition.mandatory:
                raise ItemInvalid(f"{entity.label} {definition.key} must be given.")
            return None
        if key in ("email", "phone"):
            return self._contacts(key, raw)
        if kind in ("org", "people", "deal", "user"):
            target = {"org": ORGANIZATIONS.name, "people": PERSONS.name, "deal": DEALS.name}.get(kind)
            text = str(raw.get("value") if isinstance(raw, dict) else raw)
            if not text.isdigit():
                raise ItemInvalid(f"Invalid {definition.name.lower()} id: {text}")
            id_ = int(text)
            exists = id_ in USERS if kind == "user" else tx.get(str(target), id_) is not None
            if not exists:
                raise ItemInvalid(f"{definition.name} with id {id_} not found.")
            return id_
        if key == "visible_to":
            if str(raw) not in VISIBILITY:
                raise ItemInvalid(f"Invalid visible_to value: {raw}. Allowed: {', '.join(VISIBILITY)}")
            return str(raw)
        if key == "marketing_status":
            if raw not in MARKETING_STATUSES:
                raise ItemInvalid(
                    f"Invalid marketing_status: {raw}. Allowed: {', '.join(MARKETING_STATUSES)}"
                )
            return raw
        if key == "status":
            if raw not in DEAL_STATUSES:
                raise ItemInvalid(f"Invalid deal status: {raw}. Allowed: {', '.join(DEAL_STATUSES)}")
            return raw
        if key == "type" and entity is ACTIVITIES:
            if raw not in ACTIVITY_TYPES:
                raise ItemInvalid(f"Activity type '{raw}' does not exist.")
            return raw
        if key == "stage_id":
            if not str(raw).isdigit() or int(raw) not in _STAGE_BY_ID:
                raise ItemInvalid(f"Stage with id {raw} not found.")
            return int(raw)
        if key == "done":
            if str(raw).lower() not in ("0", "1", "true", "false"):
                raise ItemInvalid(f"Invalid done value: {raw}")
            return str(raw).lower() in ("1", "true")
        if kind == "enum":
            return self._option(definition, raw)
        if kind == "set":
            values = raw if isinstance(raw, list) else str(raw).split(",")
            return ",".join(str(self._option(definition, v)) for v in values if str(v).strip())
        if kind in ("double", "monetary"):
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise ItemInvalid(f"Invalid numeric value for field '{definition.name}': {raw}") from None
            return int(number) if number.is_integer() else number
        if kind == "date":
            if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                raise ItemInvalid(f"Invalid date for field '{definition.name}': {raw} (use YYYY-MM-DD)")
            return raw
        if kind == "time":
            if not isinstance(raw, str) or not re.fullmatch(r"\d{2}:\d{2}", raw):
                raise ItemInvalid(f"Invalid time for field '{definition.name}': {raw} (use HH:MM)")
            return raw
        if isinstance(raw, dict | list):
            raise ItemInvalid(f"Invalid value for field '{definition.name}'")
        return str(raw)

    @staticmethod
    def _option(definition: FieldDef, raw: Any) -> int:
        # v1 stores and takes the option id; a label is not accepted.
        text = str(raw).strip()
        ids = {oid for oid, _ in definition.options}
        if not text.isdigit() or int(text) not in ids:
            allowed = ", ".join(f"{oid} ({label})" for oid, label in definition.options)
            raise ItemInvalid(
                f"Invalid option '{text}' for field '{definition.name}'. Allowed option ids: {allowed}"
            )
        return int(text)

    @staticmethod
    def _contacts(key: str, raw: Any) -> list[dict[str, Any]]:
        items = raw if isinstance(raw, list) else [raw]
        contacts: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, dict):
                value = str(item.get("value") or "").strip()
                entry = {
                    "label": str(item.get("label") or "work"),
                    "value": value,
                    "primary": bool(item.get("primary")),
                }
            else:
                entry = {"label": "work", "value": str(item).strip(), "primary": False}
            if entry["value"]:
                contacts.append(entry)
        if contacts and not any(c["primary"] for c in contacts):
            contacts[0]["primary"] = True
        return contacts

    # -- endpoints

    def me(self, req: Request) -> Response:
        user = {
            **USERS[1],
            "company_id": COMPANY_ID,
            "company_name": "Demo Sales Ltd",
            "company_domain": "demosales",
            "company_country": "GB",
            "locale": "en_US",
            "timezone_name": "Europe/London",
            "timezone_offset": "+00:00",
            "default_currency": "USD",
            "is_admin": 1,
            "active_flag": True,
        }
        return json_response(200, {"success": True, "data": user})

    def pipelines(self, req: Request) -> Response:
        data = [
            {
                "id": pid,
                "name": name,
                "url_title": name.lower().replace(" ", "-"),
                "order_nr": pid,
                "active": True,
                "deal_probability": True,
                "selected": pid == 1,
            }
            for pid, name in PIPELINES.items()
        ]
        return json_response(200, {"success": True, "data": data})

    def stages(self, req: Request) -> Response:
        wanted = req.arg("pipeline_id")
        data = [
            {
                "id": sid,
                "order_nr": sid,
                "name": name,
                "active_flag": True,
                "deal_probability": probability,
                "pipeline_id": pid,
                "pipeline_name": PIPELINES[pid],
                "rotten_flag": False,
                "rotten_days": None,
            }
            for sid, pid, name, probability in STAGES
            if not wanted or str(pid) == wanted
        ]
        return json_response(200, {"success": True, "data": data})

    def list_fields(self, req: Request, entity: Entity) -> Response:
        start, limit = self._page_args(req)
        fields = [d.definition(i) for i, d in enumerate(entity.fields)]
        page = fields[start : start + limit]
        more = start + limit < len(fields)
        return json_response(
            200,
            {
                "success": True,
                "data": page,
                "additional_data": {"pagination": self._pagination(start, limit, more)},
            },
        )

    def list_records(self, req: Request, entity: Entity) -> Response:
        start, limit = self._page_args(req)
        clauses: list[str] = []
        params: list[Any] = []
        if entity is DEALS:
            status = req.arg("status") or "all_not_deleted"
            if status == "all_not_deleted":
                clauses.append(f"{json_field('status')} != 'deleted'")
            elif status in DEAL_STATUSES:
                clauses.append(f"{json_field('status')} = ?")
                params.append(status)
            if req.arg("stage_id"):
                clauses.append(f"{json_field('stage_id')} = ?")
                params.append(int(req.arg("stage_id") or 0))
        if entity is not DEALS:
            # Deleted records stay readable by id (and in /v1/recents) for 30 days, but leave the lists.
            clauses.append(f"coalesce({json_field('active_flag')}, 1) != 0")
        if entity is ACTIVITIES and req.arg("done") in ("0", "1"):
            clauses.append(f"{json_field('done')} = ?")
            params.append(req.arg("done") == "1")
        where = " AND ".join(clauses) or "1=1"
        with self.store.read() as tx:
            rows = tx.select(entity.name, where, params, order_by="id", limit=limit + 1, offset=start)
            cache: dict[tuple[str, int], Row | None] = {}
            data = [self.render(tx, entity, r, cache) for r in rows[:limit]]
        body = {
            "success": True,
            # Pipedrive answers an empty page with null data.
            "data": data or None,
            "additional_data": {"pagination": self._pagination(start, limit, len(rows) > limit)},
        }
        return json_response(200, body)

    def _id(self, req: Request, entity: Entity) -> int:
        raw = req.params["id"]
        if not raw.isdigit():
            raise self._fail(404, f"{entity.label} not found")
        return int(raw)

    def get_one(self, req: Request, entity: Entity) -> Response:
        with self.store.read() as tx:
            row = tx.get(entity.name, self._id(req, entity))
            if row is None:
                raise self._fail(404, f"{entity.label} not found")
            return json_response(200, {"success": True, "data": self.render(tx, entity, row)})

    def create(self, req: Request, entity: Entity) -> Response:
        payload = self._body(req)
        with self.store.write() as tx:
            try:
                data = self.clean(tx, entity, payload, None)
            except ItemInvalid as exc:
                raise self._fail(400, str(exc)) from None
            row = tx.insert(entity.name, data, first_id=1)
            body = self.render(tx, entity, row)
        return json_response(
            201, {"success": True, "data": body, "related_objects": {"user": {"1": USERS[1]}}}
        )

    def update(self, req: Request, entity: Entity) -> Response:
        payload = self._body(req)
        with self.store.write() as tx:
            row = tx.get(entity.name, self._id(req, entity))
            if row is None:
                raise self._fail(404, f"{entity.label} not found")
            try:
                data = self.clean(tx, entity, payload, row.data)
            except ItemInvalid as exc:
                raise self._fail(400, str(exc)) from None
            updated = tx.update(entity.name, row.id, data)
            body = self.render(tx, entity, updated)
        return json_response(
            200, {"success": True, "data": body, "related_objects": {"user": {"1": USERS[1]}}}
        )

    def delete(self, req: Request, entity: Entity) -> Response:
        """Marks the record deleted (`active_flag` false; deals also get status "deleted"): it leaves
        lists and search, and shows in /v1/recents with the flag, as Pipedrive keeps it for 30 days."""
        with self.store.write() as tx:
            row = tx.get(entity.name, self._id(req, entity))
            if row is None or row.data.get("active_flag") is False:
                raise self._fail(404, f"{entity.label} not found")
            data = {**row.data, "active_flag": False}
            if entity is DEALS:
                data["status"] = "deleted"
            tx.update(entity.name, row.id, data)
        return json_response(200, {"success": True, "data": {"id": row.id}})

    def search(self, req: Request, entity: Entity) -> Response:
        term = (req.arg("term") or "").strip()
        exact = (req.arg("exact_match") or req.arg("exact_term") or "false").lower() in ("true", "1")
        if len(term) < (1 if exact else 2):
            raise self._fail(
                400, "Search term must be at least 2 characters long" if not exact else "term is required"
            )
        fields = [
            f.strip() for f in (req.arg("fields") or ",".join(entity.search_fields)).split(",") if f.strip()
        ]
        unknown = [f for f in fields if f not in entity.search_fields]
        if unknown:
            raise self._fail(
                400, f"Invalid fields: {', '.join(unknown)}. Allowed: {', '.join(entity.search_fields)}"
            )
        start, limit = self._page_args(req)
        needle = term.lower()
        matches: list[tuple[float, Row]] = []
        with self.store.read() as tx:
            for row in tx.all(entity.name):
                if row.data.get("active_flag") is False:
                    continue
                score = self._score(entity, row, fields, needle, exact)
                if score:
                    matches.append((score, row))
            matches.sort(key=lambda m: (-m[0], m[1].id))
            page = matches[start : start + limit]
            items = [
                {"result_score": round(score, 5), "item": self._search_item(tx, entity, row)}
                for score, row in page
            ]
        more = start + limit < len(matches)
        return json_response(
            200,
            {
                "success": True,
                "data": {"items": items},
                "additional_data": {"pagination": self._pagination(start, limit, more)},
            },
        )

    @staticmethod
    def _score(entity: Entity, row: Row, fields: Sequence[str], needle: str, exact: bool) -> float:
        texts: list[str] = []
        for name in fields:
            if name in ("email", "phone"):
                texts.extend(str(c.get("value") or "") for c in row.data.get(name) or [])
            elif name == "custom_fields":
                texts.extend(
                    str(row.data.get(d.key) or "")
                    for d in entity.fields
                    if d.custom and d.field_type in ("varchar", "text")
                )
            elif name == "notes":
                continue
            else:
                texts.append(str(row.data.get(name) or ""))
        best = 0.0
        for text in (t.lower() for t in texts if t):
            if text == needle:
                best = max(best, 1.0)
            elif not exact and needle in text:
                best = max(best, 0.5 if text.startswith(needle) else 0.25)
        return best

    def _search_item(self, tx: Tx, entity: Entity, row: Row) -> dict[str, Any]:
        data = row.data
        item: dict[str, Any] = {
            "id": row.id,
            "type": entity.singular,
            "visible_to": int(data.get("visible_to") or 3),
            "owner": {"id": data.get("owner_id") or 1},
            "custom_fields": [],
            "notes": [],
        }
        if entity is PERSONS:
            org = tx.get(ORGANIZATIONS.name, data["org_id"]) if data.get("org_id") else None
            item.update(
                name=data.get("name"),
                phones=[c["value"] for c in data.get("phone") or []],
                emails=[c["value"] for c in data.get("email") or []],
                organization={"id": org.id, "name": org.data.get("name"), "address": org.data.get("address")}
                if org
                else None,
            )
        elif entity is ORGANIZATIONS:
            item.update(name=data.get("name"), address=data.get("address"))
        else:
            item.update(
                title=data.get("title"),
                value=data.get("value"),
                currency=data.get("currency"),
                status=data.get("status"),
            )
        return item

    def recents(self, req: Request) -> Response:
        since_raw = req.arg("since_timestamp") or ""
        since = parse_time(since_raw)
        if since is None:
            raise self._fail(400, "since_timestamp is required in the format YYYY-MM-DD HH:MM:SS")
        items = [i.strip() for i in (req.arg("items") or "").split(",") if i.strip()]
        if not items:
            items = list(_BY_ITEM)
        unknown = [i for i in items if i not in _BY_ITEM]
        if unknown:
            raise self._fail(400, f"Invalid items: {', '.join(unknown)}")
        start, limit = self._page_args(req)
        with self.store.read() as tx:
            # Inclusive: everything changed at or after the second given.
            found: list[tuple[Row, Entity]] = []
            for name in items:
                entity = _BY_ITEM[name]
                found.extend(
                    (row, entity)
                    for row in tx.select(
                        entity.name,
                        "updated_ms >= ?",
                        [since],
                        order_by="updated_ms, id",
                        limit=start + limit + 1,
                    )
                )
            found.sort(key=lambda pair: (pair[0].updated_ms, pair[1].name, pair[0].id))
            page = found[start : start + limit]
            cache: dict[tuple[str, int], Row | None] = {}
            data = [
                {"item": entity.singular, "id": row.id, "data": self.render(tx, entity, row, cache)}
                for row, entity in page
            ]
        more = len(found) > start + limit
        additional: dict[str, Any] = {
            "since_timestamp": since_raw.strip(),
            "last_timestamp_on_page": fmt_time(page[-1][0].updated_ms) if page else since_raw.strip(),
            "pagination": self._pagination(start, limit, more),
        }
        return json_response(200, {"success": True, "data": data, "additional_data": additional})

    # -- seed and admin

    def seed(self, tx: Tx, count: int) -> dict[str, int]:
        data = demo.generate(count, "sales")
        org_ids: dict[str, int] = {}
        health = {"green": 201, "amber": 202, "red": 203}
        for company in sorted(data.companies, key=lambda c: c.created_ms):
            values = {
                "name": company.name,
                "address": f"{company.place.city}, {company.place.country}",
                "owner_id": 1,
                "visible_to": "3",
                custom_key("organization", "Industry"): company.industry.replace("_", " ").title(),
                custom_key("organization", "Account health"): health[company.health],
                custom_key("organization", "Website"): f"https://www.{company.domain}",
            }
            row = tx.insert(
                ORGANIZATIONS.name,
                values,
                first_id=1,
                created_ms=company.created_ms,
                updated_ms=company.updated_ms,
            )
            org_ids[company.domain] = row.id
        tiers = {"bronze": 101, "silver": 102, "gold": 103, "platinum": 104}
        labels = {
            "customer": 5,
            "salesqualifiedlead": 6,
            "opportunity": 6,
            "marketingqualifiedlead": 7,
            "lead": 8,
        }
        person_rows: list[tuple[int, demo.DemoPerson]] = []
        for person in sorted(data.people, key=lambda p: p.created_ms):
            values = {
                "name": person.name,
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": [{"label": "work", "value": person.email, "primary": True}],
                "phone": [{"label": "work", "value": person.phone, "primary": True}] if person.phone else [],
                "org_id": org_ids.get(person.company.domain) if person.company else None,
                "job_title": person.job_title,
                "owner_id": 1 if person.created_ms % 3 else 2,
                "visible_to": "3",
                "label": labels.get(person.lifecycle_stage),
                "marketing_status": "subscribed" if person.newsletter else "no_consent",
                custom_key("person", "Customer tier"): tiers[person.tier],
                custom_key("person", "NPS score"): person.nps,
                custom_key("person", "Newsletter opt-in"): 111 if person.newsletter else 112,
            }
            row = tx.insert(
                PERSONS.name, values, first_id=1, created_ms=person.created_ms, updated_ms=person.updated_ms
            )
            person_rows.append((row.id, person))
        deals, activities = self._seed_pipeline(count, person_rows, org_ids)
        deal_ids: list[int] = []
        for created, values in sorted(deals, key=lambda d: d[0]):
            deal_ids.append(
                tx.insert(DEALS.name, values, first_id=1, created_ms=created, updated_ms=created).id
            )
        for created, values in sorted(activities, key=lambda a: a[0]):
            index = values.pop("deal_index", None)
            values["deal_id"] = deal_ids[index] if isinstance(index, int) and index < len(deal_ids) else None
            tx.insert(ACTIVITIES.name, values, first_id=1, created_ms=created, updated_ms=created)
        return {
            PERSONS.name: len(person_rows),
            ORGANIZATIONS.name: len(org_ids),
            DEALS.name: len(deals),
            ACTIVITIES.name: len(activities),
        }

    @staticmethod
    def _seed_pipeline(
        count: int, people: Sequence[tuple[int, demo.DemoPerson]], org_ids: Mapping[str, int]
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, dict[str, Any]]]]:
        rng = random.Random(f"integrations-hub-sandbox:sales-pipeline:{count}")
        deals: list[tuple[int, dict[str, Any]]] = []
        activities: list[tuple[int, dict[str, Any]]] = []
        for person_id, person in people:
            if person.company is None or rng.random() > 0.4:
                continue
            stage = rng.choice(STAGES)
            created = person.created_ms + rng.randrange(0, max(1, demo.SEED_ANCHOR_MS - person.created_ms))
            status = rng.choices(DEAL_STATUSES[:3], weights=(70, 18, 12))[0]
            deals.append(
                (
                    created,
                    {
                        "title": f"{person.company.name} deal",
                        "value": rng.choice((1200, 4800, 9900, 24000, 60000)),
                        "currency": "USD",
                        "status": status,
                        "stage_id": stage[0],
                        "person_id": person_id,
                        "org_id": org_ids.get(person.company.domain),
                        "owner_id": 1,
                        "visible_to": "3",
                        "probability": stage[3],
                        custom_key("deal", "Deal source"): rng.choice((301, 302, 303, 304)),
                    },
                )
            )
            deal_index = len(deals) - 1
            for _ in range(rng.choice((0, 1, 2))):
                due = created + rng.randrange(86_400_000, 60 * 86_400_000)
                kind = rng.choice(ACTIVITY_TYPES)
                activities.append(
                    (
                        min(due, demo.SEED_ANCHOR_MS - 1),
                        {
                            "subject": f"{kind.capitalize()} with {person.name}",
                            "type": kind,
                            "due_date": datetime.fromtimestamp(due // 1000, UTC).strftime("%Y-%m-%d"),
                            "done": due < demo.SEED_ANCHOR_MS,
                            "person_id": person_id,
                            "org_id": org_ids.get(person.company.domain),
                            "deal_index": deal_index,
                            "user_id": 1,
                        },
                    )
                )
        # Activities point at deals by position in creation order; sort deals the same way first.
        order = sorted(range(len(deals)), key=lambda i: deals[i][0])
        position = {old: new for new, old in enumerate(order)}
        for _, values in activities:
            values["deal_index"] = position[values["deal_index"]]
        return deals, activities

    def admin_list(self, req: Request, object_: str) -> list[Any]:
        entity = ENTITIES[object_]
        with self.store.read() as tx:
            cache: dict[tuple[str, int], Row | None] = {}
            return [self.render(tx, entity, r, cache) for r in tx.all(entity.name)]

    def admin_create(self, req: Request, object_: str, payload: dict[str, Any]) -> Response:
        entity = ENTITIES[object_]
        with self.store.write() as tx:
            try:
                data = self.clean(tx, entity, payload, None)
            except ItemInvalid as exc:
                raise self._fail(400, str(exc)) from None
            row = tx.insert(entity.name, data, first_id=1)
            return json_response(201, {"success": True, "data": self.render(tx, entity, row)})

    def admin_update(self, req: Request, object_: str, id_: int, payload: dict[str, Any]) -> Response:
        entity = ENTITIES[object_]
        with self.store.write() as tx:
            row = tx.get(entity.name, id_)
            if row is None:
                raise self._fail(404, f"{entity.label} not found")
            try:
                data = self.clean(tx, entity, payload, row.data)
            except ItemInvalid as exc:
                raise self._fail(400, str(exc)) from None
            updated = tx.update(entity.name, row.id, data)
            return json_response(200, {"success": True, "data": self.render(tx, entity, updated)})
