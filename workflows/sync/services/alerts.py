"""Sync incidents: the review queue grew past its threshold, or runs are failing. The team hears once.

Workflow incidents (workflows.services.alerts) belong to a workflow, so a sync keeps its own rows and uses
the same channels: the team admins' email, the team's chat URL and alert webhook.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from workflows.sync.models import DuplicateHold, Sync, SyncConflict, SyncIncident

logger = logging.getLogger(__name__)


def review_open_count(*, sync_id: int) -> int:
    conflicts = SyncConflict.objects.filter(sync_id=sync_id, status=SyncConflict.Status.OPEN).count()
    holds = DuplicateHold.objects.filter(sync_id=sync_id, status=DuplicateHold.Status.OPEN).count()
    return conflicts + holds


def sync_incident_open(*, sync_id: int, kind: str, message: str) -> SyncIncident | None:
    """Open an incident unless one of this kind is already open. Returns the new incident, or None."""
    try:
        with transaction.atomic():
            incident = SyncIncident.objects.create(sync_id=sync_id, kind=kind, message=message)
    except IntegrityError:
        return None
    from workflows.sync.tasks import send_sync_incident_alert

    transaction.on_commit(lambda: send_sync_incident_alert.delay(incident.pk))
    return incident


def sync_incident_resolve(*, sync_id: int, kind: str) -> int:
    return SyncIncident.objects.filter(sync_id=sync_id, kind=kind, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


def sync_alerts_track(*, sync_id: int, failed_error: str = "", queue_changed: bool = True) -> None:
    """After every run: open or end the "queue is growing" and "runs are failing" incidents.

    `queue_changed` False (the run opened no conflict or hold and applied no decision) spares counting the
    queue on every quiet poll; an open incident is still re-checked, so it ends when the queue shrinks.
    """
    open_kinds = set(
        SyncIncident.objects.filter(sync_id=sync_id, resolved_at__isnull=True).values_list("kind", flat=True)
    )
    if not queue_changed and not failed_error and not open_kinds:
        return
    sync = Sync.objects.filter(pk=sync_id).only("id", "name", "review_alert_threshold").first()
    if sync is None:
        return
    size = review_open_count(sync_id=sync_id)
    if size > sync.review_alert_threshold:
        sync_incident_open(
            sync_id=sync_id,
            kind=SyncIncident.Kind.REVIEW_QUEUE,
            message=f"{size} items of sync {sync.name!r} wait in the review queue "
            f"(the alert threshold is {sync.review_alert_threshold}).",
        )
    elif SyncIncident.Kind.REVIEW_QUEUE in open_kinds:
        sync_incident_resolve(sync_id=sync_id, kind=SyncIncident.Kind.REVIEW_QUEUE)
    if failed_error:
        sync_incident_open(sync_id=sync_id, kind=SyncIncident.Kind.FAILING, message=failed_error)
    elif SyncIncident.Kind.FAILING in open_kinds:
        sync_incident_resolve(sync_id=sync_id, kind=SyncIncident.Kind.FAILING)


def sync_incident_notify(*, incident_id: int) -> None:
    """Tell the team by email, chat and webhook, as the team has set up. Marks the incident notified once."""
    claimed = SyncIncident.objects.filter(pk=incident_id, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    if not claimed:
        return
    incident = SyncIncident.objects.select_related("sync__team").get(pk=incident_id)
    sync = incident.sync
    team = sync.team
    subject = f"[Integrations Hub] {sync.name}: {incident.get_kind_display().lower()}"
    body = (
        f"{incident.get_kind_display()} for sync {sync.name!r} since {incident.opened_at:%Y-%m-%d %H:%M} UTC."
        f"\n\n{incident.message}\n"
    )
    if team.alert_email:
        from django.core.mail import send_mail

        recipients = [
            m.user.email for m in team.memberships.select_related("user").filter(role="admin") if m.user.email
        ]
        if recipients:
            send_mail(subject, body, None, recipients)
    payload = {
        "type": f"sync.{incident.kind}",
        "sync": {"id": sync.pk, "name": sync.name},
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
            logger.warning("could not deliver the alert for sync incident %s: %s", incident_id, exc.message)
