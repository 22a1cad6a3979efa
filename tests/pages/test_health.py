from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection
from workflows.charts import line_chart
from workflows.health import connection_health, percentile, workflow_health
from workflows.models import InboundEvent, Incident, RecordLink, Run, RunRecord, Workflow
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(team: Any, crm: Connection, helpdesk: Connection) -> Workflow:
    return workflow_create(
        team=team,
        name="Contacts to users",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping={
            "fields": [{"target": "email", "source": ["email"]}, {"target": "phone", "source": ["phone"]}]
        },
    )


def _run(
    workflow: Workflow, *, took: float, read: int, failed: int = 0, status: str = "succeeded", ago: int = 0
) -> Run:
    finished = timezone.now() - timedelta(minutes=ago)
    run = Run.objects.create(
        workflow=workflow, status=status, records_read=read, failed_count=failed, finished_at=finished
    )
    Run.objects.filter(pk=run.pk).update(created_at=finished - timedelta(seconds=took), started_at=finished)
    run.refresh_from_db()
    return run


def test_percentiles_are_values_that_were_measured() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0


def test_latency_runs_from_the_change_reaching_the_hub_to_the_write(workflow: Workflow) -> None:
    for took in (10, 20, 30, 40, 400):
        _run(workflow, took=took, read=5)
    webhook = _run(workflow, took=1, read=1)
    # For webhook events the clock starts when the first event of the run was received, not when it was queued.
    event = InboundEvent.objects.create(workflow=workflow, event_id="e1", body=b"{}", run=webhook)
    InboundEvent.objects.filter(pk=event.pk).update(received_at=webhook.finished_at - timedelta(seconds=25))

    activity = workflow_health(workflow=workflow).activity

    assert activity.latency_p50 == 25.0
    assert activity.latency_p95 == 400.0


def test_error_rate_counts_failed_records_and_runs_that_failed_before_reading(workflow: Workflow) -> None:
    _run(workflow, took=1, read=8, failed=2, status="partial")
    _run(workflow, took=1, read=0, status="failed")  # e.g. refused credentials

    activity = workflow_health(workflow=workflow).activity

    assert activity.error_rate == pytest.approx(100 * 3 / 9)
    assert activity.last_success_at is not None


def test_two_sources_linked_to_one_target_are_reported(workflow: Workflow) -> None:
    RecordLink.objects.bulk_create(
        [
            RecordLink(workflow=workflow, source_id="1", target_id="t1", last_fingerprint="x"),
            RecordLink(workflow=workflow, source_id="2", target_id="t1", last_fingerprint="x"),
            RecordLink(workflow=workflow, source_id="3", target_id="t2", last_fingerprint="x"),
        ]
    )
    matching = workflow_health(workflow=workflow).matching
    assert (matching.links, matching.linked_targets, matching.shared_targets) == (3, 2, 1)


def test_coverage_ranks_the_dropped_fields_of_recent_runs(workflow: Workflow) -> None:
    run = _run(workflow, took=1, read=3)
    RunRecord.objects.bulk_create(
        [
            RunRecord(run=run, source_id="1", outcome="created", dropped=[["phone", "empty in source"]]),
            RunRecord(run=run, source_id="2", outcome="created", dropped=[["phone", "empty in source"]]),
            RunRecord(run=run, source_id="3", outcome="created", dropped=[]),
        ]
    )
    coverage = workflow_health(workflow=workflow).coverage
    assert coverage.dropped == [("phone", "empty in source", 2)]
    assert coverage.mapped == [("email", "email"), ("phone", "phone")]
    # The cached users schema requires a name that nothing fills.
    assert ("name", True) in coverage.unmapped_target
    assert "firstname" in coverage.unused_source


def test_connection_health_covers_every_workflow_using_it(
    workflow: Workflow, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    other = workflow_create(
        team=team, name="Back", source_connection=helpdesk, source_object="users",
        target_connection=crm, target_object="contacts", mapping={"fields": []},
    )  # fmt: skip
    _run(workflow, took=1, read=1)
    _run(other, took=1, read=1)
    Incident.objects.create(workflow=other, kind="failing", message="Runs are failing")
    health = connection_health(connection=crm)
    assert {w.name for w in health.workflows} == {"Contacts to users", "Back"}
    assert health.activity.runs == 2
    assert [i.message for i in health.incidents] == ["Runs are failing"]


def test_health_pages_show_charts_as_inline_svg(
    editor_client: Any, workflow: Workflow, crm: Connection
) -> None:
    _run(workflow, took=12, read=4, ago=120)
    _run(workflow, took=30, read=4, failed=1, status="partial")
    page = editor_client.get(reverse("workflow_health", args=[workflow.pk])).content.decode()
    assert page.count('<svg viewBox="0 0 640 200" role="img"') == 2
    assert "<polyline" in page and "<script" not in page.split("</header>")[1]
    assert "latency p95" in page and "12.5%" in page
    connection_page = editor_client.get(reverse("connection_health", args=[crm.pk])).content.decode()
    assert "100 requests per 10 s" in connection_page and "Contacts to users" in connection_page


def test_health_pages_are_team_scoped(outsider_client: Any, workflow: Workflow, crm: Connection) -> None:
    assert outsider_client.get(reverse("workflow_health", args=[workflow.pk])).status_code == 404
    assert outsider_client.get(reverse("connection_health", args=[crm.pk])).status_code == 404


def test_a_chart_scales_values_into_its_box_and_leaves_gaps() -> None:
    chart = line_chart("Latency", ["a", "b", "c"], {"p50": [0.0, None, 10.0]}, unit="s")
    [line] = chart.lines
    assert [label for _, _, label in line.dots] == ["a: 0.0 s", "c: 10 s"]
    (x0, y0, _), (x1, y1, _) = line.dots
    assert x0 < x1 and y0 > y1  # later is right, larger is higher
    assert chart.rows[1] == ("b", ("—",))
    assert line_chart("Empty", [], {"p50": []}, unit="s").empty
