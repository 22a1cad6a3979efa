"""Writes on workflows: create, change, enable/disable, delete. Each keeps the beat schedule in step."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction

from connectors.models import Connection
from integrations_hub.accounts.models import Team
from integrations_hub.audit.services import audit_record, field_changes
from workflows.engine.definition import DefinitionError, compile_definition
from workflows.engine.mapping import MappingSpecError, compile_mapping
from workflows.models import Run, TriggerCursor, Workflow
from workflows.schedules import CronError, parse_cron, schedule_remove, schedule_sync
from workflows.services.versions import workflow_publish


class WorkflowInputError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = errors


def _validate(
    *,
    team: Team,
    source: Connection | None,
    target: Connection,
    mapping: dict[str, Any],
    cron: str = "",
    steps: list[Any] | None = None,
    trigger: str = Workflow.Trigger.POLL,
    source_object: str = "",
) -> None:
    errors: dict[str, list[str]] = {}
    if steps:
        try:
            compile_definition(
                {
                    "trigger": {
                        "type": trigger,
                        "connection": source.pk if source else "inbound",
                        "object": source_object or "events",
                    },
                    "steps": steps,
                }
            )
        except DefinitionError as exc:
            errors["steps"] = list(exc.messages)
        else:
            _check_step_connections(team, steps, errors)
    if cron:
        try:
            parse_cron(cron)
        except CronError as exc:
            errors["schedule_cron"] = [str(exc)]
    for field, connection in (("source_connection", source), ("target_connection", target)):
        if connection is not None and connection.team_id != team.pk:
            errors[field] = ["Choose one of your team's connections."]
    if not steps:
        try:
            compile_mapping(mapping)
        except MappingSpecError as exc:
            errors["mapping"] = list(exc.messages)
    if errors:
        raise WorkflowInputError(errors)


def _check_step_connections(team: Team, steps: list[Any], errors: dict[str, list[str]]) -> None:
    """Every connection a step names must be one of the team's."""
    named: set[int] = set()

    def walk(items: list[Any]) -> None:
        for step in items:
            if not isinstance(step, dict):
                continue
            ref = step.get("connection")
            if ref is not None and str(ref).isdigit():
                named.add(int(ref))
            walk(step.get("then") or [])
            walk(step.get("else") or [])

    walk(steps)
    known = set(Connection.objects.filter(team=team, pk__in=named).values_list("pk", flat=True))
    for missing in sorted(named - known):
        errors.setdefault("steps", []).append(f"Connection {missing} is not one of your team's connections.")


@transaction.atomic
def workflow_create(
    *,
    team: Team,
    name: str,
    source_connection: Connection | None,
    source_object: str,
    target_connection: Connection,
    target_object: str,
    mapping: dict[str, Any],
    match_field: str = "email",
    poll_interval_seconds: int = 60,
    enabled: bool = False,
    description: str = "",
    trigger: str = Workflow.Trigger.POLL,
    schedule_cron: str = "",
    steps: list[Any] | None = None,
    publish: bool = True,
    user: Any = None,
) -> Workflow:
    """Create a workflow; by default its first version is published so it can run at once."""
    _validate(
        team=team,
        source=source_connection,
        target=target_connection,
        mapping=mapping,
        cron=schedule_cron,
        steps=steps,
        trigger=trigger,
        source_object=source_object,
    )
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
        trigger=trigger,
        schedule_cron=schedule_cron,
        steps=steps or [],
        webhook_token=secrets.token_urlsafe(24),
    )
    TriggerCursor.objects.create(workflow=workflow)
    audit_record(
        team=team, actor=user, action="workflow.created", obj=workflow, summary=f"Created workflow {name!r}"
    )
    if publish:
        workflow_publish(workflow=workflow, user=user)
    schedule_sync(workflow=workflow)
    return workflow


_EDITABLE = {
    "name",
    "description",
    "trigger",
    "source_object",
    "target_object",
    "mapping",
    "steps",
    "match_field",
    "poll_interval_seconds",
    "schedule_cron",
    "start_from",
    "start_from_date",
    "flood_threshold",
    "webhook_signature",
    "webhook_id_path",
    "webhook_record_path",
    "webhook_updated_at_path",
    "webhook_rate_per_minute",
}


@transaction.atomic
def workflow_update(
    *, workflow: Workflow, publish: bool = False, user: Any = None, **changes: Any
) -> Workflow:
    """Edit the draft. The running version changes only when `publish` is set (or on a later publish)."""
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise WorkflowInputError({name: ["This field cannot be changed."] for name in sorted(unknown)})
    before = {name: getattr(workflow, name) for name in changes}
    for name, value in changes.items():
        setattr(workflow, name, value)
    _validate(
        team=workflow.team,
        source=workflow.source_connection,
        target=workflow.target_connection,
        mapping=workflow.mapping,
        cron=workflow.schedule_cron,
        steps=workflow.steps,
        trigger=workflow.trigger,
        source_object=workflow.source_object,
    )
    workflow.save()
    diff = field_changes(
        {k: _plain(v) for k, v in before.items()}, {k: _plain(getattr(workflow, k)) for k in changes}
    )
    if diff:
        audit_record(
            team=workflow.team_id,
            actor=user,
            action="workflow.edited",
            obj=workflow,
            summary=f"Edited the draft of {workflow.name!r}",
            changes=diff,
        )
    if publish:
        workflow_publish(workflow=workflow, user=user)
    return workflow


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@transaction.atomic
def workflow_set_enabled(*, workflow: Workflow, enabled: bool, user: Any = None) -> Workflow:
    """Enable or disable. Enabling a never-published workflow publishes its draft first."""
    workflow.enabled = enabled
    if enabled:
        workflow.paused_reason = ""
    workflow.save(update_fields=["enabled", "paused_reason", "updated_at"])
    if enabled and workflow.published_version is None:
        workflow_publish(workflow=workflow, user=user)
    schedule_sync(workflow=workflow)
    audit_record(
        team=workflow.team_id,
        actor=user,
        action="workflow.enabled" if enabled else "workflow.disabled",
        obj=workflow,
        summary=f"{'Enabled' if enabled else 'Disabled'} {workflow.name!r}",
    )
    return workflow


@transaction.atomic
def workflow_pause(*, workflow: Workflow, reason: str) -> Workflow:
    """The hub stops a workflow by itself (schema drift, a flood to confirm), saying why."""
    workflow.enabled = False
    workflow.paused_reason = reason
    workflow.save(update_fields=["enabled", "paused_reason", "updated_at"])
    schedule_sync(workflow=workflow)
    audit_record(
        team=workflow.team_id, actor=None, action="workflow.paused", obj=workflow, summary=f"Paused: {reason}"
    )
    return workflow


@transaction.atomic
def workflow_delete(*, workflow: Workflow, user: Any = None) -> None:
    audit_record(
        team=workflow.team_id,
        actor=user,
        action="workflow.deleted",
        obj=workflow,
        summary=f"Deleted {workflow.name!r}",
    )
    schedule_remove(workflow=workflow)
    # Runs pin the version they ran (PROTECT), so they go first; the rest cascades with the workflow.
    Run.objects.filter(workflow=workflow).delete()
    workflow.delete()
