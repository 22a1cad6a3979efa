"""`rate_budget`: a backfill against sandboxes limited to 100 requests per 10 s, paced by the governor."""

from __future__ import annotations

import time
from typing import Any

from bench import fixtures
from bench.common import REPEAT, crm_sandbox, load, sandbox, scaled, summary
from bench.limiter import Limiter

LIMIT, WINDOW = 100, 10.0
TARGET_RATIO = 1.1
# What the connection is told: the sandbox's budget (an override replaces the provider's documented
# budgets, HubSpot's search budget included: the limiting proxy has none). The governor sends a window's
# 100 at once, then each next request as the oldest leaves the rolling window.
OVERRIDE = {"requests": LIMIT, "interval_seconds": WINDOW}


def window_bound(requests: int) -> float:
    """The least time R requests need under "at most LIMIT in any WINDOW s" (rolling): request k + LIMIT
    cannot be sent until WINDOW s after request k, so the last one goes floor((R - 1) / LIMIT) windows
    after the first."""
    return ((requests - 1) // LIMIT) * WINDOW if requests > 0 else 0.0


def paced_bound(requests: int, unpaced_seconds: float) -> float:
    """The least time of the job under the budget on this machine: its R requests go one after another, each
    at least `unpaced_seconds / R` after the one before (the job's own pace, measured without any budget)
    and at least WINDOW s after the one LIMIT places earlier (the rolling window); the job ends one pace
    after its last request."""
    if requests <= 0:
        return unpaced_seconds
    pace = unpaced_seconds / requests
    sent: list[float] = []
    for k in range(requests):
        moment = sent[-1] + pace if sent else 0.0
        if k >= LIMIT:
            moment = max(moment, sent[k - LIMIT] + WINDOW)
        sent.append(moment)
    return sent[-1] + pace


def fluid_bound(requests: int) -> float:
    """The bound first used here, (R - LIMIT) / (LIMIT / WINDOW): the first LIMIT at once, then LIMIT/WINDOW a
    second. No client can reach it without exceeding the limit (request LIMIT + 1 at 0.1 s makes LIMIT + 1
    in the window that starts with the first); kept for comparison with earlier runs."""
    return max(0.0, (requests - LIMIT) / (LIMIT / WINDOW))


def run() -> dict[str, Any]:
    n = scaled(20_000, 15_000)  # enough requests (~150+ a side) that the budget, not the burst, decides
    reps = int(__import__("os").environ.get("BENCH_RATE_REPEAT", REPEAT))
    seconds: list[float] = []
    unpaced: list[float] = []
    windows: list[float] = []
    mins: list[float] = []
    ratios: list[float] = []
    fluid_ratios: list[float] = []
    steady: list[float] = []
    details: list[dict[str, Any]] = []
    with crm_sandbox(n) as crm, sandbox("helpdesk", seed=0) as helpdesk:
        for _ in range(reps):
            # The same job without any budget, right before: the least time this machine needs for it.
            helpdesk.reset(0)
            free = fixtures.sync_workflow(crm.url, helpdesk.url)
            started = time.perf_counter()
            fixtures.run_once(free)
            free_seconds = time.perf_counter() - started
            helpdesk.reset(0)
            # A fresh limiter (fresh window) per repetition, in front of each sandbox.
            with (
                Limiter(crm.url, LIMIT, WINDOW) as crm_limit,
                Limiter(helpdesk.url, LIMIT, WINDOW) as hd_limit,
            ):
                workflow = fixtures.sync_workflow(crm_limit.url, hd_limit.url, rate=OVERRIDE)
                started = time.perf_counter()
                r = fixtures.run_once(workflow)
                elapsed = time.perf_counter() - started
                busiest = max(crm_limit.forwarded, hd_limit.forwarded)
                bound = window_bound(busiest)
                # Neither the budget nor the machine's pace for this job can be beaten, nor both at once.
                theoretical = paced_bound(busiest, free_seconds)
                seconds.append(elapsed)
                unpaced.append(free_seconds)
                windows.append(bound)
                mins.append(theoretical)
                steady.append(elapsed / (busiest / (LIMIT / WINDOW)))
                ratios.append(elapsed / theoretical if theoretical else float("nan"))
                fluid = fluid_bound(busiest)
                fluid_ratios.append(elapsed / fluid if fluid else float("nan"))
                details.append(
                    {
                        "seconds": round(elapsed, 2),
                        "unpaced_seconds": round(free_seconds, 2),
                        "window_bound_seconds": round(bound, 2),
                        "theoretical_min_seconds": round(theoretical, 2),
                        "fluid_bound_seconds": round(fluid, 2),
                        "records_written": (r.created_count + r.updated_count) if r else 0,
                        "status": r.status if r else None,
                        "requests": {"crm": crm_limit.forwarded, "helpdesk": hd_limit.forwarded},
                        "responses_429": {"crm": crm_limit.rejected, "helpdesk": hd_limit.rejected},
                        "max_in_any_window": {
                            "crm": crm_limit.max_in_window,
                            "helpdesk": hd_limit.max_in_window,
                        },
                        "load_average": load(),
                    }
                )
    total_429 = sum(sum(d["responses_429"].values()) for d in details)
    ratio = summary(ratios, 3)
    return {
        "records": n,
        "limit": f"{LIMIT} requests per {WINDOW:.0f} s rolling window, at each sandbox (a loopback limiting proxy)",
        "rate_limit_override": OVERRIDE,
        "seconds": summary(seconds, 2),
        "unpaced_seconds": summary(unpaced, 2),
        "theoretical_min_seconds": summary(mins, 2),
        "ratio": ratio,
        "responses_429": total_429,
        "ratio_to_fluid_bound": summary(fluid_ratios, 3),
        "ratio_to_steady_rate": summary(steady, 3),
        "ratio_to_window_bound": summary(
            [x / max(b, 1e-9) for x, b in zip(seconds, windows, strict=True)], 3
        ),
        "note": "theoretical_min_seconds: the R requests of the busier side sent one after another, each at "
        "least unpaced_seconds / R after the previous one (the same backfill without any budget, measured "
        "just before on this machine) and at least 10 s after the one 100 places earlier (the rolling "
        "window), plus one pace; window_bound = floor((R - 1) / 100) x 10 s (the window alone, infinitely "
        "fast machine); ratio_to_fluid_bound divides by (R - 100) / 10 (the first 100 at once, then 10 a "
        "second: no client reaches it without exceeding the limit), ratio_to_steady_rate by R / 10.",
        "target_ratio": TARGET_RATIO,
        "holds": ratio["median"] <= TARGET_RATIO and total_429 == 0,
        "repetitions": details,
        "load_average": load(),
    }
