"""Saving what the workflow builder made: create or edit the draft, and publish when asked.

One transaction over the existing services (workflow_create, workflow_update, workflow_publish), so a
builder save is audited, validated and scheduled exactly like an API call, and a failure in any part
leaves nothing half-saved.

A saved workflow may move to other connections. Its record links pair records of the old connections
and its cursor is a position in the old source, so both are cleared with the move; and since runs use
the published version, a published workflow moves only when the move is published in the same save
(otherwise the old version would run with links and a cursor that are gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from connectors.models import Connection
from integrations_hub.accounts.models import Team
from integrations_hub.audit.services import audit_record
from workflows.engine.definition import DefinitionError, compile_definition
from workflows.models import RecordLink, StepLink, TriggerCursor, Workflow
from workflows.services.versions import workflow_publish
from workflows.services.workflow import WorkflowInputError, workflow_create, workflow_update


@dataclass(frozen=True)
class BuilderValues:
    """The draft settings the builder edits (the connections are passed beside them)."""

    name: str
    description: str
    trigger: str
    source_object: str
    target_object: str
    mapping: dict[str, Any]
    steps: list[Any]
    match_field: str
    poll_interval_seconds: int
    schedule_cron: str
    start_from: str

    def editable(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "trigger": self.trigger,
            "source_object": self.source_object,
            "target_object": self.target_object,
            "mapping": self.mapping,
            "steps": self.steps,
            "match_field": self.match_field,
            "poll_interval_seconds": self.poll_interval_seconds,
            "schedule_cron": self.schedule_cron,
            "start_from": self.start_from,
        }


def _check_steps(values: BuilderValues, source: Connection | None) -> None:
    # workflow_create does not compile steps; a builder save must not store steps no run can compile.
    if not values.steps:
        return
    try:
        compile_definition(
            {
                "trigger": {
                    "type": values.trigger,
                    "connection": source.pk if source else "inbound",
                    "object": values.source_object or "events",
                },
                "steps": values.steps,
            }
        )
    except DefinitionError as exc:
        raise WorkflowInputError({"steps": list(exc.messages)}) from None


@transaction.atomic
def workflow_save_from_builder(
    *,
    team: Team,
    workflow: Workflow | None,
    values: BuilderValues,
    source_connection: Connection | None,
    target_connection: Connection,
    publish: bool,
    user: Any = None,
) -> Workflow:
    """Create the workflow (disabled, unpublished) or change its draft; publish the draft if asked.

    Raises WorkflowInputError (field → messages) like the services it calls.
    """
    _check_steps(values, source_connection)
    if workflow is None:
        workflow = workflow_create(
            team=team,
            name=values.name,
            description=values.description,
            trigger=values.trigger,
            source_connection=source_connection,
            source_object=values.source_object,
            target_connection=target_connection,
            target_object=values.target_object,
            mapping=values.mapping,
            steps=values.steps,
            match_field=values.match_field,
            poll_interval_seconds=values.poll_interval_seconds,
            schedule_cron=values.schedule_cron,
            publish=False,
            user=user,
        )
        if values.start_from != workflow.start_from:
            workflow_update(workflow=workflow, user=user, start_from=values.start_from)
    else:
        moved = _move(workflow, team, source_connection, target_connection, publish=publish)
        changed = {k: v for k, v in values.editable().items() if getattr(workflow, k) != v}
        if changed or moved:
            # Saves the moved connections too, after checking the whole draft against them.
            workflow_update(workflow=workflow, user=user, **changed)
        if moved:
            _forget_old_ends(workflow, moved, user)
    if publish:
        workflow_publish(workflow=workflow, user=user)
    return workflow


def _move(
    workflow: Workflow,
    team: Team,
    source: Connection | None,
    target: Connection,
    *,
    publish: bool,
) -> dict[str, tuple[Connection | None, Connection | None]]:
    """Point the (unsaved) workflow at the chosen connections; the sides that moved, old and new."""
    moved: dict[str, tuple[Connection | None, Connection | None]] = {}
    if (source.pk if source else None) != workflow.source_connection_id:
        moved["source_connection"] = (workflow.source_connection, source)
    if target.pk != workflow.target_connection_id:
        moved["target_connection"] = (workflow.target_connection, target)
    if not moved:
        return moved
    errors: dict[str, list[str]] = {}
    for name, (_, new) in moved.items():
        if new is not None and new.team_id != team.pk:
            errors[name] = ["Choose one of your team's connections."]
        elif workflow.published_version_id is not None and not publish:
            errors[name] = [
                "Runs use the published version: a new connection takes effect when it is published."
                " Use “Save and publish”."
            ]
    if errors:
        raise WorkflowInputError(errors)
    workflow.source_connection = source
    workflow.target_connection = target
    return moved


def _forget_old_ends(
    workflow: Workflow, moved: dict[str, tuple[Connection | None, Connection | None]], user: Any
) -> None:
    """Links pair records of the old connections, the cursor is a position in the old source.

    The steps of a multi-step workflow name their own connections, so what they wrote stays linked
    unless the source moved (its record ids are another system's).
    """
    links = RecordLink.objects.filter(workflow=workflow).delete()[0]
    if "source_connection" in moved:
        links += StepLink.objects.filter(workflow=workflow).delete()[0]
        TriggerCursor.objects.filter(workflow=workflow).update(value=None)
    summary = "; ".join(
        f"{'read from' if name == 'source_connection' else 'write to'} "
        f"{new.name if new else 'the webhook URL'} instead of {old.name if old else 'the webhook URL'}"
        for name, (old, new) in moved.items()
    )
    audit_record(
        team=workflow.team_id,
        actor=user,
        action="workflow.moved",
        obj=workflow,
        summary=f"Moved {workflow.name!r}: {summary} ({links} record links cleared)",
        changes={
            name: [old.pk if old else None, new.pk if new else None] for name, (old, new) in moved.items()
        },
    )
