"""HubSpot CRM v3 client: contacts, companies, deals, tickets, tasks and custom objects (objects, search,
batch, properties, owners and schemas APIs)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from connectors.base import (
    AuthenticationError,
    ChangePage,
    ConnectionConfig,
    ConnectionSettings,
    ConnectorClient,
    ConnectorError,
    FieldSchema,
    FieldType,
    ObjectSchema,
    PicklistOption,
    SourceRecord,
    WriteItem,
    WriteResult,
    path_segment,
)
from connectors.http import HttpAuthenticationError, HttpClient, HttpError, HttpResponse, bearer_auth
from connectors.providers.deleting import delete_record
from connectors.providers.hubspot.associations import FIELD_PREFIX, Associations, create_body, split_fields
from connectors.providers.hubspot.custom_objects import (
    CustomObject,
    association_types,
    discover_custom_objects,
    find_custom_object,
    is_custom_object,
    parse_custom_objects,
)
from connectors.providers.hubspot.pipelines import PIPELINE_PROPERTIES, with_pipeline_labels
from connectors.providers.single_send import send_once

logger = logging.getLogger(__name__)

HUBSPOT_API_URL = "https://api.hubapi.com"
OBJECTS: dict[str, str] = {
    "contacts": "Contacts",
    "companies": "Companies",
    "deals": "Deals",
    "tickets": "Tickets",
    "tasks": "Tasks",
}
MAX_BATCH = 100
MAX_SEARCH_PAGE = 100
# HubSpot search refuses to page past this offset; see `list_changes` for how we stay under it.
SEARCH_OFFSET_LIMIT = 10_000
# HubSpot names the modification-time property differently per object; contacts keep the old name.
_MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "tickets": "hs_lastmodifieddate",
    "tasks": "hs_lastmodifieddate",
}
_MODIFIED_FALLBACKS = ("hs_lastmodifieddate", "lastmodifieddate")
# Custom objects keep their creation time in hs_createdate (the standard objects: createdate).
_CUSTOM_CREATED = "hs_createdate"
# Statuses for which HubSpot rejects the records we sent rather than the request as such.
_RECORD_REJECTIONS = frozenset({400, 404, 409, 422})
# Properties whose values HubSpot keeps unique, besides the record id and custom properties created with
# unique values: those are read directly (GET .../{value}?idProperty=...), which sees a record the moment
# it is created, while search is eventually consistent. A company's domain is not unique in HubSpot.
_BUILTIN_ID_PROPERTIES: dict[str, frozenset[str]] = {"contacts": frozenset({"email"})}

_T = TypeVar("_T")

_SIMPLE_TYPES: dict[str, FieldType] = {
    "number": "number",
    "bool": "boolean",
    "date": "date",
    "datetime": "datetime",
    "phone_number": "phone",
    "json": "json",
}


class HubSpotConfig(ConnectionConfig):
    base_url: str = HUBSPOT_API_URL
    custom_objects: dict[str, str] = Field(
        default_factory=dict,
        description="Custom objects to work with, each as name:upsert property (the property optional), "
        "e.g. 'p7300001_cars:vin, p7300001_pets'. The name is the object's fully qualified name or its "
        "object type id.",
    )

    @field_validator("custom_objects", mode="before")
    @classmethod
    def _custom_objects_from_text(cls, value: Any) -> Any:
        return parse_custom_objects(value)


_INVALID_PREFIX = "Property values were not valid: "


def hubspot_message(response: HttpResponse) -> str | None:
    """HubSpot's own error text (its `message`), which is what a person needs to fix the record.

    Validation errors embed a JSON list of per-property results in the message; we keep HubSpot's
    wording but list each distinct problem once instead of echoing raw JSON.
    """
    data = response.data
    if not isinstance(data, dict):
        return None
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    message = message.strip()
    if message.startswith(_INVALID_PREFIX):
        try:
            problems = json.loads(message[len(_INVALID_PREFIX) :])
        except ValueError:
            return message
        if isinstance(problems, list):
            texts = [str(p["message"]) for p in problems if isinstance(p, dict) and p.get("message")]
            if texts:
                return _INVALID_PREFIX + "; ".join(dict.fromkeys(texts))
    return message


def parse_timestamp(value: Any) -> datetime | None:
    """HubSpot sends ISO 8601 (`...123Z`) in v3 and epoch milliseconds in older shapes; accept both."""
    if value.__class__ is str and value[-1:] == "Z" and value[:1].isdigit():
        # The v3 shape, read for every record of every page: straight to the parser (3.11 takes "Z").
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # the slower path below gives the same answer for whatever this is
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _epoch_ms(moment: datetime) -> int:
    # Integer arithmetic on the parts: float timestamps can be off by one millisecond.
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


# Ids already read at the cursor's exact millisecond are remembered so an idle poll reads nothing
# again; past this many the list is dropped, and those few records are simply read once more.
MAX_SEEN_AT_CURSOR = 500


def encode_cursor(since_ms: int, seen: Iterable[str] = ()) -> str:
    ids = sorted(set(seen))
    data: dict[str, Any] = {"since_ms": since_ms}
    if ids and len(ids) <= MAX_SEEN_AT_CURSOR:
        data["seen"] = ids
    return json.dumps(data, separators=(",", ":"))


def decode_cursor(cursor: str | None) -> tuple[int | None, frozenset[str]]:
    """The cursor's millisecond and the ids already read at exactly that millisecond."""
    if cursor is None or not cursor.strip():
        return None, frozenset()
    try:
        data = json.loads(cursor)
        since = data["since_ms"]
        seen = data.get("seen", [])
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ConnectorError(f"Not a HubSpot cursor: {cursor!r}", permanent=True) from None
    if not isinstance(since, int) or isinstance(since, bool) or not isinstance(seen, list):
        raise ConnectorError(f"Not a HubSpot cursor: {cursor!r}", permanent=True)
    return since, frozenset(str(item) for item in seen)


def to_hubspot_value(value: Any) -> str:
    """HubSpot stores every property value as a string; an empty string clears a property."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        # Multi-select properties take their values separated by semicolons.
        return ";".join(to_hubspot_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _field_type(prop: Mapping[str, Any]) -> FieldType:
    kind = str(prop.get("type") or "string")
    field_type = str(prop.get("fieldType") or "")
    if kind == "enumeration":
        # Old-style checkboxes are enumerations of "true"/"false"; they behave as booleans.
        return "boolean" if field_type == "booleancheckbox" else "enumeration"
    if kind in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[kind]
    if field_type == "phonenumber":
        return "phone"
    if prop.get("name") == "email" or field_type == "email":
        return "email"
    return "string"


def field_from_property(prop: Mapping[str, Any]) -> FieldSchema:
    field_type = _field_type(prop)
    options: tuple[PicklistOption, ...] = ()
    if field_type == "enumeration":
        ordered = sorted(
            (o for o in prop.get("options") or [] if not o.get("hidden")),
            key=lambda o: o.get("displayOrder", 0) if isinstance(o.get("displayOrder"), int) else 0,
        )
        options = tuple(
            PicklistOption(value=str(o.get("value")), label=str(o.get("label") or o.get("value")))
            for o in ordered
        )
    metadata = prop.get("modificationMetadata") or {}
    read_only = bool(metadata.get("readOnlyValue")) or bool(prop.get("calculated"))
    return FieldSchema(
        name=str(prop["name"]),
        label=str(prop.get("label") or prop["name"]),
        type=field_type,
        read_only=read_only,
        custom=not prop.get("hubspotDefined", False),
        options=options,
    )


def _normalise_key(value: str) -> str:
    return value.strip().lower()


@dataclass(frozen=True)
class _Entry:
    """One item of the caller's batch, remembered with its position so results can be put back in order."""

    index: int
    item: WriteItem
    match_value: str | None = None


class HubSpotClient(ConnectorClient):
    """Authenticates with a private-app token, or (OAuth) with whatever the token source hands out."""

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = HubSpotConfig.model_validate(dict(settings.config))
        self._token = settings.credentials.get("access_token", "") or ""
        self._token_source = settings.token_source
        self._last_sent = ""
        self.http = HttpClient(
            self.config.base_url,
            auth=self._authenticate,
            secrets=[self._token],
            system="HubSpot",
            error_message=hubspot_message,
            connection_id=settings.connection_id,
            rate_limit=settings.rate_limit,
            reauthenticate=self._reauthenticate if self._token_source is not None else None,
        )
        self._schemas: dict[str, ObjectSchema] = {}
        self._unique_properties: dict[str, frozenset[str]] = {}
        self._custom_objects: list[CustomObject] | None = None

    def _authenticate(self, headers: MutableMapping[str, str]) -> None:
        token = self._token_source.access_token() if self._token_source is not None else self._token
        if not token:
            raise AuthenticationError(
                "No HubSpot access token is configured for this connection.", status=None
            )
        # Tokens obtained by refreshing are new secrets: keep them out of messages too.
        self.http.add_secret(token)
        self._last_sent = token
        bearer_auth(token)(headers)

    def _reauthenticate(self) -> None:
        # HubSpot answered 401 (e.g. EXPIRED_AUTHENTICATION before our expiry said so): one refresh.
        assert self._token_source is not None
        self.http.add_secret(self._token_source.refresh(rejected=self._last_sent or None))

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        try:
            self.http.get("/crm/v3/objects/contacts", params={"limit": 1, "archived": "false"})
        except HttpAuthenticationError as exc:
            # HubSpot's own words, redacted: an error body may echo the credential back.
            detail = self.http.redact(hubspot_message(exc.response) or exc.message)
            if exc.status == 403:
                raise AuthenticationError(
                    f"HubSpot refused access to contacts (check the private app's scopes): {detail}",
                    status=403,
                ) from None
            raise AuthenticationError(
                f"HubSpot rejected the access token: {detail}", status=exc.status
            ) from None
        host = urlsplit(self.config.base_url).hostname or self.config.base_url
        return f"HubSpot CRM at {host}"

    def discover_schema(self, object_name: str) -> ObjectSchema:
        self._check_object(object_name)
        cached = self._schemas.get(object_name)
        if cached is not None:
            return cached
        response = self.http.get(f"/crm/v3/properties/{object_name}", params={"archived": "false"})
        results = response.data.get("results", []) if isinstance(response.data, dict) else []
        fields = tuple(field_from_property(prop) for prop in results if prop.get("name"))
        # Only custom properties can be created with unique values; a built-in one flagged so is not
        # accepted as an idProperty by HubSpot.
        self._unique_properties[object_name] = frozenset(
            str(prop["name"])
            for prop in results
            if prop.get("name") and prop.get("hasUniqueValue") and not prop.get("hubspotDefined", False)
        )
        if object_name in PIPELINE_PROPERTIES:
            fields = with_pipeline_labels(self.http, object_name, fields)
        label = OBJECTS.get(object_name) or self.custom_object(object_name).label
        schema = ObjectSchema(name=object_name, label=label, fields=fields)
        self._schemas[object_name] = schema
        return schema

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        """Search by modification time, ascending, re-anchoring the search on every page.

        Each page's cursor is "everything modified at or after the newest record of this page": all
        records not yet yielded sort at or after it, so resuming from it repeats a few records at
        that exact millisecond but never skips one.

        Within one read we also re-anchor the search (filter >= newest time seen, offset = how many
        records at exactly that time we already have) instead of paging one search with a growing
        offset. That keeps the offset tiny, far from HubSpot's 10,000 cap, and means a record edited
        while we page (it jumps to the end of the ordering) cannot shift unread records into the
        part of the result we have already passed.
        """
        schema = self.discover_schema(object_name)
        modified = self._modified_property(object_name, schema)
        properties = [f.name for f in schema.fields]
        limit = max(1, min(page_size, MAX_SEARCH_PAGE))
        since, seen = decode_cursor(cursor)
        offset = 0
        while True:
            if offset >= SEARCH_OFFSET_LIMIT:
                raise ConnectorError(
                    f"More than {SEARCH_OFFSET_LIMIT} HubSpot {object_name} share the modification time "
                    f"{since} ms; HubSpot search cannot page through them.",
                    permanent=True,
                )
            body: dict[str, Any] = {
                "filterGroups": (
                    [{"filters": [{"propertyName": modified, "operator": "GTE", "value": str(since)}]}]
                    if since is not None
                    else []
                ),
                "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                "properties": properties,
                "limit": limit,
            }
            if offset:
                body["after"] = str(offset)
            response = self.http.post(f"/crm/v3/objects/{object_name}/search", json=body)
            data = response.data if isinstance(response.data, dict) else {}
            records = [self._record(raw, modified) for raw in data.get("results") or []]
            more = bool(((data.get("paging") or {}).get("next") or {}).get("after"))
            if not records:
                yield ChangePage(
                    records=[],
                    cursor=encode_cursor(since, seen) if since is not None else cursor,
                    has_more=False,
                )
                return
            newest = _epoch_ms(records[-1].updated_at)
            ids_at_newest = {r.id for r in records if _epoch_ms(r.updated_at) == newest}
            # A record at the anchor millisecond whose id was read before has not changed since.
            fresh = [r for r in records if not (r.id in seen and _epoch_ms(r.updated_at) == since)]
            if since is not None and newest == since:
                # The whole page sits on the anchor millisecond: step over it within the same anchor.
                offset += len(records)
                seen = seen | ids_at_newest
            else:
                offset = len(ids_at_newest)
                seen = frozenset(ids_at_newest)
            since = newest
            yield ChangePage(records=fresh, cursor=encode_cursor(since, seen), has_more=more)
            if not more:
                return

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        """Fields named `associations.<object>` (a record id, or a list of them) link the record written
        to those records: in the create itself, or right after an update."""
        self._check_object(object_name)
        results: dict[int, WriteResult] = {}
        updates: list[_Entry] = []
        upserts: list[_Entry] = []
        links: dict[int, dict[str, list[str]]] = {}
        for index, original in enumerate(items):
            try:
                properties, wanted = split_fields(
                    object_name,
                    original.fields,
                    self._custom_types(object_name, _link_targets(original.fields)),
                )
            except ValueError as exc:
                results[index] = WriteResult(key=original.key, ok=False, error=str(exc))
                continue
            item = WriteItem(key=original.key, fields=properties, target_id=original.target_id)
            if item.target_id:
                links[index] = wanted
                updates.append(_Entry(index, item))
                continue
            if not match_field:
                # Deals, tickets and tasks have no natural key: without a target id a record is new.
                results[index] = self._create_one(object_name, item, wanted)
                continue
            links[index] = wanted
            raw = item.fields.get(match_field)
            match_value = to_hubspot_value(raw).strip() if raw is not None else ""
            if not match_value:
                results[index] = WriteResult(
                    key=item.key,
                    ok=False,
                    error=f"No {match_field} to match the HubSpot record on; the record was not written.",
                )
                continue
            upserts.append(_Entry(index, item, match_value))

        for chunk in _chunks(updates, MAX_BATCH):
            results.update(self._write(object_name, "update", chunk, match_field))
        if upserts and match_field not in self._id_properties(object_name):
            # HubSpot upserts only by a property with unique values; a company's domain is not one.
            results.update(self._upsert_by_search(object_name, upserts, match_field, links))
            upserts = []
        # HubSpot rejects a batch that names the same record twice, so repeats go in a later round.
        for round_entries in _unique_rounds(upserts):
            for chunk in _chunks(round_entries, MAX_BATCH):
                results.update(self._write(object_name, "upsert", chunk, match_field))
        for index, wanted in links.items():
            result = results[index]
            if result.ok and result.target_id and wanted:
                results[index] = self._associate(object_name, result, wanted)
        return [results[i] for i in range(len(items))]

    def _upsert_by_search(
        self,
        object_name: str,
        entries: Sequence[_Entry],
        match_field: str,
        links: dict[int, dict[str, list[str]]],
    ) -> dict[int, WriteResult]:
        """Upsert on a property without unique values: update the oldest record holding each value, create
        the rest one at a time. Records created here are remembered, because search only shows them
        seconds later and a repeat of the value in the same batch must update rather than duplicate."""
        results: dict[int, WriteResult] = {}
        created: dict[str, str] = {}
        for round_entries in _unique_rounds(entries):
            wanted = [
                e.match_value or ""
                for e in round_entries
                if _normalise_key(e.match_value or "") not in created
            ]
            existing = {**self._ids_by_value(object_name, match_field, wanted), **created}
            to_update: list[_Entry] = []
            for entry in round_entries:
                key = _normalise_key(entry.match_value or "")
                fields = {**entry.item.fields, match_field: entry.match_value}
                if key in existing:
                    item = WriteItem(key=entry.item.key, fields=fields, target_id=existing[key])
                    to_update.append(_Entry(entry.index, item, entry.match_value))
                    continue
                item = WriteItem(key=entry.item.key, fields=fields)
                # The links go in the create itself.
                result = self._create_one(object_name, item, links.pop(entry.index, None))
                results[entry.index] = result
                if result.ok and result.target_id:
                    created[key] = result.target_id
            for chunk in _chunks(to_update, MAX_BATCH):
                results.update(self._write(object_name, "update", chunk, match_field))
        return results

    def _ids_by_value(self, object_name: str, field: str, values: Sequence[str]) -> dict[str, str]:
        """Normalised value -> id of the oldest record whose `field` holds it (search, IN filter)."""
        found: dict[str, str] = {}
        distinct = sorted({v.strip() for v in values if v.strip()})
        for chunk in _chunks(distinct, MAX_BATCH):
            after: str | None = None
            while True:
                body: dict[str, Any] = {
                    "filterGroups": [
                        {"filters": [{"propertyName": field, "operator": "IN", "values": chunk}]}
                    ],
                    "sorts": [{"propertyName": _created_property(object_name), "direction": "ASCENDING"}],
                    "properties": [field],
                    "limit": MAX_BATCH,
                }
                if after:
                    body["after"] = after
                response = self.http.post(f"/crm/v3/objects/{object_name}/search", json=body)
                data = response.data if isinstance(response.data, dict) else {}
                for raw in data.get("results") or []:
                    value = str(((raw.get("properties") or {}).get(field)) or "")
                    found.setdefault(_normalise_key(value), str(raw.get("id")))
                after = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break
        return found

    def find(self, object_name: str, field: str, value: Any) -> SourceRecord | None:
        """The record whose `field` equals `value` (case-blind, as HubSpot compares text).

        The record id, a contact's email and custom unique properties are read directly, so a record
        created a moment ago is found (HubSpot's search only shows it seconds later, and a second
        submission would create a duplicate). Other properties go through search: the oldest match.
        """
        self._check_object(object_name)
        schema = self.discover_schema(object_name)
        modified = self._modified_property(object_name, schema)
        name = "hs_object_id" if field in ("id", "hs_object_id") else field
        if schema.fields and name != "hs_object_id" and schema.field(name) is None:
            raise ConnectorError(f"HubSpot {object_name} have no property {field!r}.", permanent=True)
        text = to_hubspot_value(value).strip()
        if not text:
            return None
        if name == "hs_object_id" or name in self._id_properties(object_name):
            return self._read_by(object_name, name, text, schema, modified)
        body = {
            "filterGroups": [{"filters": [{"propertyName": name, "operator": "EQ", "value": text}]}],
            "sorts": [{"propertyName": _created_property(object_name), "direction": "ASCENDING"}],
            "properties": [f.name for f in schema.fields],
            "limit": 1,
        }
        response = self.http.post(f"/crm/v3/objects/{object_name}/search", json=body)
        data = response.data if isinstance(response.data, dict) else {}
        found = [r for r in data.get("results") or [] if isinstance(r, dict)]
        return self._record(found[0], modified) if found else None

    def _id_properties(self, object_name: str) -> frozenset[str]:
        builtin = _BUILTIN_ID_PROPERTIES.get(object_name, frozenset())
        return builtin | self._unique_properties.get(object_name, frozenset())

    def _read_by(
        self, object_name: str, name: str, value: str, schema: ObjectSchema, modified: str
    ) -> SourceRecord | None:
        """`GET /crm/v3/objects/{object}/{value}?idProperty=name`; HubSpot answers 404 when no record has it."""
        params = {"properties": ",".join(f.name for f in schema.fields)}
        if name != "hs_object_id":
            params["idProperty"] = name
        try:
            response = self.http.get(f"/crm/v3/objects/{object_name}/{path_segment(value)}", params=params)
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise
        return self._record(response.data, modified) if isinstance(response.data, dict) else None

    def delete(self, object_name: str, target_id: str) -> WriteResult:
        """Archive one record (HubSpot's delete): it leaves every read and sits in the recycle bin."""
        self._check_object(object_name)
        return delete_record(
            self.http,
            f"/crm/v3/objects/{object_name}/{path_segment(target_id)}",
            target_id=target_id,
            gone=f"HubSpot has no {object_name} record {target_id} (already deleted?).",
            rejections=_RECORD_REJECTIONS,
            message_of=hubspot_message,
            expected=(200, 204),
        )

    def delete_batch(self, object_name: str, ids: list[str]) -> list[WriteResult]:
        """Archive records 100 at a time. HubSpot answers 204 whether or not an id still existed, so a
        record deleted twice is simply deleted."""
        self._check_object(object_name)
        for start in range(0, len(ids), MAX_BATCH):
            chunk = ids[start : start + MAX_BATCH]
            self.http.post(
                f"/crm/v3/objects/{object_name}/batch/archive",
                json={"inputs": [{"id": i} for i in chunk]},
                expected=(200, 204),
            )
        return [WriteResult(key=i, ok=True, target_id=i, action="deleted") for i in ids]

    def archived(self, object_name: str, *, page_size: int = 100) -> Iterator[SourceRecord]:
        """Records in the recycle bin (`archived=true`): how a sync learns what was deleted in HubSpot."""
        self._check_object(object_name)
        modified = _MODIFIED_PROPERTY.get(object_name, "hs_lastmodifieddate")
        params: dict[str, Any] = {"archived": "true", "limit": max(1, min(page_size, MAX_SEARCH_PAGE))}
        while True:
            response = self.http.get(f"/crm/v3/objects/{object_name}", params=params)
            data = response.data if isinstance(response.data, dict) else {}
            for raw in data.get("results") or []:
                if isinstance(raw, dict):
                    record = self._record(raw, modified)
                    yield SourceRecord(
                        id=record.id,
                        updated_at=parse_timestamp(raw.get("archivedAt")) or record.updated_at,
                        fields={**record.fields, "archived": True},
                    )
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            params["after"] = after

    def owners(self) -> list[dict[str, Any]]:
        """The account's users who can own records: id, email, first and last name (GET /crm/v3/owners)."""
        owners: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 100}
        while True:
            response = self.http.get("/crm/v3/owners", params=params)
            data = response.data if isinstance(response.data, dict) else {}
            owners.extend(o for o in data.get("results") or [] if isinstance(o, dict))
            after = ((data.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return owners
            params["after"] = after

    def custom_objects(self) -> list[CustomObject]:
        """The account's custom objects (`GET /crm/v3/schemas`), read once per client."""
        if self._custom_objects is None:
            self._custom_objects = discover_custom_objects(self.http)
        return self._custom_objects

    def custom_object(self, object_name: str) -> CustomObject:
        """The custom object `object_name` (its fully qualified name or object type id) addresses."""
        return find_custom_object(self.custom_objects(), object_name)

    @cached_property
    def associations(self) -> Associations:
        """Links between records (API v4), e.g. a new deal to its contact and company."""
        return Associations(self.http)

    # -- helpers -----------------------------------------------------------------------------------

    def _create_one(
        self, object_name: str, item: WriteItem, links: Mapping[str, list[str]] | None = None
    ) -> WriteResult:
        """One record, sent at most once: a create has no key HubSpot could recognise a repeat by."""
        properties = {name: to_hubspot_value(value) for name, value in item.fields.items()}
        body: dict[str, Any] = {"properties": properties}
        if links:
            body["associations"] = create_body(object_name, links, self._custom_types(object_name, links))
        try:
            response = send_once(self.http, "POST", f"/crm/v3/objects/{object_name}", json=body)
        except HttpError as exc:
            if exc.status not in _RECORD_REJECTIONS:
                raise
            message = hubspot_message(exc.response) if exc.response is not None else None
            return WriteResult(
                key=item.key, ok=False, error=self.http.redact(message) if message else exc.message
            )
        record = response.data if isinstance(response.data, dict) else {}
        return WriteResult(key=item.key, ok=True, target_id=str(record.get("id")), action="created")

    def _associate(
        self, object_name: str, result: WriteResult, links: Mapping[str, list[str]]
    ) -> WriteResult:
        """Link a record just updated; a link HubSpot refuses fails the record with HubSpot's words."""
        assert result.target_id is not None
        try:
            for to_object, ids in links.items():
                for to_id in ids:
                    self.associations.associate(object_name, result.target_id, to_object, to_id)
        except HttpError as exc:
            if exc.status not in _RECORD_REJECTIONS:
                raise
            message = hubspot_message(exc.response) if exc.response is not None else None
            return WriteResult(
                key=result.key,
                ok=False,
                target_id=result.target_id,
                error=f"Written, but not linked: {self.http.redact(message or exc.message)}",
            )
        return result

    def _check_object(self, object_name: str) -> None:
        if object_name not in OBJECTS and not is_custom_object(object_name):
            raise ConnectorError(
                f"HubSpot has no object {object_name!r} here; supported: {', '.join(OBJECTS)} and custom "
                "objects by fully qualified name (p<portal>_<name>) or object type id (2-<n>).",
                permanent=True,
            )

    def _custom_types(self, object_name: str, linked: Iterable[str]) -> dict[tuple[str, str], int]:
        """The association types of custom objects, fetched only when a write links a custom object."""
        if not any(is_custom_object(name) for name in (object_name, *linked)):
            return {}
        return association_types(self.custom_objects())

    def _modified_property(self, object_name: str, schema: ObjectSchema) -> str:
        preferred = _MODIFIED_PROPERTY.get(object_name, "hs_lastmodifieddate")
        if schema.field(preferred) is not None or not schema.fields:
            return preferred
        return next((name for name in _MODIFIED_FALLBACKS if schema.field(name) is not None), preferred)

    def _record(self, raw: Mapping[str, Any], modified: str) -> SourceRecord:
        properties = dict(raw.get("properties") or {})
        updated = (
            parse_timestamp(properties.get(modified))
            or parse_timestamp(raw.get("updatedAt"))
            or parse_timestamp(properties.get("createdate"))
            or parse_timestamp(properties.get(_CUSTOM_CREATED))
            or parse_timestamp(raw.get("createdAt"))
        )
        if updated is None:
            raise ConnectorError(f"HubSpot record {raw.get('id')} has no modification time.", permanent=True)
        return SourceRecord(id=str(raw.get("id")), updated_at=updated, fields=properties)

    def _write(
        self, object_name: str, kind: Literal["update", "upsert"], entries: Sequence[_Entry], match_field: str
    ) -> dict[int, WriteResult]:
        """Write one batch; when HubSpot rejects the batch as a whole, split it to find the bad records."""
        try:
            response = self._send_batch(object_name, kind, entries, match_field)
        except HttpError as exc:
            if exc.status not in _RECORD_REJECTIONS:
                raise
            if len(entries) == 1:
                entry = entries[0]
                message = hubspot_message(exc.response) if exc.response is not None else None
                # Stored on the run for people to read, so redacted like every other message.
                error = self.http.redact(message) if message else exc.message
                return {entry.index: WriteResult(key=entry.item.key, ok=False, error=error)}
            # One invalid input fails HubSpot's whole batch; halving isolates the bad ones in
            # O(bad * log n) calls while the valid records still go through.
            middle = len(entries) // 2
            results = self._write(object_name, kind, entries[:middle], match_field)
            results.update(self._write(object_name, kind, entries[middle:], match_field))
            return results
        return self._map_results(kind, entries, response, match_field)

    def _send_batch(
        self, object_name: str, kind: Literal["update", "upsert"], entries: Sequence[_Entry], match_field: str
    ) -> HttpResponse:
        inputs: list[dict[str, Any]] = []
        for entry in entries:
            properties = {name: to_hubspot_value(value) for name, value in entry.item.fields.items()}
            if kind == "update":
                inputs.append({"id": entry.item.target_id, "properties": properties})
            else:
                # The match value also goes in the properties so the result carries it back to us.
                properties[match_field] = entry.match_value or ""
                inputs.append({"id": entry.match_value, "idProperty": match_field, "properties": properties})
        return self.http.post(f"/crm/v3/objects/{object_name}/batch/{kind}", json={"inputs": inputs})

    def _map_results(
        self,
        kind: Literal["update", "upsert"],
        entries: Sequence[_Entry],
        response: HttpResponse,
        match_field: str,
    ) -> dict[int, WriteResult]:
        data = response.data if isinstance(response.data, dict) else {}
        records = [r for r in data.get("results") or [] if isinstance(r, dict)]

        def key_of(entry: _Entry) -> str:
            if kind == "update":
                return entry.item.target_id or ""
            return _normalise_key(entry.match_value or "")

        def record_key(record: Mapping[str, Any]) -> str:
            if kind == "update":
                return str(record.get("id"))
            return _normalise_key(str((record.get("properties") or {}).get(match_field) or ""))

        # HubSpot does not promise results in input order, so match them on the id / match value.
        by_key = {record_key(r): r for r in records}
        results: dict[int, WriteResult] = {}
        unmatched_entries = [e for e in entries if key_of(e) not in by_key]
        used = {key_of(e) for e in entries if key_of(e) in by_key}
        unmatched_records = [r for r in records if record_key(r) not in used]
        pairs: list[tuple[_Entry, Mapping[str, Any]]] = [
            (e, by_key[key_of(e)]) for e in entries if key_of(e) in by_key
        ]
        if unmatched_entries and len(unmatched_entries) == len(unmatched_records):
            # HubSpot may normalise the match value (case, whitespace); fall back to input order.
            pairs.extend(zip(unmatched_entries, unmatched_records, strict=True))
            unmatched_entries = []
        for entry, record in pairs:
            created = kind == "upsert" and bool(record.get("new"))
            results[entry.index] = WriteResult(
                key=entry.item.key,
                ok=True,
                target_id=str(record.get("id")),
                action="created" if created else "updated",
            )
        if unmatched_entries:
            errors = _errors_by_id(data.get("errors") or [])
            for entry in unmatched_entries:
                message = (
                    errors.get(key_of(entry))
                    or errors.get("*")
                    or "HubSpot returned no result for this record."
                )
                results[entry.index] = WriteResult(
                    key=entry.item.key, ok=False, error=self.http.redact(message)
                )
        return results


def _link_targets(fields: Mapping[str, Any]) -> list[str]:
    """The objects a write's `associations.<object>` fields link to."""
    return [name[len(FIELD_PREFIX) :] for name in fields if name.startswith(FIELD_PREFIX)]


def _created_property(object_name: str) -> str:
    return _CUSTOM_CREATED if is_custom_object(object_name) else "createdate"


def _errors_by_id(errors: Sequence[Any]) -> dict[str, str]:
    """Multi-status (207) errors keyed by the ids they name; "*" for errors that name none."""
    found: dict[str, str] = {}
    for error in errors:
        if not isinstance(error, dict):
            continue
        message = str(error.get("message") or error.get("category") or "Rejected by HubSpot")
        ids = (error.get("context") or {}).get("ids") or []
        if not ids:
            found.setdefault("*", message)
        for value in ids:
            found[_normalise_key(str(value))] = message
    return found


def _chunks(entries: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(entries), size):
        yield entries[start : start + size]


def _unique_rounds(entries: Sequence[_Entry]) -> list[list[_Entry]]:
    rounds: list[list[_Entry]] = []
    seen: list[set[str]] = []
    for entry in entries:
        key = _normalise_key(entry.match_value or "")
        for keys, bucket in zip(seen, rounds, strict=True):
            if key not in keys:
                keys.add(key)
                bucket.append(entry)
                break
        else:
            seen.append({key})
            rounds.append([entry])
    return rounds
