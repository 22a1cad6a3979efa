"""The billing dialect: Stripe API v1 shapes for customers, invoices, payment intents and events.

What makes Stripe different from the CRM and helpdesk dialects, and is imitated here: string ids with a
type prefix (`cus_`, `in_`, `pi_`, `evt_`), form-encoded request bodies with bracket notation
(`metadata[tier]=gold`), newest-first lists paged with `starting_after` / `ending_before`, no
modification time on objects (changes are only visible through the events API), a search language
(`email:'a@b.com'`), idempotency keys on POST, and webhook deliveries signed with `Stripe-Signature`.
See docs/sandbox.md for the contract.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from connectors.sandbox import seed as demo
from connectors.sandbox.billing_webhooks import BillingWebhooks
from connectors.sandbox.delivery import deliver, target_url
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
    bearer_token,
    json_field,
    json_response,
    same_secret,
)

DEFAULT_KEY = "sk_test_demo_billing_key"  # a demo credential, printed in the docs
DEFAULT_WEBHOOK_SECRET = "whsec_demo_billing_signing_secret"  # noqa: S105 - a demo credential
API_VERSION = "2024-06-20"
MAX_LIMIT = 100
MAX_SEARCH_CLAUSES = 10
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
ACCOUNT_ID = "acct_1DemoBillingSbx"
# Stripe's documented metadata limits.
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_CHARS = 40
MAX_METADATA_VALUE_CHARS = 500

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_CHARS = 14
_ID_SPACE = len(_ALPHABET) ** _ID_CHARS
# Odd and not a multiple of 31, so it is invertible modulo 62**14: ids look random but decode exactly.
_ID_FACTOR = 0x9E3779B97F4A7C15F39CC0605CEDC835
_ID_INVERSE = pow(_ID_FACTOR, -1, _ID_SPACE)


@dataclass(frozen=True)
class IdKind:
    """One Stripe id family: `cus_` ids are the store's integer ids, scrambled so they look like Stripe's."""

    prefix: str
    object: str  # the store's object name
    label: str  # as Stripe names the type in "No such customer: 'cus_x'"

    @cached_property
    def offset(self) -> int:
        # Per family, so cus_ and evt_ ids of the same number do not share their leading characters.
        return int.from_bytes(hashlib.sha256(self.prefix.encode()).digest()) % _ID_SPACE

    def encode(self, id_: int) -> str:
        value = (id_ * _ID_FACTOR + self.offset) % _ID_SPACE
        chars = []
        for _ in range(_ID_CHARS):
            value, digit = divmod(value, len(_ALPHABET))
            chars.append(_ALPHABET[digit])
        return f"{self.prefix}_{''.join(reversed(chars))}"

    def decode(self, text: str) -> int | None:
        """The integer id of `text`, or None when it is not an id of this family."""
        head, sep, body = text.partition("_")
        if not sep or head != self.prefix or len(body) != _ID_CHARS or any(c not in _ALPHABET for c in body):
            return None
        value = 0
        for char in body:
            value = value * len(_ALPHABET) + _ALPHABET.index(char)
        id_ = ((value - self.offset) * _ID_INVERSE) % _ID_SPACE
        return id_ if 0 < id_ < 2**40 else None


CUSTOMER = IdKind("cus", "customers", "customer")
INVOICE = IdKind("in", "invoices", "invoice")
PAYMENT_INTENT = IdKind("pi", "payment_intents", "payment_intent")
EVENT = IdKind("evt", "events", "event")
KINDS = {kind.object: kind for kind in (CUSTOMER, INVOICE, PAYMENT_INTENT, EVENT)}

TAX_EXEMPT = ("none", "exempt", "reverse")
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
PAYMENT_INTENT_STATUSES = (
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "canceled",
    "succeeded",
)
# A payment intent has no "updated" event in Stripe: status changes have their own event types.
_PAYMENT_INTENT_EVENTS = {
    "succeeded": "payment_intent.succeeded",
    "canceled": "payment_intent.canceled",
    "processing": "payment_intent.processing",
    "requires_action": "payment_intent.requires_action",
    "requires_capture": "payment_intent.amount_capturable_updated",
}
_CUSTOMER_PARAMS = frozenset(
    {
        "address",
        "balance",
        "description",
        "email",
        "invoice_prefix",
        "metadata",
        "name",
        "phone",
        "preferred_locales",
        "shipping",
        "tax_exempt",
        "expand",
    }
)
_ADDRESS_KEYS = frozenset({"line1", "line2", "city", "state", "postal_code", "country"})
_SHIPPING_KEYS = frozenset({"name", "phone", "address"})
_COUNTRY_CODES = {
    "United States": "US",
    "Canada": "CA",
    "United Kingdom": "GB",
    "Ireland": "IE",
    "Germany": "DE",
    "France": "FR",
    "Spain": "ES",
    "Italy": "IT",
    "Netherlands": "NL",
    "Sweden": "SE",
    "Denmark": "DK",
    "Poland": "PL",
    "Brazil": "BR",
    "Mexico": "MX",
    "Japan": "JP",
    "South Korea": "KR",
    "Singapore": "SG",
    "India": "IN",
    "Australia": "AU",
    "South Africa": "ZA",
    "Kenya": "KE",
}
_CURRENCIES = {"US": "usd", "CA": "cad", "GB": "gbp", "JP": "jpy", "AU": "aud", "IN": "inr", "BR": "brl"}
_EURO = {"IE", "DE", "FR", "ES", "IT", "NL"}
_DOC_URL = "https://stripe.com/docs/error-codes/"


# --- Form bodies -----------------------------------------------------------------------------------


class FormError(ValueError):
    """A parameter name that is not valid bracket notation."""


_FORM_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_APPEND = "\0"


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`a[b]=1&c[]=x&c[]=y&d[0]=z` -> {"a": {"b": "1"}, "c": ["x", "y"], "d": ["z"]}, as Stripe reads it."""
    root: dict[str, Any] = {}
    appended = 0
    for key, value in pairs:
        match = _FORM_KEY.fullmatch(key)
        if match is None:
            raise FormError(key)
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for depth, part in enumerate(path):
            if part == "":
                # `c[]=x` appends; a marker key keeps the order until the lists are built below.
                appended += 1
                part = f"{_APPEND}{appended:09d}"
            if depth == len(path) - 1:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise FormError(key)
                node = child
    return _listify(root, "")


def _listify(node: dict[str, Any], name: str) -> dict[str, Any] | Any:
    converted = {k: _listify(v, k) if isinstance(v, dict) else v for k, v in node.items()}
    # Metadata keys may be digits; they are still keys, not list positions.
    if name != "metadata" and converted and all(k.isdigit() or k.startswith(_APPEND) for k in converted):
        ordered = sorted(converted, key=lambda k: (k.startswith(_APPEND), int(k.lstrip(_APPEND) or 0)))
        return [converted[k] for k in ordered]
    return converted


def encode_form(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The inverse of `parse_form` (used by tests and docs examples)."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs.extend(encode_form(value, name))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                pairs.append((f"{name}[{index}]", str(item)))
        else:
            pairs.append((name, "" if value is None else str(value)))
    return pairs


# --- Errors ----------------------------------------------------------------------------------------


def stripe_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    error: dict[str, Any] = {"message": message, "type": type_}
    if code:
        error["code"] = code
        error["doc_url"] = _DOC_URL + code.replace("_", "-")
    if param:
        error["param"] = param
    return json_response(status, {"error": error}, headers)


# Deleted customers are kept apart, so no list, search or invoice lookup sees them.
DELETED_CUSTOMERS = "customers:deleted"


def _deleted_stub(customer_id: str) -> dict[str, Any]:
    return {"id": customer_id, "object": "customer", "deleted": True}


def _fail(status: int, message: str, **kwargs: Any) -> HttpError:
    return HttpError(stripe_error(status, message, **kwargs))


def _unknown(param: str) -> HttpError:
    return _fail(400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def _mask(key: str) -> str:
    # Stripe shows the key's type prefix and last four characters, never the rest.
    head = key[:8] if key.startswith(("sk_", "rk_", "pk_")) else ""
    tail = key[-4:] if len(key) > 12 else ""
    return f"{head}{'*' * max(4, len(key) - len(head) - len(tail))}{tail}"


# --- Search queries --------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-?)(?:metadata\[(?P<mq>['"])(?P<mkey>[A-Za-z0-9_\-]+)(?P=mq)\]|(?P<field>[a-z_]+))"""
    r"""\s*(?P<op>:|~|>=|<=|>|<)\s*(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+|null)\s*"""
)
_JOIN = re.compile(r"(AND|OR)\s+")


class QueryError(ValueError):
    pass


def _unquote(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw[1:-1])


def search_where(query: str, text_fields: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL for a Stripe search query over `text_fields`, `created` and `metadata['key']`."""
    clauses: list[str] = []
    params: list[Any] = []
    joins: set[str] = set()
    pos = 0
    while True:
        match = _CLAUSE.match(query, pos)
        if match is None:
            raise QueryError(f"Invalid query: could not parse {query[pos:]!r}")
        sql, values = _clause(match, text_fields)
        clauses.append(sql)
        params.extend(values)
        pos = match.end()
        if pos >= len(query):
            break
        join = _JOIN.match(query, pos)
        if join is None:
            raise QueryError(f"Invalid query: expected AND or OR at {query[pos:]!r}")
        joins.add(join.group(1))
        pos = join.end()
    if len(joins) > 1:
        raise QueryError("Invalid query: combining AND and OR in one query is not supported.")
    if len(clauses) > MAX_SEARCH_CLAUSES:
        raise QueryError(f"Invalid query: at most {MAX_SEARCH_CLAUSES} clauses are allowed.")
    glue = f" {joins.pop() if joins else 'AND'} "
    return "(" + glue.join(clauses) + ")", params


def _clause(match: re.Match[str], text_fields: Sequence[str]) -> tuple[str, list[Any]]:
    op = match.group("op")
    raw = match.group("value")
    sql: str
    values: list[Any]
    negate = bool(match.group("neg"))
    field = match.group("field")
    if field == "created":
        if not re.fullmatch(r"-?\d+", raw):
            raise QueryError("Invalid query: created takes a unix timestamp")
        ms = int(raw) * 1000
        sql, values = {
            ":": ("created_ms BETWEEN ? AND ?", [ms, ms + 999]),
            ">": ("created_ms >= ?", [ms + 1000]),
            ">=": ("created_ms >= ?", [ms]),
            "<": ("created_ms < ?", [ms]),
            "<=": ("created_ms < ?", [ms + 1000]),
        }.get(op, ("", []))
        if not sql:
            raise QueryError("Invalid query: created supports :, >, >=, < and <=")
    else:
        if match.group("mkey"):
            column = f'json_extract(data, \'$."metadata"."{match.group("mkey")}"\')'
        elif field in text_fields:
            column = json_field(field)
        else:
            raise QueryError(f"Invalid query: {field!r} is not a searchable field")
        if raw == "null":
            if op != ":":
                raise QueryError("Invalid query: null only works with ':'")
            sql, values = f"{column} IS NULL", []
        elif raw[0] not in "'\"":
            raise QueryError("Invalid query: string values must be quoted")
        elif op == ":":
            sql, values = f"lower({column}) = ?", [_unquote(raw).lower()]
        elif op == "~":
            needle = _unquote(raw).lower()
            if len(needle) < 3:
                raise QueryError("Invalid query: substring (~) matches need at least 3 characters")
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            sql, values = f"lower({column}) LIKE ? ESCAPE '\\'", [f"%{escaped}%"]
        else:
            raise QueryError(f"Invalid query: {op} only works with numeric fields")
    if negate:
        sql = f"NOT ({sql})"
    return sql, values


# --- The dialect -----------------------------------------------------------------------------------


class BillingDialect(Dialect):
    system = "billing"
    objects: ClassVar[Mapping[str, int]] = {name: 1 for name in KINDS}
    default_port = 8103

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--token", default=DEFAULT_KEY, help="the accepted secret key (sk_test_...)")
        parser.add_argument(
            "--webhook-secret", default=DEFAULT_WEBHOOK_SECRET, help="signing secret of webhook deliveries"
        )

    @property
    def key(self) -> str:
        return str(self.options.get("token") or DEFAULT_KEY)

    @property
    def webhook_secret(self) -> str:
        return str(self.options.get("webhook_secret") or DEFAULT_WEBHOOK_SECRET)

    def register(self, router: Router) -> None:
        api = self._api
        router.add("GET", "/v1/account", api(self.account))
        router.add("GET", "/v1/customers", api(self.list_customers))
        router.add("POST", "/v1/customers", api(self.create_customer, idempotent=True))
        router.add("GET", "/v1/customers/search", api(self.search_customers))
        router.add("GET", "/v1/customers/{id}", api(self.get_customer))
        router.add("POST", "/v1/customers/{id}", api(self.update_customer, idempotent=True))
        router.add("DELETE", "/v1/customers/{id}", api(self.delete_customer, idempotent=True))
        router.add("GET", "/v1/invoices", api(self.list_invoices))
        router.add("GET", "/v1/invoices/{id}", api(self.get_invoice))
        router.add("GET", "/v1/payment_intents", api(self.list_payment_intents))
        router.add("GET", "/v1/payment_intents/{id}", api(self.get_payment_intent))
        router.add("GET", "/v1/events", api(self.list_events))
        router.add("GET", "/v1/events/{id}", api(self.get_event))
        router.add("POST", "/_admin/webhooks/deliver", self.admin_deliver, auth=False, admin=True)
        self.webhooks.register(router)
        for kind in (CUSTOMER, INVOICE, PAYMENT_INTENT):
            # Literal object names outrank the engine's `{object}` route, so admin edits take Stripe ids.
            router.add(
                "PATCH",
                f"/_admin/records/{kind.object}/{{id}}",
                self._admin_patch(kind),
                auth=False,
                admin=True,
            )

    @cached_property
    def webhooks(self) -> BillingWebhooks:
        return BillingWebhooks(self)

    def changes_committed(self, changes: list[Change]) -> None:
        self.webhooks.changes_committed(changes)

    def reset_hook(self) -> None:
        self.webhooks.dispatcher.clear()

    # -- plumbing

    def _api(self, handler: Callable[[Request], Response], *, idempotent: bool = False) -> Callable[..., Any]:
        """Every answer carries Request-Id and Stripe-Version; POSTs honour Idempotency-Key."""

        def wrapped(req: Request) -> Response:
            request_id = f"req_{secrets.token_hex(7)}"
            version = req.header("stripe-version") or API_VERSION
            try:
                if idempotent and req.header("idempotency-key"):
                    resp = self._replay_or_run(req, handler)
                else:
                    resp = handler(req)
            except HttpError as exc:
                exc.response.headers.update({"Request-Id": request_id, "Stripe-Version": version})
                raise
            resp.headers.update({"Request-Id": request_id, "Stripe-Version": version})
            return resp

        return wrapped

    def _replay_or_run(self, req: Request, handler: Callable[[Request], Response]) -> Response:
        key = str(req.header("idempotency-key"))
        digest = hashlib.sha256(f"{req.method} {req.path}\n".encode() + req.body).hexdigest()
        with self.store.read() as tx:
            saved = tx.get_blob("idempotency", key)
        if saved is not None:
            if saved["digest"] != digest:
                raise _fail(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                    type_="idempotency_error",
                )
            return json_response(
                saved["status"], saved["body"], {"Idempotent-Replayed": "true", "Idempotency-Key": key}
            )
        resp = handler(req)
        # Only executed requests are remembered: a retry of a rejected one runs again.
        if 200 <= resp.status < 300:
            with self.store.write() as tx:
                tx.put_blob("idempotency", key, {"digest": digest, "status": resp.status, "body": resp.body})
        resp.headers["Idempotency-Key"] = key
        return resp

    def error(self, status: int, kind: str, message: str) -> Response:
        if kind == "fault" and status == 429:
            return stripe_error(
                429,
                "Too many requests hit the API too quickly. We recommend an exponential backoff of your "
                "requests.",
                code="rate_limit",
                headers={"Stripe-Should-Retry": "true", "Stripe-Rate-Limited-Reason": "global-rate"},
            )
        if kind == "fault" or kind == "internal":
            return stripe_error(
                status,
                "An unknown error occurred while processing your request. Please try again later.",
                type_="api_error",
                headers={"Stripe-Should-Retry": "true"} if kind == "fault" else None,
            )
        if kind in ("not_found", "method_not_allowed"):
            described = message.removeprefix("no endpoint ").replace(" ", ": ", 1)
            return stripe_error(
                status,
                f"Unrecognized request URL ({described}). Please see https://stripe.com/docs or we can help "
                "at https://support.stripe.com/.",
            )
        return stripe_error(status, message)

    def authenticate(self, req: Request) -> Response | None:
        key = bearer_token(req)
        if key is None:
            # Stripe also takes the key as the user name of HTTP basic auth (curl -u sk_test_...:).
            credentials = basic_credentials(req)
            key = credentials[0] if credentials else None
        headers = {"WWW-Authenticate": 'Basic realm="Stripe"'}
        if key is None:
            return stripe_error(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
                headers=headers,
            )
        if not same_secret(key, self.key):
            return stripe_error(401, f"Invalid API Key provided: {_mask(key)}", headers=headers)
        return None

    @staticmethod
    def _params(req: Request, allowed: Iterable[str]) -> dict[str, Any]:
        """Query (GET) or form body (POST) parameters, refusing names the endpoint does not take."""
        if req.method == "GET":
            pairs = [(k, v) for k, values in req.query.items() for v in values]
        else:
            content_type = (req.header("content-type") or "").lower()
            if "json" in content_type:
                raise _fail(
                    400,
                    "Invalid request: the Stripe v1 API takes form-encoded bodies "
                    "(application/x-www-form-urlencoded), not JSON.",
                )
            try:
                text = req.body.decode("utf-8")
            except UnicodeDecodeError:
                raise _fail(400, "Invalid request: the body is not UTF-8 form data.") from None
            pairs = parse_qsl(text, keep_blank_values=True)
        try:
            params = parse_form(pairs)
        except FormError as exc:
            raise _unknown(str(exc)) from None
        allowed_set = set(allowed) | {"expand"}
        for name in params:
            if name not in allowed_set:
                raise _unknown(name)
        return params

    def _find(self, tx: Tx, kind: IdKind, raw: str, param: str = "id") -> Row:
        id_ = kind.decode(raw)
        row = tx.get(kind.object, id_) if id_ is not None else None
        if row is None:
            raise _fail(404, f"No such {kind.label}: '{raw}'", code="resource_missing", param=param)
        return row

    @staticmethod
    def _limit(params: Mapping[str, Any]) -> int:
        raw = params.get("limit", "10")
        if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw):
            raise _fail(400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param="limit")
        limit = int(raw)
        if not 1 <= limit <= MAX_LIMIT:
            raise _fail(
                400,
                f"This value must be greater than or equal to 1 and less than or equal to {MAX_LIMIT}.",
                param="limit",
            )
        return limit

    @staticmethod
    def _created_filter(params: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        raw = params.get("created")
        if raw is None:
            return [], []
        if isinstance(raw, str):
            raw = {"eq": raw}
        if not isinstance(raw, dict):
            raise _unknown("created")
        sql = {
            "gt": "created_ms >= ?",
            "gte": "created_ms >= ?",
            "lt": "created_ms < ?",
            "lte": "created_ms < ?",
        }
        clauses: list[str] = []
        values: list[Any] = []
        for op, value in raw.items():
            if not isinstance(value, str) or not value.isdigit():
                raise _fail(
                    400, f"Invalid integer: {value}", code="parameter_invalid_integer", param="created"
                )
            seconds = int(value)
            if op == "eq":
                clauses.append("created_ms BETWEEN ? AND ?")
                values.extend([seconds * 1000, seconds * 1000 + 999])
            elif op in sql:
                clauses.append(sql[op])
                # Stripe's times are whole seconds; the store keeps milliseconds.
                values.append((seconds + (1 if op in ("gt", "lte") else 0)) * 1000)
            else:
                raise _unknown(f"created[{op}]")
        return clauses, values

    def _page(
        self,
        params: Mapping[str, Any],
        kind: IdKind,
        url: str,
        render: Callable[[Tx, list[Row]], list[dict[str, Any]]],
        clauses: Sequence[str] = (),
        values: Sequence[Any] = (),
    ) -> Response:
        """A Stripe list: newest first; `starting_after` pages to older items, `ending_before` to newer."""
        limit = self._limit(params)
        after, before = params.get("starting_after"), params.get("ending_before")
        if after and before:
            raise _fail(400, "You may only specify one of these parameters: ending_before, starting_after.")
        where = list(clauses)
        args = list(values)
        with self.store.read() as tx:
            if before:
                where.append("id > ?")
                args.append(self._find(tx, kind, str(before), "ending_before").id)
                rows = tx.select(
                    kind.object, " AND ".join(where) or "1=1", args, order_by="id ASC", limit=limit + 1
                )
                has_more = len(rows) > limit
                # The items just newer than the cursor, still presented newest first.
                rows = list(reversed(rows[:limit]))
            else:
                if after:
                    where.append("id < ?")
                    args.append(self._find(tx, kind, str(after), "starting_after").id)
                rows = tx.select(
                    kind.object, " AND ".join(where) or "1=1", args, order_by="id DESC", limit=limit + 1
                )
                has_more = len(rows) > limit
                rows = rows[:limit]
            data = render(tx, rows)
        return json_response(200, {"object": "list", "data": data, "has_more": has_more, "url": url})

    # -- rendering

    @staticmethod
    def render_customer(row: Row) -> dict[str, Any]:
        data = row.data
        return {
            "id": CUSTOMER.encode(row.id),
            "object": "customer",
            "address": data.get("address"),
            "balance": data.get("balance", 0),
            "created": row.created_ms // 1000,
            "currency": data.get("currency"),
            "default_source": None,
            "delinquent": bool(data.get("delinquent", False)),
            "description": data.get("description"),
            "discount": None,
            "email": data.get("email"),
            "invoice_prefix": data.get("invoice_prefix"),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": dict(data.get("metadata") or {}),
            "name": data.get("name"),
            "next_invoice_sequence": data.get("next_invoice_sequence", 1),
            "phone": data.get("phone"),
            "preferred_locales": list(data.get("preferred_locales") or []),
            "shipping": data.get("shipping"),
            "tax_exempt": data.get("tax_exempt", "none"),
            "test_clock": None,
        }

    def render_invoice(self, tx: Tx, row: Row, customers: Mapping[int, Row] | None = None) -> dict[str, Any]:
        data = row.data
        customer_id = data.get("customer")
        known = (customers or {}).get(customer_id) if isinstance(customer_id, int) else None
        customer = known or (tx.get(CUSTOMER.object, customer_id) if isinstance(customer_id, int) else None)
        invoice_id = INVOICE.encode(row.id)
        lines = [
            {
                "id": f"il_{invoice_id[3:]}{index}",
                "object": "line_item",
                "amount": line["amount"],
                "currency": data["currency"],
                "description": line["description"],
                "quantity": line.get("quantity", 1),
                "type": "invoiceitem",
            }
            for index, line in enumerate(data.get("lines") or [])
        ]
        return {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "amount_due": data["amount_due"],
            "amount_paid": data["amount_paid"],
            "amount_remaining": data["amount_due"] - data["amount_paid"],
            "billing_reason": "manual",
            "collection_method": data.get("collection_method", "send_invoice"),
            "created": row.created_ms // 1000,
            "currency": data["currency"],
            "customer": CUSTOMER.encode(customer_id) if customer_id else None,
            "customer_email": customer.data.get("email") if customer else None,
            "customer_name": customer.data.get("name") if customer else None,
            "description": data.get("description"),
            "due_date": data.get("due_date"),
            "hosted_invoice_url": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": dict(data.get("metadata") or {}),
            "number": data.get("number"),
            "period_end": data.get("period_end", row.created_ms // 1000),
            "period_start": data.get("period_start", row.created_ms // 1000),
            "status": data["status"],
            "subtotal": data["amount_due"],
            "total": data["amount_due"],
        }

    @staticmethod
    def render_payment_intent(row: Row) -> dict[str, Any]:
        data = row.data
        invoice = data.get("invoice")
        customer = data.get("customer")
        return {
            "id": PAYMENT_INTENT.encode(row.id),
            "object": "payment_intent",
            "amount": data["amount"],
            "amount_received": data.get("amount_received", 0),
            "canceled_at": data.get("canceled_at"),
            "cancellation_reason": data.get("cancellation_reason"),
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "created": row.created_ms // 1000,
            "currency": data["currency"],
            "customer": CUSTOMER.encode(customer) if customer else None,
            "description": data.get("description"),
            "invoice": INVOICE.encode(invoice) if invoice else None,
            "livemode": False,
            "metadata": dict(data.get("metadata") or {}),
            "payment_method_types": ["card"],
            "receipt_email": data.get("receipt_email"),
            "status": data["status"],
        }

    def render_event(self, row: Row) -> dict[str, Any]:
        data = row.data
        body: dict[str, Any] = {"object": data["object"]}
        if data.get("previous_attributes") is not None:
            body["previous_attributes"] = data["previous_attributes"]
        return {
            "id": EVENT.encode(row.id),
            "object": "event",
            "api_version": API_VERSION,
            "created": row.created_ms // 1000,
            "data": body,
            "livemode": False,
            "pending_webhooks": 0,
            "request": data.get("request") or {"id": None, "idempotency_key": None},
            "type": data["type"],
        }

    def _render(self, tx: Tx, kind: IdKind, row: Row) -> dict[str, Any]:
        if kind is CUSTOMER:
            return self.render_customer(row)
        if kind is INVOICE:
            return self.render_invoice(tx, row)
        if kind is PAYMENT_INTENT:
            return self.render_payment_intent(row)
        return self.render_event(row)

    # -- events

    def _emit(
        self,
        tx: Tx,
        type_: str,
        snapshot: dict[str, Any],
        previous: dict[str, Any] | None,
        req: Request | None,
    ) -> None:
        """Record an event in the same transaction as the write, so events are in write order."""
        request: dict[str, str | None] = {"id": None, "idempotency_key": None}
        if req is not None:
            request = {
                "id": f"req_{secrets.token_hex(7)}",
                "idempotency_key": req.header("idempotency-key"),
            }
        tx.insert(
            EVENT.object,
            {"type": type_, "object": snapshot, "previous_attributes": previous, "request": request},
            first_id=1,
        )

    @staticmethod
    def _previous(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
        """Stripe's `previous_attributes`: the old values of what changed (nested objects: only changed keys)."""
        changed: dict[str, Any] = {}
        for key, new in after.items():
            old = before.get(key)
            if old == new:
                continue
            if isinstance(old, dict) and isinstance(new, dict):
                changed[key] = {k: old.get(k) for k in set(old) | set(new) if old.get(k) != new.get(k)}
            else:
                changed[key] = old
        return changed

    # -- customers: validation

    def clean_customer(self, params: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
        """The stored customer after applying Stripe-style parameters (empty string unsets a value)."""
        data = dict(current)
        for name, value in params.items():
            if name == "expand":
                continue
            if name not in _CUSTOMER_PARAMS:
                raise _unknown(name)
            if name == "metadata":
                data["metadata"] = self._metadata(value, dict(current.get("metadata") or {}))
            elif name == "address":
                data["address"] = self._address(value, "address")
            elif name == "shipping":
                data["shipping"] = self._shipping(value)
            elif name == "preferred_locales":
                if value == "":
                    data["preferred_locales"] = []
                elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise _fail(400, "Invalid array", param="preferred_locales")
                else:
                    data["preferred_locales"] = list(value)
            elif not isinstance(value, str):
                raise _fail(400, f"Invalid string: {value!r}", param=name)
            elif name == "email":
                if value and (len(value) > 512 or not EMAIL_RE.match(value)):
                    raise _fail(400, f"Invalid email address: {value}", code="email_invalid", param="email")
                data["email"] = value or None
            elif name == "tax_exempt":
                if value not in TAX_EXEMPT:
                    raise _fail(
                        400, "Invalid tax_exempt: must be one of none, exempt, or reverse", param="tax_exempt"
                    )
                data["tax_exempt"] = value
            elif name == "balance":
                if not re.fullmatch(r"-?\d+", value):
                    raise _fail(
                        400, f"Invalid integer: {value}", code="parameter_invalid_integer", param="balance"
                    )
                data["balance"] = int(value)
            elif name == "invoice_prefix":
                if not re.fullmatch(r"[A-Z0-9]{3,12}", value):
                    raise _fail(
                        400,
                        "Invoice prefix must be 3 to 12 uppercase letters or numbers.",
                        param="invoice_prefix",
                    )
                data["invoice_prefix"] = value
            else:
                limit = 256 if name == "name" else 20 if name == "phone" else 350
                if len(value) > limit:
                    raise _fail(
                        400,
                        f"Invalid string: {value[:20]}...; must be at most {limit} characters",
                        param=name,
                    )
                data[name] = value or None
        return data

    @staticmethod
    def _metadata(value: Any, current: dict[str, str]) -> dict[str, str]:
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise _fail(400, "Invalid object", param="metadata")
        for key, item in value.items():
            if len(key) > MAX_METADATA_KEY_CHARS:
                raise _fail(
                    400,
                    f"Metadata keys can have up to {MAX_METADATA_KEY_CHARS} characters; '{key}' is too long.",
                    param=f"metadata[{key}]",
                )
            if not isinstance(item, str):
                raise _fail(400, "Invalid string", param=f"metadata[{key}]")
            if len(item) > MAX_METADATA_VALUE_CHARS:
                raise _fail(
                    400,
                    f"Metadata values can have up to {MAX_METADATA_VALUE_CHARS} characters.",
                    param=f"metadata[{key}]",
                )
            if item == "":
                current.pop(key, None)
            else:
                current[key] = item
        if len(current) > MAX_METADATA_KEYS:
            raise _fail(400, f"You can only have up to {MAX_METADATA_KEYS} metadata keys.", param="metadata")
        return current

    @staticmethod
    def _address(value: Any, param: str) -> dict[str, Any] | None:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise _fail(400, "Invalid object", param=param)
        for key in value:
            if key not in _ADDRESS_KEYS:
                raise _unknown(f"{param}[{key}]")
        return {key: (value.get(key) or None) for key in sorted(_ADDRESS_KEYS)}

    def _shipping(self, value: Any) -> dict[str, Any] | None:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise _fail(400, "Invalid object", param="shipping")
        for key in value:
            if key not in _SHIPPING_KEYS:
                raise _unknown(f"shipping[{key}]")
        if not value.get("name"):
            raise _fail(
                400,
                "Missing required param: shipping[name].",
                code="parameter_missing",
                param="shipping[name]",
            )
        return {
            "name": value["name"],
            "phone": value.get("phone") or None,
            "address": self._address(value.get("address", ""), "shipping[address]"),
        }

    @staticmethod
    def _invoice_prefix(source: str) -> str:
        """Eight uppercase letters and digits, as Stripe gives every customer for invoice numbers."""
        digest = hashlib.sha256(f"billing-prefix:{source}".encode()).digest()
        return base64.b32encode(digest).decode()[:8]

    # -- customers: endpoints

    def account(self, req: Request) -> Response:
        self._params(req, ())
        return json_response(
            200,
            {
                "id": ACCOUNT_ID,
                "object": "account",
                "business_profile": {"name": "Demo Billing", "url": "https://billing.demo.example"},
                "charges_enabled": True,
                "country": "US",
                "default_currency": "usd",
                "email": "billing@demo.example",
                "settings": {"dashboard": {"display_name": "Demo Billing", "timezone": "Etc/UTC"}},
                "type": "standard",
            },
        )

    def list_customers(self, req: Request) -> Response:
        params = self._params(req, ("limit", "starting_after", "ending_before", "created", "email"))
        clauses, values = self._created_filter(params)
        if "email" in params:
            # As in Stripe: exact and case-sensitive (search is the case-insensitive way).
            clauses.append(f"{json_field('email')} = ?")
            values.append(str(params["email"]))
        return self._page(
            params,
            CUSTOMER,
            "/v1/customers",
            lambda tx, rows: [self.render_customer(r) for r in rows],
            clauses,
            values,
        )

    def get_customer(self, req: Request) -> Response:
        self._params(req, ())
        with self.store.read() as tx:
            id_ = CUSTOMER.decode(req.params["id"])
            if id_ is not None and tx.get(DELETED_CUSTOMERS, id_) is not None:
                # Stripe still answers for a deleted customer, with only its id and `deleted: true`.
                return json_response(200, _deleted_stub(req.params["id"]))
            row = self._find(tx, CUSTOMER, req.params["id"])
        return json_response(200, self.render_customer(row))

    def delete_customer(self, req: Request) -> Response:
        """Deleting is final in Stripe: the customer leaves lists and search, GET answers a stub with
        `deleted: true`, and a customer.deleted event carries its last state."""
        self._params(req, ())
        with self.store.write() as tx:
            row = self._find(tx, CUSTOMER, req.params["id"])
            snapshot = self.render_customer(row)
            tx.move(CUSTOMER.object, row.id, DELETED_CUSTOMERS)
            self._emit(tx, "customer.deleted", snapshot, None, req)
        return json_response(200, _deleted_stub(snapshot["id"]))

    def create_customer(self, req: Request) -> Response:
        params = self._params(req, _CUSTOMER_PARAMS)
        data = self.clean_customer(
            params, {"metadata": {}, "preferred_locales": [], "tax_exempt": "none", "balance": 0}
        )
        return json_response(200, self._insert_customer(data, req))

    def _insert_customer(self, data: dict[str, Any], req: Request | None) -> dict[str, Any]:
        if not data.get("invoice_prefix"):
            data = {**data, "invoice_prefix": self._invoice_prefix(secrets.token_hex(8))}
        with self.store.write() as tx:
            row = tx.insert(CUSTOMER.object, data, first_id=1)
            rendered = self.render_customer(row)
            self._emit(tx, "customer.created", rendered, None, req)
        return rendered

    def update_customer(self, req: Request) -> Response:
        params = self._params(req, _CUSTOMER_PARAMS)
        return json_response(200, self._update_customer(req.params["id"], params, req))

    def _update_customer(self, raw_id: str, params: Mapping[str, Any], req: Request | None) -> dict[str, Any]:
        with self.store.write() as tx:
            row = self._find(tx, CUSTOMER, raw_id)
            data = self.clean_customer(params, row.data)
            if data == row.data:
                # Stripe sends no customer.updated event for a request that changes nothing.
                return self.render_customer(row)
            before = self.render_customer(row)
            updated = tx.update(CUSTOMER.object, row.id, data)
            after = self.render_customer(updated)
            self._emit(tx, "customer.updated", after, self._previous(before, after), req)
        return after

    def search_customers(self, req: Request) -> Response:
        params = self._params(req, ("query", "limit", "page"))
        query = params.get("query")
        if not isinstance(query, str) or not query.strip():
            raise _fail(400, "Missing required param: query.", code="parameter_missing", param="query")
        try:
            where, values = search_where(query.strip(), ("email", "name", "phone", "description"))
        except QueryError as exc:
            raise _fail(400, str(exc), code="parameter_invalid", param="query") from None
        limit = self._limit(params)
        offset = 0
        page = params.get("page")
        if page:
            try:
                offset = int(base64.urlsafe_b64decode(str(page) + "==").decode().removeprefix("o:"))
            except ValueError:
                raise _fail(400, "Invalid page token.", param="page") from None
        with self.store.read() as tx:
            rows = tx.select(
                CUSTOMER.object, where, values, order_by="id DESC", limit=limit + 1, offset=offset
            )
        has_more = len(rows) > limit
        next_page = (
            base64.urlsafe_b64encode(f"o:{offset + limit}".encode()).decode().rstrip("=")
            if has_more
            else None
        )
        return json_response(
            200,
            {
                "object": "search_result",
                "data": [self.render_customer(r) for r in rows[:limit]],
                "has_more": has_more,
                "next_page": next_page,
                "url": "/v1/customers/search",
            },
        )

    # -- invoices and payment intents (read-only over the API)

    def _render_invoices(self, tx: Tx, rows: list[Row]) -> list[dict[str, Any]]:
        customers = tx.get_many(CUSTOMER.object, [r.data["customer"] for r in rows if r.data.get("customer")])
        return [self.render_invoice(tx, r, customers) for r in rows]

    def _by_customer(self, params: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        clauses, values = self._created_filter(params)
        if "customer" in params:
            id_ = CUSTOMER.decode(str(params["customer"]))
            clauses.append(f"{json_field('customer')} = ?")
            values.append(id_ if id_ is not None else -1)
        return clauses, values

    def list_invoices(self, req: Request) -> Response:
        params = self._params(
            req, ("limit", "starting_after", "ending_before", "created", "customer", "status")
        )
        clauses, values = self._by_customer(params)
        if "status" in params:
            if params["status"] not in INVOICE_STATUSES:
                raise _fail(
                    400, f"Invalid status: must be one of {', '.join(INVOICE_STATUSES)}", param="status"
                )
            clauses.append(f"{json_field('status')} = ?")
            values.append(params["status"])
        return self._page(params, INVOICE, "/v1/invoices", self._render_invoices, clauses, values)

    def get_invoice(self, req: Request) -> Response:
        self._params(req, ())
        with self.store.read() as tx:
            row = self._find(tx, INVOICE, req.params["id"])
            return json_response(200, self.render_invoice(tx, row))

    def list_payment_intents(self, req: Request) -> Response:
        params = self._params(req, ("limit", "starting_after", "ending_before", "created", "customer"))
        clauses, values = self._by_customer(params)
        return self._page(
            params,
            PAYMENT_INTENT,
            "/v1/payment_intents",
            lambda tx, rows: [self.render_payment_intent(r) for r in rows],
            clauses,
            values,
        )

    def get_payment_intent(self, req: Request) -> Response:
        self._params(req, ())
        with self.store.read() as tx:
            row = self._find(tx, PAYMENT_INTENT, req.params["id"])
        return json_response(200, self.render_payment_intent(row))

    # -- events

    def list_events(self, req: Request) -> Response:
        params = self._params(
            req, ("limit", "starting_after", "ending_before", "created", "type", "types", "delivery_success")
        )
        clauses, values = self._created_filter(params)
        type_column = json_field("type")
        if "type" in params and "types" in params:
            raise _fail(400, "You may only specify one of these parameters: type, types.")
        if "type" in params:
            wanted = str(params["type"])
            if wanted.endswith(".*"):
                prefix = wanted[:-1]
                clauses.append(f"substr({type_column}, 1, ?) = ?")
                values.extend([len(prefix), prefix])
            else:
                clauses.append(f"{type_column} = ?")
                values.append(wanted)
        if "types" in params:
            types = params["types"]
            if not isinstance(types, list) or not 0 < len(types) <= 20:
                raise _fail(400, "types must be an array of 1 to 20 event types.", param="types")
            clauses.append(f"{type_column} IN ({','.join('?' * len(types))})")
            values.extend(str(t) for t in types)
        return self._page(
            params,
            EVENT,
            "/v1/events",
            lambda tx, rows: [self.render_event(r) for r in rows],
            clauses,
            values,
        )

    def get_event(self, req: Request) -> Response:
        self._params(req, ())
        with self.store.read() as tx:
            row = self._find(tx, EVENT, req.params["id"])
        return json_response(200, self.render_event(row))

    # -- webhook deliveries

    def admin_deliver(self, req: Request) -> Response:
        """Send one event, signed as Stripe signs it, to the `url` of the request body.

        Body: `{"url": ..., "event": "evt_..." (default: the newest, or the newest of "type"),
        "type": ..., "secret": (override), "timestamp": (override, unix seconds)}`.
        """
        url = target_url(req)
        payload = req.json_object()
        with self.store.read() as tx:
            if payload.get("event"):
                row = tx.get(EVENT.object, EVENT.decode(str(payload["event"])) or 0)
            else:
                where, values = ("1=1", [])
                if payload.get("type"):
                    where, values = f"{json_field('type')} = ?", [str(payload["type"])]
                found = tx.select(EVENT.object, where, values, order_by="id DESC", limit=1)
                row = found[0] if found else None
        if row is None:
            return json_response(404, {"ok": False, "error": "no such event to deliver"})
        event = self.render_event(row)
        body = json.dumps(event, indent=2).encode("utf-8")
        timestamp = int(payload.get("timestamp") or time.time())
        secret = str(payload.get("secret") or self.webhook_secret)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": stripe_signature_header(secret, timestamp, body),
        }
        delivery = deliver(url, body, headers)
        return json_response(200, delivery.as_json(body, headers, event=event["id"]))

    # -- seed and admin

    def seed(self, tx: Tx, count: int) -> dict[str, int]:
        data = demo.generate(count, "billing")
        people = sorted(data.people, key=lambda p: p.created_ms)
        customer_ids: list[tuple[int, demo.DemoPerson, str, str]] = []
        for person in people:
            country = _COUNTRY_CODES.get(person.place.country, "US")
            currency = "eur" if country in _EURO else _CURRENCIES.get(country, "usd")
            metadata = {"tier": person.tier}
            if person.lifecycle_stage in ("customer", "evangelist"):
                metadata["crm_stage"] = person.lifecycle_stage
            values = {
                "email": person.email,
                "name": person.name,
                "phone": person.phone,
                "description": person.company.name if person.company else None,
                "address": {
                    "city": person.place.city,
                    "country": country,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "currency": currency,
                "metadata": metadata,
                "preferred_locales": [person.place.locale],
                "tax_exempt": "none",
                "balance": 0,
                "invoice_prefix": self._invoice_prefix(f"{count}:{person.email}"),
            }
            row = tx.insert(
                CUSTOMER.object,
                values,
                first_id=1,
                created_ms=person.created_ms,
                updated_ms=person.updated_ms,
            )
            customer_ids.append((row.id, person, currency, str(values["invoice_prefix"])))
        invoices, intents = self._seed_documents(count, customer_ids)
        for created, values in sorted(invoices, key=lambda item: item[0]):
            tx.insert(INVOICE.object, values, first_id=1, created_ms=created, updated_ms=created)
        # Payment intents point at invoices by their position in creation order, fixed up here.
        invoice_ids = {row.data["number"]: row.id for row in tx.all(INVOICE.object)}
        for created, values in sorted(intents, key=lambda item: item[0]):
            number = values.pop("invoice_number", None)
            values["invoice"] = invoice_ids.get(number) if number else None
            tx.insert(PAYMENT_INTENT.object, values, first_id=1, created_ms=created, updated_ms=created)
        return {
            CUSTOMER.object: len(people),
            INVOICE.object: len(invoices),
            PAYMENT_INTENT.object: len(intents),
            EVENT.object: 0,
        }

    def _seed_documents(
        self, count: int, customers: Sequence[tuple[int, demo.DemoPerson, str, str]]
    ) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, dict[str, Any]]]]:
        """Invoices and payment intents for the seeded customers; their own generator keeps customers stable."""
        rng = random.Random(f"integrations-hub-sandbox:billing-documents:{count}")
        plans = (
            ("Starter plan", 1900),
            ("Team plan", 4900),
            ("Business plan", 9900),
            ("Enterprise plan", 49900),
        )
        invoices: list[tuple[int, dict[str, Any]]] = []
        intents: list[tuple[int, dict[str, Any]]] = []
        for customer_id, person, currency, prefix in customers:
            for sequence in range(1, rng.choice((0, 1, 1, 2, 3)) + 1):
                plan, price = rng.choice(plans)
                seats = rng.choice((1, 1, 2, 5))
                created = person.created_ms + rng.randrange(
                    0, max(1, demo.SEED_ANCHOR_MS - person.created_ms)
                )
                status = rng.choices(INVOICE_STATUSES, weights=(8, 20, 60, 5, 7))[0]
                amount = price * seats
                number = f"{prefix}-{sequence:04d}"
                invoices.append(
                    (
                        created,
                        {
                            "customer": customer_id,
                            "status": status,
                            "currency": currency,
                            "amount_due": amount,
                            "amount_paid": amount if status == "paid" else 0,
                            "collection_method": "send_invoice",
                            "description": f"{plan} x {seats}",
                            "due_date": created // 1000 + 30 * 86_400,
                            "number": number,
                            "lines": [{"description": plan, "amount": amount, "quantity": seats}],
                            "metadata": {},
                        },
                    )
                )
                if status in ("paid", "open"):
                    intents.append(
                        (
                            created + 1000,
                            {
                                "customer": customer_id,
                                "amount": amount,
                                "amount_received": amount if status == "paid" else 0,
                                "currency": currency,
                                "status": "succeeded" if status == "paid" else "requires_payment_method",
                                "description": f"Invoice {number}",
                                "invoice_number": number,
                                "receipt_email": person.email,
                                "metadata": {},
                            },
                        )
                    )
        return invoices, intents

    def admin_list(self, req: Request, object_: str) -> list[Any]:
        kind = KINDS[object_]
        with self.store.read() as tx:
            rows = tx.all(kind.object)
            # Oldest first, like the other sandboxes' admin listings (the API lists newest first).
            return [self._render(tx, kind, r) for r in rows]

    def admin_create(self, req: Request, object_: str, payload: dict[str, Any]) -> Response:
        kind = KINDS[object_]
        if kind is CUSTOMER:
            params = _stringify(payload)
            data = self.clean_customer(
                params, {"metadata": {}, "preferred_locales": [], "tax_exempt": "none", "balance": 0}
            )
            return json_response(200, self._insert_customer(data, None))
        if kind is EVENT:
            return json_response(400, {"ok": False, "error": "events are created by writes, not directly"})
        with self.store.write() as tx:
            values = self._document(tx, kind, payload, None)
            row = tx.insert(kind.object, values, first_id=1)
            rendered = self._render(tx, kind, row)
            type_ = "invoice.created" if kind is INVOICE else "payment_intent.created"
            self._emit(tx, type_, rendered, None, None)
        return json_response(200, rendered)

    def admin_update(self, req: Request, object_: str, id_: int, payload: dict[str, Any]) -> Response:
        kind = KINDS[object_]
        if kind is EVENT:
            # An event records what happened; editing one would rewrite history.
            return json_response(400, {"ok": False, "error": "events cannot be edited"})
        return self._patch(kind, kind.encode(id_), payload)

    def _admin_patch(self, kind: IdKind) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            raw = req.params["id"]
            # Integer ids (the engine's convention) work too.
            ref = kind.encode(int(raw)) if raw.isdigit() else raw
            return self._patch(kind, ref, req.json_object())

        return handler

    def _patch(self, kind: IdKind, ref: str, payload: dict[str, Any]) -> Response:
        if kind is CUSTOMER:
            return json_response(200, self._update_customer(ref, _stringify(payload), None))
        with self.store.write() as tx:
            row = self._find(tx, kind, ref)
            before = self._render(tx, kind, row)
            values = self._document(tx, kind, payload, row.data)
            updated = tx.update(kind.object, row.id, values)
            after = self._render(tx, kind, updated)
            previous = self._previous(before, after)
            if kind is INVOICE:
                self._emit(tx, "invoice.updated", after, previous, None)
                if after["status"] != before["status"] and after["status"] in ("paid", "finalized", "void"):
                    self._emit(tx, f"invoice.{after['status']}", after, previous, None)
            else:
                event = (
                    _PAYMENT_INTENT_EVENTS.get(after["status"])
                    if after["status"] != before["status"]
                    else None
                )
                if event:
                    self._emit(tx, event, after, previous, None)
        return json_response(200, after)

    def _document(
        self, tx: Tx, kind: IdKind, payload: Mapping[str, Any], current: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """Invoice or payment-intent data from an admin payload in Stripe's JSON shape."""
        data: dict[str, Any] = dict(current or {"metadata": {}, "currency": "usd"})
        statuses = INVOICE_STATUSES if kind is INVOICE else PAYMENT_INTENT_STATUSES
        for key, value in payload.items():
            if key == "customer":
                customer = CUSTOMER.decode(str(value)) if value else None
                if value and (customer is None or tx.get(CUSTOMER.object, customer) is None):
                    raise _fail(
                        400, f"No such customer: '{value}'", code="resource_missing", param="customer"
                    )
                data["customer"] = customer
            elif key == "status":
                if value not in statuses:
                    raise _fail(400, f"Invalid status: must be one of {', '.join(statuses)}", param="status")
                data["status"] = value
            elif key in ("amount", "amount_due", "amount_paid", "amount_received"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise _fail(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=key)
                data[key] = value
            elif key == "metadata" and isinstance(value, dict):
                data["metadata"] = {**data.get("metadata", {}), **{k: str(v) for k, v in value.items()}}
            elif key in ("currency", "description", "number", "receipt_email"):
                data[key] = None if value is None else str(value).lower() if key == "currency" else str(value)
            else:
                raise _unknown(key)
        if kind is INVOICE:
            data.setdefault("status", "draft")
            data.setdefault("amount_due", 0)
            data.setdefault("amount_paid", data["amount_due"] if data["status"] == "paid" else 0)
            data.setdefault("lines", [])
        else:
            data.setdefault("status", "requires_payment_method")
            if "amount" not in data:
                raise _fail(400, "Missing required param: amount.", code="parameter_missing", param="amount")
        return data


def _stringify(payload: Mapping[str, Any]) -> dict[str, Any]:
    """An admin JSON payload as the strings a form body would carry (so one validator serves both)."""
    converted: dict[str, Any] = {}
    for key, value in payload.items():
        if value is None:
            converted[key] = ""
        elif isinstance(value, dict):
            converted[key] = _stringify(value)
        elif isinstance(value, list):
            converted[key] = [str(v) for v in value]
        elif isinstance(value, bool):
            converted[key] = "true" if value else "false"
        else:
            converted[key] = str(value)
    return converted


def stripe_signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, Stripe's webhook signature scheme."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
