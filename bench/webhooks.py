"""`webhook_ingest` and `webhook_to_write`: gunicorn serving the hub on loopback, a bounded load generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import fixtures
from bench.common import (
    REPEAT,
    ROOT,
    SCALE,
    free_port,
    hub_env,
    load,
    percentile,
    process,
    sandbox,
    summary,
    wait_http,
)

INGEST_RATE = 500
TO_WRITE_RATE = 200
# Events waiting when the drain starts, for its sustained throughput: 10,000 at full scale.
BACKLOG = max(1000, int(10_000 * SCALE))
# 6 s per repetition at full scale (3,000 requests at 500/s); a reduced BENCH_SCALE shortens it (3 s at least).
SECONDS = float(os.environ.get("BENCH_WEBHOOK_SECONDS", str(max(3.0, round(6 * SCALE, 1)))))
# The endpoints' budget (HUB_WEBHOOK_RATE_PER_MINUTE) stays checked on every delivery, as in production,
# but set above what the load generator offers so that the figures measure intake, not refusals.
# BENCH_WEBHOOK_RATE_PER_MINUTE=0 turns the check off (to measure what it costs).
BENCH_RATE_PER_MINUTE = int(os.environ.get("BENCH_WEBHOOK_RATE_PER_MINUTE", "600000"))
THREADS = int(os.environ.get("BENCH_LOADGEN_THREADS", "16"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
GUNICORN = [
    str(Path(sys.executable).with_name("gunicorn")),
    "--bind",
    "127.0.0.1:{port}",
    "--workers",
    "2",
    "--worker-class",
    "gthread",
    "--threads",
    "8",
    "--keep-alive",
    "5",
    "--log-level",
    "warning",
]


def _redis_ok() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())
    except Exception:
        return False


def _env(workdir: Path, settings: str) -> dict[str, str]:
    env = hub_env({k: os.environ[k] for k in ("DATABASE_URL", "HUB_DATA_DIR") if k in os.environ})
    env["DJANGO_SETTINGS_MODULE"] = settings
    env["HUB_WEBHOOK_RATE_PER_MINUTE"] = str(BENCH_RATE_PER_MINUTE)
    if _redis_ok():
        env["CELERY_BROKER_URL"] = REDIS_URL
    return env


def _load(url: str, rate: float, seconds: float) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.loadgen", url, str(rate), str(seconds), str(THREADS)],
        cwd=ROOT,
        env=hub_env({}),
        capture_output=True,
        text=True,
        timeout=seconds * 4 + 60,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _gunicorn(env: dict[str, str], log: Path) -> tuple[Any, str]:
    port = free_port()
    command = [part.format(port=port) for part in GUNICORN] + ["integrations_hub.wsgi:application"]
    return process(command, env, log), f"http://127.0.0.1:{port}"


def _queued_tasks() -> int | None:
    if not _redis_ok():
        return None
    import redis

    return int(redis.Redis.from_url(REDIS_URL).llen("realtime"))


def _drop_queued_tasks() -> None:
    if _redis_ok():
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        # This database number is the benchmark's own: drop every queue (celery, realtime, bulk) and unacked task.
        for pattern in ("celery*", "realtime*", "bulk*", "unacked*", "_kombu*"):
            for key in client.scan_iter(pattern, count=1000):
                client.delete(key)


def ingest(workdir: Path) -> dict[str, Any]:
    from bench.bare_urls import create_table

    create_table()
    # Enabled, as in production: deliveries also queue the workflow's processing task (at most one per
    # short window, see workflows.services.webhooks.DRAIN_GUARD_SECONDS); nobody consumes it here.
    workflow = fixtures.webhook_workflow("http://127.0.0.1:9", enabled=True)
    ours_runs, bare_runs, ratios = [], [], []
    ours_cm, ours_url = _gunicorn(_env(workdir, "integrations_hub.settings"), workdir / "gunicorn-hub.log")
    bare_cm, bare_url = _gunicorn(_env(workdir, "bench.bare_settings"), workdir / "gunicorn-bare.log")
    with ours_cm as ours_proc, bare_cm as bare_proc:
        wait_http(ours_url + "/healthz", ours_proc)
        wait_http(bare_url + "/hooks/x", bare_proc)
        hook = f"{ours_url}/hooks/{workflow.webhook_token}"
        _load(hook, 50, 2)  # warm both
        _load(f"{bare_url}/hooks/x", 50, 2)
        for _ in range(REPEAT):
            a = _load(hook, INGEST_RATE, SECONDS)
            a["load_average"] = load()
            b = _load(f"{bare_url}/hooks/x", INGEST_RATE, SECONDS)
            b["load_average"] = load()
            ours_runs.append(a)
            bare_runs.append(b)
            ratios.append(a["requests_per_s"] / b["requests_per_s"] if b["requests_per_s"] else float("nan"))
    tasks_queued = _queued_tasks()
    _drop_queued_tasks()
    from workflows.models import InboundEvent, Workflow

    stored = InboundEvent.objects.filter(workflow=workflow).count()
    # Nobody processes these (the workflow writes nowhere): keep them away from webhook_to_write's worker.
    Workflow.objects.filter(pk=workflow.pk).update(enabled=False)
    InboundEvent.objects.filter(workflow=workflow).delete()
    rps = summary([r["requests_per_s"] for r in ours_runs], 1)
    p99 = summary([r["p99_ms"] for r in ours_runs], 1)
    ratio = summary(ratios, 3)
    return {
        "offered_per_s": INGEST_RATE,
        "seconds_per_repetition": SECONDS,
        "server": "gunicorn --workers 2 --worker-class gthread --threads 8 --keep-alive 5 (both targets)",
        "broker": "redis" if _redis_ok() else "filesystem",
        "requests_per_s": rps,
        "p50_ms": summary([r["p50_ms"] for r in ours_runs], 1),
        "p99_ms": p99,
        "bare": {
            "requests_per_s": summary([r["requests_per_s"] for r in bare_runs], 1),
            "p50_ms": summary([r["p50_ms"] for r in bare_runs], 1),
            "p99_ms": summary([r["p99_ms"] for r in bare_runs], 1),
        },
        "ratio_to_bare": ratio,
        "targets": {"ratio_to_bare": ">= 0.7", "p99_ms": "< 50"},
        "holds": ratio["median"] >= 0.7 and p99["median"] < 50,
        "events_stored": stored,
        # Intake queues one processing task per workflow per guard window, not one per delivery.
        "processing_tasks_queued": tasks_queued,
        "endpoint_budget_per_minute": BENCH_RATE_PER_MINUTE,
        "statuses": [r["statuses"] for r in ours_runs],
        "repetitions": {"ours": ours_runs, "bare": bare_runs},
        "load_average": load(),
    }


def to_write(workdir: Path) -> dict[str, Any]:
    from django.db.models import F

    from workflows.models import InboundEvent

    if not _redis_ok():
        return {"skipped": "needs Redis as the broker between web and worker"}
    seconds = SECONDS
    results = []
    with sandbox("helpdesk", seed=0) as helpdesk:
        workflow = fixtures.webhook_workflow(helpdesk.url, enabled=True)
        env = _env(workdir, "integrations_hub.settings")
        web_cm, web_url = _gunicorn(env, workdir / "gunicorn-hub-2.log")
        worker_cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "integrations_hub",
            "worker",
            "--loglevel",
            "warning",
            "--concurrency",
            "2",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ]
        _drop_queued_tasks()
        with web_cm as web, process(worker_cmd, env, workdir / "worker.log"):
            wait_http(web_url + "/healthz", web)
            hook = f"{web_url}/hooks/{workflow.webhook_token}"
            # Warm both servers and the worker (imports, the target's schema, connections), as ingest does.
            _load(hook, 50, 1)
            _wait_drained(workflow)
            for _ in range(REPEAT):
                before = InboundEvent.objects.filter(workflow=workflow).count()
                sent = _load(hook, TO_WRITE_RATE, seconds)
                _wait_drained(workflow)
                events = InboundEvent.objects.filter(workflow=workflow, processed_at__isnull=False).order_by(
                    "-id"
                )[: sent["ok"]]
                rows = list(
                    events.annotate(lat=F("processed_at") - F("received_at")).values_list(
                        "lat", "received_at", "processed_at"
                    )
                )
                lat_ms = [r[0].total_seconds() * 1000 for r in rows]
                if rows:
                    span = (max(r[2] for r in rows if r[2]) - min(r[1] for r in rows)).total_seconds()
                else:
                    span = float("nan")
                results.append(
                    {
                        "offered_per_s": TO_WRITE_RATE,
                        "acknowledged": sent["ok"],
                        "ack_p99_ms": round(sent["p99_ms"], 1),
                        "written": len(rows),
                        "events_per_s": len(rows) / span if span else 0.0,
                        "p50_latency_ms": round(percentile(lat_ms, 50), 1),
                        "p95_latency_ms": round(percentile(lat_ms, 95), 1),
                        "still_pending": InboundEvent.objects.filter(
                            workflow=workflow, processed_at__isnull=True
                        ).count(),
                        "events_before": before,
                        "load_average": load(),
                    }
                )
            backlogs = [_backlog(workflow, hook) for _ in range(REPEAT)]
        users = len(helpdesk.records("users"))
    _drop_queued_tasks()
    events_per_s = summary([r["events_per_s"] for r in backlogs], 1)
    p95 = summary([r["p95_latency_ms"] for r in results], 1)
    return {
        "offered_per_s": TO_WRITE_RATE,
        "seconds_per_repetition": seconds,
        "worker": "celery worker --concurrency 2 (prefork), Redis broker",
        # Sustained: a backlog of stored events drained by the worker (intake alone tops out below
        # 500 deliveries/s on two cores, so the load generator cannot offer that rate end to end).
        "events_per_s": events_per_s,
        "events_per_s_definition": f"{BACKLOG} stored events, then one delivery queues the drain: "
        "events written and recorded / (last processed_at - first received_at)",
        "events_per_s_at_offered": summary([r["events_per_s"] for r in results], 1),
        "p95_latency_ms": p95,
        "targets": {"events_per_s": ">= 500", "p95_latency_ms": "< 1000"},
        "holds": events_per_s["median"] >= 500 and p95["median"] < 1000,
        "backlog": backlogs,
        "latency_definition": "event stored (received_at) -> its record written to the helpdesk and recorded (processed_at)",
        "helpdesk_users_written": users,
        "repetitions": results,
        "load_average": load(),
    }


def _backlog(workflow: Any, hook: str) -> dict[str, Any]:
    """Store BACKLOG events at once (as after a worker outage), then one delivery queues the drain."""
    import http.client
    import uuid
    from urllib.parse import urlparse

    from django.db.models import Max, Min

    from workflows.models import InboundEvent

    prefix = uuid.uuid4().hex[:8]
    events = [
        InboundEvent(
            workflow=workflow,
            event_id=f"backlog-{prefix}-{n}",
            content_type="application/json",
            body=json.dumps(
                {"id": f"{prefix}-b{n}", "name": f" Backlog {n} ", "email": f"b.{prefix}.{n}@example.com"}
            ).encode(),
        )
        for n in range(BACKLOG)
    ]
    InboundEvent.objects.bulk_create(events, batch_size=1000)
    body = json.dumps({"id": f"{prefix}-last", "name": "Last", "email": f"last.{prefix}@example.com"})
    target = urlparse(hook)
    conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
    try:
        conn.request("POST", target.path, body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
    finally:
        conn.close()
    ours = InboundEvent.objects.filter(workflow=workflow, event_id__startswith=f"backlog-{prefix}-")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and ours.filter(processed_at__isnull=True).exists():
        time.sleep(0.25)
    span = ours.aggregate(first=Min("received_at"), last=Max("processed_at"))
    written = ours.filter(status=InboundEvent.Status.PROCESSED).count()
    seconds = (span["last"] - span["first"]).total_seconds() if span["last"] else float("nan")
    return {
        "events": BACKLOG,
        "written": written,
        "seconds": round(seconds, 2),
        "events_per_s": written / seconds if seconds else 0.0,
        "still_pending": ours.filter(processed_at__isnull=True).count(),
        "load_average": load(),
    }


def _wait_drained(workflow: Any, seconds: float = 120) -> None:
    """Wait (bounded) for the worker to drain what was stored."""
    from workflows.models import InboundEvent

    deadline = time.monotonic() + seconds
    pending = InboundEvent.objects.filter(workflow=workflow, processed_at__isnull=True)
    while time.monotonic() < deadline and pending.exists():
        time.sleep(0.5)
