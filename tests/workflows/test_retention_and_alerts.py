from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core import mail
from django.utils import timezone

from tests.workflows.helpers import crm_to_helpdesk, run_now
from workflows.models import Incident, RecordLink, Run, RunRecord
from workflows.services.alerts import incident_notify
from workflows.services.maintenance import runs_prune


def _age(run: Run, days: int) -> None:
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_pruning_removes_old_run_records_and_nothing_else(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any, settings: Any
) -> None:
    settings.HUB_RUN_RETENTION_DAYS = 30
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    old = run_now(workflow)
    crm_sandbox.admin("PATCH", "/_admin/records/contacts/101", {"properties": {"phone": "+1 555 0100"}})
    recent = run_now(workflow)
    newest = run_now(workflow)  # the newest run of a workflow is always kept
    _age(old, 40)
    _age(recent, 10)
    links_before = RecordLink.objects.count()

    deleted = runs_prune()

    assert deleted == 1
    assert not Run.objects.filter(pk=old.pk).exists()
    assert not RunRecord.objects.filter(run_id=old.pk).exists()
    assert Run.objects.filter(pk__in=[recent.pk, newest.pk]).count() == 2
    assert RunRecord.objects.filter(run=recent).exists()
    assert RecordLink.objects.count() == links_before  # the identity map is not run history


def test_a_workflow_whose_target_keeps_failing_alerts_once(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any, settings: Any
) -> None:
    settings.HUB_HTTP_MAX_RETRIES = 0
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    helpdesk_sandbox.admin("POST", "/_admin/faults", {"status": 503, "error_rate": 1.0})
    for _ in range(3):
        assert run_now(workflow).status == Run.Status.FAILED
    incident = Incident.objects.get(workflow=workflow)
    assert incident.kind == Incident.Kind.FAILING
    assert "Helpdesk" in incident.message
    helpdesk_sandbox.admin("DELETE", "/_admin/faults", None)
    assert run_now(workflow).status == Run.Status.SUCCEEDED
    incident.refresh_from_db()
    assert incident.resolved_at is not None


def test_a_failing_workflow_alerts_once_per_incident(
    team: Any,
    admin_user: Any,
    crm_sandbox: Any,
    helpdesk_sandbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    admin_user.email = "ops@acme.example"
    admin_user.save()
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    crm = workflow.source_connection
    from connectors.services import connection_update

    connection_update(connection=crm, credentials={"access_token": "revoked"})

    with django_capture_on_commit_callbacks() as callbacks:
        for _ in range(3):
            run_now(workflow)
    incidents = list(Incident.objects.filter(workflow=workflow))
    assert len(incidents) == 1
    assert incidents[0].kind == Incident.Kind.RECONNECT  # refused credentials: a person must reconnect
    assert len(callbacks) >= 1
    incident_notify(incident_id=incidents[0].pk)
    incident_notify(incident_id=incidents[0].pk)  # a repeated task sends nothing more
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@acme.example"]
    assert "Authentication credentials not found" in mail.outbox[0].body

    connection_update(connection=crm, credentials={"access_token": "demo-crm-token"})
    run_now(workflow)
    incidents[0].refresh_from_db()
    assert incidents[0].resolved_at is not None
