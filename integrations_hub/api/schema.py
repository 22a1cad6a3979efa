"""OpenAPI additions drf-spectacular cannot infer: the problem responses every operation may give,
and the Idempotency-Key header of every POST."""

from __future__ import annotations

from typing import Any

from django.db.models import TextChoices
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, build_choice_field
from rest_framework import serializers

from integrations_hub.api.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `type` is one of the problem URNs in docs/api.md.",
    "properties": {
        "type": {"type": "string", "example": "urn:integrations-hub:problem:validation-error"},
        "title": {"type": "string", "example": "Bad Request"},
        "status": {"type": "integer", "example": 400},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "For validation errors: the messages of each field (nested fields joined by '.').",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail"],
}

_DESCRIPTIONS = {
    "400": "The request is not valid (see `errors`).",
    "401": "No valid token or session.",
    "403": "Not allowed for your role, or you are in no team (or the CSRF check failed).",
    "404": "No such object in your team.",
    "406": "The Accept header asks for something other than JSON.",
    "409": "Conflicts with the current state, or an Idempotency-Key was reused for another request.",
    "413": "The request body is too large.",
    "415": "The body is not JSON.",
    "429": "Over the request budget; retry after the `Retry-After` seconds.",
    "500": "An error on our side; it is logged.",
}

RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "Seconds to wait before the next request.",
    "schema": {"type": "integer", "minimum": 1},
}

IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (e.g. a UUID). A retry with the same key and body within 24 hours gets the "
        "first response again (with `Idempotent-Replayed: true`) instead of acting twice."
    ),
    "schema": {"type": "string", "maxLength": 255, "minLength": 1},
}


def _named_choice_sets() -> dict[tuple[str, ...], str]:
    # Imported late: the models are not loaded when the settings name this module.
    from connectors.models import Connection
    from workflows.models import Run, RunRecord, Workflow
    from workflows.sync.models import DuplicateHold, Side, Sync, SyncConflict, SyncOutcome, SyncRun

    named: dict[str, type[TextChoices]] = {
        "ConnectionStatus": Connection.Status,
        "ConnectionAuthMethod": Connection.AuthMethod,
        "WorkflowTrigger": Workflow.Trigger,
        "WorkflowStartFrom": Workflow.StartFrom,
        "RunStatus": Run.Status,
        "RunTrigger": Run.Trigger,
        "RecordOutcome": RunRecord.Outcome,
        "SyncCreateMode": Sync.Create,
        "SyncFirstSync": Sync.FirstSync,
        "SyncDeletion": Sync.Deletion,
        "SyncSide": Side,
        "SyncRunStatus": SyncRun.Status,
        "SyncRunTrigger": SyncRun.Trigger,
        "SyncOutcomeKind": SyncOutcome.Outcome,
        "ConflictStatus": SyncConflict.Status,
        "ConflictChoice": SyncConflict.Choice,
        "DuplicateHoldStatus": DuplicateHold.Status,
        "DuplicateHoldChoice": DuplicateHold.Choice,
    }
    return {tuple(str(v) for v in choices.values): name for name, choices in named.items()}


class ApiAutoSchema(AutoSchema):
    """The models' choice sets as named enum components (ConnectionStatus, RunStatus, ...).

    drf-spectacular names enums after the field (`status`), and warns when two choice sets share a
    field name; naming them after the model here avoids that in the served schema and in
    `check --deploy`, which generates the schema with the default settings.
    """

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        if (
            isinstance(field, serializers.ChoiceField)
            and not isinstance(field, serializers.MultipleChoiceField)
            and not field.allow_null
            and not field.allow_blank
        ):
            name = _named_choice_sets().get(tuple(str(value) for value in field.choices))
            if name is not None:
                component = ResolvedComponent(
                    name=name, type=ResolvedComponent.SCHEMA, object=name, schema=build_choice_field(field)
                )
                self.registry.register_on_missing(component)
                return component.ref
        return super()._map_serializer_field(field, direction, bypass_extensions)


def only_api_v1(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """PREPROCESSING_HOOK: the schema describes the API itself, not the schema and docs views."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


def add_problem_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """POSTPROCESSING_HOOK: a Problem schema, its responses on every operation, Idempotency-Key on POST."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = ["400", "401", "403", "404", "406", "429", "500"]
            if "requestBody" in operation or method in {"post", "put", "patch"}:
                statuses += ["413", "415"]
            if method == "post":
                statuses.append("409")
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                    parameters.append(IDEMPOTENCY_PARAMETER)
            for code in statuses:
                response = operation["responses"].setdefault(code, {"description": _DESCRIPTIONS[code]})
                response.setdefault("content", {}).update(problem)
            operation["responses"]["429"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER_HEADER
            for code, response in operation["responses"].items():
                # Responses the views declared as errors (409, 502) are problems too.
                if code.startswith(("4", "5")) and code not in statuses:
                    response["content"] = dict(problem)
    return result
