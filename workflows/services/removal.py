"""Deleting a workflow together with its run history, which `workflow_delete` alone cannot do.

A run keeps the version it ran with PROTECT (so history never points at nothing), and Django's
cascade from the workflow stops at that protection. The runs go first, then `workflow_delete`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from workflows.models import Run, Workflow
from workflows.services.workflow import workflow_delete


class WorkflowBusy(Exception):
    """A run of the workflow is queued or running; deleting now would pull the rows from under it."""


@transaction.atomic
def workflow_remove(*, workflow: Workflow, user: Any = None) -> None:
    locked = Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
    if locked is None:
        return
    if Run.objects.filter(workflow=workflow, status__in=[Run.Status.QUEUED, Run.Status.RUNNING]).exists():
        raise WorkflowBusy("A run of this workflow is in progress; delete it when the run has finished.")
    Run.objects.filter(workflow=workflow).delete()
    workflow_delete(workflow=workflow, user=user)
