"""A page's outcomes and links are written in one statement; what is stored is what the objects held.

On PostgreSQL (CI) the rows go as one JSON document expanded by the server; elsewhere through
`bulk_create`. The same assertions hold for both.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.workflows.helpers import crm_to_helpdesk
from workflows.models import RecordLink, Run, RunRecord, Workflow
from workflows.services.bulk_write import insert_rows, upsert_rows

MOMENT = datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC)


def _workflow(team: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> Workflow:
    return crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)


def _link(workflow: Workflow, n: int, *, target: str, values: dict[str, Any]) -> RecordLink:
    return RecordLink(
        workflow=workflow,
        source_id=str(n),
        target_id=target,
        match_value=f"user{n}@example.com",
        last_fingerprint=f"fp{n}",
        last_values=values,
        source_updated_at=MOMENT + timedelta(microseconds=n),
    )


def test_outcomes_are_stored_as_built_in_one_statement(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = _workflow(team, crm_sandbox, helpdesk_sandbox)
    run = Run.objects.create(workflow=workflow, trigger=Run.Trigger.MANUAL)
    outcomes = [
        RunRecord(
            run=run,
            source_id=str(n),
            target_id=f"t{n}" if n % 2 else "",
            record_key=f"user{n}@example.com",
            outcome=RunRecord.Outcome.FAILED if n == 7 else RunRecord.Outcome.CREATED,
            diff={"email": [None, f"user{n}@example.com"], "note": ["tab\there", 'quote " \\ end']},
            dropped=[["phone", "not a number"]] if n == 3 else [],
            error="The helpdesk said no\nbecause" if n == 7 else "",
            source_fields={"email": f"user{n}@example.com", "nested": {"a": [1, 2.5, True, None]}}
            if n == 7
            else None,
            source_updated_at=MOMENT if n == 7 else None,
        )
        for n in range(50)
    ]

    with CaptureQueriesContext(connection) as queries:
        insert_rows(RunRecord, outcomes)

    assert len(queries) == 1
    stored = {r.source_id: r for r in RunRecord.objects.filter(run=run)}
    assert len(stored) == 50
    for built in outcomes:
        row = stored[built.source_id]
        for name in (
            "target_id",
            "record_key",
            "outcome",
            "diff",
            "dropped",
            "error",
            "steps",
            "source_fields",
            "source_updated_at",
            "replayed_at",
        ):
            assert getattr(row, name) == getattr(built, name), name
    assert stored["7"].source_updated_at == MOMENT  # microseconds kept


def test_links_are_inserted_then_updated_in_place(team: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> None:
    workflow = _workflow(team, crm_sandbox, helpdesk_sandbox)
    fields = [
        "target_id",
        "match_value",
        "last_fingerprint",
        "last_values",
        "source_updated_at",
        "updated_at",
    ]
    first = [_link(workflow, n, target=f"a{n}", values={"name": f"User {n}"}) for n in range(40)]
    upsert_rows(RecordLink, first, unique_fields=["workflow", "source_id"], update_fields=fields)
    ids = dict(RecordLink.objects.filter(workflow=workflow).values_list("source_id", "id"))

    second = [_link(workflow, n, target=f"b{n}", values={"name": f"Renamed {n}"}) for n in range(20, 60)]
    with CaptureQueriesContext(connection) as queries:
        upsert_rows(RecordLink, second, unique_fields=["workflow", "source_id"], update_fields=fields)

    assert len(queries) == 1
    links = {link.source_id: link for link in RecordLink.objects.filter(workflow=workflow)}
    assert len(links) == 60
    assert links["5"].target_id == "a5" and links["5"].last_values == {"name": "User 5"}
    assert links["25"].target_id == "b25" and links["25"].last_values == {"name": "Renamed 25"}
    assert links["25"].id == ids["25"]  # updated, not replaced
    assert links["55"].target_id == "b55"
    assert links["55"].source_updated_at == MOMENT + timedelta(microseconds=55)
    assert links["55"].updated_at is not None


def test_plain_rows_are_stored_like_instances_with_defaults_for_what_they_leave_out(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = _workflow(team, crm_sandbox, helpdesk_sandbox)
    run = Run.objects.create(workflow=workflow, trigger=Run.Trigger.MANUAL)
    rows: list[Any] = [
        {
            "run_id": run.pk,
            "source_id": str(n),
            "record_key": f"user{n}@example.com",
            "outcome": RunRecord.Outcome.FAILED if n == 7 else RunRecord.Outcome.CREATED,
            "dropped": [["phone", "not a number"]] if n == 3 else [],
            **({"error": "no", "source_updated_at": MOMENT} if n == 7 else {"diff": {"email": [None, "x"]}}),
        }
        for n in range(50)
    ]
    links: list[Any] = [
        {
            "workflow_id": workflow.pk,
            "source_id": str(n),
            "target_id": f"t{n}",
            "match_value": f"user{n}@example.com",
            "last_fingerprint": f"fp{n}",
            "last_values": {"email": f"user{n}@example.com"},
            "source_updated_at": None,
        }
        for n in range(30)
    ]

    insert_rows(RunRecord, rows)
    upsert_rows(RecordLink, links, unique_fields=["workflow", "source_id"], update_fields=["target_id"])

    stored = {r.source_id: r for r in RunRecord.objects.filter(run=run)}
    assert len(stored) == 50
    assert stored["7"].error == "no" and stored["7"].source_updated_at == MOMENT and stored["7"].diff == {}
    assert stored["3"].dropped == [["phone", "not a number"]] and stored["3"].error == ""
    assert stored["1"].diff == {"email": [None, "x"]} and stored["1"].target_id == ""
    assert stored["1"].source_fields is None and stored["1"].replayed_at is None
    saved = {link.source_id: link for link in RecordLink.objects.filter(workflow=workflow)}
    assert len(saved) == 30
    assert saved["4"].last_values == {"email": "user4@example.com"} and saved["4"].updated_at is not None


def test_update_where_sets_and_adds_as_the_orm_would_in_one_statement(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    from workflows.services.bulk_write import update_where

    workflow = _workflow(team, crm_sandbox, helpdesk_sandbox)
    run = Run.objects.create(workflow=workflow, trigger="manual", records_read=5, created_count=2)
    other = Run.objects.create(workflow=workflow, trigger="manual", records_read=5)
    beat = datetime(2026, 11, 28, 12, 30, 15, 123456, tzinfo=UTC)
    with CaptureQueriesContext(connection) as queries:
        changed = update_where(
            Run,
            {"id": run.pk},
            assign={"heartbeat_at": beat, "api_requests": 7, "throttle_wait_seconds": 1.5},
            add={"records_read": 100, "created_count": 98, "failed_count": 2},
        )
    assert changed == 1 and len(queries) == 1
    run.refresh_from_db()
    assert (run.records_read, run.created_count, run.failed_count) == (105, 100, 2)
    assert (run.heartbeat_at, run.api_requests, run.throttle_wait_seconds) == (beat, 7, 1.5)
    other.refresh_from_db()
    assert (other.records_read, other.heartbeat_at) == (5, None)
    assert update_where(Run, {"id": -1}, add={"records_read": 1}) == 0
