"""`incremental`: a poll that finds 10 changed records, with 1,000 and with 100,000 records in the source."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from bench import fixtures
from bench.common import REPEAT, crm_sandbox, load, sandbox, scaled, summary

TARGET_RATIO = 1.2
CHANGED = 10
# Polls per size: each takes tens of milliseconds, so more than REPEAT cost nothing and steady the medians.
POLLS = max(REPEAT, 9)
AUTH = {"Authorization": "Bearer demo-crm-token"}


class _Source:
    """One CRM sandbox of `size` contacts with a workflow whose cursor is where a finished backfill leaves it."""

    def __init__(self, stack: contextlib.ExitStack, size: int) -> None:
        from connectors.providers.hubspot.client import encode_cursor
        from workflows.models import TriggerCursor

        self.size = size
        self.crm = stack.enter_context(crm_sandbox(size))
        helpdesk = stack.enter_context(sandbox("helpdesk", seed=0))
        self.workflow = fixtures.sync_workflow(self.crm.url, helpdesk.url)
        # Everything seeded is older than "now".
        TriggerCursor.objects.update_or_create(
            workflow=self.workflow, defaults={"value": encode_cursor(int(time.time() * 1000) - 1000)}
        )
        # A first idle poll primes what a long-running worker has cached (schema) like production would.
        fixtures.run_once(self.workflow, "poll")
        self.ids = [r["id"] for r in self.crm.records("contacts")[: CHANGED * POLLS]]
        self.seconds: list[float] = []
        self.calls: list[int] = []

    def poll_changes(self, rep: int) -> None:
        """Edit CHANGED contacts through the sandbox's admin API, then time the poll that picks them up."""
        for k, record_id in enumerate(self.ids[rep * CHANGED : (rep + 1) * CHANGED]):
            self.crm.admin(
                "PATCH", f"/records/contacts/{record_id}", {"properties": {"phone": f"+1 555 {rep:02d}{k}"}}
            )
        self.crm.admin("DELETE", "/stats")
        started = time.perf_counter()
        run = fixtures.run_once(self.workflow, "poll")
        self.seconds.append(time.perf_counter() - started)
        self.calls.append(self.crm.stats().get("total", 0))
        if run is None or run.records_read < CHANGED:
            raise RuntimeError(f"the poll read {run and run.records_read} records, expected {CHANGED}")

    def search_seconds(self) -> list[float]:
        """The sandbox's own time for the search such a poll sends (all properties, from the cursor): what
        the source system costs, apart from the hub. It grows with the source (the sandbox filters its
        SQLite table), so the hub's own part is reported apart too."""
        since = int(time.time() * 1000) - 120_000
        props = [
            p["name"]
            for p in self.crm.request("GET", "/crm/v3/properties/contacts", headers=AUTH)[2]["results"]
        ]
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)}]}
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": props,
            "limit": 100,
        }
        seconds: list[float] = []
        for _ in range(REPEAT + 2):
            started = time.perf_counter()
            status, _, _ = self.crm.request("POST", "/crm/v3/objects/contacts/search", body, headers=AUTH)
            seconds.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"search answered {status}")
        return seconds

    def idle_polls(self) -> tuple[list[int], dict[str, int], list[float]]:
        calls: list[int] = []
        paths: dict[str, int] = {}
        seconds: list[float] = []
        for _ in range(REPEAT):
            self.crm.admin("DELETE", "/stats")
            started = time.perf_counter()
            fixtures.run_once(self.workflow, "poll")
            seconds.append(time.perf_counter() - started)
            stats = self.crm.stats()
            calls.append(stats.get("total", 0))
            paths = stats.get("requests", {})
        return calls, paths, seconds


def _measure(small: int, large: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both sources side by side, their polls alternating: a drift of the machine's speed during the
    benchmark then weighs on both sizes alike instead of on whichever ran second."""
    with contextlib.ExitStack() as stack:
        sources = [_Source(stack, small), _Source(stack, large)]
        for rep in range(POLLS):
            for source in sources if rep % 2 == 0 else reversed(sources):
                source.poll_changes(rep)
        out = []
        for source in sources:
            idle, idle_paths, idle_seconds = source.idle_polls()
            out.append(
                {
                    "seconds": source.seconds,
                    "sandbox_search_seconds": source.search_seconds(),
                    "crm_calls": source.calls,
                    "idle_calls": idle,
                    "idle_seconds": idle_seconds,
                    "idle_paths": idle_paths,
                }
            )
    return out[0], out[1]


def run() -> dict[str, Any]:
    small, large = 1_000, scaled(100_000, 1_000)
    a, b = _measure(small, large)
    s1, s2 = summary(a["seconds"]), summary(b["seconds"])
    ratio = s2["median"] / s1["median"]
    q1, q2 = summary(a["sandbox_search_seconds"]), summary(b["sandbox_search_seconds"])
    own1, own2 = s1["median"] - q1["median"], s2["median"] - q2["median"]
    return {
        "changed_records": CHANGED,
        "polls_per_size": POLLS,
        "source_sizes": [small, large],
        "seconds_1k": s1,
        "seconds_100k": s2,
        "ratio": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "holds": ratio <= TARGET_RATIO,
        "crm_calls_per_poll": {"1k": a["crm_calls"], "100k": b["crm_calls"]},
        "sandbox_search_seconds_1k": q1,
        "sandbox_search_seconds_100k": q2,
        "hub_seconds_1k": round(own1, 3),
        "hub_seconds_100k": round(own2, 3),
        "hub_ratio": round(own2 / own1, 2) if own1 > 0 else None,
        "api_calls_idle": max(a["idle_calls"] + b["idle_calls"]),
        "api_calls_idle_runs": {"1k": a["idle_calls"], "100k": b["idle_calls"]},
        "idle_poll_requests": b["idle_paths"],
        "idle_poll_seconds": {"1k": summary(a["idle_seconds"]), "100k": summary(b["idle_seconds"])},
        "idle_holds": max(a["idle_calls"] + b["idle_calls"]) == 1,
        "note": "api_calls_idle counts every CRM request of the poll (search + any schema read); "
        "sandbox_search_seconds is the CRM sandbox answering the poll's search alone (one http request, no "
        "hub); hub_seconds = poll seconds - that, and hub_ratio compares those",
        "load_average": load(),
    }
