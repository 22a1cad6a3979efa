"""Rotating a webhook trigger's signing secret: the new secret is returned once and stored encrypted."""

from __future__ import annotations

from typing import Any

from connectors.webhooks import generate_secret
from integrations_hub.audit.services import audit_record
from workflows.models import Workflow
from workflows.services.webhooks import webhook_secret_set


def webhook_secret_rotate(*, workflow: Workflow, user: Any = None) -> str:
    """Replace the secret; deliveries signed with the old one are refused from now on."""
    secret = generate_secret()
    webhook_secret_set(workflow=workflow, secret=secret)
    audit_record(
        team=workflow.team_id,
        actor=user,
        action="workflow.webhook_secret_rotated",
        obj=workflow,
        summary=f"Rotated the webhook signing secret of {workflow.name!r}",
    )
    return secret
