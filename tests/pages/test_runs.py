from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.base import RateLimit
from connectors.models import Connection
from workflows.models import InboundEvent, Run, RunRecord, Workflow
from workflows.run_progress import estimate, run_progress
from workflows.services.workflow import workflow_create

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def test_the_eta_follows_the_pace_so_far_when_the_rate_limit_allows_it() -> None:
    progress = estimate(
        done=100, total=300, started_at=NOW - timedelta(seconds=10), now=NOW, batch_size=100,
        rate_limit=RateLimit(requests=100, interval_seconds=10, burst=10),
    )  # fmt: skip
    assert progress.percent == 33
    assert progress.eta_seconds == pytest.approx(20.0)
    assert not progress.rate_limited
    assert progress.eta_label == "about 20 s left"


def test_the_rate_limit_is_the_floor_of_the_eta() -> None:
    # Fast so far (1000 records in 1 s), but 9000 more need 90 requests at 1 a second.
    progress = estimate(
        done=1000, total=10_000, started_at=NOW - timedelta(seconds=1), now=NOW, batch_size=100,
        rate_limit=RateLimit(requests=60, interval_seconds=60, burst=5),
    )  # fmt: skip
    assert progress.eta_seconds == pytest.approx(90.0)
    assert progress.rate_limited
    assert progress.eta_label == "about 2 min left"


def test_a_poll_has_no_total_and_no_eta() -> None:
    progress = estimate(done=40, total=None, started_at=NOW, now=NOW, batch_size=100, rate_limit=None)
    assert not progress.known and progress.eta_seconds is None and progress.percent == 0


@pytest.fixture
def webhook_workflow(team: Any, crm: Connection, helpdesk: Connection) -> Workflow:
    return workflow_create(
        team=team, name="Hooks", trigger="webhook", source_connection=None, source_object="",
        target_connection=helpdesk, target_object="users", mapping={"fields": [{"target": "email", "source": ["email"]}]},
    )  # fmt: skip


@pytest.mark.django_db
def test_a_webhook_run_counts_the_events_still_waiting_as_its_total(
    editor_client: Any, webhook_workflow: Workflow
) -> None:
    run = Run.objects.create(
        workflow=webhook_workflow, status=Run.Status.RUNNING, started_at=timezone.now() - timedelta(seconds=4),
        records_read=30, trigger=Run.Trigger.WEBHOOK,
    )  # fmt: skip
    InboundEvent.objects.bulk_create(
        InboundEvent(workflow=webhook_workflow, event_id=f"e{i}", body=b"{}") for i in range(90)
    )
    progress = run_progress(Run.objects.select_related("workflow__target_connection").get(pk=run.pk))
    assert progress is not None and (progress.done, progress.total, progress.percent) == (30, 120, 25)
    page = editor_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert '<progress max="120" value="30"' in page
    assert "30 of 120 records (25%)" in page


@pytest.mark.django_db
def test_the_run_list_finds_runs_by_a_record_key_and_polls_while_a_run_is_active(
    editor_client: Any, webhook_workflow: Workflow
) -> None:
    found = Run.objects.create(workflow=webhook_workflow, status=Run.Status.SUCCEEDED)
    other = Run.objects.create(workflow=webhook_workflow, status=Run.Status.RUNNING)
    RunRecord.objects.create(run=found, source_id="1", record_key="ada@example.com", outcome="created")
    RunRecord.objects.create(run=other, source_id="2", record_key="bob@example.com", outcome="created")

    page = editor_client.get(reverse("run_list"), {"q": "ADA@example.com"}).content.decode()
    assert f">#{found.pk}<" in page and f">#{other.pk}<" not in page
    assert 'value="ADA@example.com"' in page
    everything = editor_client.get(reverse("run_list")).content.decode()
    assert 'hx-trigger="every 3s"' in everything
    assert 'hx-trigger="every 3s"' not in page  # nothing active among the runs shown


@pytest.mark.django_db
def test_the_run_summary_shows_a_finished_bar_and_loads_the_records_when_polled(
    editor_client: Any, webhook_workflow: Workflow
) -> None:
    run = Run.objects.create(workflow=webhook_workflow, status=Run.Status.SUCCEEDED, records_read=7)
    fragment = editor_client.get(
        reverse("run_status", args=[run.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Finished: 7 records read" in fragment
    assert f'hx-get="{reverse("run_records", args=[run.pk])}" hx-trigger="load"' in fragment
