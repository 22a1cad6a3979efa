"""Export a workflow's draft as a portable JSON document, and import one into a team.

Connections are referenced by name, not id, so a document exported from one hub (or team) imports
into another that has connections of the same names. That holds inside the steps too: every step's
`connection` and every `lookup_link` transform's connection (in the workflow's mapping and in each
step's mapping, body or payload) is written as the connection's name and read back as the importing
team's connection of that name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
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


# The settings of a step that hold a mapping (see workflows.engine.definition).
_STEP_MAPPINGS = ("mapping", "body", "payload")

# Turns a connection reference into another (an id into a name, or back); None: leave it as it is.
Swap = Callable[[Any], Any]


def _swap_mapping(mapping: Any, swap: Swap) -> Any:
    """A copy of the mapping spec with every lookup_link transform's connection swapped."""
    if not isinstance(mapping, dict) or not isinstance(mapping.get("fields"), list):
        return copy.deepcopy(mapping)
    swapped = copy.deepcopy(mapping)
    for row in swapped["fields"]:
        transforms = row.get("transforms") if isinstance(row, dict) else None
        for transform in transforms if isinstance(transforms, list) else []:
            if not isinstance(transform, dict) or transform.get("name") != "lookup_link":
                continue
            args = transform.get("args")
            if isinstance(args, dict) and "connection" in args:
                args["connection"] = swap(args["connection"])
    return swapped


def _swap_steps(steps: Any, swap: Swap) -> Any:
    """A copy of the steps with every connection reference swapped, branch arms included."""
    if not isinstance(steps, list):
        return copy.deepcopy(steps)
    swapped = []
    for step in steps:
        if not isinstance(step, dict):
            swapped.append(copy.deepcopy(step))
            continue
        step = dict(step)
        if step.get("connection") is not None:
            step["connection"] = swap(step["connection"])
        for name in _STEP_MAPPINGS:
            if name in step:
                step[name] = _swap_mapping(step[name], swap)
        for arm in ("then", "else"):
            if arm in step:
                step[arm] = _swap_steps(step[arm], swap)
        swapped.append(copy.deepcopy(step))
    return swapped


def _connection_ids(steps: Any, mapping: Any) -> set[int]:
    """The connection ids the steps and the mapping refer to."""
    found: set[int] = set()

    def note(reference: Any) -> Any:
        if isinstance(reference, int) and not isinstance(reference, bool):
            found.add(reference)
        elif isinstance(reference, str) and reference.isdigit():
            found.add(int(reference))
        return reference

    _swap_steps(steps, note)
    _swap_mapping(mapping, note)
    return found


def workflow_export(*, workflow: Workflow) -> dict[str, Any]:
    """The draft (not the published version) with connections by name. Holds no secret."""
    source = workflow.source_connection
    referenced = _connection_ids(workflow.steps, workflow.mapping)
    names = dict(
        Connection.objects.filter(team_id=workflow.team_id, pk__in=referenced).values_list("pk", "name")
    )

    def by_name(reference: Any) -> Any:
        if isinstance(reference, bool):
            return reference
        key = int(reference) if isinstance(reference, int | str) and str(reference).isdigit() else None
        return names.get(key, reference) if key is not None else reference

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
        "mapping": _swap_mapping(workflow.mapping, by_name),
        "steps": _swap_steps(workflow.steps or [], by_name),
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
    team_connections = dict(Connection.objects.filter(team=team).values_list("name", "pk"))
    unknown: list[str] = []

    def by_id(reference: Any) -> Any:
        if isinstance(reference, str) and reference in team_connections:
            return team_connections[reference]
        if reference not in unknown:
            unknown.append(reference)
        return reference

    steps = _swap_steps(document.get("steps") or [], by_id)
    mapping = _swap_mapping(document["mapping"], by_id)
    if unknown:
        errors["steps"] = [
            f"Your team has no connection named {name!r}; create it or rename the reference."
            for name in unknown
        ]
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
        mapping=mapping,
        steps=steps,
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
