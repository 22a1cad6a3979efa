"""`make bench` / `python -m bench`: run the suite, write bench-results/latest.json and latest.md.

Environment:
  BENCH_SCALE=0.1        sizes x 0.1 (quick run); default 1 (full sizes)
  BENCH_REPEAT=3         repetitions per figure (at least 3)
  BENCH_ONLY=a,b         only these benchmarks (names below)
  BENCH_DATABASE_URL     PostgreSQL server for the dedicated database (default $DATABASE_URL or
                         postgres://postgres@127.0.0.1:5432/...); SQLite in a temp dir if it does not answer
  BENCH_MEMORY_MAX       cap on the "1M" memory run (default 1000000)
  BENCH_WEBHOOK_SECONDS  seconds per webhook load repetition (default 6)
  BENCH_OUT              directory for latest.json and latest.md (default bench-results/)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import common

ORDER = [
    "mapping",
    "sandboxes",
    "backfill",
    "incremental",
    "rate_budget",
    "webhook_ingest",
    "webhook_to_write",
    "memory",
    "pages",
]
OUT = Path(os.environ.get("BENCH_OUT") or common.ROOT / "bench-results")


def _runner(name: str, workdir: Path) -> Any:
    if name in {"webhook_ingest", "webhook_to_write"}:
        from bench import webhooks

        fn = webhooks.ingest if name == "webhook_ingest" else webhooks.to_write
        return lambda: fn(workdir)
    import importlib

    return importlib.import_module(f"bench.{name}").run


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds every `with`: sandboxes, gunicorn and workers are stopped


def main() -> int:
    import signal

    signal.signal(signal.SIGTERM, _stop)
    only = [x.strip() for x in os.environ.get("BENCH_ONLY", "").split(",") if x.strip()]
    names = [n for n in ORDER if not only or n in only]
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    OUT.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "machine": common.machine(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    db_env = common.database_env(workdir)
    results["machine"]["database"] = (
        "postgresql" if "DATABASE_URL" in db_env else "sqlite (PostgreSQL did not answer)"
    )
    print(
        f"bench: scale {common.SCALE}, {common.REPEAT} repetitions, database {results['machine']['database']}",
        flush=True,
    )
    # The sandboxes listen on loopback, which the outbound guard refuses unless allowed.
    os.environ.setdefault("HUB_HTTP_ALLOWED_PRIVATE_HOSTS", "127.0.0.1,localhost")
    common.migrate(common.hub_env(db_env))
    os.environ.update(db_env)
    os.environ.pop("CELERY_BROKER_URL", None)
    common.django_setup()
    suite_started = time.perf_counter()
    try:
        for name in names:
            print(f"bench: {name} ...", flush=True)
            started = time.perf_counter()
            try:
                results[name] = _runner(name, workdir)()
            except Exception as exc:
                traceback.print_exc()
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            results[name]["wall_seconds"] = round(time.perf_counter() - started, 1)
            print(f"bench: {name} done in {results[name]['wall_seconds']} s", flush=True)
            _write(results, suite_started)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _write(results, suite_started)
    print(f"bench: wrote {OUT / 'latest.json'} and {OUT / 'latest.md'}")
    return 0


def _write(results: dict[str, Any], started: float) -> None:
    results["machine"]["load_average_end"] = common.load()
    results["suite_seconds"] = round(time.perf_counter() - started, 1)
    (OUT / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (OUT / "latest.md").write_text(markdown(results))


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "median" in value:
        return f"{value['median']:g} (min {value['min']:g}, max {value['max']:g})"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


ROWS: list[tuple[str, str, str]] = [
    ("mapping", "records_per_s", "≥ 50,000 (batches of 100)"),
    ("mapping", "records_per_cpu_s", ""),
    ("mapping", "records_per_s_one_at_a_time", ""),
    ("backfill", "records_per_s", ""),
    ("backfill", "raw_copy_records_per_s", ""),
    ("backfill", "ratio_to_raw_copy", "≤ 1.5"),
    ("incremental", "seconds_1k", ""),
    ("incremental", "seconds_100k", ""),
    ("incremental", "ratio", "≤ 1.2"),
    ("incremental", "api_calls_idle", "= 1"),
    ("incremental", "hub_ratio", ""),
    ("rate_budget", "seconds", ""),
    ("rate_budget", "unpaced_seconds", ""),
    ("rate_budget", "theoretical_min_seconds", ""),
    ("rate_budget", "ratio", "≤ 1.1"),
    ("rate_budget", "ratio_to_window_bound", ""),
    ("rate_budget", "ratio_to_fluid_bound", ""),
    ("rate_budget", "ratio_to_steady_rate", ""),
    ("rate_budget", "responses_429", "0"),
    ("webhook_ingest", "requests_per_s", "(500 offered)"),
    ("webhook_ingest", "p50_ms", ""),
    ("webhook_ingest", "p99_ms", "< 50"),
    ("webhook_ingest", "ratio_to_bare", "≥ 0.7"),
    ("webhook_to_write", "events_per_s", "≥ 500 (a stored backlog)"),
    ("webhook_to_write", "p95_latency_ms", "< 1,000 (200 offered)"),
    ("memory", "rss_10k_mb", ""),
    ("memory", "rss_1m_mb", ""),
    ("memory", "ratio", "≤ 1.2"),
    ("sandboxes", "crm_search_records_per_s", ""),
    ("sandboxes", "helpdesk_create_or_update_many_records_per_s", ""),
]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"- CPU: {m['cpu']} x {m['cores']} cores, RAM {m['ram_gb']} GB, Python {m['python']}, {m['platform']}",
        f"- Load average (1/5/15 min): start {m['load_average_start']}, end {m.get('load_average_end')}",
        f"- Git commit: {m['git_commit']}; database: {m.get('database')}",
        f"- Scale {m['scale']} (BENCH_SCALE), {m['repetitions']} repetitions: median (min, max); suite {results.get('suite_seconds')} s",
        "",
        "| benchmark | figure | median (min, max) | target | load avg after |",
        "| --- | --- | --- | --- | --- |",
    ]
    for bench, key, target in ROWS:
        data = results.get(bench)
        if not isinstance(data, dict):
            continue
        if "error" in data or "skipped" in data:
            if key == next(k for b, k, _ in ROWS if b == bench):
                lines.append(f"| {bench} | — | {data.get('error') or data.get('skipped')} | | |")
            continue
        if key in data:
            lines.append(
                f"| {bench} | {key} | {_fmt(data[key])} | {target} | {data.get('load_average', '')} |"
            )
    pages = results.get("pages")
    if isinstance(pages, dict) and "pages" in pages:
        lines += [
            "",
            f"Pages with {pages['run_record_rows']:,} run-record rows ({pages['method']}):",
            "",
            "| page | status | p50 ms | p95 ms | queries |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, p in pages["pages"].items():
            lines.append(
                f"| {name} `{p['url']}` | {p['status']} | {p['p50_ms']} | {p['p95_ms']} | {p['queries']} |"
            )
    notes = [
        (b, results[b]["note"]) for b in ORDER if isinstance(results.get(b), dict) and results[b].get("note")
    ]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {b}: {n}" for b, n in notes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
