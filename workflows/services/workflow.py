"""Writes on workflows: create, change, enable/disable, delete. Each keeps the beat schedule in step."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from connectors.models import Connection
from integrations_hub.accounts.models import Team
from workflows.engine.mapping import MappingSpecError, compile_mapping
from workflows.models import TriggerCursor, Workflow
from workflows.schedules import schedule_remove, schedule_sync


class WorkflowInputError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = errors


def _validate(*, team: Team, source: Connection, target: Connection, mapping: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for field, connection in (("source_connection", source), ("target_connection", target)):
        if connection.team_id != team.pk:
            errors[field] = ["Choose one of your team's connections."]
    try:
        compile_mapping(mapping)
    except MappingSpecError as exc:
        errors["mapping"] = list(exc.messages)
    if errors:
        raise WorkflowInputError(errors)


@transaction.atomic
def workflow_create(
    *,
    team: Team,
    name: str,
    source_connection: Connection,
    source_object: str,
    target_connection: Connection,
    target_object: str,
    mapping: dict[str, Any],
    match_field: str = "email",
    poll_interval_seconds: int = 60,
    enabled: bool = False,
    description: str = "",
) -> Workflow:
    _validate(team=team, source=source_connection, target=target_connection, mapping=mapping)
    workflow = Workflow.objects.create(
        team=team,
        name=name,
        description=description,
        source_connection=source_connection,
        source_object=source_object,
        target_connection=target_connection,
        target_object=target_object,
        mapping=mapping,
        match_field=match_field,
        poll_interval_seconds=poll_interval_seconds,
        enabled=enabled,
    )
    TriggerCursor.objects.create(workflow=workflow)
    schedule_sync(workflow=workflow)
    return workflow


_EDITABLE = {
    "name",
    "description",
    "source_object",
    "target_object",
    "mapping",
    "match_field",
    "poll_interval_seconds",
    "enabled",
}


@transaction.atomic
def workflow_update(*, workflow: Workflow, **changes: Any) -> Workflow:
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise WorkflowInputError({name: ["This field cannot be changed."] for name in sorted(unknown)})
    for name, value in changes.items():
        setattr(workflow, name, value)
    _validate(
        team=workflow.team,
        source=workflow.source_connection,
        target=workflow.target_connection,
        mapping=workflow.mapping,
    )
    workflow.save()
    schedule_sync(workflow=workflow)
    return workflow


def workflow_set_enabled(*, workflow: Workflow, enabled: bool) -> Workflow:
    return workflow_update(workflow=workflow, enabled=enabled)


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> None:
    schedule_remove(workflow=workflow)
    workflow.delete()
