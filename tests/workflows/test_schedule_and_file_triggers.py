from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from tests.factories import zendesk_connection
from tests.workflows.helpers import crm_to_helpdesk, helpdesk_users, run_now
from workflows.models import InboundEvent, Run, Workflow
from workflows.schedules import CronError, parse_cron
from workflows.services.files import FileRejected, file_receive
from workflows.services.webhooks import webhook_process
from workflows.services.workflow import WorkflowInputError, workflow_create, workflow_update

ROW_MAPPING = {
    "fields": [
        {
            "target": "name",
            "source": ["First name", "Last name"],
            "transforms": [{"name": "join", "args": {"separator": " "}}],
        },
        {"target": "email", "source": "Email", "transforms": [{"name": "trim"}, {"name": "lower"}]},
    ]
}


def test_a_scheduled_workflow_gets_a_crontab_task_and_an_honest_label(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(
        team,
        crm_sandbox,
        helpdesk_sandbox,
        trigger=Workflow.Trigger.SCHEDULE,
        schedule_cron="*/15 8-18 * * 1-5",
    )
    task = PeriodicTask.objects.get(pk=workflow.periodic_task_id)
    assert task.crontab is not None and task.interval is None
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("*/15", "8-18", "1-5")
    assert workflow.timing_label == "batched (cron */15 8-18 * * 1-5 UTC)"
    # A scheduled run reads changes like a poll does.
    run = run_now(workflow, trigger=Run.Trigger.POLL)
    assert run.created_count > 0


@pytest.mark.parametrize("expression", ["* * *", "61 * * * *", "a * * * *", "*/0 * * * *", "1-2-3 * * * *"])
def test_bad_cron_expressions_are_refused_with_a_reason(expression: str) -> None:
    with pytest.raises(CronError):
        parse_cron(expression)


def test_saving_a_bad_cron_names_the_field(team: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox, trigger=Workflow.Trigger.SCHEDULE)
    with pytest.raises(WorkflowInputError) as excinfo:
        workflow_update(workflow=workflow, schedule_cron="every day")
    assert "schedule_cron" in excinfo.value.errors


@pytest.fixture
def file_workflow(team: Any, helpdesk_sandbox: Any) -> Workflow:
    return workflow_create(
        team=team,
        name="Trade-show leads",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url=helpdesk_sandbox.url),
        target_object="users",
        mapping=ROW_MAPPING,
        trigger=Workflow.Trigger.FILE,
        enabled=True,
    )


CSV = "First name;Last name;Email\nAda;Lovelace; ADA@example.com \nAlan;Turing;alan@example.com\n"


def test_each_row_of_an_uploaded_csv_is_synced_once(file_workflow: Workflow, helpdesk_sandbox: Any) -> None:
    receipt = file_receive(workflow=file_workflow, upload=io.BytesIO(CSV.encode()))
    assert (receipt.rows, receipt.new, receipt.duplicates) == (2, 2, 0)
    again = file_receive(workflow=file_workflow, upload=io.BytesIO(CSV.encode()))
    assert (again.new, again.duplicates) == (0, 2)

    run = webhook_process(workflow_id=file_workflow.pk)

    assert isinstance(run, Run) and run.created_count == 2, run.error
    users = sorted(helpdesk_users(helpdesk_sandbox), key=lambda u: u["email"])
    assert [(u["name"], u["email"]) for u in users] == [
        ("Ada Lovelace", "ada@example.com"),
        ("Alan Turing", "alan@example.com"),
    ]
    assert json.loads(bytes(InboundEvent.objects.order_by("id").first().body))["Email"] == "ADA@example.com"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        ("Name,Email\n\xe9".encode("latin-1"), "UTF-8"),
        (b"a,,c\n1,2,3\n", "name every column"),
        (b"a,b\n1,2,3\n", "more values"),
    ],
)
def test_bad_files_are_refused_with_a_reason(file_workflow: Workflow, content: bytes, message: str) -> None:
    with pytest.raises(FileRejected, match=message):
        file_receive(workflow=file_workflow, upload=io.BytesIO(content))
    assert not InboundEvent.objects.exists()


def test_uploading_from_the_page(editor_client: Any, file_workflow: Workflow) -> None:
    upload = io.BytesIO(CSV.encode())
    upload.name = "leads.csv"
    response = editor_client.post(
        reverse("workflow_upload", args=[file_workflow.pk]), {"file": upload}, follow=True
    )
    assert "2 rows received: 2 new" in response.content.decode()
    assert InboundEvent.objects.filter(workflow=file_workflow).count() == 2
