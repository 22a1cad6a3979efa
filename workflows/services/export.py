"""Export a workflow's draft as a portable JSON document, and import one into a team.

Connections are referenced by name, not id, so a document exported from one hub (or team) imports
into another that has connections of the same names.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from connectors.models import Connection
from integrations_hub.accounts.models import Team
from workflows.models import Workflow
from workflows.services.workflow import WorkflowInputError, workflow_create, workflow_update

EXPORT_FORMAT = "integrations-hub/workflow"
EXPORT_FORMAT_VERSION = 1

# Draft settings that workflow_create does not take; the import sets them with workflow_update.
_TRIGGER_SETTINGS = (
    "start_from",
    "start_from_date",
    "flood_threshold",
    "webhook_signature",
    "webhook_id_path",
    "webhook_record_path",
)


def workflow_export(*, workflow: Workflow) -> dict[str, Any]:
    """The draft (not the published version) with connections by name. Holds no secret."""
    source = workflow.source_connection
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "name": workflow.name,
        "description": workflow.description,
        "trigger": {
            "type": workflow.trigger,
            "connection": source.name if source is not None else None,
            "object": workflow.source_object,
            "interval_seconds": workflow.poll_interval_seconds,
            "schedule_cron": workflow.schedule_cron,
            "start_from": workflow.start_from,
            "start_from_date": workflow.start_from_date.isoformat() if workflow.start_from_date else None,
            "flood_threshold": workflow.flood_threshold,
            "webhook_signature": workflow.webhook_signature,
            "webhook_id_path": workflow.webhook_id_path,
            "webhook_record_path": workflow.webhook_record_path,
        },
        "target": {"connection": workflow.target_connection.name, "object": workflow.target_object},
        "match_field": workflow.match_field,
        "mapping": workflow.mapping,
    }


def _connection_named(
    team: Team, name: str | None, field: str, errors: dict[str, list[str]]
) -> Connection | None:
    if not name:
        return None
    connection = Connection.objects.filter(team=team, name=name).first()
    if connection is None:
        errors[field] = [f"Your team has no connection named {name!r}; create it or rename the reference."]
    return connection


@transaction.atomic
def workflow_import(*, team: Team, document: dict[str, Any], user: Any = None) -> Workflow:
    """Create a disabled, unpublished draft from an exported document (already checked for shape).

    Raises WorkflowInputError (field → messages, nested fields as "trigger.connection").
    """
    errors: dict[str, list[str]] = {}
    trigger: dict[str, Any] = document["trigger"]
    target: dict[str, Any] = document["target"]
    source = _connection_named(team, trigger.get("connection"), "trigger.connection", errors)
    target_connection = _connection_named(team, target["connection"], "target.connection", errors)
    if target_connection is None and "target.connection" not in errors:
        errors["target.connection"] = ["A workflow needs a target connection."]
    if Workflow.objects.filter(team=team, name=document["name"]).exists():
        errors["name"] = ["Your team already has a workflow with this name; change `name` in the document."]
    if errors:
        raise WorkflowInputError(errors)
    assert target_connection is not None
    workflow = workflow_create(
        team=team,
        name=document["name"],
        description=document.get("description", ""),
        trigger=trigger["type"],
        source_connection=source,
        source_object=trigger.get("object", ""),
        target_connection=target_connection,
        target_object=target["object"],
        mapping=document["mapping"],
        match_field=document.get("match_field", "email"),
        poll_interval_seconds=trigger.get("interval_seconds", 60),
        schedule_cron=trigger.get("schedule_cron", ""),
        publish=False,
        user=user,
    )
    settings = {name: trigger[name] for name in _TRIGGER_SETTINGS if name in trigger}
    if settings:
        workflow_update(workflow=workflow, user=user, **settings)
    return workflow
