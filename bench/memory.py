"""`memory`: peak RSS of the process running a backfill, 10,000 vs 1,000,000 records (each in a fresh process,
REPEAT times per size against one seeded CRM sandbox, each into an empty helpdesk).

The run executes in a child process (`python -m bench.memory child ...`), exactly what a Celery worker does
for one run task (run_execute), so its ru_maxrss is the worker's peak for that run.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from bench.common import REPEAT, ROOT, crm_sandbox, hub_env, load, sandbox, scaled, summary

SMALL = 10_000
TARGET_RATIO = 1.2
# A lower cap shortens the large run (the JSON says so when it was capped).
CAP = int(os.environ.get("BENCH_MEMORY_MAX", "1000000"))


def _peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: a child started by fork and
    exec inherits its parent's peak there, so it read the benchmark runner's 429 MB (the mapping
    benchmark's 200,000 records) for both sizes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # no /proc: the best there is


def _child(crm_url: str, helpdesk_url: str) -> None:
    from bench.common import django_setup

    django_setup()
    from bench import fixtures

    workflow = fixtures.sync_workflow(crm_url, helpdesk_url)
    started = time.perf_counter()
    run = fixtures.run_once(workflow)
    print(
        json.dumps(
            {
                "rss_mb": _peak_rss_kb() / 1024,
                "seconds": time.perf_counter() - started,
                "written": (run.created_count + run.updated_count) if run else 0,
                "status": run.status if run else None,
            }
        )
    )


def _measure(n: int) -> list[dict[str, Any]]:
    """REPEAT backfills of the same n source records, each into an empty helpdesk, each in a fresh process."""
    env = hub_env({k: os.environ[k] for k in ("DATABASE_URL", "HUB_DATA_DIR") if k in os.environ})
    seeded = time.perf_counter()
    runs = []
    with crm_sandbox(n) as crm:
        seed_seconds = time.perf_counter() - seeded
        for _ in range(REPEAT):
            with sandbox("helpdesk", seed=0) as helpdesk:
                out = subprocess.run(  # noqa: S603 - our own interpreter and module
                    [sys.executable, "-m", "bench.memory", "child", crm.url, helpdesk.url],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=3600,
                    check=True,
                )
            result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
            result["records"] = n
            result["sandbox_seed_seconds"] = round(seed_seconds, 1)
            result["load_average"] = load()
            runs.append(result)
    return runs


def run() -> dict[str, Any]:
    wanted = scaled(1_000_000, SMALL)
    large = min(wanted, CAP)
    small_runs = _measure(SMALL)
    large_runs = _measure(large)
    small = summary([r["rss_mb"] for r in small_runs], 1)
    big = summary([r["rss_mb"] for r in large_runs], 1)
    ratio = round(big["median"] / small["median"], 3)
    # The ratio's range: the lightest large run against the heaviest small one, and the other way round.
    min_large, max_large = min(r["rss_mb"] for r in large_runs), max(r["rss_mb"] for r in large_runs)
    min_small, max_small = min(r["rss_mb"] for r in small_runs), max(r["rss_mb"] for r in small_runs)
    return {
        "rss_10k_mb": small,
        "rss_1m_mb": big,
        "large_records": large,
        "scaled_down": large < 1_000_000,
        "note": (
            f"the large run used {large:,} records, not 1,000,000 (BENCH_MEMORY_MAX={CAP}, BENCH_SCALE); "
            "rss_1m_mb is the peak for that size"
            if large < 1_000_000
            else "full size"
        ),
        "ratio": ratio,
        "ratio_definition": "median rss_1m_mb / median rss_10k_mb",
        "ratio_extremes": [round(min_large / max_small, 3), round(max_large / min_small, 3)],
        "target_ratio": TARGET_RATIO,
        "holds": ratio <= TARGET_RATIO,
        "runs": {"small": small_runs, "large": large_runs},
        "large_seconds": summary([r["seconds"] for r in large_runs], 1),
        "load_average": load(),
    }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "child":
        _child(sys.argv[2], sys.argv[3])
