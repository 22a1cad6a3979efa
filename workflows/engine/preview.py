"""Previews for the editors: what a mapping or a whole workflow would do with a sample record.

Nothing is written anywhere. `preview_mapping` shows each target field's value with
warnings a user should see before saving (a value converted to another kind, a field left
out because it is empty, a value the target field won't take), next to the spec and schema
issues of `validate_against_schemas`. `preview_definition` walks a workflow's steps with
`DryRunPorts`, which answer lookups from sample data and record the writes, messages and
requests that would be made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from connectors.base import FieldSchema, ObjectSchema, SourceRecord, WriteItem, WriteResult
from workflows.engine.definition import DefinitionError, compile_definition
from workflows.engine.diff import canonical
from workflows.engine.lookups import ApplyContext, ConnectionRef
from workflows.engine.mapping import (
    CompiledMapping,
    Issue,
    MappingSpecError,
    RowSpec,
    RowTrace,
    compile_mapping,
    parse_spec,
    validate_against_schemas,
)
from workflows.engine.ports import Delivery, FoundRecord, HttpRequest, HttpResponse, Operation
from workflows.engine.steps import RecordExecution, execute_record
from workflows.engine.values import describe_kind, is_empty, show, show_value

# ---------------------------------------------------------------------------------------------
# Mapping preview
# ---------------------------------------------------------------------------------------------


@dataclass
class FieldPreview:
    """One target field for the sample record. `status` is as in RowTrace."""

    row: int
    target: str
    status: Literal["mapped", "cleared", "dropped", "error"]
    source: Any
    value: Any
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "target": self.target,
            "status": self.status,
            "source": canonical(self.source),
            "value": canonical(self.value),
            "warnings": list(self.warnings),
            "error": self.error,
        }


@dataclass
class Preview:
    """`values` is what would be written; `ok` is false when saving or running would fail."""

    values: dict[str, Any]
    fields: list[FieldPreview]
    issues: list[Issue]
    unused_source_fields: list[str]

    @property
    def ok(self) -> bool:
        return not any(issue.level == "error" for issue in self.issues) and not any(
            preview.status == "error" for preview in self.fields
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "values": canonical(self.values),
            "fields": [preview.to_dict() for preview in self.fields],
            "issues": [
                {"level": issue.level, "message": issue.message, "row": issue.row, "target": issue.target}
                for issue in self.issues
            ],
            "unused_source_fields": list(self.unused_source_fields),
        }


def preview_mapping(
    spec: Any,
    sample_record: Mapping[str, Any],
    source_schema: ObjectSchema | None = None,
    target_schema: ObjectSchema | None = None,
    *,
    context: ApplyContext | None = None,
) -> Preview:
    """Map `sample_record` with `spec` and say what a user should know about the result."""
    if source_schema is not None and target_schema is not None:
        issues = validate_against_schemas(spec, source_schema, target_schema)
    else:
        issues = parse_spec(spec)[1]
    try:
        mapping = compile_mapping(spec)
    except MappingSpecError:
        # The issues above already list why; the rows that are sound still preview.
        mapping = CompiledMapping(parse_spec(spec)[0])
    previews = [
        _field_preview(row, trace, target_schema)
        for row, trace in zip(mapping.rows, mapping.trace(sample_record, context), strict=True)
    ]
    values = {
        preview.target: preview.value for preview in previews if preview.status in ("mapped", "cleared")
    }
    unused = sorted(name for name in sample_record if name not in mapping.source_fields)
    return Preview(values, previews, issues, unused)


_KINDS = (
    (bool, "yes/no"),
    (int, "a number"),
    (float, "a number"),
    (str, "text"),
    (list, "a list"),
    (dict, "a group"),
)


def _kind(value: Any) -> str:
    return next((name for kind, name in _KINDS if isinstance(value, kind)), describe_kind(value))


def _field_preview(row: RowSpec, trace: RowTrace, target_schema: ObjectSchema | None) -> FieldPreview:
    preview = FieldPreview(row.index, trace.target, trace.status, trace.source, trace.value)
    if trace.status == "error":
        preview.error = trace.message
        return preview
    target = target_schema.field(row.target) if target_schema is not None else None
    if trace.status == "dropped":
        preview.warnings.append(f"not written: {trace.message}; the target keeps its current value")
        if target is not None and target.required:
            preview.warnings.append(f"'{target.label}' is required, but this record gives it no value")
        return preview
    if trace.status == "cleared":
        preview.warnings.append("empty, so the target field will be cleared")
        return preview
    if len(row.sources) == 1 and not is_empty(trace.source) and _kind(trace.source) != _kind(trace.value):
        preview.warnings.append(
            f"converted {_kind(trace.source)} {show_value(trace.source)} to {_kind(trace.value)} {show_value(trace.value)}"
        )
    if target is not None:
        preview.warnings.extend(_target_warnings(target, trace.value))
    return preview


def _is_iso(value: Any, with_time: bool) -> bool:
    if not isinstance(value, str):
        return isinstance(value, datetime) if with_time else isinstance(value, date)
    try:
        (datetime if with_time else date).fromisoformat(value)
    except ValueError:
        return False
    return True


def _target_warnings(target: FieldSchema, value: Any) -> list[str]:
    """What the target system is likely to refuse or misread."""
    label = f"'{target.label}'"
    if target.type == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
        return [f"{label} is a number field, but this is {_kind(value)} {show(value)}; add 'to_number'"]
    if target.type == "boolean" and not isinstance(value, bool):
        return [f"{label} is a yes/no field, but this is {_kind(value)} {show(value)}; add 'to_boolean'"]
    if target.type == "date" and not _is_iso(value, with_time=False):
        return [f"{label} is a date field, but {show(value)} is not a date; add 'to_date'"]
    if target.type == "datetime" and not _is_iso(value, with_time=True):
        return [f"{label} is a date and time field, but {show(value)} is not one; add 'to_datetime'"]
    if target.type == "enumeration" and target.options:
        allowed = [option.value for option in target.options]
        if str(value) not in allowed:
            options = ", ".join(allowed[:8]) + (", …" if len(allowed) > 8 else "")
            return [f"{show(value)} is not an option of {label} ({options}); add or fix a 'value_map'"]
    if target.type in ("string", "email", "phone") and isinstance(value, list | dict):
        return [f"{label} is a text field, but this is {_kind(value)}; add 'join' or 'to_string'"]
    if target.type == "email" and isinstance(value, str) and "@" not in value:
        return [f"{show(value)} doesn't look like an email address"]
    return []


# ---------------------------------------------------------------------------------------------
# Workflow preview
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCall:
    """One call a workflow would make: a write, a chat message, an HTTP request or a webhook."""

    kind: Literal["write", "notify", "http", "webhook"]
    step_id: str
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "step_id": self.step_id, "details": canonical(self.details)}


class DryRunPorts:
    """Ports that change nothing: lookups search sample records, everything else is recorded.

    `records`: per object name, the records a lookup may find, each with an "id".
    `linked_ids`: per object name, source id -> linked id, for lookup_link; ids not listed
    get a placeholder so the preview still shows where the value goes.
    """

    def __init__(
        self,
        records: Mapping[str, list[Mapping[str, Any]]] | None = None,
        linked_ids: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.records = records or {}
        self.linked_ids = linked_ids or {}
        self.calls: list[PlannedCall] = []

    def linked_id(self, connection: ConnectionRef, object_name: str, source_id: str) -> str | None:
        return self.linked_ids.get(object_name, {}).get(source_id, f"<{object_name} linked to {source_id}>")

    def lookup(
        self, connection: ConnectionRef, object_name: str, field: str, value: Any
    ) -> FoundRecord | None:
        for sample in self.records.get(object_name, []):
            if str(sample.get(field)) == str(value):
                fields = {name: item for name, item in sample.items() if name != "id"}
                return FoundRecord(str(sample.get("id", f"<{object_name}>")), fields)
        return None

    def write(
        self,
        connection: ConnectionRef,
        object_name: str,
        operation: Operation,
        item: WriteItem,
        match_field: str | None,
        *,
        idempotency_key: str,
    ) -> WriteResult:
        details = {
            "connection": connection,
            "object": object_name,
            "operation": operation,
            "target_id": item.target_id,
            "match_field": match_field,
            "fields": dict(item.fields),
        }
        self._record("write", idempotency_key, details)
        if item.target_id is not None:
            return WriteResult(item.key, True, item.target_id, "updated")
        if operation == "create":
            return WriteResult(item.key, True, f"<new {object_name}>", "created")
        found = f"<{object_name} found by {match_field}>"
        return WriteResult(item.key, True, found, "created" if operation == "upsert" else "updated")

    def notify(
        self, connection: ConnectionRef, channel: str | None, message: str, *, idempotency_key: str
    ) -> Delivery:
        self._record(
            "notify", idempotency_key, {"connection": connection, "channel": channel, "message": message}
        )
        return Delivery(True, "<message>")

    def http(self, request: HttpRequest, *, idempotency_key: str) -> HttpResponse:
        details = {
            "method": request.method,
            "url": request.url,
            "body": request.body,
            "connection": request.connection,
        }
        self._record("http", idempotency_key, details)
        return HttpResponse(200, None)

    def webhook(
        self, url: str, event: str | None, payload: Mapping[str, Any], *, idempotency_key: str
    ) -> Delivery:
        self._record("webhook", idempotency_key, {"url": url, "event": event, "payload": dict(payload)})
        return Delivery(True, "<delivery>", 200)

    def _record(
        self, kind: Literal["write", "notify", "http", "webhook"], key: str, details: dict[str, Any]
    ) -> None:
        # Action keys are "<record key>:<step id>" (see idempotency.action_key).
        self.calls.append(PlannedCall(kind, key.rpartition(":")[2], details))


@dataclass
class DefinitionPreview:
    """`errors` when the definition doesn't compile; otherwise the dry run and its calls."""

    errors: list[str]
    execution: RecordExecution | None
    calls: list[PlannedCall]

    @property
    def ok(self) -> bool:
        return not self.errors and self.execution is not None and self.execution.outcome != "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": list(self.errors),
            "execution": None if self.execution is None else self.execution.to_dict(),
            "calls": [call.to_dict() for call in self.calls],
        }


def preview_definition(
    definition: Any,
    sample_record: Mapping[str, Any] | SourceRecord,
    lookups: Mapping[str, list[Mapping[str, Any]]] | None = None,
    *,
    linked_ids: Mapping[str, Mapping[str, str]] | None = None,
    previous: Mapping[str, Any] | None = None,
) -> DefinitionPreview:
    """Walk the workflow for one sample record without writing anything.

    `lookups` are the sample records lookup steps may find, per object name. Delays are
    passed over (noted in their step's message) so the preview shows every step.
    """
    try:
        compiled = compile_definition(definition)
    except DefinitionError as exc:
        return DefinitionPreview(exc.messages, None, [])
    if isinstance(sample_record, SourceRecord):
        record = sample_record
    else:
        record = SourceRecord(str(sample_record.get("id", "sample")), datetime.now(UTC), sample_record)
    ports = DryRunPorts(lookups, linked_ids)
    execution = execute_record(compiled, record, ports, previous=previous, delays="skip_over")
    return DefinitionPreview([], execution, ports.calls)
