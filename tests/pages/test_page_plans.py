"""On PostgreSQL, the reads behind the per-record log and the dead letters can be answered from the indexes
made for them, without a sort: a deep page reads `page size + 1` index entries, not the rows before it.

One run of ROWS records is enough for the planner to choose them as it does at a million
(docs/performance.md, Pages).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection as db

from workflows.models import Run, RunRecord, Workflow
from workflows.selectors import keyset_page, run_records
from workflows.services.workflow import workflow_create

ROWS = 50_000

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(db.vendor != "postgresql", reason="query plans are PostgreSQL's"),
]


@pytest.fixture
def run(team: Any, crm: Any, helpdesk: Any) -> Run:
    workflow: Workflow = workflow_create(
        team=team,
        name="Contacts to users",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping={"fields": [{"target": "email", "source": ["email"]}]},
    )
    run = Run.objects.create(workflow=workflow, status=Run.Status.PARTIAL)
    with db.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflows_runrecord (run_id, source_id, target_id, record_key, outcome, diff, dropped, error)
            SELECT %s, g::text, '', 'p' || g || '@example.com',
                   (ARRAY['created', 'updated', 'failed'])[g %% 3 + 1], '{}'::jsonb,
                   CASE WHEN g %% 500 = 0 THEN '[["fax", "no such field"]]'::jsonb ELSE '[]'::jsonb END, ''
            FROM generate_series(0, %s - 1) AS g
            """,
            [run.pk, ROWS],
        )
        cursor.execute("ANALYZE workflows_runrecord")
    return run


def _plan(queryset: Any) -> str:
    sql, params = queryset.query.sql_with_params()
    with db.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _ordered_index_scan(plan: str) -> bool:
    """Read in id order from an index, starting at the key (runrecord_run_page_idx / _outcome_page_idx, or
    the primary key when the run's rows are all there is): no sort, no scan of the rows before."""
    return "Sort" not in plan and "Seq Scan" not in plan and "Index" in plan


def _page_query(rows: Any, after: int) -> Any:
    return rows.filter(pk__gt=after).order_by("pk")[:51]


def test_a_deep_page_of_a_runs_log_is_an_ordered_index_scan_from_the_key(run: Run) -> None:
    middle = run.records.order_by("id").values_list("id", flat=True)[ROWS // 2]
    plan = _plan(_page_query(run_records(run=run), middle))
    assert _ordered_index_scan(plan), plan
    assert keyset_page(run_records(run=run), size=50, after=middle).object_list[0].pk > middle


def test_an_outcome_filtered_deep_page_is_an_ordered_index_scan_from_the_key(run: Run) -> None:
    middle = run.records.order_by("id").values_list("id", flat=True)[ROWS // 2]
    plan = _plan(_page_query(run_records(run=run, outcome="failed"), middle))
    assert _ordered_index_scan(plan), plan


def test_a_key_search_uses_the_key_and_source_indexes(run: Run) -> None:
    plan = _plan(run_records(run=run, query="p29999@")[:51])
    assert "runrecord_key_idx" in plan, plan


def test_coverage_reads_only_the_records_that_dropped_fields(run: Run) -> None:
    rows = RunRecord.objects.filter(run_id__in=[run.pk]).exclude(dropped=[]).values_list("dropped", flat=True)
    plan = _plan(rows[:5000])
    assert "runrecord_dropped_idx" in plan, plan


def test_the_first_page_of_a_later_run_starts_at_its_own_records_not_at_the_first_id(run: Run) -> None:
    # A run of 50,000 records, all after another run's 50,000: reading "its records in id order" through
    # the primary key would filter out every one of those first (the plan chosen at PostgreSQL's default
    # random_page_cost of 4, 0.7 s at a million rows).
    later = Run.objects.create(workflow=run.workflow, status=Run.Status.SUCCEEDED)
    with db.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflows_runrecord (run_id, source_id, target_id, record_key, outcome, diff, dropped, error)
            SELECT %s, g::text, '', 'q' || g || '@example.com', 'created', '{}'::jsonb, '[]'::jsonb, ''
            FROM generate_series(0, %s - 1) AS g
            """,
            [later.pk, ROWS],
        )
        cursor.execute("ANALYZE workflows_runrecord")
    plan = _plan(run_records(run=later)[:51])
    assert "runrecord_run_page_idx" in plan, plan
    assert "Sort" not in plan, plan


def test_a_new_workflows_link_lookup_probes_the_unique_index_even_with_stale_statistics(run: Run) -> None:
    from workflows.services.runs import _stored_links, links_lookup_sql

    def links(workflow_id: int, count: int) -> None:
        with db.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO workflows_recordlink
                    (workflow_id, source_id, target_id, match_value, last_fingerprint, last_values, updated_at)
                SELECT %s, g::text, 't' || g, '', '', '{}'::jsonb, now() FROM generate_series(1, %s) AS g
                """,
                [workflow_id, count],
            )

    links(run.workflow_id, ROWS)
    with db.cursor() as cursor:
        cursor.execute("ANALYZE workflows_recordlink")
    fresh = Workflow.objects.create(
        team=run.workflow.team,
        name="New",
        target_connection=run.workflow.target_connection,
        target_object="users",
    )
    links(fresh.pk, ROWS // 5)  # not analysed: the statistics say the new workflow has no links
    wanted = [str(n) for n in range(100, 200)]
    with db.cursor() as cursor:
        cursor.execute("EXPLAIN ANALYZE " + links_lookup_sql(), [json.dumps(wanted), fresh.pk])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Rows Removed by Filter" not in plan, plan
    assert "Index Cond: ((workflow_id = " in plan and "= ids.source_id))" in plan, plan  # both columns
    found = _stored_links(fresh, wanted)
    assert sorted(found) == sorted(wanted) and found["150"].target_id == "t150"


def test_a_multi_step_pages_link_lookup_costs_in_proportion_to_the_page_not_to_the_workflows_links(
    run: Run,
) -> None:
    from workflows.services.steps import _links_and_marks

    with db.cursor() as cursor:
        # Two steps' links and the source marks of ROWS source records: 3 x ROWS rows for one workflow.
        cursor.execute(
            """
            INSERT INTO workflows_steplink
                (workflow_id, step_id, source_id, target_id, last_fingerprint, last_values, updated_at)
            SELECT %s, step, g::text, 't' || g, '', '{}'::jsonb, now()
            FROM generate_series(1, %s) AS g, unnest(ARRAY['a-step', 'b-step', '@source']) AS step
            """,
            [run.workflow_id, ROWS],
        )
        cursor.execute("ANALYZE workflows_steplink")

    def buffers(source_ids: list[str]) -> int:
        from workflows.models import StepLink

        query = StepLink.objects.filter(workflow_id=run.workflow_id, source_id__in=source_ids)
        sql, params = query.query.sql_with_params()
        with db.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Shared Hit Blocks"]) + int(plan[0]["Plan"]["Shared Read Blocks"])

    few, many = buffers([str(n) for n in range(1000, 1010)]), buffers([str(n) for n in range(2000, 2200)])
    # Probing the index per source id: twenty times the ids, many times the pages read. Read by the
    # workflow prefix alone (step before source in the index), both would read the workflow's links.
    assert many > 5 * few, (few, many)
    links, marks = _links_and_marks(run.workflow_id, ["5", "6"])
    assert sorted(links) == ["5", "6"] and sorted(links["5"]) == ["a-step", "b-step"]
    assert sorted(marks) == ["5", "6"]
