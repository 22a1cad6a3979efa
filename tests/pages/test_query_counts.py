"""Each page costs the same number of queries whether it shows a few rows or many."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection
from tests.factories import zendesk_connection
from workflows.demo import DEMO_MAPPING
from workflows.models import InboundEvent, RecordLink, Run, RunRecord, Workflow
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db


def _queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(db) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def _grows_not(client: Any, build: Callable[[int], str], few: int = 2, many: int = 12) -> tuple[int, int]:
    """Queries for a page showing `few` rows and for the same page after `many - few` more were added."""
    small = _queries(client, build(few))
    large = _queries(client, build(many))
    return small, large


def _workflow(team: Any, crm: Connection, helpdesk: Connection, name: str, trigger: str = "poll") -> Workflow:
    return workflow_create(
        team=team,
        trigger=trigger,
        name=name,
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping=DEMO_MAPPING,
    )


def _runs(workflow: Workflow, count: int, *, records: int = 0, active: bool = False) -> None:
    now = timezone.now()
    for i in range(count):
        status = Run.Status.RUNNING if active and i == 0 else Run.Status.PARTIAL
        run = Run.objects.create(
            workflow=workflow,
            status=status,
            started_at=now - timedelta(minutes=i + 1),
            finished_at=None if status == Run.Status.RUNNING else now - timedelta(minutes=i),
            records_read=records,
            failed_count=1 if records else 0,
            throttle_wait_seconds=0.5,
        )
        RunRecord.objects.bulk_create(
            RunRecord(
                run=run,
                source_id=str(n),
                record_key=f"p{n}@example.com",
                outcome=RunRecord.Outcome.UPDATED,
                diff={"email": [None, f"p{n}@example.com"]},
                dropped=[["phone", "empty in source"]],
            )
            for n in range(records)
        )
        InboundEvent.objects.create(workflow=workflow, event_id=f"e{run.pk}", body=b"{}", run=run)


def test_dashboard(editor_client: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    def build(n: int) -> str:
        for i in range(Workflow.objects.filter(team=team).count(), n):
            _runs(_workflow(team, crm, helpdesk, f"Flow {i}"), 1)
        return reverse("dashboard")

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_run_list_with_progress_of_active_runs(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    def build(n: int) -> str:
        for i in range(Workflow.objects.filter(team=team).count(), n):
            # Webhook workflows: the progress of their running runs counts the events still waiting.
            _runs(_workflow(team, crm, helpdesk, f"Flow {i}", trigger="webhook"), 2, active=True)
        return reverse("run_list")

    small, large = _grows_not(editor_client, build)
    assert small == large
    assert Run.objects.filter(status=Run.Status.RUNNING).count() == 12


def test_run_list_filtered_by_record_key(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk, "Flow")

    def build(n: int) -> str:
        _runs(workflow, n - workflow.runs.count(), records=3)
        return reverse("run_list") + "?q=p1@example.com"

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_run_detail(editor_client: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    workflow = _workflow(team, crm, helpdesk, "Flow")
    _runs(workflow, 1)
    run = workflow.runs.get()

    def build(n: int) -> str:
        RunRecord.objects.bulk_create(
            RunRecord(
                run=run,
                source_id=f"s{i}",
                record_key=f"k{i}",
                outcome="created",
                dropped=[["phone", "empty"]],
            )
            for i in range(run.records.count(), n)
        )
        return reverse("run_detail", args=[run.pk])

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_connections(editor_client: Any, team: Any) -> None:
    def build(n: int) -> str:
        for i in range(Connection.objects.filter(team=team).count(), n):
            zendesk_connection(team=team, base_url="http://127.0.0.1:9", name=f"Desk {i}")
        return reverse("connection_list")

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_workflow_health(editor_client: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    workflow = _workflow(team, crm, helpdesk, "Flow")

    def build(n: int) -> str:
        _runs(workflow, n - workflow.runs.count(), records=2)
        RecordLink.objects.bulk_create(
            RecordLink(workflow=workflow, source_id=f"s{i}", target_id=f"t{i // 2}", last_fingerprint="x")
            for i in range(workflow.links.count(), n)
        )
        return reverse("workflow_health", args=[workflow.pk])

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_connection_health(editor_client: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    def build(n: int) -> str:
        for i in range(Workflow.objects.filter(team=team).count(), n):
            _runs(_workflow(team, crm, helpdesk, f"Flow {i}"), 2, records=1)
        return reverse("connection_health", args=[crm.pk])

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_builder_with_many_mapping_rows(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    from workflows.services.workflow import workflow_update

    workflow = _workflow(team, crm, helpdesk, "Flow")

    def build(n: int) -> str:
        rows = [
            {"target": f"user_fields.x{i}", "source": ["email"], "transforms": [{"name": "trim"}]}
            for i in range(n)
        ]
        workflow_update(workflow=workflow, mapping={"fields": rows})
        return reverse("workflow_edit", args=[workflow.pk])

    small, large = _grows_not(editor_client, build)
    assert small == large
