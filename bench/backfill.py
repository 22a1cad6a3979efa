"""`backfill`: N contacts CRM sandbox → helpdesk sandbox through the real runner, against the raw copy script."""

from __future__ import annotations

import time
from typing import Any

from bench import fixtures, rawcopy
from bench.common import REPEAT, crm_sandbox, load, sandbox, scaled, summary

TARGET_RATIO = 1.5


def run() -> dict[str, Any]:
    n = scaled(100_000, 1_000)
    ours: list[float] = []
    raw: list[float] = []
    ratios: list[float] = []
    details: list[dict[str, Any]] = []
    seed_started = time.perf_counter()
    with crm_sandbox(n) as crm, sandbox("helpdesk", seed=0) as helpdesk:
        seed_seconds = time.perf_counter() - seed_started
        for _ in range(REPEAT):
            helpdesk.reset(0)
            crm.admin("DELETE", "/stats")
            workflow = fixtures.sync_workflow(crm.url, helpdesk.url)
            started = time.perf_counter()
            r = fixtures.run_once(workflow)
            ours_s = time.perf_counter() - started
            if r.status != "succeeded":
                raise RuntimeError(f"backfill run ended {r.status}: {r.error}")
            written = r.created_count + r.updated_count
            crm_stats, hd_stats = crm.stats(), helpdesk.stats()
            crm.admin("DELETE", "/stats")
            helpdesk.reset(0)
            copy = rawcopy.copy(crm.url, helpdesk.url)
            ours.append(written / ours_s)
            raw.append(copy["records"] / copy["seconds"])
            ratios.append(ours_s / copy["seconds"])
            details.append(
                {
                    "our_seconds": round(ours_s, 2),
                    "raw_copy_seconds": round(copy["seconds"], 2),
                    "records_written": written,
                    "failed": r.failed_count,
                    "our_requests": {"crm": crm_stats.get("total"), "helpdesk": hd_stats.get("total")},
                    "raw_copy_requests": copy["requests"],
                    "load_average": load(),
                }
            )
    return {
        "records": n,
        "batch_size": 100,
        "records_per_s": summary(ours, 0),
        "raw_copy_records_per_s": summary(raw, 0),
        "ratio_to_raw_copy": summary(ratios, 2),
        "target_ratio": TARGET_RATIO,
        "holds": summary(ratios)["median"] <= TARGET_RATIO,
        "sandbox_seed_seconds": round(seed_seconds, 1),
        "rate_limit_override": fixtures.UNPACED,
        "repetitions": details,
        "load_average": load(),
    }
