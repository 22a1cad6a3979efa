"""Multi-step webhook workflows keep the webhook ordering rule: an older change never overwrites a newer
one, whether it arrives in a later batch or in the same one, and every event is recorded on the run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from tests.factories import zendesk_connection
from tests.workflows.helpers import helpdesk_users
from workflows.health import workflow_health
from workflows.models import InboundEvent, Run, RunRecord, StepLink, Workflow
from workflows.services.steps import SOURCE_MARK
from workflows.services.webhooks import webhook_process
from workflows.services.workflow import workflow_create


@pytest.fixture
def steps_hook(team: Any, helpdesk_sandbox: Any) -> Workflow:
    helpdesk = zendesk_connection(team=team, base_url=helpdesk_sandbox.url)
    return workflow_create(
        team=team,
        name="People, step by step",
        source_connection=None,
        source_object="",
        target_connection=helpdesk,
        target_object="users",
        mapping={},
        trigger=Workflow.Trigger.WEBHOOK,
        steps=[
            {"type": "filter", "condition": {"field": "email", "op": "is_not_empty"}},
            {
                "type": "action",
                "id": "upsert_user",
                "connection": helpdesk.pk,
                "object": "users",
                "operation": "upsert",
                "match_field": "email",
                "mapping": {
                    "fields": [
                        {"target": "name", "source": "name"},
                        {
                            "target": "email",
                            "source": "email",
                            "transforms": [{"name": "trim"}, {"name": "lower"}],
                        },
                    ]
                },
            },
        ],
        enabled=True,
    )


def _deliver(workflow: Workflow, delivery_id: str, **body: Any) -> InboundEvent:
    response = Client().post(
        f"/hooks/{workflow.webhook_token}",
        data=json.dumps({"id": "p-1", "email": "ada@example.com", **body}),
        content_type="application/json",
        headers={"webhook-id": delivery_id},
    )
    assert response.status_code == 202, response.content
    return InboundEvent.objects.get(pk=response.json()["id"])


def _process(workflow: Workflow) -> Run:
    run = webhook_process(workflow_id=workflow.pk)
    assert isinstance(run, Run), run
    return run


def _names(helpdesk_sandbox: Any) -> list[str]:
    return [user["name"] for user in helpdesk_users(helpdesk_sandbox)]


def test_an_older_change_after_a_newer_one_is_skipped_with_the_reason(
    steps_hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(steps_hook, "v2", name="Ada Newer", updated_at="2026-01-02T00:00:00Z")
    assert _process(steps_hook).created_count == 1
    older = _deliver(steps_hook, "v1", name="Ada Older", updated_at="2026-01-01T00:00:00Z")

    run = _process(steps_hook)

    assert _names(helpdesk_sandbox) == ["Ada Newer"]
    assert (run.records_read, run.skipped_count, run.updated_count) == (1, 1, 0)
    skipped = RunRecord.objects.get(run=run)
    assert skipped.outcome == RunRecord.Outcome.SKIPPED
    assert "Older than the change already applied at 2026-01-02T00:00:00+00:00" in skipped.error
    # The skipped record still names the record it concerns: the user the newer change wrote.
    assert skipped.target_id == str(helpdesk_users(helpdesk_sandbox)[0]["id"])
    assert skipped.record_key == "ada@example.com"
    older.refresh_from_db()
    assert older.status == InboundEvent.Status.PROCESSED


def test_a_newer_change_after_an_older_one_is_written(steps_hook: Workflow, helpdesk_sandbox: Any) -> None:
    _deliver(steps_hook, "v1", name="Ada Older", updated_at="2026-01-01T00:00:00Z")
    _process(steps_hook)
    _deliver(steps_hook, "v2", name="Ada Newer", updated_at="2026-01-02T00:00:00Z")

    run = _process(steps_hook)

    assert (run.updated_count, run.skipped_count) == (1, 0)
    assert _names(helpdesk_sandbox) == ["Ada Newer"]
    mark = StepLink.objects.get(workflow=steps_hook, step_id=SOURCE_MARK, source_id="p-1")
    assert mark.last_values["source_updated_at"] == datetime(2026, 1, 2, tzinfo=UTC).isoformat()


def test_changes_superseded_within_a_batch_are_skipped_and_every_event_is_recorded(
    steps_hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(steps_hook, "e1", name="Ada First", updated_at="2026-01-01T00:00:00Z")
    _deliver(steps_hook, "e2", name="Ada Newest", updated_at="2026-01-03T00:00:00Z")
    _deliver(steps_hook, "e3", name="Ada Stale", updated_at="2026-01-02T00:00:00Z")
    _deliver(steps_hook, "e4", name="Grace", email="grace@example.com", id="p-2")

    run = _process(steps_hook)

    assert sorted(_names(helpdesk_sandbox)) == ["Ada Newest", "Grace"]
    assert (run.records_read, run.created_count, run.skipped_count) == (4, 2, 2)
    assert RunRecord.objects.filter(run=run).count() == 4
    errors = sorted(RunRecord.objects.filter(run=run, outcome="skipped").values_list("error", flat=True))
    assert errors[0].startswith("Older than the change already applied at 2026-01-03T00:00:00+00:00")
    assert errors[1].startswith("Superseded by a later change to the same record in this batch")
    assert set(InboundEvent.objects.filter(workflow=steps_hook).values_list("status", flat=True)) == {
        InboundEvent.Status.PROCESSED
    }


def test_a_change_the_filter_skips_still_counts_as_the_newest(
    steps_hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(steps_hook, "v1", name="Ada", updated_at="2026-01-01T00:00:00Z")
    _process(steps_hook)
    # The source cleared the email on 3 January: the filter stops that change, and a delivery of the
    # 2 January change arriving afterwards must not bring the stale name back.
    _deliver(steps_hook, "v3", name="Ada Cleared", email="", updated_at="2026-01-03T00:00:00Z")
    filtered = _process(steps_hook)
    assert filtered.skipped_count == 1
    _deliver(steps_hook, "v2", name="Ada Stale", updated_at="2026-01-02T00:00:00Z")

    run = _process(steps_hook)

    assert (run.skipped_count, run.updated_count) == (1, 0)
    assert "Older than the change already applied" in RunRecord.objects.get(run=run).error
    assert _names(helpdesk_sandbox) == ["Ada"]


def test_the_source_mark_is_not_counted_as_a_step_link_in_health(
    steps_hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(steps_hook, "v1", name="Ada", updated_at="2026-01-01T00:00:00Z")
    _process(steps_hook)

    assert StepLink.objects.filter(workflow=steps_hook).count() == 2
    assert workflow_health(workflow=steps_hook).matching.step_links == 1
