"""Incidents: a workflow starts failing, is paused, or needs a reconnect. The team hears once per incident."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from workflows.models import Incident, Run, Workflow

logger = logging.getLogger(__name__)


def incident_open(*, workflow_id: int, kind: str, message: str, run_id: int | None = None) -> Incident | None:
    """Open an incident unless one of this kind is already open. Returns the new incident, or None."""
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                workflow_id=workflow_id, kind=kind, message=message, last_run_id=run_id
            )
    except IntegrityError:
        # Already open: remember the latest run, but do not tell anyone again.
        Incident.objects.filter(workflow_id=workflow_id, kind=kind, resolved_at__isnull=True).update(
            last_run_id=run_id
        )
        return None
    from workflows.tasks import send_incident_alert

    transaction.on_commit(lambda: send_incident_alert.delay(incident.pk))
    return incident


def incident_resolve(*, workflow_id: int, kind: str) -> int:
    return Incident.objects.filter(workflow_id=workflow_id, kind=kind, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


def incident_track(
    *, workflow_id: int, status: str, error: str, run_id: int | None, reconnect: bool = False
) -> None:
    """Called when a run finishes: a failed run opens (or continues) an incident, a good one ends it.

    A run refused for its credentials is a "reconnect" incident: the fix is a person re-entering or
    re-authorising the connection, not waiting for the system to recover.
    """
    if status == Run.Status.FAILED:
        kind = Incident.Kind.RECONNECT if reconnect else Incident.Kind.FAILING
        incident_open(workflow_id=workflow_id, kind=kind, message=error, run_id=run_id)
    elif status == Run.Status.HELD:
        incident_open(workflow_id=workflow_id, kind=Incident.Kind.PAUSED, message=error, run_id=run_id)
    elif status in {Run.Status.SUCCEEDED, Run.Status.PARTIAL}:
        incident_resolve(workflow_id=workflow_id, kind=Incident.Kind.FAILING)
        incident_resolve(workflow_id=workflow_id, kind=Incident.Kind.RECONNECT)


def incident_notify(*, incident_id: int) -> None:
    """Tell the team by email, chat and webhook, as the team has set up. Marks the incident notified once."""
    claimed = Incident.objects.filter(pk=incident_id, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    if not claimed:
        return
    incident = Incident.objects.select_related("workflow__team").get(pk=incident_id)
    workflow: Workflow = incident.workflow
    team = workflow.team
    subject = f"[Integrations Hub] {workflow.name}: {incident.get_kind_display().lower()}"
    body = f"{incident.get_kind_display()} for workflow {workflow.name!r} since {incident.opened_at:%Y-%m-%d %H:%M} UTC.\n\n{incident.message}\n"
    if team.alert_email:
        from django.core.mail import send_mail

        recipients = [
            m.user.email for m in team.memberships.select_related("user").filter(role="admin") if m.user.email
        ]
        if recipients:
            try:
                send_mail(subject, body, None, recipients)
            except Exception:
                # A broken mail server must not silence the chat and webhook alerts below.
                logger.exception("could not email the alert for incident %s", incident_id)
    payload = {
        "type": f"workflow.{incident.kind}",
        "workflow": {"id": workflow.pk, "name": workflow.name},
        "message": incident.message,
        "opened_at": incident.opened_at.isoformat(),
    }
    from connectors.base import ConnectorError
    from connectors.http import HttpClient

    for url, body_json in (
        (team.alert_chat_url, {"text": f"{subject}\n{incident.message}"}),
        (team.alert_webhook_url, payload),
    ):
        if not url:
            continue
        try:
            with HttpClient(url, system="The alert destination", max_retries=2) as client:
                client.post(url, json=body_json)
        except ConnectorError as exc:
            logger.warning("could not deliver the alert for incident %s: %s", incident_id, exc.message)
