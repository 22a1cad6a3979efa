"""Mailchimp Marketing client: the members of one audience (list), keyed by email.

A member's id is the MD5 of its lower-cased email, so an upsert needs no lookup. Members that carry a
status go through the batch-subscribe endpoint (up to 500 per call, errors per address); members
without one are upserted one by one with `status_if_new`, because the batch endpoint always sets the
status and would re-subscribe people who unsubscribed. Changes are read with `since_last_changed`
sorted by `last_changed` (whole seconds; see `connectors.providers.watermark`). Mailchimp's list
webhooks are not signed, so this connector offers no signature check for them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

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
from connectors.providers.watermark import changes_by_second

MAX_BATCH = 500
MAX_PAGE = 1000
OBJECTS: dict[str, str] = {"members": "Audience members"}
MATCH_FIELDS = ("email_address", "email")
# Merge fields every audience starts with; any other tag was added by the account.
DEFAULT_MERGE_TAGS = frozenset({"FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY"})
_DATA_CENTER = re.compile(r"[a-z]+\d+")
_RECORD_REJECTIONS = frozenset({400, 404, 422})
_STATUS_OPTIONS = tuple(
    PicklistOption(s, s.capitalize())
    for s in ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
)
_MEMBER_FIELDS = (
    FieldSchema("id", "Subscriber hash", "string", read_only=True),
    FieldSchema("email_address", "Email address", "email", required=True),
    FieldSchema("status", "Status", "enumeration", options=_STATUS_OPTIONS),
    FieldSchema(
        "email_type",
        "Email type",
        "enumeration",
        options=(PicklistOption("html", "HTML"), PicklistOption("text", "Plain text")),
    ),
    FieldSchema("language", "Language", "string"),
    FieldSchema("vip", "VIP", "boolean"),
    FieldSchema("tags", "Tags", "json"),
    FieldSchema("full_name", "Full name", "string", read_only=True),
    FieldSchema("member_rating", "Member rating", "number", read_only=True),
    FieldSchema("timestamp_opt", "Opted in at", "datetime", read_only=True),
    FieldSchema("last_changed", "Last changed", "datetime", read_only=True),
    FieldSchema("unique_email_id", "Unique email id", "string", read_only=True),
)
_MERGE_TYPES: dict[str, FieldType] = {
    "text": "string",
    "number": "number",
    "phone": "phone",
    "date": "date",
    "birthday": "string",
    "address": "json",
    "dropdown": "enumeration",
    "radio": "enumeration",
    "url": "string",
    "imageurl": "string",
    "zip": "string",
}


class MailchimpConfig(ConnectionConfig):
    # Empty: derived from the API key's data center (`...-us1` -> https://us1.api.mailchimp.com).
    base_url: str = ""
    list_id: str
    # The status a member gets when a write creates it without saying (existing members keep theirs).
    status_if_new: Literal["subscribed", "pending", "unsubscribed", "transactional"] = "subscribed"


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def mailchimp_message(response: HttpResponse) -> str | None:
    """The problem document's `detail`, with the per-field `errors` Mailchimp lists for validation."""
    data = response.data
    if not isinstance(data, dict):
        return None
    detail = str(data.get("detail") or data.get("title") or "").strip()
    problems = [
        f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
        for e in data.get("errors") or []
        if isinstance(e, dict) and e.get("message")
    ]
    if problems:
        return f"{detail} ({'; '.join(problems)})" if detail else "; ".join(problems)
    title = str(data.get("title") or "").strip()
    if title and detail and title not in ("Invalid Resource", detail):
        return f"{title}: {detail}"
    return detail or None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Entry:
    index: int
    item: WriteItem
    email: str


class MailchimpClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = MailchimpConfig.model_validate(dict(settings.config))
        self._key = settings.credentials.get("api_key", "") or ""
        data_center = self._key.rsplit("-", 1)[-1] if "-" in self._key else ""
        base_url = self.config.base_url or (
            f"https://{data_center}.api.mailchimp.com" if _DATA_CENTER.fullmatch(data_center) else ""
        )
        self._base_problem = (
            None
            if base_url
            else "The Mailchimp API key should end in its data center (like -us1), or set the base URL."
        )
        # Mailchimp ignores the user name of basic auth; the key is the password.
        self.http = HttpClient(
            base_url or "https://invalid.invalid",
            auth=basic_auth("integrations-hub", self._key),
            secrets=[self._key, basic_auth_header("integrations-hub", self._key).removeprefix("Basic ")]
            if self._key
            else [],
            system="Mailchimp",
            error_message=mailchimp_message,
            connection_id=settings.connection_id,
            rate_limit=settings.rate_limit,
        )
        self._list_path = f"/3.0/lists/{self.config.list_id}"
        self._schema: ObjectSchema | None = None

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        if not self._key:
            raise AuthenticationError("No Mailchimp API key is configured for this connection.", status=None)
        if self._base_problem:
            raise AuthenticationError(self._base_problem, status=None)
        try:
            account = self.http.get("/3.0/").data or {}
        except HttpAuthenticationError as exc:
            detail = self.http.redact(mailchimp_message(exc.response) or exc.message)
            raise AuthenticationError(
                f"Mailchimp rejected the API key: {detail}", status=exc.status
            ) from None
        try:
            audience = self.http.get(self._list_path).data or {}
        except HttpError as exc:
            if exc.status == 404:
                raise ConnectorError(
                    f"Mailchimp has no audience {self.config.list_id!r} in this account; check the list id "
                    "(Audience > Settings > Audience name and defaults).",
                    permanent=True,
                    status=404,
                ) from None
            raise
        return f"{account.get('account_name') or 'Mailchimp'}: audience {audience.get('name') or self.config.list_id}"

    def discover_schema(self, object_name: str) -> ObjectSchema:
        self._check(object_name)
        if self._schema is not None:
            return self._schema
        data = self.http.get(f"{self._list_path}/merge-fields", params={"count": MAX_PAGE}).data or {}
        merge = tuple(
            self._merge_field(d)
            for d in data.get("merge_fields") or []
            if isinstance(d, dict) and d.get("tag")
        )
        self._schema = ObjectSchema(
            name=object_name, label=OBJECTS[object_name], fields=_MEMBER_FIELDS + merge
        )
        return self._schema

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        self._check(object_name)
        limit = max(1, min(page_size, MAX_PAGE))

        def fetch(since: int | None, offset: int, count: int) -> tuple[list[SourceRecord], bool]:
            params: dict[str, Any] = {
                "count": count,
                "offset": offset,
                "sort_field": "last_changed",
                "sort_dir": "ASC",
            }
            if since is not None:
                params["since_last_changed"] = datetime.fromtimestamp(since, UTC).isoformat()
            data = self.http.get(f"{self._list_path}/members", params=params).data or {}
            members = [m for m in data.get("members") or [] if isinstance(m, dict)]
            total = int(data.get("total_items") or 0)
            return [self._record(m) for m in members], offset + len(members) < total

        yield from changes_by_second(fetch, cursor, page_size=limit, system="Mailchimp")

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        self._check(object_name)
        results: dict[int, WriteResult] = {}
        batched: list[_Entry] = []
        for index, item in enumerate(items):
            if item.target_id:
                results[index] = self._write_one(item, "PATCH", item.target_id)
                continue
            if match_field not in MATCH_FIELDS:
                results[index] = WriteResult(
                    key=item.key,
                    ok=False,
                    error=f"Mailchimp members can only be matched on email_address, not {match_field}.",
                )
                continue
            email = str(item.fields.get("email_address") or item.fields.get("email") or "").strip()
            if not email:
                results[index] = WriteResult(
                    key=item.key,
                    ok=False,
                    error="No email_address to match the Mailchimp member on; it was not written.",
                )
            elif "status" in item.fields:
                batched.append(_Entry(index, item, email))
            else:
                results[index] = self._write_one(item, "PUT", subscriber_hash(email), email=email)
        for round_entries in _unique_rounds(batched):
            for start in range(0, len(round_entries), MAX_BATCH):
                results.update(self._batch(round_entries[start : start + MAX_BATCH]))
        return [results[i] for i in range(len(items))]

    def find(self, object_name: str, field: str, value: Any) -> SourceRecord | None:
        """A member by email address (Mailchimp's key: the MD5 of the lower-cased address) or by id.

        An archived member is found too, with `status` "archived": adding it again brings it back.
        """
        self._check(object_name)
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        if field in MATCH_FIELDS:
            member = subscriber_hash(text)
        elif field == "id":
            member = text.lower()
        else:
            raise ConnectorError(
                f"Mailchimp members can only be looked up by email_address or id, not {field}.",
                permanent=True,
            )
        try:
            response = self.http.get(f"{self._list_path}/members/{path_segment(member)}")
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise
        return self._record(response.data) if isinstance(response.data, dict) else None

    def delete(self, object_name: str, target_id: str) -> WriteResult:
        """Archive the member (Mailchimp's DELETE): it stays in the audience's history with status
        "archived", receives nothing, and can be added again. `delete_permanently` erases it."""
        self._check(object_name)
        member = self._member_ref(target_id)
        try:
            self.http.delete(f"{self._list_path}/members/{path_segment(member)}")
        except HttpError as exc:
            return self._deletion_failed(target_id, exc)
        return WriteResult(key=target_id, ok=True, target_id=member, action="deleted")

    def delete_batch(self, object_name: str, ids: list[str]) -> list[WriteResult]:
        # Mailchimp has no batch delete; one call per member.
        return [self.delete(object_name, target_id) for target_id in ids]

    def delete_permanently(self, object_name: str, target_id: str) -> WriteResult:
        """Erase the member and its history (GDPR). Mailchimp then refuses to import the address again."""
        self._check(object_name)
        member = self._member_ref(target_id)
        try:
            self.http.post(f"{self._list_path}/members/{path_segment(member)}/actions/delete-permanent")
        except HttpError as exc:
            return self._deletion_failed(target_id, exc)
        return WriteResult(key=target_id, ok=True, target_id=member, action="deleted")

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _member_ref(target_id: str) -> str:
        """Members are addressed by subscriber hash; an email address is turned into its hash."""
        return subscriber_hash(target_id) if "@" in target_id else target_id.strip().lower()

    def _deletion_failed(self, target_id: str, exc: HttpError) -> WriteResult:
        if exc.status == 404:
            return WriteResult(
                key=target_id,
                ok=False,
                error=f"Mailchimp has no member {target_id} in this audience (already deleted?).",
            )
        return self._fail(WriteItem(key=target_id, fields={}), exc)

    @staticmethod
    def _check(object_name: str) -> None:
        if object_name not in OBJECTS:
            raise ConnectorError(
                f"Mailchimp has no object {object_name!r} here; supported: {', '.join(OBJECTS)}.",
                permanent=True,
            )

    @staticmethod
    def _merge_field(definition: Mapping[str, Any]) -> FieldSchema:
        tag = str(definition["tag"])
        kind = str(definition.get("type") or "text")
        field_type = _MERGE_TYPES.get(kind, "string")
        choices = (definition.get("options") or {}).get("choices") or []
        return FieldSchema(
            name=f"merge_fields.{tag}",
            label=str(definition.get("name") or tag),
            type=field_type,
            required=bool(definition.get("required")),
            custom=tag not in DEFAULT_MERGE_TAGS,
            options=tuple(PicklistOption(str(c), str(c)) for c in choices)
            if field_type == "enumeration"
            else (),
        )

    @staticmethod
    def _record(member: Mapping[str, Any]) -> SourceRecord:
        fields: dict[str, Any] = {}
        for key, value in member.items():
            if key == "merge_fields" and isinstance(value, Mapping):
                fields.update({f"merge_fields.{tag}": v for tag, v in value.items()})
            elif key == "tags":
                fields["tags"] = [t.get("name") for t in value or [] if isinstance(t, dict)]
            elif key not in ("_links", "list_id", "stats", "location", "interests"):
                fields[key] = value
        updated = parse_time(member.get("last_changed")) or parse_time(member.get("timestamp_opt"))
        if updated is None:
            raise ConnectorError(f"Mailchimp member {member.get('id')} has no last_changed.", permanent=True)
        return SourceRecord(id=str(member.get("id")), updated_at=updated, fields=fields)

    @staticmethod
    def _body(fields: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        merge: dict[str, Any] = {}
        for name, value in fields.items():
            if name.startswith("merge_fields."):
                # Mailchimp clears a merge field with an empty string, not null.
                merge[name.removeprefix("merge_fields.")] = "" if value is None else value
            elif name == "email":
                body.setdefault("email_address", value)
            elif name != "tags":
                body[name] = value
        if merge:
            body["merge_fields"] = merge
        return body

    def _fail(self, item: WriteItem, exc: HttpError) -> WriteResult:
        if exc.status not in _RECORD_REJECTIONS:
            raise exc
        message = mailchimp_message(exc.response) if exc.response is not None else None
        return WriteResult(key=item.key, ok=False, error=self.http.redact(message or exc.message))

    def _write_one(
        self, item: WriteItem, method: str, member: str, *, email: str | None = None
    ) -> WriteResult:
        body = self._body(item.fields)
        if method == "PUT":
            body.setdefault("email_address", email)
            body["status_if_new"] = self.config.status_if_new
        try:
            existed = True
            if method == "PUT":
                existed = self._exists(member)
            response = self.http.request(
                method, f"{self._list_path}/members/{path_segment(member)}", json=body
            )
        except HttpError as exc:
            return self._fail(item, exc)
        saved = response.data if isinstance(response.data, dict) else {}
        target = str(saved.get("id") or member)
        return self._tag(item, target, "updated" if existed else "created")

    def _exists(self, member: str) -> bool:
        # PUT answers the same way for a new and an existing member; ask first to report which it was.
        try:
            self.http.get(f"{self._list_path}/members/{path_segment(member)}", params={"fields": "id"})
        except HttpError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _batch(self, entries: Sequence[_Entry]) -> dict[int, WriteResult]:
        members = [{**self._body(e.item.fields), "email_address": e.email} for e in entries]
        try:
            response = self.http.post(self._list_path, json={"members": members, "update_existing": True})
        except HttpError as exc:
            if exc.status not in _RECORD_REJECTIONS:
                raise
            # The call as a whole was refused (too large, malformed): every member carries the reason.
            return {e.index: self._fail(e.item, exc) for e in entries}
        data = response.data if isinstance(response.data, dict) else {}
        saved: dict[str, tuple[Literal["created", "updated"], str]] = {}
        for member in data.get("new_members") or []:
            if isinstance(member, dict) and member.get("email_address"):
                saved[str(member["email_address"]).lower()] = ("created", str(member.get("id")))
        for member in data.get("updated_members") or []:
            if isinstance(member, dict) and member.get("email_address"):
                saved[str(member["email_address"]).lower()] = ("updated", str(member.get("id")))
        refused = {
            str(error["email_address"]).lower(): str(error.get("error") or "Rejected by Mailchimp")
            for error in data.get("errors") or []
            if isinstance(error, dict) and error.get("email_address")
        }
        results: dict[int, WriteResult] = {}
        for entry in entries:
            key = entry.email.lower()
            if key in saved:
                action, member_id = saved[key]
                results[entry.index] = self._tag(entry.item, member_id, action)
            else:
                error = refused.get(key, "Mailchimp's batch answer did not mention this member.")
                results[entry.index] = WriteResult(
                    key=entry.item.key, ok=False, error=self.http.redact(error)
                )
        return results

    def _tag(self, item: WriteItem, member: str, action: Literal["created", "updated"]) -> WriteResult:
        """Add the item's tags (existing tags stay: tags are often managed in Mailchimp itself)."""
        tags = item.fields.get("tags")
        if tags:
            names = [tags] if isinstance(tags, str) else [str(t) for t in tags if str(t).strip()]
            try:
                self.http.post(
                    f"{self._list_path}/members/{path_segment(member)}/tags",
                    json={"tags": [{"name": name, "status": "active"} for name in names]},
                )
            except HttpError as exc:
                failed = self._fail(item, exc)
                return WriteResult(
                    key=item.key,
                    ok=False,
                    target_id=member,
                    error=f"The member was saved, but Mailchimp refused the tags: {failed.error}",
                )
        return WriteResult(key=item.key, ok=True, target_id=member, action=action)


def _unique_rounds(entries: Sequence[_Entry]) -> list[list[_Entry]]:
    """Split so that no round names the same address twice (later repeats win, in order)."""
    rounds: list[list[_Entry]] = []
    seen: list[set[str]] = []
    for entry in entries:
        key = entry.email.lower()
        for keys, bucket in zip(seen, rounds, strict=True):
            if key not in keys:
                keys.add(key)
                bucket.append(entry)
                break
        else:
            seen.append({key})
            rounds.append([entry])
    return rounds
