"""Pipedrive client (API v1): persons, organizations, deals and activities.

Changes are read through `/v1/recents` ("changed since <second>"); a full read is the same query from
the epoch, so both share one exact cursor (see `connectors.providers.watermark`). Pipedrive has no
unique fields and no batch writes: an upsert searches by the natural key (a person's email, an
organization's name) and then updates or creates one record at a time. Creates are sent at most once
(no idempotency keys in Pipedrive), updates by id may be retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

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
from connectors.http import HttpAuthenticationError, HttpClient, HttpError, HttpResponse
from connectors.providers.deleting import delete_record
from connectors.providers.single_send import send_once
from connectors.providers.watermark import changes_by_second

logger = logging.getLogger(__name__)

PIPEDRIVE_API_URL = "https://api.pipedrive.com"
MAX_PAGE = 500
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
EPOCH = "1970-01-01 00:00:00"
_RECORD_REJECTIONS = frozenset({400, 404, 409, 422})
# Fields Pipedrive computes; writing them is refused or ignored.
_READ_ONLY_KEYS = frozenset(
    {
        "id",
        "add_time",
        "update_time",
        "people_count",
        "company_id",
        "active_flag",
        "won_time",
        "lost_time",
        "close_time",
    }
)
_REFERENCE_TYPES = frozenset({"org", "people", "user", "deal"})
_TYPES: dict[str, FieldType] = {
    "varchar": "string",
    "varchar_auto": "string",
    "varchar_options": "string",
    "text": "string",
    "address": "string",
    "time": "string",
    "timerange": "string",
    "daterange": "string",
    "double": "number",
    "monetary": "number",
    "int": "number",
    "date": "date",
    "enum": "enumeration",
    "status": "enumeration",
    "stage": "enumeration",
    "visible_to": "enumeration",
    "set": "json",
    "phone": "phone",
    "boolean": "boolean",
    "org": "number",
    "people": "number",
    "user": "number",
    "deal": "number",
}


@dataclass(frozen=True)
class _Entity:
    label: str
    item: str  # the name in /v1/recents and in /v1/<item>Fields
    natural_key: str | None  # what an upsert searches on


ENTITIES: dict[str, _Entity] = {
    "persons": _Entity("Persons", "person", "email"),
    "organizations": _Entity("Organizations", "organization", "name"),
    "deals": _Entity("Deals", "deal", None),
    "activities": _Entity("Activities", "activity", None),
}
OBJECTS: dict[str, str] = {name: entity.label for name, entity in ENTITIES.items()}


class PipedriveConfig(ConnectionConfig):
    base_url: str = PIPEDRIVE_API_URL


def pipedrive_message(response: HttpResponse) -> str | None:
    """Pipedrive's `error` text (plus `error_info` only when the error says nothing else)."""
    data = response.data
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, str) and error.strip():
        return error.strip()
    info = data.get("error_info")
    return info.strip() if isinstance(info, str) and info.strip() else None


# What /v1/<object>/search can match exactly, per object (activities have no search).
_SEARCH_FIELDS: dict[str, tuple[str, ...]] = {
    "persons": ("name", "email", "phone"),
    "organizations": ("name", "address"),
    "deals": ("title",),
}


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.strptime(value.strip(), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _primary(entries: Any) -> str | None:
    """The primary value of Pipedrive's `[{label, value, primary}]` email and phone lists."""
    if not isinstance(entries, list):
        return str(entries) if entries else None
    values = [e for e in entries if isinstance(e, dict) and e.get("value")]
    chosen = next((e for e in values if e.get("primary")), values[0] if values else None)
    return str(chosen["value"]) if chosen else None


class PipedriveClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = PipedriveConfig.model_validate(dict(settings.config))
        self._token = settings.credentials.get("api_token", "") or ""
        self.http = HttpClient(
            self.config.base_url,
            auth=self._authenticate,
            secrets=[self._token],
            system="Pipedrive",
            error_message=pipedrive_message,
            connection_id=settings.connection_id,
            rate_limit=settings.rate_limit,
        )
        self._schemas: dict[str, ObjectSchema] = {}
        self._options: dict[str, dict[str, dict[str, str]]] = {}

    def _authenticate(self, headers: MutableMapping[str, str]) -> None:
        if not self._token:
            raise AuthenticationError(
                "No Pipedrive API token is configured for this connection.", status=None
            )
        # The header keeps the token out of URLs (and so out of proxies' and our own logs).
        headers["x-api-token"] = self._token

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        try:
            response = self.http.get("/v1/users/me")
        except HttpAuthenticationError as exc:
            detail = self.http.redact(pipedrive_message(exc.response) or exc.message)
            raise AuthenticationError(
                f"Pipedrive rejected the API token: {detail}", status=exc.status
            ) from None
        user = (response.data or {}).get("data") if isinstance(response.data, dict) else None
        if not isinstance(user, dict):
            raise ConnectorError("Pipedrive answered /v1/users/me without a user.", permanent=False)
        company = user.get("company_name") or urlsplit(self.config.base_url).hostname
        return f"{user.get('name') or user.get('email')} at {company} (Pipedrive)"

    def discover_schema(self, object_name: str) -> ObjectSchema:
        entity = self._entity(object_name)
        cached = self._schemas.get(object_name)
        if cached is not None:
            return cached
        definitions: list[dict[str, Any]] = []
        start: int | None = 0
        while start is not None:
            data = (
                self.http.get(f"/v1/{entity.item}Fields", params={"start": start, "limit": MAX_PAGE}).data
                or {}
            )
            definitions.extend(d for d in data.get("data") or [] if isinstance(d, dict) and d.get("key"))
            pagination = (data.get("additional_data") or {}).get("pagination") or {}
            start = pagination.get("next_start") if pagination.get("more_items_in_collection") else None
        stages = self._stages() if object_name == "deals" else None
        fields = tuple(self._field(d, stages) for d in definitions)
        self._options[object_name] = {
            f.name: {o.label.lower(): o.value for o in f.options} for f in fields if f.options
        }
        schema = ObjectSchema(name=object_name, label=entity.label, fields=fields)
        self._schemas[object_name] = schema
        return schema

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        entity = self._entity(object_name)
        schema = self.discover_schema(object_name)
        limit = max(1, min(page_size, MAX_PAGE))

        def fetch(since: int | None, offset: int, count: int) -> tuple[list[SourceRecord], bool]:
            stamp = datetime.fromtimestamp(since, UTC).strftime(TIME_FORMAT) if since is not None else EPOCH
            data = (
                self.http.get(
                    "/v1/recents",
                    params={"since_timestamp": stamp, "items": entity.item, "start": offset, "limit": count},
                ).data
                or {}
            )
            records = [
                self._record(raw["data"], schema)
                for raw in data.get("data") or []
                if isinstance(raw, dict)
                and raw.get("item") == entity.item
                and isinstance(raw.get("data"), dict)
            ]
            pagination = (data.get("additional_data") or {}).get("pagination") or {}
            return records, bool(pagination.get("more_items_in_collection"))

        yield from changes_by_second(fetch, cursor, page_size=limit, system="Pipedrive")

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        entity = self._entity(object_name)
        self.discover_schema(object_name)
        # Records this batch already found or made, so a repeated key updates instead of duplicating.
        known: dict[str, str] = {}
        return [self._write(object_name, entity, item, match_field, known) for item in items]

    def find(self, object_name: str, field: str, value: Any) -> SourceRecord | None:
        """By id, or by a searchable field with Pipedrive's exact-match search (e.g. persons by email).

        Deleted records (`active_flag` false) are not found.
        """
        self._entity(object_name)
        schema = self.discover_schema(object_name)
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        if field == "id":
            record_id: str | None = text
        elif field in _SEARCH_FIELDS.get(object_name, ()):
            record_id = self._find(object_name, field, text)
        else:
            searchable = ", ".join(_SEARCH_FIELDS.get(object_name, ())) or "nothing but id"
            raise ConnectorError(
                f"Pipedrive can look {object_name} up by {searchable}, not {field}.", permanent=True
            )
        if record_id is None:
            return None
        try:
            data = self.http.get(f"/v1/{object_name}/{path_segment(record_id)}").data
        except HttpError as exc:
            if exc.status in (404, 410):
                return None
            raise
        raw = (data or {}).get("data") if isinstance(data, dict) else None
        if not isinstance(raw, dict) or raw.get("active_flag") is False:
            return None
        return self._record(raw, schema)

    def delete(self, object_name: str, target_id: str) -> WriteResult:
        """Pipedrive marks the record deleted (kept 30 days, then purged); /v1/recents shows it with
        `active_flag` false, which is how a sync sees the deletion."""
        self._entity(object_name)
        return delete_record(
            self.http,
            f"/v1/{object_name}/{path_segment(target_id)}",
            target_id=target_id,
            gone=f"Pipedrive has no {object_name} record {target_id} (already deleted?).",
            rejections=_RECORD_REJECTIONS,
            message_of=pipedrive_message,
            gone_statuses=(404, 410),
        )

    def delete_batch(self, object_name: str, ids: list[str]) -> list[WriteResult]:
        return [self.delete(object_name, target_id) for target_id in ids]

    # -- helpers -----------------------------------------------------------------------------------

    def _entity(self, object_name: str) -> _Entity:
        try:
            return ENTITIES[object_name]
        except KeyError:
            raise ConnectorError(
                f"Pipedrive has no object {object_name!r} here; supported: {', '.join(ENTITIES)}.",
                permanent=True,
            ) from None

    def _stages(self) -> list[PicklistOption]:
        data = self.http.get("/v1/stages").data or {}
        return [
            PicklistOption(str(s["id"]), f"{s.get('pipeline_name') or 'Pipeline'}: {s.get('name')}")
            for s in data.get("data") or []
            if isinstance(s, dict) and s.get("id") is not None
        ]

    @staticmethod
    def _field(definition: Mapping[str, Any], stages: list[PicklistOption] | None) -> FieldSchema:
        key = str(definition["key"])
        kind = str(definition.get("field_type") or "varchar")
        field_type: FieldType = "email" if key == "email" else _TYPES.get(kind, "string")
        options = tuple(
            PicklistOption(str(o.get("id")), str(o.get("label") or o.get("id")))
            for o in definition.get("options") or []
            if isinstance(o, dict) and o.get("id") is not None
        )
        if kind == "stage" and stages:
            # Stage labels say which pipeline they belong to: many accounts reuse stage names.
            options = tuple(stages)
        return FieldSchema(
            name=key,
            label=str(definition.get("name") or key),
            type=field_type,
            required=bool(definition.get("mandatory_flag")),
            read_only=key in _READ_ONLY_KEYS,
            custom=bool(definition.get("edit_flag")),
            options=options if field_type in ("enumeration", "json") else (),
        )

    def _record(self, raw: Mapping[str, Any], schema: ObjectSchema) -> SourceRecord:
        fields: dict[str, Any] = {}
        for key, value in raw.items():
            definition = schema.field(key)
            kind = definition.type if definition is not None else None
            if key in ("email", "phone"):
                fields[key] = _primary(value)
            elif isinstance(value, dict) and "value" in value:
                # References (org_id, person_id, owner_id, ...) come as objects; the id is what maps.
                fields[key] = value.get("value")
            elif kind == "enumeration" and value is not None:
                fields[key] = str(value)
            elif kind == "json" and isinstance(value, str):
                fields[key] = [v for v in value.split(",") if v]
            else:
                fields[key] = value
        updated = parse_time(raw.get("update_time")) or parse_time(raw.get("add_time"))
        if updated is None:
            raise ConnectorError(f"Pipedrive record {raw.get('id')} has no update_time.", permanent=True)
        return SourceRecord(id=str(raw.get("id")), updated_at=updated, fields=fields)

    def _payload(self, object_name: str, item: WriteItem) -> dict[str, Any]:
        """Pipedrive takes option ids; a label (any case) is turned into its id, anything else passes."""
        options = self._options.get(object_name, {})
        payload: dict[str, Any] = {}
        for name, value in item.fields.items():
            labels = options.get(name)
            if labels and isinstance(value, list | tuple):
                payload[name] = ",".join(labels.get(str(v).lower(), str(v)) for v in value)
            elif labels and isinstance(value, str) and value.lower() in labels:
                payload[name] = labels[value.lower()]
            else:
                payload[name] = value
        return payload

    def _write(
        self, object_name: str, entity: _Entity, item: WriteItem, match_field: str, known: dict[str, str]
    ) -> WriteResult:
        key = ""
        try:
            target = item.target_id
            if not target and match_field:
                if match_field != entity.natural_key:
                    natural = (
                        entity.natural_key or "nothing (records are created unless a target id is known)"
                    )
                    return WriteResult(
                        key=item.key,
                        ok=False,
                        error=f"Pipedrive {object_name} can only be matched on {natural}.",
                    )
                key = str(item.fields.get(match_field) or "").strip()
                if not key:
                    return WriteResult(
                        key=item.key,
                        ok=False,
                        error=f"No {match_field} to match the Pipedrive record on; it was not written.",
                    )
                target = known.get(key.lower()) or self._find(object_name, match_field, key)
            payload = self._payload(object_name, item)
            action: Literal["created", "updated"]
            if target:
                response = self.http.put(f"/v1/{object_name}/{path_segment(target)}", json=payload)
                action = "updated"
            else:
                response = send_once(self.http, "POST", f"/v1/{object_name}", json=payload)
                action = "created"
        except HttpError as exc:
            if exc.status not in _RECORD_REJECTIONS:
                raise
            message = pipedrive_message(exc.response) if exc.response is not None else None
            return WriteResult(key=item.key, ok=False, error=self.http.redact(message or exc.message))
        record = (response.data or {}).get("data") if isinstance(response.data, dict) else None
        record_id = (
            str(record.get("id")) if isinstance(record, dict) and record.get("id") is not None else target
        )
        if key and record_id:
            known[key.lower()] = record_id
        return WriteResult(key=item.key, ok=True, target_id=record_id, action=action)

    def _find(self, object_name: str, field: str, value: str) -> str | None:
        """The record whose `field` is exactly `value` (ignoring case); the oldest when several are."""
        data = (
            self.http.get(
                f"/v1/{object_name}/search",
                params={"term": value, "fields": field, "exact_match": "true", "limit": 10},
            ).data
            or {}
        )
        items = [i.get("item") for i in (data.get("data") or {}).get("items") or [] if isinstance(i, dict)]
        ids = [int(i["id"]) for i in items if isinstance(i, dict) and isinstance(i.get("id"), int)]
        return str(min(ids)) if ids else None
