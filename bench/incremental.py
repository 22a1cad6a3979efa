"""`incremental`: a poll that finds 10 changed records, with 1,000 and with 100,000 records in the source."""

from __future__ import annotations

import time
from typing import Any

from bench import fixtures
from bench.common import REPEAT, crm_sandbox, load, sandbox, scaled, summary

TARGET_RATIO = 1.2
CHANGED = 10
AUTH = {"Authorization": "Bearer demo-crm-token"}


def _measure(size: int) -> dict[str, Any]:
    from connectors.providers.hubspot.client import encode_cursor
    from workflows.models import TriggerCursor

    with crm_sandbox(size) as crm, sandbox("helpdesk", seed=0) as helpdesk:
        workflow = fixtures.sync_workflow(crm.url, helpdesk.url)
        # The cursor a finished backfill would leave: everything seeded is older than "now".
        TriggerCursor.objects.update_or_create(
            workflow=workflow, defaults={"value": encode_cursor(int(time.time() * 1000) - 1000)}
        )
        # A first idle poll primes what a long-running worker has cached (schema) like production would.
        fixtures.run_once(workflow, "poll")
        seconds: list[float] = []
        calls: list[int] = []
        ids = [r["id"] for r in crm.records("contacts")[: CHANGED * REPEAT]]
        for rep in range(REPEAT):
            for k, record_id in enumerate(ids[rep * CHANGED : (rep + 1) * CHANGED]):
                crm.admin(
                    "PATCH", f"/records/contacts/{record_id}", {"properties": {"phone": f"+1 555 01{rep}{k}"}}
                )
            crm.admin("DELETE", "/stats")
            started = time.perf_counter()
            run = fixtures.run_once(workflow, "poll")
            seconds.append(time.perf_counter() - started)
            calls.append(crm.stats().get("total", 0))
            if run is None or run.records_read < CHANGED:
                raise RuntimeError(f"the poll read {run and run.records_read} records, expected {CHANGED}")
        # The sandbox's own time for the search such a poll sends (all properties, from the cursor): what
        # the source system costs, apart from the hub. It grows with the source (the sandbox filters
        # its SQLite table), so the hub's own part is reported apart too.
        since = int(time.time() * 1000) - 120_000
        props = [
            p["name"] for p in crm.request("GET", "/crm/v3/properties/contacts", headers=AUTH)[2]["results"]
        ]
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)}]}
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": props,
            "limit": 100,
        }
        sandbox_seconds: list[float] = []
        for _ in range(REPEAT + 2):
            started = time.perf_counter()
            status, _, _ = crm.request("POST", "/crm/v3/objects/contacts/search", body, headers=AUTH)
            sandbox_seconds.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"search answered {status}")
        idle: list[int] = []
        idle_paths: dict[str, int] = {}
        idle_seconds: list[float] = []
        for _ in range(REPEAT):
            crm.admin("DELETE", "/stats")
            started = time.perf_counter()
            fixtures.run_once(workflow, "poll")
            idle_seconds.append(time.perf_counter() - started)
            stats = crm.stats()
            idle.append(stats.get("total", 0))
            idle_paths = stats.get("requests", {})
        return {
            "seconds": seconds,
            "sandbox_search_seconds": sandbox_seconds,
            "crm_calls": calls,
            "idle_calls": idle,
            "idle_seconds": idle_seconds,
            "idle_paths": idle_paths,
        }


def run() -> dict[str, Any]:
    small, large = 1_000, scaled(100_000, 1_000)
    a = _measure(small)
    b = _measure(large)
    s1, s2 = summary(a["seconds"]), summary(b["seconds"])
    ratio = s2["median"] / s1["median"]
    q1, q2 = summary(a["sandbox_search_seconds"]), summary(b["sandbox_search_seconds"])
    own1, own2 = s1["median"] - q1["median"], s2["median"] - q2["median"]
    return {
        "changed_records": CHANGED,
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
