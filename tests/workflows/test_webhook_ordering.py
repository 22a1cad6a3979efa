"""Webhook changes to one record: the newest change wins whatever order they arrive in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import zendesk_connection
from tests.workflows.helpers import helpdesk_users
from workflows.models import InboundEvent, RecordLink, Run, RunRecord, Workflow
from workflows.services.webhooks import event_source_time, parse_source_time, webhook_process
from workflows.services.workflow import workflow_create

MAPPING = {
    "fields": [
        {"target": "name", "source": "$.name"},
        {"target": "email", "source": "$.email", "transforms": [{"name": "trim"}, {"name": "lower"}]},
    ]
}


@pytest.fixture
def hook(team: Any, helpdesk_sandbox: Any) -> Workflow:
    return workflow_create(
        team=team,
        name="People",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url=helpdesk_sandbox.url),
        target_object="users",
        mapping=MAPPING,
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=True,
    )


def _deliver(client: Client, workflow: Workflow, delivery_id: str, **body: Any) -> InboundEvent:
    response = client.post(
        reverse("webhook_intake", args=[workflow.webhook_token]),
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


def test_an_older_change_arriving_after_a_newer_one_is_skipped(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(client, hook, "v2", name="Ada Newer", updated_at="2026-01-02T00:00:00Z")
    assert _process(hook).created_count == 1
    older = _deliver(client, hook, "v1", name="Ada Older", updated_at="2026-01-01T00:00:00Z")

    run = _process(hook)

    assert _names(helpdesk_sandbox) == ["Ada Newer"]
    assert (run.skipped_count, run.updated_count, run.records_read) == (1, 0, 1)
    skipped = RunRecord.objects.get(run=run)
    assert skipped.outcome == RunRecord.Outcome.SKIPPED
    assert "Older than the change already applied at 2026-01-02T00:00:00+00:00" in skipped.error
    assert skipped.target_id and skipped.record_key == "ada@example.com"
    older.refresh_from_db()
    assert older.status == InboundEvent.Status.PROCESSED
    assert RecordLink.objects.get(workflow=hook).source_updated_at == datetime(2026, 1, 2, tzinfo=UTC)


def test_a_newer_change_after_an_older_one_is_written(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(client, hook, "v1", name="Ada Older", updated_at="2026-01-01T00:00:00Z")
    _process(hook)
    _deliver(client, hook, "v2", name="Ada Newer", updated_at="2026-01-02T00:00:00Z")

    run = _process(hook)

    assert run.updated_count == 1 and run.skipped_count == 0
    assert _names(helpdesk_sandbox) == ["Ada Newer"]


def test_in_one_batch_the_newest_change_wins_over_a_later_arrival(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(client, hook, "v2", name="Ada Newer", updated_at="2026-01-02T00:00:00Z")
    _deliver(client, hook, "v1", name="Ada Older", updated_at="2026-01-01T00:00:00Z")

    run = _process(hook)

    assert _names(helpdesk_sandbox) == ["Ada Newer"]
    assert (run.created_count, run.skipped_count, run.records_read) == (1, 1, 2)
    skipped = RunRecord.objects.get(run=run, outcome=RunRecord.Outcome.SKIPPED)
    assert "Older than the change already applied at 2026-01-02T00:00:00+00:00" in skipped.error


def test_changes_with_equal_times_are_applied_in_arrival_order(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(client, hook, "a", name="Ada First", updated_at="2026-01-02T00:00:00Z")
    _process(hook)
    _deliver(client, hook, "b", name="Ada Second", updated_at="2026-01-02T00:00:00Z")

    run = _process(hook)

    assert run.updated_count == 1 and run.skipped_count == 0
    assert _names(helpdesk_sandbox) == ["Ada Second"]


def test_changes_without_a_time_fall_back_to_arrival_order(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    first = _deliver(client, hook, "a", name="Ada First")
    assert first.source_updated_at is None
    _process(hook)
    # A timestamped change is applied, then a change without a time still goes through (arrival order).
    _deliver(client, hook, "b", name="Ada Timed", updated_at="2030-01-01T00:00:00Z")
    _process(hook)
    _deliver(client, hook, "c", name="Ada Last")

    run = _process(hook)

    assert run.updated_count == 1 and run.skipped_count == 0
    assert _names(helpdesk_sandbox) == ["Ada Last"]


def test_in_one_batch_a_later_timed_change_beats_an_earlier_untimed_one_and_both_are_recorded(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    first = _deliver(client, hook, "e1", name="Ada Untimed")
    # Arrives later, saying the source made it before the first one was received: the two times are
    # different clocks, so arrival order decides.
    made_at = first.received_at - timedelta(seconds=5)
    second = _deliver(client, hook, "e2", name="Ada Timed", updated_at=made_at.isoformat())

    run = _process(hook)

    assert _names(helpdesk_sandbox) == ["Ada Timed"]
    assert (run.records_read, run.created_count, run.skipped_count) == (2, 1, 1)
    outcomes = sorted(RunRecord.objects.filter(run=run).values_list("outcome", "error"))
    assert [outcome for outcome, _ in outcomes] == [RunRecord.Outcome.CREATED, RunRecord.Outcome.SKIPPED]
    assert "Superseded by a later change to the same record in this batch" in outcomes[1][1]
    assert RecordLink.objects.get(workflow=hook).source_updated_at == second.source_updated_at == made_at
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundEvent.Status.PROCESSED}


def test_a_batch_remembers_the_newest_time_it_passed_even_when_an_untimed_change_wins(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(client, hook, "e1", name="Ada Timed", updated_at="2026-01-03T00:00:00Z")
    _deliver(client, hook, "e2", name="Ada Untimed")
    run = _process(hook)
    assert _names(helpdesk_sandbox) == ["Ada Untimed"]
    assert (run.created_count, run.skipped_count) == (1, 1)
    # The untimed change came after one made on 3 January, so it is newer than that too.
    assert RecordLink.objects.get(workflow=hook).source_updated_at == datetime(2026, 1, 3, tzinfo=UTC)
    _deliver(client, hook, "e3", name="Ada Stale", updated_at="2026-01-02T00:00:00Z")

    stale = _process(hook)

    assert (stale.skipped_count, stale.updated_count) == (1, 0)
    assert _names(helpdesk_sandbox) == ["Ada Untimed"]


def test_the_same_changes_give_the_same_result_in_one_batch_or_one_by_one(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(client, hook, "e1", name="Ada Timed", updated_at="2026-01-03T00:00:00Z")
    _deliver(client, hook, "e2", name="Ada Untimed")
    _deliver(client, hook, "e3", name="Ada Stale", updated_at="2026-01-02T00:00:00Z")
    _deliver(client, hook, "e4", name="Ada Earlier", updated_at="2026-01-01T00:00:00Z")

    run = _process(hook)

    assert _names(helpdesk_sandbox) == ["Ada Untimed"]
    assert (run.records_read, run.created_count, run.skipped_count) == (4, 1, 3)
    assert RunRecord.objects.filter(run=run).count() == 4
    errors = sorted(RunRecord.objects.filter(run=run, outcome="skipped").values_list("error", flat=True))
    assert [error.split(" ", 1)[0] for error in errors] == ["Older", "Older", "Superseded"]
    assert RecordLink.objects.get(workflow=hook).source_updated_at == datetime(2026, 1, 3, tzinfo=UTC)


def test_an_unchanged_newer_change_still_moves_the_applied_time(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    _deliver(client, hook, "v2", name="Ada", updated_at="2026-01-02T00:00:00Z")
    _process(hook)
    _deliver(client, hook, "v3", name="Ada", updated_at="2026-01-03T00:00:00Z")
    assert _process(hook).unchanged_count == 1
    # Newer than v2 but older than v3, which said the name is "Ada": it must not win.
    _deliver(client, hook, "v2b", name="Ada Between", updated_at="2026-01-02T12:00:00Z")

    run = _process(hook)

    assert run.skipped_count == 1
    assert _names(helpdesk_sandbox) == ["Ada"]


def test_the_workflow_names_where_the_change_time_is(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    hook.webhook_updated_at_path = "meta.changed"
    hook.save(update_fields=["webhook_updated_at_path"])
    newer = _deliver(client, hook, "v2", name="Ada Newer", meta={"changed": 1767312000000}, updated_at="x")
    assert newer.source_updated_at == datetime(2026, 1, 2, tzinfo=UTC)
    _process(hook)
    _deliver(client, hook, "v1", name="Ada Older", meta={"changed": 1767225600000})

    assert _process(hook).skipped_count == 1
    assert _names(helpdesk_sandbox) == ["Ada Newer"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T00:00:00Z", datetime(2026, 1, 2, tzinfo=UTC)),
        ("2026-01-02T01:00:00+01:00", datetime(2026, 1, 2, tzinfo=UTC)),
        ("2026-01-02 00:00:00", datetime(2026, 1, 2, tzinfo=UTC)),
        (1767312000, datetime(2026, 1, 2, tzinfo=UTC)),
        (1767312000000, datetime(2026, 1, 2, tzinfo=UTC)),
        ("1767312000000", datetime(2026, 1, 2, tzinfo=UTC)),
        (1767312000.5, datetime(2026, 1, 2, 0, 0, 0, 500000, tzinfo=UTC)),
        ("yesterday", None),
        ("2026-13-45T00:00:00Z", None),
        (True, None),
        (None, None),
        ({"at": 1}, None),
        (10**30, None),
    ],
)
def test_change_times_are_read_from_iso_strings_and_epoch_numbers(value: Any, expected: Any) -> None:
    assert parse_source_time(value) == expected


def test_well_known_senders_change_times_are_found_without_a_path() -> None:
    hubspot = json.dumps([{"objectId": 1, "occurredAt": 1767312000000}]).encode()
    stripe = json.dumps({"id": "evt_1", "created": 1767312000, "data": {"object": {"id": "cus_1"}}}).encode()
    zendesk = b"id=7&updated_at=2026-01-02T00%3A00%3A00Z"
    day = datetime(2026, 1, 2, tzinfo=UTC)

    assert event_source_time(hubspot, "application/json", record_path="[0]") == day
    assert event_source_time(stripe, "application/json") == day
    assert event_source_time(zendesk, "application/x-www-form-urlencoded") == day
    assert event_source_time(b"not json", "application/json") is None
    assert event_source_time(b'{"id": 1}', "application/json") is None
    assert event_source_time(b'{"a": 1}', "application/json", updated_at_path="[[[") is None
