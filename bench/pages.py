"""`pages`: every page that lists or aggregates runs and records, with 1,000,000 run-record rows.

The history is seeded in the dedicated PostgreSQL database with `INSERT … SELECT generate_series` (no
Python per row): one big run holding half of the rows (the worst case for its per-record log) and
`rows / 500` ordinary runs of 250 records each spread over the last 60 days (what the run list, the
health charts and the coverage read), a record link per record of the big run (match consistency), plus
a two-way sync with `rows / 10` outcomes in one run and an open review queue. Each page is requested
SAMPLES + 1 times through Django's test client in-process (the first discarded): p50/p95 server time,
the median time spent in SQL, and the number of SQL queries.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from bench import fixtures
from bench.common import load, percentile, scaled

SAMPLES = int(os.environ.get("BENCH_PAGE_SAMPLES", "20"))
RECORDS_PER_RUN = 250
HISTORY_DAYS = 60
DISTINCT_KEYS = 20_000  # the same contacts come back run after run


def _seed_runs(workflow: Any, rows: int) -> tuple[Any, list[int]]:
    """The history runs (oldest first) and the big run (newest); records are inserted by _seed_records."""
    from django.utils import timezone

    from workflows.models import Run

    history = max(20, rows // (2 * RECORDS_PER_RUN))
    now = timezone.now()
    step = timedelta(days=HISTORY_DAYS) / history
    statuses = ["succeeded"] * 17 + ["partial"] * 2 + ["failed"]
    runs = []
    created_at = []
    for i in range(history):
        created = now - timedelta(days=HISTORY_DAYS) + i * step
        created_at.append(created)
        status = statuses[i % len(statuses)]
        read = 0 if status == "failed" else RECORDS_PER_RUN
        runs.append(
            Run(
                workflow=workflow,
                version_id=workflow.published_version_id,
                trigger="poll",
                status=status,
                started_at=created + timedelta(seconds=2),
                finished_at=created + timedelta(seconds=20 + (i % 40)),
                records_read=read,
                updated_count=read - read // 50 if read else 0,
                failed_count=read // 50,
                api_requests=read // 100 + 1,
                throttle_wait_seconds=1.5 if i % 10 == 0 else 0.0,
                error="Unauthorized" if status == "failed" else "",
            )
        )
    created_runs = Run.objects.bulk_create(runs)
    # auto_now_add ignores the value given: set the history's times afterwards.
    for run, created in zip(created_runs, created_at, strict=True):
        run.created_at = created
    Run.objects.bulk_update(created_runs, ["created_at"], batch_size=1000)
    with_records = [r.pk for r in created_runs if r.records_read]
    big_rows = rows - len(with_records) * RECORDS_PER_RUN
    per = big_rows // 5
    big = Run.objects.create(
        workflow=workflow,
        version_id=workflow.published_version_id,
        trigger="manual",
        status="partial",
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=1),
        records_read=big_rows,
        created_count=big_rows - 4 * per,
        updated_count=per,
        unchanged_count=per,
        skipped_count=per,
        failed_count=per,
    )
    return big, with_records


def _seed_records(big_run_id: int, big_rows: int, history_ids: list[int]) -> None:
    from django.db import connection

    diff = '{"phone": ["+1 555 0100", "+1 555 0101"]}'
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflows_runrecord
                (run_id, source_id, target_id, record_key, outcome, diff, dropped, error, source_fields)
            SELECT %s, (100 + g)::text, (900000 + g)::text, 'user' || g || '@example.com',
                   (ARRAY['created', 'updated', 'unchanged', 'skipped', 'failed'])[g %% 5 + 1],
                   %s::jsonb, '[]'::jsonb,
                   CASE WHEN g %% 5 = 4 THEN 'Email is invalid' ELSE '' END,
                   CASE WHEN g %% 5 = 4 THEN '{"email": "user@invalid"}'::jsonb END
            FROM generate_series(0, %s - 1) AS g
            """,
            [big_run_id, diff, big_rows],
        )
        cursor.execute(
            """
            INSERT INTO workflows_runrecord
                (run_id, source_id, target_id, record_key, outcome, diff, dropped, error, source_fields)
            SELECT r.run_id, (100 + k)::text, (900000 + k)::text, 'contact' || k || '@example.com',
                   CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'updated' END,
                   CASE WHEN g %% 50 = 0 THEN '{}'::jsonb ELSE %s::jsonb END,
                   CASE WHEN g %% 25 = 1 THEN '[["fax", "no such field in the target"]]'::jsonb
                        ELSE '[]'::jsonb END,
                   CASE WHEN g %% 50 = 0 THEN 'Email is invalid' ELSE '' END,
                   CASE WHEN g %% 50 = 0 THEN '{"email": "contact@invalid"}'::jsonb END
            FROM unnest(%s::bigint[]) WITH ORDINALITY AS r(run_id, n),
                 generate_series(0, %s - 1) AS g,
                 LATERAL (SELECT ((r.n * %s + g) %% %s)::int AS k) AS key
            """,
            [diff, history_ids, RECORDS_PER_RUN, RECORDS_PER_RUN, DISTINCT_KEYS],
        )
        cursor.execute("ANALYZE workflows_runrecord")
        cursor.execute("ANALYZE workflows_run")


def _seed_links(workflow_id: int, links: int) -> None:
    """One link per source record the history wrote; one target in a thousand shared by two sources."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflows_recordlink
                (workflow_id, source_id, target_id, match_value, last_fingerprint, last_values, updated_at)
            SELECT %s, (100 + g)::text, (900000 + g - (g %% 1000 = 7)::int)::text,
                   'user' || g || '@example.com', md5(g::text), '{}'::jsonb, now()
            FROM generate_series(0, %s - 1) AS g
            """,
            [workflow_id, links],
        )
        cursor.execute("ANALYZE workflows_recordlink")


def _seed_sync(team: Any, source: Any, target: Any, outcomes: int) -> tuple[Any, Any]:
    """A sync with a long run history, one run with `outcomes` outcomes, and an open review queue."""
    from django.db import connection

    from workflows.sync.models import Sync, SyncRun
    from workflows.sync.services.definition import sync_create

    sync: Sync = sync_create(
        team=team,
        name="Bench two-way contacts",
        a_connection=source,
        a_object="contacts",
        b_connection=target,
        b_object="users",
        fields=[{"key": "phone", "a": "phone", "b": "phone", "direction": "both"}],
        match=[{"rule": "email", "a": "email", "b": "email"}],
    )
    SyncRun.objects.bulk_create(
        SyncRun(sync=sync, status="succeeded", read_a=100, read_b=100, updated_b=3, unchanged=97)
        for _ in range(max(20, outcomes // 100))
    )
    run = SyncRun.objects.create(sync=sync, status="partial", read_a=outcomes, updated_b=outcomes)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sync_syncoutcome (run_id, a_id, b_id, outcome, changes, notes, error)
            SELECT %s, 'a' || g, 'b' || g, CASE WHEN g %% 100 = 0 THEN 'failed' ELSE 'updated' END,
                   '{"b": {"phone": ["1", "2"]}}'::jsonb, '[]'::jsonb, ''
            FROM generate_series(0, %s - 1) AS g
            """,
            [run.pk, outcomes],
        )
        cursor.execute("ANALYZE sync_syncoutcome")
    _seed_review_queue(sync)
    return sync, run


def _seed_review_queue(sync: Any) -> None:
    from workflows.sync.models import SyncConflict, SyncLink

    links = SyncLink.objects.bulk_create(SyncLink(sync=sync, a_id=f"a{i}", b_id=f"b{i}") for i in range(300))
    SyncConflict.objects.bulk_create(
        SyncConflict(
            sync=sync, link=link, pair_key="phone", a_field="phone", b_field="phone", a_value="1", b_value="2"
        )
        for link in links
    )


def _timed(client: Any, url: str) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times: list[float] = []
    sql: list[float] = []
    queries = 0
    status = None
    for i in range(SAMPLES + 1):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
        status = response.status_code
        if i:  # the first request warms caches and templates
            times.append(elapsed)
            sql.append(sum(float(q["time"]) for q in ctx.captured_queries) * 1000)
        queries = len(ctx.captured_queries)
    return {
        "url": url,
        "status": status,
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "max_ms": round(max(times), 1),
        "sql_p50_ms": round(percentile(sql, 50), 1),
        "queries": queries,
    }


def run() -> dict[str, Any]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from integrations_hub.accounts.models import Membership
    from workflows.models import Run, RunRecord

    if connection.vendor != "postgresql":
        return {"skipped": "PostgreSQL is not reachable; this benchmark needs it (bulk INSERT … SELECT)"}
    rows = scaled(1_000_000, 10_000)
    workflow = fixtures.sync_workflow("http://127.0.0.1:9", "http://127.0.0.1:9")
    started = time.perf_counter()
    big, history_ids = _seed_runs(workflow, rows)
    _seed_records(big.pk, big.records_read, history_ids)
    _seed_links(workflow.pk, big.records_read)
    sync, sync_run = _seed_sync(
        workflow.team, workflow.source_connection, workflow.target_connection, max(1000, rows // 10)
    )
    seed_seconds = time.perf_counter() - started
    total_rows = RunRecord.objects.count()

    user = get_user_model().objects.create_user(username=f"bench{big.pk}", password="x")  # noqa: S106
    Membership.objects.create(user=user, team=workflow.team, role="admin")
    host = (settings.ALLOWED_HOSTS or ["127.0.0.1"])[0]
    host = "127.0.0.1" if host in {"*", ".localhost"} else host.lstrip(".")
    client = Client(HTTP_HOST=host)
    client.force_login(user)

    # A deep page of the big run's log: the record halfway through it.
    middle = (
        RunRecord.objects.filter(run=big).order_by("id").values_list("id", flat=True)[big.records_read // 2]
    )
    history_run = history_ids[len(history_ids) // 2]
    w, c = workflow.pk, workflow.source_connection_id
    pages = {
        "dashboard": "/",
        "run_list": "/runs/",
        "run_list deep page": "/runs/?page=40",
        "run_list by workflow": f"/runs/?workflow={w}",
        "run_list by status": "/runs/?status=failed",
        "run_list by record key": f"/runs/?q=contact{DISTINCT_KEYS // 2}@example.com",
        "run_detail (big run)": f"/runs/{big.pk}/",
        "run_detail (ordinary run)": f"/runs/{history_run}/",
        "run_records first page": f"/runs/{big.pk}/records/",
        "run_records deep page": f"/runs/{big.pk}/records/?after={middle}",
        "run_records outcome=failed": f"/runs/{big.pk}/records/?outcome=failed",
        "run_records key search": f"/runs/{big.pk}/records/?q=user{big.records_read // 3}@example.com",
        "run_status": f"/runs/{big.pk}/status/",
        "workflow_detail": f"/workflows/{w}/",
        "workflow_health": f"/workflows/{w}/health/",
        "dead_letters": f"/workflows/{w}/dead-letters/",
        "connection_detail": f"/connections/{c}/",
        "connection_health": f"/connections/{c}/health/",
        "sync_list": "/syncs/",
        "sync_detail": f"/syncs/{sync.pk}/",
        "sync_run_detail": f"/syncs/runs/{sync_run.pk}/",
        "review_queue": "/syncs/review/",
    }
    results = {name: _timed(client, url) for name, url in pages.items()}
    return {
        "run_record_rows": total_rows,
        "record_links": big.records_read,
        "runs": Run.objects.filter(workflow=workflow).count(),
        "sync_outcome_rows": sync_run.read_a,
        "seed_seconds": round(seed_seconds, 1),
        "samples_per_page": SAMPLES,
        "pages": results,
        "method": "Django test client in-process (view + template + ORM time, no network)",
        "load_average": load(),
    }
