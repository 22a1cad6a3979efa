"""Saving what the workflow builder made: create or edit the draft, and publish when asked.

One transaction over the existing services (workflow_create, workflow_update, workflow_publish), so a
builder save is audited, validated and scheduled exactly like an API call, and a failure in any part
leaves nothing half-saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from connectors.models import Connection
from integrations_hub.accounts.models import Team
from workflows.engine.definition import DefinitionError, compile_definition
from workflows.models import Workflow
from workflows.services.versions import workflow_publish
from workflows.services.workflow import WorkflowInputError, workflow_create, workflow_update


@dataclass(frozen=True)
class BuilderValues:
    """The draft settings the builder edits (connections are fixed once a workflow exists)."""

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
    _check_steps(values, source_connection if workflow is None else workflow.source_connection)
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
        changed = {k: v for k, v in values.editable().items() if getattr(workflow, k) != v}
        if changed:
            workflow_update(workflow=workflow, user=user, **changed)
    if publish:
        workflow_publish(workflow=workflow, user=user)
    return workflow
