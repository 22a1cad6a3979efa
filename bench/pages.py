"""`pages`: run-detail and health pages with 1,000,000 run-record rows in a dedicated PostgreSQL database."""

from __future__ import annotations

import io
import json
import os
import time
from typing import Any

from bench import fixtures
from bench.common import load, percentile, scaled

SAMPLES = int(os.environ.get("BENCH_PAGE_SAMPLES", "20"))


def _bulk_insert(run_id: int, rows: int) -> float:
    from django.db import connection

    started = time.perf_counter()
    outcomes = ["created", "updated", "unchanged", "skipped", "failed"]
    diff = json.dumps({"phone": ["+1 555 0100", "+1 555 0101"]})
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor
        chunk = 100_000
        for start in range(0, rows, chunk):
            buf = io.StringIO()
            for i in range(start, min(rows, start + chunk)):
                outcome = outcomes[i % 5]
                error = "Email is invalid" if outcome == "failed" else ""
                buf.write(
                    f"{run_id}\t{100 + i}\t{900000 + i}\tuser{i}@example.com\t{outcome}\t{diff}\t[]\t{error}\n"
                )
            with raw.copy(
                "COPY workflows_runrecord (run_id, source_id, target_id, record_key, outcome, diff, dropped, error) FROM STDIN"
            ) as copy:
                copy.write(buf.getvalue())
        cursor.execute("ANALYZE workflows_runrecord")
    return time.perf_counter() - started


def run() -> dict[str, Any]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from integrations_hub.accounts.models import Membership
    from workflows.models import Run

    if connection.vendor != "postgresql":
        return {"skipped": "PostgreSQL is not reachable; this benchmark needs it (bulk COPY)"}
    rows = scaled(1_000_000, 10_000)
    workflow = fixtures.sync_workflow("http://127.0.0.1:9", "http://127.0.0.1:9")
    run = Run.objects.create(
        workflow=workflow, trigger="manual", version_id=workflow.published_version_id, status="partial"
    )
    insert_seconds = _bulk_insert(run.pk, rows)
    per = rows // 5
    Run.objects.filter(pk=run.pk).update(
        records_read=rows,
        created_count=per,
        updated_count=per,
        unchanged_count=per,
        skipped_count=per,
        failed_count=per,
    )
    # A few ordinary runs next to the big one, as a real history would have.
    for _ in range(20):
        Run.objects.create(
            workflow=workflow, trigger="poll", version_id=workflow.published_version_id, status="succeeded"
        )
    user = get_user_model().objects.create_user(username=f"bench{run.pk}", password="x")  # noqa: S106
    Membership.objects.create(user=user, team=workflow.team, role="admin")
    host = (settings.ALLOWED_HOSTS or ["127.0.0.1"])[0]
    host = "127.0.0.1" if host in {"*", ".localhost"} else host.lstrip(".")
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    pages = {
        "run_detail": f"/runs/{run.pk}/",
        "run_records": f"/runs/{run.pk}/records/",
        "run_records_failed": f"/runs/{run.pk}/records/?outcome=failed",
        "workflow_detail (workflow health)": f"/workflows/{workflow.pk}/",
        "connection_detail (connection health)": f"/connections/{workflow.source_connection_id}/",
        "dashboard": "/",
        "run_list": "/runs/",
        "healthz": "/healthz",
    }
    results: dict[str, Any] = {}
    for name, url in pages.items():
        times: list[float] = []
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
            queries = len(ctx.captured_queries)
        results[name] = {
            "url": url,
            "status": status,
            "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1),
            "max_ms": round(max(times), 1),
            "queries": queries,
        }
    return {
        "run_record_rows": rows,
        "bulk_insert_seconds": round(insert_seconds, 1),
        "samples_per_page": SAMPLES,
        "pages": results,
        "method": "Django test client in-process (view + template + ORM time, no network)",
        "load_average": load(),
    }
