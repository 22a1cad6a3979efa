"""Publishing: every publish makes an immutable version; runs record and use the version they ran."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from integrations_hub.audit.services import audit_record
from workflows.definition import definition_snapshot
from workflows.models import Workflow, WorkflowVersion
from workflows.schedules import schedule_sync


@transaction.atomic
def workflow_publish(*, workflow: Workflow, user: Any = None) -> WorkflowVersion:
    """Publish the draft. Publishing an unchanged draft returns the current version instead of a copy."""
    Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
    snapshot = definition_snapshot(workflow)
    current = workflow.published_version
    if current is not None and current.definition == snapshot:
        return current
    number = (WorkflowVersion.objects.filter(workflow=workflow).aggregate(n=Max("number"))["n"] or 0) + 1
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=number,
        definition=snapshot,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    workflow.published_version = version
    workflow.save(update_fields=["published_version", "updated_at"])
    schedule_sync(workflow=workflow)
    audit_record(
        team=workflow.team_id,
        actor=user,
        action="workflow.published",
        obj=workflow,
        summary=f"Published version {number} of {workflow.name!r}",
    )
    return version


def has_unpublished_changes(workflow: Workflow) -> bool:
    current = workflow.published_version
    return current is None or current.definition != definition_snapshot(workflow)
