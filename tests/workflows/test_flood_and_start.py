from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from tests.workflows.helpers import crm_contacts, crm_to_helpdesk, helpdesk_users, run_now
from workflows.models import Incident, Run, Workflow
from workflows.services.runs import run_confirm_flood, run_execute


def test_a_poll_finding_more_than_the_flood_limit_is_held_and_writes_nothing(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    Workflow.objects.filter(pk=workflow.pk).update(flood_threshold=5)
    workflow.refresh_from_db()
    from workflows.services.versions import workflow_publish

    workflow_publish(workflow=workflow)

    held = run_now(workflow, trigger=Run.Trigger.POLL)

    assert held.status == Run.Status.HELD
    assert "more than 5" in held.error
    assert helpdesk_users(helpdesk_sandbox) == []
    assert Incident.objects.filter(workflow=workflow, kind="paused", resolved_at=None).exists()

    confirmed = run_confirm_flood(run=held, enqueue=False)
    assert confirmed is not None
    run_execute(run_id=confirmed.pk)
    confirmed.refresh_from_db()

    assert confirmed.status == Run.Status.SUCCEEDED
    assert len(helpdesk_users(helpdesk_sandbox)) == len(crm_contacts(crm_sandbox))
    assert not Incident.objects.filter(workflow=workflow, kind="paused", resolved_at=None).exists()


def test_under_the_flood_limit_a_poll_runs_normally(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    from workflows.services.workflow import workflow_update

    workflow_update(workflow=workflow, flood_threshold=1000, publish=True)
    run = run_now(workflow, trigger=Run.Trigger.POLL)
    assert run.status == Run.Status.SUCCEEDED
    assert run.created_count == len(crm_contacts(crm_sandbox))


def test_start_from_now_syncs_only_later_changes(team: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    from workflows.services.workflow import workflow_update

    workflow_update(workflow=workflow, start_from=Workflow.StartFrom.NOW, publish=True)
    contact = crm_contacts(crm_sandbox)[0]
    crm_sandbox.admin(
        "PATCH", f"/_admin/records/contacts/{contact['id']}", {"properties": {"phone": "+1 555 0199"}}
    )

    run = run_now(workflow, trigger=Run.Trigger.POLL)

    users = helpdesk_users(helpdesk_sandbox)
    assert [u["email"] for u in users] == [contact["properties"]["email"].lower()]
    assert run.created_count == 1
    assert run.skipped_count == run.records_read - 1


def test_start_from_a_date_skips_older_records(team: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    from workflows.services.workflow import workflow_update

    workflow_update(
        workflow=workflow,
        start_from=Workflow.StartFrom.DATE,
        start_from_date=timezone.now() + timedelta(days=1),
        publish=True,
    )
    run = run_now(workflow, trigger=Run.Trigger.POLL)
    assert helpdesk_users(helpdesk_sandbox) == []
    assert run.records_read == len(crm_contacts(crm_sandbox)) == run.skipped_count
