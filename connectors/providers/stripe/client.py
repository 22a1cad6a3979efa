"""Stripe client: customers (read and upsert by email), invoices and payment intents (read).

Stripe objects carry no modification time, and lists only filter by creation time, so changes are read
the way Stripe recommends for syncing: through the events API (`customer.*`, `invoice.*`,
`payment_intent.*`), whose ids give an exact order. A full read lists the objects (newest first, the
only order Stripe offers) after noting the newest event; the cursor then continues from that event with
`ending_before`, so anything changed during or after the full read comes through the events (repeats
are possible, skips are not). The billing section of docs/sandbox.md shows the API shapes used.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlencode

from connectors.base import (
    AuthenticationError,
    ChangePage,
    ConnectionConfig,
    ConnectionSettings,
    ConnectorClient,
    ConnectorError,
    FieldSchema,
    ObjectSchema,
    PicklistOption,
    SourceRecord,
    WriteItem,
    WriteResult,
    path_segment,
)
from connectors.http import HttpAuthenticationError, HttpClient, HttpError, HttpResponse, bearer_auth
from connectors.providers.deleting import delete_record

logger = logging.getLogger(__name__)

STRIPE_API_URL = "https://api.stripe.com"
# Pinned so the shapes we parse do not change when the account's default API version is upgraded.
API_VERSION = "2024-06-20"
MAX_PAGE = 100
# Records whose metadata keys become custom fields: Stripe has no schema for metadata, so we sample.
METADATA_SAMPLE = 100
# How far before the start of a full read the event stream is picked up when there is no event to
# anchor on; covers the clock of the request that told us the time (whole seconds).
BOOTSTRAP_MARGIN_SECONDS = 1
_RECORD_REJECTIONS = frozenset({400, 402, 404, 409})
_TIMESTAMP_FIELDS = frozenset({"created", "due_date", "canceled_at", "period_start", "period_end"})


def _options(*values: str) -> tuple[PicklistOption, ...]:
    return tuple(PicklistOption(v, v.replace("_", " ").capitalize()) for v in values)


@dataclass(frozen=True)
class _Kind:
    label: str
    path: str
    event_prefix: str
    fields: tuple[FieldSchema, ...]
    writable: bool = False


_CUSTOMER_FIELDS = (
    FieldSchema("id", "ID", "string", read_only=True),
    FieldSchema("email", "Email", "email"),
    FieldSchema("name", "Name", "string"),
    FieldSchema("phone", "Phone", "phone"),
    FieldSchema("description", "Description", "string"),
    FieldSchema("address.line1", "Address line 1", "string"),
    FieldSchema("address.line2", "Address line 2", "string"),
    FieldSchema("address.city", "City", "string"),
    FieldSchema("address.state", "State", "string"),
    FieldSchema("address.postal_code", "Postal code", "string"),
    FieldSchema("address.country", "Country (ISO code)", "string"),
    FieldSchema("preferred_locales", "Preferred locales", "json"),
    FieldSchema("tax_exempt", "Tax exempt", "enumeration", options=_options("none", "exempt", "reverse")),
    FieldSchema("balance", "Balance (minor units)", "number"),
    FieldSchema("invoice_prefix", "Invoice prefix", "string"),
    FieldSchema("currency", "Currency", "string", read_only=True),
    FieldSchema("delinquent", "Delinquent", "boolean", read_only=True),
    FieldSchema("created", "Created", "datetime", read_only=True),
)
_INVOICE_FIELDS = (
    FieldSchema("id", "ID", "string", read_only=True),
    FieldSchema("number", "Number", "string", read_only=True),
    FieldSchema("customer", "Customer ID", "string", read_only=True),
    FieldSchema("customer_email", "Customer email", "email", read_only=True),
    FieldSchema("customer_name", "Customer name", "string", read_only=True),
    FieldSchema(
        "status",
        "Status",
        "enumeration",
        read_only=True,
        options=_options("draft", "open", "paid", "uncollectible", "void"),
    ),
    FieldSchema("currency", "Currency", "string", read_only=True),
    FieldSchema("amount_due", "Amount due (minor units)", "number", read_only=True),
    FieldSchema("amount_paid", "Amount paid (minor units)", "number", read_only=True),
    FieldSchema("amount_remaining", "Amount remaining (minor units)", "number", read_only=True),
    FieldSchema("total", "Total (minor units)", "number", read_only=True),
    FieldSchema(
        "collection_method",
        "Collection method",
        "enumeration",
        read_only=True,
        options=_options("charge_automatically", "send_invoice"),
    ),
    FieldSchema("description", "Description", "string", read_only=True),
    FieldSchema("due_date", "Due date", "datetime", read_only=True),
    FieldSchema("lines", "Line items", "json", read_only=True),
    FieldSchema("created", "Created", "datetime", read_only=True),
)
_PAYMENT_INTENT_FIELDS = (
    FieldSchema("id", "ID", "string", read_only=True),
    FieldSchema("customer", "Customer ID", "string", read_only=True),
    FieldSchema("amount", "Amount (minor units)", "number", read_only=True),
    FieldSchema("amount_received", "Amount received (minor units)", "number", read_only=True),
    FieldSchema("currency", "Currency", "string", read_only=True),
    FieldSchema(
        "status",
        "Status",
        "enumeration",
        read_only=True,
        options=_options(
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
            "processing",
            "requires_capture",
            "canceled",
            "succeeded",
        ),
    ),
    FieldSchema("description", "Description", "string", read_only=True),
    FieldSchema("invoice", "Invoice ID", "string", read_only=True),
    FieldSchema("receipt_email", "Receipt email", "email", read_only=True),
    FieldSchema("canceled_at", "Canceled at", "datetime", read_only=True),
    FieldSchema("cancellation_reason", "Cancellation reason", "string", read_only=True),
    FieldSchema("created", "Created", "datetime", read_only=True),
)
KINDS: dict[str, _Kind] = {
    "customers": _Kind("Customers", "/v1/customers", "customer", _CUSTOMER_FIELDS, writable=True),
    "invoices": _Kind("Invoices", "/v1/invoices", "invoice", _INVOICE_FIELDS),
    "payment_intents": _Kind(
        "Payment intents", "/v1/payment_intents", "payment_intent", _PAYMENT_INTENT_FIELDS
    ),
}
OBJECTS: dict[str, str] = {name: kind.label for name, kind in KINDS.items()}


class StripeConfig(ConnectionConfig):
    base_url: str = STRIPE_API_URL


def stripe_message(response: HttpResponse) -> str | None:
    """Stripe's own `error.message` (it already names the parameter at fault)."""
    data = response.data
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"].strip():
        return str(error["message"]).strip()
    return None


def _error_code(exc: HttpError) -> str | None:
    data = exc.data
    error = data.get("error") if isinstance(data, dict) else None
    return str(error.get("code")) if isinstance(error, dict) and error.get("code") else None


def _iso(seconds: Any) -> str | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def flatten(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Stripe object as record fields: `metadata.<key>`, `address.<part>`, ISO timestamps."""
    fields: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("object", "livemode"):
            continue
        if key == "metadata" and isinstance(value, Mapping):
            fields.update({f"metadata.{k}": v for k, v in value.items()})
        elif key == "address":
            for part in ("line1", "line2", "city", "state", "postal_code", "country"):
                fields[f"address.{part}"] = value.get(part) if isinstance(value, Mapping) else None
        elif key in _TIMESTAMP_FIELDS:
            fields[key] = _iso(value)
        elif key == "lines" and isinstance(value, Mapping):
            fields[key] = [
                {
                    "description": line.get("description"),
                    "amount": line.get("amount"),
                    "quantity": line.get("quantity"),
                }
                for line in value.get("data") or []
                if isinstance(line, Mapping)
            ]
        else:
            fields[key] = value
    return fields


def form_pairs(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Record fields as Stripe's form parameters: `metadata.tier` -> `metadata[tier]`; None unsets."""
    nested: dict[str, Any] = {}
    for name, value in fields.items():
        parts = name.split(".")
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConnectorError(f"Field {name!r} conflicts with field {part!r}.", permanent=True)
            node = child
        node[parts[-1]] = value
    return _encode(nested, "")


def _encode(value: Any, prefix: str) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, item in value.items():
            pairs.extend(_encode(item, f"{prefix}[{key}]" if prefix else str(key)))
        return pairs
    if isinstance(value, list | tuple):
        if not value:
            # An empty string clears a list parameter (e.g. preferred_locales) in Stripe.
            return [(prefix, "")]
        return [pair for index, item in enumerate(value) for pair in _encode(item, f"{prefix}[{index}]")]
    if value is None:
        return [(prefix, "")]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return [(prefix, str(int(moment.timestamp())))]
    return [(prefix, str(value))]


def search_literal(value: str) -> str:
    """A value quoted for Stripe's search language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class StripeClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = StripeConfig.model_validate(dict(settings.config))
        self._key = settings.credentials.get("secret_key", "") or ""
        self.http = HttpClient(
            self.config.base_url,
            auth=self._authenticate,
            secrets=[self._key],
            headers={"Stripe-Version": API_VERSION},
            system="Stripe",
            error_message=stripe_message,
            connection_id=settings.connection_id,
            rate_limit=settings.rate_limit,
        )
        self._schemas: dict[str, ObjectSchema] = {}

    def _authenticate(self, headers: MutableMapping[str, str]) -> None:
        if not self._key:
            raise AuthenticationError("No Stripe secret key is configured for this connection.", status=None)
        bearer_auth(self._key)(headers)

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        try:
            response = self.http.get("/v1/account")
        except HttpAuthenticationError as exc:
            detail = self.http.redact(stripe_message(exc.response) or exc.message)
            raise AuthenticationError(f"Stripe rejected the API key: {detail}", status=exc.status) from None
        account = response.data if isinstance(response.data, dict) else {}
        profile = account.get("business_profile") or {}
        dashboard = (account.get("settings") or {}).get("dashboard") or {}
        name = profile.get("name") or dashboard.get("display_name") or account.get("id") or "Stripe account"
        mode = "test mode" if self._key.startswith(("sk_test_", "rk_test_")) else "live mode"
        return f"Stripe: {name} ({mode})"

    def discover_schema(self, object_name: str) -> ObjectSchema:
        kind = self._kind(object_name)
        cached = self._schemas.get(object_name)
        if cached is not None:
            return cached
        response = self.http.get(kind.path, params={"limit": METADATA_SAMPLE})
        keys: dict[str, None] = {}
        for obj in (response.data or {}).get("data") or []:
            for key in (obj.get("metadata") or {}) if isinstance(obj, dict) else ():
                keys.setdefault(str(key))
        # Stripe has no schema for metadata: the keys in use on recent records are the custom fields.
        custom = tuple(
            FieldSchema(f"metadata.{key}", key, "string", read_only=not kind.writable, custom=True)
            for key in sorted(keys)
        )
        schema = ObjectSchema(name=object_name, label=kind.label, fields=kind.fields + custom)
        self._schemas[object_name] = schema
        return schema

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        kind = self._kind(object_name)
        limit = max(1, min(page_size, MAX_PAGE))
        state = _decode_cursor(cursor)
        if state is None or state.get("phase") == "full":
            yield from self._full_read(kind, state, limit)
        elif state.get("after_event"):
            yield from self._events_after(kind, str(state["after_event"]), limit)
        else:
            yield from self._events_since(kind, int(state["since"]), limit)

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        kind = self._kind(object_name)
        if not kind.writable:
            message = f"Stripe {object_name} are read-only here; only customers can be written."
            return [WriteResult(key=item.key, ok=False, error=message) for item in items]
        # Customers this batch already found or made, so a repeated email updates instead of duplicating.
        known: dict[str, str] = {}
        results: list[WriteResult] = []
        for item in items:
            results.append(self._write_customer(item, match_field, known))
        return results

    def find(self, object_name: str, field: str, value: Any) -> SourceRecord | None:
        """A customer by id, by email (search, then the exact list filter, as upserts match) or by
        another searchable field (name, phone, description, metadata.<key>); the oldest match wins."""
        kind = self._kind(object_name)
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        if field == "id":
            target: str | None = text
        elif object_name != "customers":
            raise ConnectorError(f"Stripe {object_name} can only be looked up by id.", permanent=True)
        elif field == "email":
            target = self._find_by_email(text)
        elif field in ("name", "phone", "description") or field.startswith("metadata."):
            key = field if not field.startswith("metadata.") else f"metadata[{search_literal(field[9:])}]"
            found = self.http.get(
                "/v1/customers/search", params={"query": f"{key}:{search_literal(text)}", "limit": 10}
            ).data
            matches = [c for c in (found or {}).get("data") or [] if isinstance(c, dict)]
            target = str(min(matches, key=lambda c: int(c.get("created") or 0))["id"]) if matches else None
        else:
            raise ConnectorError(f"Stripe customers cannot be looked up by {field}.", permanent=True)
        if target is None:
            return None
        try:
            obj = self.http.get(f"{kind.path}/{path_segment(target)}").data
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(obj, dict) or obj.get("deleted"):
            return None
        return self._record(obj, None)

    def delete(self, object_name: str, target_id: str) -> WriteResult:
        """Delete a customer for good (Stripe cancels its subscriptions); invoices and payments stay."""
        kind = self._kind(object_name)
        if not kind.writable:
            return WriteResult(
                key=target_id, ok=False, error=f"Stripe {object_name} cannot be deleted through the API here."
            )
        return delete_record(
            self.http,
            f"{kind.path}/{path_segment(target_id)}",
            target_id=target_id,
            gone=f"Stripe has no customer {target_id} (already deleted?).",
            rejections=_RECORD_REJECTIONS,
            message_of=stripe_message,
        )

    def delete_batch(self, object_name: str, ids: list[str]) -> list[WriteResult]:
        # Stripe has no batch endpoints.
        return [self.delete(object_name, target_id) for target_id in ids]

    # -- reading -----------------------------------------------------------------------------------

    def _kind(self, object_name: str) -> _Kind:
        try:
            return KINDS[object_name]
        except KeyError:
            raise ConnectorError(
                f"Stripe has no object {object_name!r} here; supported: {', '.join(KINDS)}.", permanent=True
            ) from None

    def _full_read(self, kind: _Kind, state: Mapping[str, Any] | None, limit: int) -> Iterator[ChangePage]:
        """Every object, newest first; the last page's cursor switches to the event stream."""
        if state is None:
            # The newest event *before* we start: everything after it is read from the events later.
            response = self.http.get("/v1/events", params={"type": f"{kind.event_prefix}.*", "limit": 1})
            newest = (response.data or {}).get("data") or []
            anchor = str(newest[0]["id"]) if newest else None
            since = _server_seconds(response) - BOOTSTRAP_MARGIN_SECONDS
            after = None
        else:
            anchor, since, after = state.get("anchor"), int(state["since"]), state.get("after")
        while True:
            params: dict[str, Any] = {"limit": limit}
            if after:
                params["starting_after"] = after
            data = self.http.get(kind.path, params=params).data or {}
            objects = [o for o in data.get("data") or [] if isinstance(o, dict)]
            more = bool(data.get("has_more")) and bool(objects)
            records = [self._record(o, o.get("created")) for o in objects]
            if objects:
                after = str(objects[-1]["id"])
            if more:
                next_cursor = _encode_cursor(
                    {"phase": "full", "after": after, "anchor": anchor, "since": since}
                )
            elif anchor:
                next_cursor = _encode_cursor({"phase": "events", "after_event": anchor})
            else:
                next_cursor = _encode_cursor({"phase": "events", "since": since})
            yield ChangePage(records=records, cursor=next_cursor, has_more=more)
            if not more:
                return

    def _events_after(self, kind: _Kind, anchor: str, limit: int) -> Iterator[ChangePage]:
        """Events newer than `anchor`, oldest first: Stripe's `ending_before` pages towards the present."""
        current = anchor
        while True:
            params = {"type": f"{kind.event_prefix}.*", "ending_before": current, "limit": limit}
            try:
                data = self.http.get("/v1/events", params=params).data or {}
            except HttpError as exc:
                if exc.status == 404 and _error_code(exc) == "resource_missing":
                    # Stripe keeps events for 30 days; an older cursor cannot be continued, so read
                    # everything again (repeats, never gaps).
                    logger.warning("Stripe event %s is gone; re-reading all %s", current, kind.label)
                    yield from self._full_read(kind, None, limit)
                    return
                raise
            events = [e for e in reversed(data.get("data") or []) if isinstance(e, dict)]
            if not events:
                yield ChangePage(
                    records=[],
                    cursor=_encode_cursor({"phase": "events", "after_event": current}),
                    has_more=False,
                )
                return
            current = str(events[-1]["id"])
            more = bool(data.get("has_more"))
            yield ChangePage(
                records=self._event_records(events),
                cursor=_encode_cursor({"phase": "events", "after_event": current}),
                has_more=more,
            )
            if not more:
                return

    def _events_since(self, kind: _Kind, since: int, limit: int) -> Iterator[ChangePage]:
        """Events created at or after `since` (no event to anchor on yet), oldest first.

        The list only comes newest first, so it is read to the end before handing out the oldest; this
        happens once, until the first event gives us an anchor.
        """
        collected: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {
                "type": f"{kind.event_prefix}.*",
                "created[gte]": since,
                "limit": MAX_PAGE,
            }
            if after:
                params["starting_after"] = after
            data = self.http.get("/v1/events", params=params).data or {}
            batch = [e for e in data.get("data") or [] if isinstance(e, dict)]
            collected.extend(batch)
            if not batch or not data.get("has_more"):
                break
            after = str(batch[-1]["id"])
        collected.reverse()
        if not collected:
            yield ChangePage(
                records=[], cursor=_encode_cursor({"phase": "events", "since": since}), has_more=False
            )
            return
        for start in range(0, len(collected), limit):
            chunk = collected[start : start + limit]
            yield ChangePage(
                records=self._event_records(chunk),
                cursor=_encode_cursor({"phase": "events", "after_event": str(chunk[-1]["id"])}),
                has_more=start + limit < len(collected),
            )

    def _event_records(self, events: list[dict[str, Any]]) -> list[SourceRecord]:
        """The object snapshot of each event; one record per object (its latest state in the page)."""
        latest: dict[str, SourceRecord] = {}
        for event in events:
            obj = (event.get("data") or {}).get("object")
            if not isinstance(obj, dict) or obj.get("id") is None:
                continue
            if obj.get("deleted") or str(event.get("type") or "").endswith(".deleted"):
                # A deletion is a change too: the object's last state, marked `deleted`, so a sync can
                # tell (its deleted_when condition) and act on the other side.
                logger.info(
                    "Stripe %s %s was deleted (event %s)", obj.get("object"), obj.get("id"), event.get("id")
                )
                seconds = event.get("created")
                moment = seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else None
                if moment is None:
                    continue
                record = SourceRecord(
                    id=str(obj["id"]),
                    updated_at=datetime.fromtimestamp(moment, UTC),
                    fields={**flatten(obj), "deleted": True},
                )
                latest.pop(record.id, None)
                latest[record.id] = record
                continue
            record = self._record(obj, event.get("created"))
            latest.pop(record.id, None)
            latest[record.id] = record
        return list(latest.values())

    @staticmethod
    def _record(obj: Mapping[str, Any], seconds: Any) -> SourceRecord:
        moment = seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else obj.get("created")
        if not isinstance(moment, int):
            raise ConnectorError(f"Stripe object {obj.get('id')} has no creation time.", permanent=True)
        return SourceRecord(
            id=str(obj["id"]), updated_at=datetime.fromtimestamp(moment, UTC), fields=flatten(obj)
        )

    # -- writing -----------------------------------------------------------------------------------

    def _write_customer(self, item: WriteItem, match_field: str, known: dict[str, str]) -> WriteResult:
        email = str(item.fields.get("email") or "").strip()
        try:
            target = item.target_id
            if not target:
                if match_field != "email":
                    return WriteResult(
                        key=item.key,
                        ok=False,
                        error=f"Stripe customers can only be matched on email, not {match_field}.",
                    )
                if not email:
                    return WriteResult(
                        key=item.key,
                        ok=False,
                        error="No email to match the Stripe customer on; it was not written.",
                    )
                target = known.get(email.lower()) or self._find_by_email(email)
            body = urlencode(form_pairs(item.fields))
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            action: Literal["created", "updated"]
            if target:
                response = self.http.post(f"/v1/customers/{path_segment(target)}", data=body, headers=headers)
                action = "updated"
            else:
                # The key makes the HTTP layer's retries safe: Stripe answers a repeat with the first result.
                headers["Idempotency-Key"] = str(uuid.uuid4())
                response = self.http.post("/v1/customers", data=body, headers=headers)
                action = "created"
        except HttpError as exc:
            if exc.status not in _RECORD_REJECTIONS:
                raise
            message = stripe_message(exc.response) if exc.response is not None else None
            return WriteResult(key=item.key, ok=False, error=self.http.redact(message or exc.message))
        except ConnectorError as exc:
            # Credentials and outages concern the whole batch; anything else is this record's problem.
            if isinstance(exc, AuthenticationError) or not exc.permanent:
                raise
            return WriteResult(key=item.key, ok=False, error=exc.message)
        customer = response.data if isinstance(response.data, dict) else {}
        customer_id = str(customer.get("id") or target or "")
        if email:
            known[email.lower()] = customer_id
        return WriteResult(key=item.key, ok=True, target_id=customer_id, action=action)

    def _find_by_email(self, email: str) -> str | None:
        """The customer with this email: search (case-insensitive), then the exact list filter.

        Stripe's search index can lag writes by up to a minute; the list filter is exact and current,
        so a customer created moments ago (by us or anyone) is still found. With several customers on
        one email (Stripe allows that) the oldest is updated, so repeated runs pick the same one.
        """
        found = self.http.get(
            "/v1/customers/search", params={"query": f"email:{search_literal(email)}", "limit": 10}
        ).data
        matches = [c for c in (found or {}).get("data") or [] if isinstance(c, dict)]
        if not matches:
            listed = self.http.get("/v1/customers", params={"email": email, "limit": 10}).data
            matches = [c for c in (listed or {}).get("data") or [] if isinstance(c, dict)]
        if not matches:
            return None
        # Stripe answers newest first, so within one second of creation a later position is older.
        oldest = min(enumerate(matches), key=lambda pair: (int(pair[1].get("created") or 0), -pair[0]))
        return str(oldest[1]["id"])


def _server_seconds(response: HttpResponse) -> int:
    """Stripe's clock (the Date header) in unix seconds; ours if the header is missing."""
    raw = response.header("Date")
    if raw:
        try:
            return int(parsedate_to_datetime(raw).timestamp())
        except (TypeError, ValueError, IndexError):
            pass
    return int(datetime.now(UTC).timestamp())


def _encode_cursor(state: Mapping[str, Any]) -> str:
    return json.dumps(dict(state), separators=(",", ":"), sort_keys=True)


def _decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None or not cursor.strip():
        return None
    try:
        state = json.loads(cursor)
    except ValueError:
        state = None
    valid = isinstance(state, dict) and (
        (state.get("phase") == "full" and isinstance(state.get("since"), int))
        or (
            state.get("phase") == "events"
            and (isinstance(state.get("after_event"), str) or isinstance(state.get("since"), int))
        )
    )
    if not valid:
        raise ConnectorError(f"Not a Stripe cursor: {cursor!r}", permanent=True)
    assert isinstance(state, dict)
    return state
