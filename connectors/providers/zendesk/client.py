"""Zendesk Support client: users and organizations through incremental exports and bulk jobs."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
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
from connectors.http import (
    HttpAuthenticationError,
    HttpClient,
    HttpError,
    HttpResponse,
    basic_auth,
    basic_auth_header,
)
from connectors.providers.deleting import delete_record
from connectors.providers.single_send import send_once
from connectors.providers.zendesk.tickets import TICKET_FIELDS, ticket_payload, ticket_update_payload

logger = logging.getLogger(__name__)

MAX_BATCH = 100
MAX_EXPORT_PAGE = 1000
# Zendesk finishes most bulk jobs in seconds; past this budget we stop waiting and report a
# transient error (the writes are idempotent upserts, so the retry is safe).
JOB_WAIT_BUDGET_SECONDS = 120.0
_JOB_POLL_FIRST_SECONDS = 0.5
_JOB_POLL_MAX_SECONDS = 5.0
_JOB_RUNNING = frozenset({"queued", "working"})
TIME_CURSOR_PREFIX = "start_time:"
TIME_EXPORT_MIN_AGE_SECONDS = 61


@dataclass(frozen=True)
class _ObjectInfo:
    label: str
    singular: str
    custom_key: str  # the nested object custom values live in: user_fields / organization_fields
    standard: tuple[FieldSchema, ...]
    # What create_or_update can match an existing record on.
    match_fields: tuple[str, ...]
    # Where the custom field definitions are listed, when not `/api/v2/<custom_key>.json`.
    fields_collection: str = ""
    # Tickets are only created here: Zendesk has no key to upsert them by.
    creates_only: bool = False


_USER_FIELDS: tuple[FieldSchema, ...] = (
    FieldSchema("id", "ID", "number", read_only=True),
    FieldSchema("name", "Name", "string", required=True),
    FieldSchema("email", "Email", "email"),
    FieldSchema("phone", "Phone", "phone"),
    FieldSchema("external_id", "External ID", "string"),
    FieldSchema("organization_id", "Organization ID", "number"),
    # Read-only on purpose: syncing roles in from another system could silently create paid agents.
    FieldSchema(
        "role",
        "Role",
        "enumeration",
        read_only=True,
        options=(
            PicklistOption("end-user", "End user"),
            PicklistOption("agent", "Agent"),
            PicklistOption("admin", "Administrator"),
        ),
    ),
    FieldSchema("time_zone", "Time zone", "string"),
    FieldSchema("locale", "Locale", "string"),
    FieldSchema("notes", "Notes", "string"),
    FieldSchema("details", "Details", "string"),
    FieldSchema("tags", "Tags", "json"),
    FieldSchema("active", "Active", "boolean", read_only=True),
    FieldSchema("created_at", "Created at", "datetime", read_only=True),
    FieldSchema("updated_at", "Updated at", "datetime", read_only=True),
)

_ORGANIZATION_FIELDS: tuple[FieldSchema, ...] = (
    FieldSchema("id", "ID", "number", read_only=True),
    FieldSchema("name", "Name", "string", required=True),
    FieldSchema("domain_names", "Domain names", "json"),
    FieldSchema("external_id", "External ID", "string"),
    FieldSchema("details", "Details", "string"),
    FieldSchema("notes", "Notes", "string"),
    FieldSchema("group_id", "Group ID", "number"),
    FieldSchema("shared_tickets", "Shared tickets", "boolean"),
    FieldSchema("shared_comments", "Shared comments", "boolean"),
    FieldSchema("tags", "Tags", "json"),
    FieldSchema("created_at", "Created at", "datetime", read_only=True),
    FieldSchema("updated_at", "Updated at", "datetime", read_only=True),
)

OBJECT_INFO: dict[str, _ObjectInfo] = {
    "users": _ObjectInfo("Users", "user", "user_fields", _USER_FIELDS, ("email", "external_id")),
    "organizations": _ObjectInfo(
        "Organizations", "organization", "organization_fields", _ORGANIZATION_FIELDS, ("external_id",)
    ),
    "tickets": _ObjectInfo(
        "Tickets",
        "ticket",
        "custom_fields",
        TICKET_FIELDS,
        (),
        fields_collection="ticket_fields",
        creates_only=True,
    ),
}
OBJECTS: dict[str, str] = {name: info.label for name, info in OBJECT_INFO.items()}

_CUSTOM_TYPES: dict[str, FieldType] = {
    "text": "string",
    "textarea": "string",
    "regexp": "string",
    "checkbox": "boolean",
    "date": "date",
    "integer": "number",
    "decimal": "number",
    "dropdown": "enumeration",
    "tagger": "enumeration",
    "multiselect": "json",
    "lookup": "number",
}


class ZendeskConfig(ConnectionConfig):
    email: str


def zendesk_message(response: HttpResponse) -> str | None:
    """Zendesk's own error text across its shapes: `{"error": "..."}`, RecordInvalid details, `{"error": {...}}`."""
    data = response.data
    if not isinstance(data, dict):
        return None
    details = data.get("details")
    if isinstance(details, dict):
        messages = [
            str(problem.get("description") or problem.get("error"))
            for problems in details.values()
            if isinstance(problems, list)
            for problem in problems
            if isinstance(problem, dict) and (problem.get("description") or problem.get("error"))
        ]
        if messages:
            return "; ".join(messages)
    if isinstance(details, str) and details.strip():
        return details.strip()
    error = data.get("error")
    description = data.get("description")
    if isinstance(error, dict):
        return str(error.get("message") or error.get("title") or "") or None
    if isinstance(error, str) and isinstance(description, str) and description.strip():
        return f"{error}: {description.strip()}"
    if isinstance(error, str) and error.strip():
        return error.strip()
    if isinstance(description, str) and description.strip():
        return description.strip()
    return None


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_time_cursor(cursor: str) -> int:
    raw = cursor.removeprefix(TIME_CURSOR_PREFIX)
    if not raw.isdigit():
        raise ConnectorError(f"Not a Zendesk time cursor: {cursor!r}", permanent=True)
    return int(raw)


def _field_value(raw: Mapping[str, Any], info: _ObjectInfo, field: str) -> Any:
    """A record's value of `field`: a standard field, else a custom field of that key (user_fields)."""
    if field in raw:
        return raw[field]
    custom = raw.get(info.custom_key)
    return custom.get(field) if isinstance(custom, Mapping) else None


def _matches(value: Any, text: str) -> bool:
    return value is not None and str(value).strip().lower() == text.lower()


def _zendesk_id(value: str) -> int | str:
    # Zendesk ids are integers in JSON; send them as such when they look like one.
    return int(value) if value.isdigit() else value


def custom_field_schema(field: Mapping[str, Any], custom_key: str) -> FieldSchema:
    kind = str(field.get("type") or "text")
    field_type = _CUSTOM_TYPES.get(kind, "string")
    options = tuple(
        PicklistOption(value=str(o.get("value")), label=str(o.get("name") or o.get("value")))
        for o in field.get("custom_field_options") or []
        if isinstance(o, dict)
    )
    return FieldSchema(
        # Ticket fields have no key; their values are addressed by field id.
        name=f"{custom_key}.{field.get('key') or field['id']}",
        label=str(field.get("title") or field.get("key") or field["id"]),
        type=field_type,
        custom=True,
        options=options if field_type in ("enumeration", "json") else (),
    )


@dataclass(frozen=True)
class _Entry:
    index: int
    item: WriteItem


class ZendeskClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = ZendeskConfig.model_validate(dict(settings.config))
        token = settings.credentials.get("api_token", "") or ""
        username = f"{self.config.email}/token"
        self._has_token = bool(token)
        self.http = HttpClient(
            self.config.base_url,
            auth=basic_auth(username, token),
            # The encoded header embeds the token too; keep it out of anything we log.
            secrets=[token, basic_auth_header(username, token).removeprefix("Basic ")] if token else [],
            system="Zendesk",
            error_message=zendesk_message,
        )
        self._schemas: dict[str, ObjectSchema] = {}

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        if not self._has_token:
            raise AuthenticationError("No Zendesk API token is configured for this connection.", status=None)
        try:
            response = self.http.get("/api/v2/users/me.json")
        except HttpAuthenticationError as exc:
            detail = zendesk_message(exc.response) or exc.message
            raise AuthenticationError(
                f"Zendesk rejected the credentials: {detail}", status=exc.status
            ) from None
        user = (response.data or {}).get("user") if isinstance(response.data, dict) else None
        if not isinstance(user, dict) or user.get("id") is None:
            # Zendesk answers unauthenticated calls to /users/me with an anonymous user, not a 401.
            raise AuthenticationError(
                "Zendesk treated the request as anonymous: check the agent email and API token.", status=None
            )
        host = urlsplit(self.config.base_url).hostname or self.config.base_url
        role = user.get("role") or "user"
        return f"{user.get('name') or user.get('email')} ({role}) at {host}"

    def discover_schema(self, object_name: str) -> ObjectSchema:
        info = self._info(object_name)
        cached = self._schemas.get(object_name)
        if cached is not None:
            return cached
        custom: list[FieldSchema] = []
        collection = info.fields_collection or info.custom_key
        path: str | None = f"/api/v2/{collection}.json"
        while path:
            response = self.http.get(path)
            data = response.data if isinstance(response.data, dict) else {}
            for field in data.get(collection) or []:
                # Inactive fields are hidden in Zendesk and cannot be written; offering them would mislead.
                # System ticket fields (not removable) are the standard fields already listed.
                usable = (
                    isinstance(field, dict)
                    and (field.get("key") or field.get("id"))
                    and field.get("active", True)
                )
                if usable and field.get("removable", True):
                    custom.append(custom_field_schema(field, info.custom_key))
            next_page = data.get("next_page")
            path = next_page if isinstance(next_page, str) and next_page else None
        schema = ObjectSchema(name=object_name, label=info.label, fields=info.standard + tuple(custom))
        self._schemas[object_name] = schema
        return schema

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        """Zendesk's cursor-based incremental export: the cursor is Zendesk's own `after_cursor`.

        Zendesk hands out an `after_cursor` even at the end of the stream; storing it and asking
        again later returns exactly what changed since, which is what makes it a safe resume point.
        Accounts that only offer the time-based export for an object (Zendesk does for
        organizations) answer 404 there; we then fall back to it with a `start_time:<epoch>` cursor.
        """
        info = self._info(object_name)
        if cursor and cursor.startswith(TIME_CURSOR_PREFIX):
            yield from self._time_export(object_name, info, _parse_time_cursor(cursor))
            return
        per_page = max(1, min(page_size, MAX_EXPORT_PAGE))
        path = f"/api/v2/incremental/{object_name}/cursor.json"
        current = cursor or None
        while True:
            params: dict[str, Any] = {"per_page": per_page}
            if current:
                params["cursor"] = current
            else:
                params["start_time"] = 0
            try:
                response = self.http.get(path, params=params)
            except HttpError as exc:
                if exc.status == 404 and current is None:
                    yield from self._time_export(object_name, info, 0)
                    return
                raise
            data = response.data if isinstance(response.data, dict) else {}
            records = [
                self._record(raw, info) for raw in data.get(object_name) or [] if isinstance(raw, dict)
            ]
            after = data.get("after_cursor")
            end = bool(data.get("end_of_stream", True))
            next_cursor = after if isinstance(after, str) and after else current
            yield ChangePage(records=records, cursor=next_cursor, has_more=not end)
            if end:
                return
            if not next_cursor or next_cursor == current:
                raise ConnectorError(
                    f"Zendesk's {object_name} export said there is more but gave no new cursor.",
                    permanent=False,
                )
            current = next_cursor

    def _time_export(self, object_name: str, info: _ObjectInfo, start_time: int) -> Iterator[ChangePage]:
        """The time-based incremental export: each page's `end_time` is the next `start_time`.

        `end_time` is the newest update time in the page, so resuming from it repeats the records of
        that second and skips none.
        """
        while True:
            # Zendesk refuses a start_time less than a minute old; asking a little earlier only repeats.
            start_time = max(0, min(start_time, int(time.time()) - TIME_EXPORT_MIN_AGE_SECONDS))
            response = self.http.get(
                f"/api/v2/incremental/{object_name}.json", params={"start_time": start_time}
            )
            data = response.data if isinstance(response.data, dict) else {}
            records = [
                self._record(raw, info) for raw in data.get(object_name) or [] if isinstance(raw, dict)
            ]
            end_time = data.get("end_time")
            next_start = int(end_time) if isinstance(end_time, int | float) and end_time > 0 else start_time
            end = bool(data.get("end_of_stream", True))
            yield ChangePage(records=records, cursor=f"{TIME_CURSOR_PREFIX}{next_start}", has_more=not end)
            if end:
                return
            if next_start <= start_time:
                raise ConnectorError(
                    f"Zendesk's {object_name} export did not advance past {start_time}; try again later.",
                    permanent=False,
                )
            start_time = next_start

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        info = self._info(object_name)
        results: dict[int, WriteResult] = {}
        updates: list[_Entry] = []
        upserts: list[_Entry] = []
        for index, item in enumerate(items):
            if info.creates_only:
                if item.target_id:
                    # Tickets have no upsert: a linked ticket is updated by id, one call each.
                    results[index] = self.update_ticket(item)
                else:
                    upserts.append(_Entry(index, item))
            elif item.target_id:
                updates.append(_Entry(index, item))
            elif match_field not in info.match_fields:
                results[index] = WriteResult(
                    key=item.key,
                    ok=False,
                    error=f"Zendesk can only match {object_name} on {' or '.join(info.match_fields)}, "
                    f"not {match_field}.",
                )
            elif not str(item.fields.get(match_field) or "").strip():
                results[index] = WriteResult(
                    key=item.key,
                    ok=False,
                    error=f"No {match_field} to match the Zendesk record on; the record was not written.",
                )
            else:
                upserts.append(_Entry(index, item))

        for start in range(0, len(updates), MAX_BATCH):
            results.update(self._update_many(object_name, info, updates[start : start + MAX_BATCH]))
        for start in range(0, len(upserts), MAX_BATCH):
            chunk = upserts[start : start + MAX_BATCH]
            if info.creates_only:
                results.update(self._create_many(object_name, info, chunk))
            elif object_name == "users":
                results.update(self._create_or_update_many(object_name, info, chunk))
            else:
                # Zendesk has no bulk create-or-update for organizations; the single call is the safe upsert.
                for entry in chunk:
                    results[entry.index] = self._create_or_update_one(info, entry)
        return [results[i] for i in range(len(items))]

    def find(self, object_name: str, field: str, value: Any) -> SourceRecord | None:
        """The first record whose `field` equals `value`: users by email through the users search,
        external ids and organization names through their exact lookups, anything else through
        Zendesk's unified search (`type:<kind> field:"value"`). Deleted records are never found."""
        info = self._info(object_name)
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        if field == "id":
            return self._get(object_name, info, text)
        if object_name == "users" and field == "email":
            path, params, key = "/api/v2/users/search.json", {"query": f'email:"{text}"'}, "users"
        elif object_name != "tickets" and field == "external_id":
            path, params, key = f"/api/v2/{object_name}/search.json", {"external_id": text}, object_name
        elif object_name == "organizations" and field == "name":
            path, params, key = "/api/v2/organizations/search.json", {"name": text}, object_name
        else:
            if not re.fullmatch(r"[a-z_]+", field):
                raise ConnectorError(f"Zendesk cannot search {object_name} by {field!r}.", permanent=True)
            query = f'type:{info.singular} {field}:"{text}"'
            path, params, key = "/api/v2/search.json", {"query": query}, "results"
        data = self.http.get(path, params=params).data
        found = [r for r in (data or {}).get(key) or [] if isinstance(r, dict)]
        # Zendesk search matches words; keep only records whose value is the one asked for (a record
        # without the field is not a match, whatever the search matched it on).
        exact = [r for r in found if _matches(_field_value(r, info, field), text)]
        return self._record(exact[0], info) if exact else None

    def delete(self, object_name: str, target_id: str) -> WriteResult:
        """Delete one record. Zendesk soft-deletes users (the export then shows them with
        `active: false`); deleted organizations and tickets leave every read but the export."""
        self._info(object_name)
        return delete_record(
            self.http,
            f"/api/v2/{object_name}/{path_segment(target_id)}.json",
            target_id=target_id,
            gone=f"Zendesk has no {object_name} record {target_id} (already deleted?).",
            rejections=(400, 422),
            message_of=zendesk_message,
        )

    def delete_batch(self, object_name: str, ids: list[str]) -> list[WriteResult]:
        # One call per record: each answers for itself (destroy_many would be one job for all).
        return [self.delete(object_name, target_id) for target_id in ids]

    # -- helpers -----------------------------------------------------------------------------------

    def _get(self, object_name: str, info: _ObjectInfo, record_id: str) -> SourceRecord | None:
        try:
            data = self.http.get(f"/api/v2/{object_name}/{path_segment(record_id)}.json").data
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise
        raw = (data or {}).get(info.singular)
        if not isinstance(raw, dict) or raw.get("active") is False:
            return None
        return self._record(raw, info)

    def _info(self, object_name: str) -> _ObjectInfo:
        try:
            return OBJECT_INFO[object_name]
        except KeyError:
            raise ConnectorError(
                f"Zendesk has no object {object_name!r} here; supported: {', '.join(OBJECT_INFO)}.",
                permanent=True,
            ) from None

    def _record(self, raw: Mapping[str, Any], info: _ObjectInfo) -> SourceRecord:
        fields: dict[str, Any] = {k: v for k, v in raw.items() if k != info.custom_key}
        # Custom values are flattened to the names the schema gives them; tickets list them by id.
        custom = raw.get(info.custom_key) or {}
        pairs = (
            custom.items()
            if isinstance(custom, Mapping)
            else ((c.get("id"), c.get("value")) for c in custom if isinstance(c, Mapping))
        )
        for key, value in pairs:
            fields[f"{info.custom_key}.{key}"] = value
        updated = parse_timestamp(raw.get("updated_at")) or parse_timestamp(raw.get("created_at"))
        if updated is None:
            raise ConnectorError(
                f"Zendesk {info.singular} {raw.get('id')} has no updated_at.", permanent=True
            )
        return SourceRecord(id=str(raw.get("id")), updated_at=updated, fields=fields)

    def _payload(self, info: _ObjectInfo, item: WriteItem) -> dict[str, Any]:
        if info.creates_only:
            return ticket_payload(item.fields)
        payload: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        prefix = f"{info.custom_key}."
        for name, value in item.fields.items():
            if name.startswith(prefix):
                custom[name[len(prefix) :]] = value
            elif name == info.custom_key and isinstance(value, Mapping):
                custom.update(value)
            else:
                payload[name] = value
        if custom:
            payload[info.custom_key] = custom
        if item.target_id:
            payload["id"] = _zendesk_id(item.target_id)
        return payload

    def _update_many(
        self, object_name: str, info: _ObjectInfo, entries: Sequence[_Entry]
    ) -> dict[int, WriteResult]:
        body = {object_name: [self._payload(info, e.item) for e in entries]}
        try:
            response = self.http.put(f"/api/v2/{object_name}/update_many.json", json=body)
        except HttpError as exc:
            return self._all_failed(entries, exc)
        return self._map_job(entries, self._wait_for_job(response), by_id=True)

    def _create_or_update_many(
        self, object_name: str, info: _ObjectInfo, entries: Sequence[_Entry]
    ) -> dict[int, WriteResult]:
        body = {object_name: [self._payload(info, e.item) for e in entries]}
        try:
            response = self.http.post(f"/api/v2/{object_name}/create_or_update_many.json", json=body)
        except HttpError as exc:
            return self._all_failed(entries, exc)
        return self._map_job(entries, self._wait_for_job(response), by_id=False)

    def _create_many(
        self, object_name: str, info: _ObjectInfo, entries: Sequence[_Entry]
    ) -> dict[int, WriteResult]:
        body = {object_name: [self._payload(info, e.item) for e in entries]}
        try:
            # Not idempotent: sent once, so a timeout cannot create the same tickets twice.
            response = send_once(self.http, "POST", f"/api/v2/{object_name}/create_many.json", json=body)
        except HttpError as exc:
            return self._all_failed(entries, exc)
        return self._map_job(entries, self._wait_for_job(response), by_id=False)

    def _create_or_update_one(self, info: _ObjectInfo, entry: _Entry) -> WriteResult:
        try:
            response = self.http.post(
                f"/api/v2/{info.singular}s/create_or_update.json",
                json={info.singular: self._payload(info, entry.item)},
            )
        except HttpError as exc:
            if not exc.permanent:
                raise
            message = (zendesk_message(exc.response) if exc.response is not None else None) or exc.message
            return WriteResult(key=entry.item.key, ok=False, error=message)
        record = (response.data or {}).get(info.singular) if isinstance(response.data, dict) else None
        target = str(record.get("id")) if isinstance(record, dict) and record.get("id") is not None else None
        return WriteResult(
            key=entry.item.key,
            ok=True,
            target_id=target,
            action="created" if response.status == 201 else "updated",
        )

    def update_ticket(self, item: WriteItem) -> WriteResult:
        """`PUT /api/v2/tickets/{id}.json`; sent once when it adds a comment (a retry would add it twice)."""
        body = {"ticket": ticket_update_payload(item.fields)}
        path = f"/api/v2/tickets/{path_segment(item.target_id or '')}.json"
        try:
            if "comment" in body["ticket"]:
                send_once(self.http, "PUT", path, json=body)
            else:
                self.http.put(path, json=body)
        except HttpError as exc:
            if not exc.permanent:
                raise
            message = (zendesk_message(exc.response) if exc.response is not None else None) or exc.message
            return WriteResult(key=item.key, ok=False, error=message)
        return WriteResult(key=item.key, ok=True, target_id=item.target_id, action="updated")

    def _all_failed(self, entries: Sequence[_Entry], exc: HttpError) -> dict[int, WriteResult]:
        # Bulk endpoints validate records inside the job; a rejected request is a problem with the
        # request as a whole (too large, malformed), so every item carries the same message.
        if not exc.permanent:
            raise exc
        message = (zendesk_message(exc.response) if exc.response is not None else None) or exc.message
        return {e.index: WriteResult(key=e.item.key, ok=False, error=message) for e in entries}

    def _wait_for_job(self, response: HttpResponse) -> dict[str, Any]:
        job = (response.data or {}).get("job_status") if isinstance(response.data, dict) else None
        if not isinstance(job, dict):
            raise ConnectorError(
                "Zendesk accepted the bulk write but returned no job status.", permanent=False
            )
        waited = 0.0
        delay = _JOB_POLL_FIRST_SECONDS
        started = time.monotonic()
        while str(job.get("status") or "").lower() in _JOB_RUNNING:
            # Bounded by both the time we chose to sleep and the wall clock, so an injected no-op
            # sleep (tests) and slow polls (production) both end.
            if waited >= JOB_WAIT_BUDGET_SECONDS or time.monotonic() - started >= JOB_WAIT_BUDGET_SECONDS * 2:
                raise ConnectorError(
                    f"Zendesk job {job.get('id')} was still {job.get('status')} after "
                    f"{JOB_WAIT_BUDGET_SECONDS:.0f} s; the batch will be retried.",
                    permanent=False,
                )
            self.http.sleep(delay)
            waited += delay
            delay = min(delay * 2, _JOB_POLL_MAX_SECONDS)
            polled = self.http.get(f"/api/v2/job_statuses/{job.get('id')}.json")
            fresh = (polled.data or {}).get("job_status") if isinstance(polled.data, dict) else None
            if not isinstance(fresh, dict):
                raise ConnectorError("Zendesk returned an unreadable job status.", permanent=False)
            job = fresh
        return job

    def _map_job(
        self, entries: Sequence[_Entry], job: Mapping[str, Any], *, by_id: bool
    ) -> dict[int, WriteResult]:
        results: dict[int, WriteResult] = {}
        raw_results = [r for r in job.get("results") or [] if isinstance(r, dict)]
        by_target = {str(e.item.target_id): e for e in entries if e.item.target_id}
        for position, raw in enumerate(raw_results):
            entry: _Entry | None = None
            index = raw.get("index")
            if isinstance(index, int) and 0 <= index < len(entries):
                entry = entries[index]
            elif by_id and raw.get("id") is not None:
                entry = by_target.get(str(raw.get("id")))
            elif not by_id and position < len(entries):
                # Zendesk keeps results in request order when it leaves out `index`.
                entry = entries[position]
            if entry is None or entry.index in results:
                continue
            results[entry.index] = self._result(entry, raw)
        job_status = str(job.get("status") or "")
        fallback = (
            f"Zendesk job {job_status}: {job.get('message')}"
            if job_status.lower() in ("failed", "killed")
            else "Zendesk's job finished without a result for this record."
        )
        for entry in entries:
            if entry.index not in results:
                results[entry.index] = WriteResult(key=entry.item.key, ok=False, error=fallback)
        return results

    @staticmethod
    def _result(entry: _Entry, raw: Mapping[str, Any]) -> WriteResult:
        status = str(raw.get("status") or "").lower()
        failed = raw.get("success") is False or status == "failed" or bool(raw.get("error"))
        if failed:
            message = raw.get("details") or raw.get("error") or "Rejected by Zendesk"
            return WriteResult(key=entry.item.key, ok=False, error=str(message))
        action = str(raw.get("action") or status)
        target = raw.get("id")
        return WriteResult(
            key=entry.item.key,
            ok=True,
            target_id=str(target) if target is not None else entry.item.target_id,
            action="created" if action.lower().startswith("create") else "updated",
        )
