from __future__ import annotations

from typing import Any

from tests.workflows.helpers import crm_to_helpdesk, helpdesk_users, run_now
from workflows.models import WorkflowVersion
from workflows.services.versions import has_unpublished_changes, workflow_publish
from workflows.services.workflow import workflow_update


def test_creating_a_workflow_publishes_version_one(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    assert workflow.published_version is not None
    assert workflow.published_version.number == 1
    assert not has_unpublished_changes(workflow)


def test_publishing_an_unchanged_draft_makes_no_new_version(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    again = workflow_publish(workflow=workflow)
    assert again.number == 1
    assert WorkflowVersion.objects.filter(workflow=workflow).count() == 1


def test_a_draft_edit_does_not_change_what_runs_until_published(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    draft_mapping = {
        "fields": [
            *workflow.mapping["fields"][:2],
            {"target": "notes", "source": ["jobtitle"]},
        ]
    }
    workflow_update(workflow=workflow, mapping=draft_mapping)
    assert has_unpublished_changes(workflow)

    first = run_now(workflow)

    assert first.version.number == 1
    assert all(not u.get("notes") for u in helpdesk_users(helpdesk_sandbox))

    version = workflow_publish(workflow=workflow)
    assert version.number == 2
    second = run_now(workflow)
    assert second.version == version
    assert (
        WorkflowVersion.objects.get(workflow=workflow, number=1).definition["mapping"]["fields"][2]["target"]
        == "phone"
    )


def test_a_workflow_that_has_run_can_be_deleted(team: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> None:
    from workflows.models import Run, Workflow
    from workflows.services.workflow import workflow_delete

    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    run_now(workflow)
    workflow_delete(workflow=workflow)
    assert not Workflow.objects.filter(pk=workflow.pk).exists()
    assert not Run.objects.exists()
