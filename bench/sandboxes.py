"""`sandboxes`: each sandbox's own throughput for the figure it serves (plain http.client, keep-alive, one client)."""

from __future__ import annotations

import time
from typing import Any

from bench import rawcopy
from bench.common import REPEAT, crm_sandbox, load, sandbox, scaled, summary


def run() -> dict[str, Any]:
    n = scaled(20_000, 2_000)
    search, write, single = [], [], []
    with crm_sandbox(n) as crm, sandbox("helpdesk", seed=0) as helpdesk:
        for rep in range(REPEAT):
            c = rawcopy.Conn(crm.url, f"Bearer {rawcopy.CRM_TOKEN}")
            pages = n // 100
            started = time.perf_counter()
            for i in range(pages):
                c.call(
                    "POST",
                    "/crm/v3/objects/contacts/search",
                    {
                        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                        "properties": ["email", "firstname", "lastname", "phone"],
                        "limit": 100,
                        "after": str(i * 100),
                    },
                )
            search.append(pages * 100 / (time.perf_counter() - started))
            started = time.perf_counter()
            for _ in range(50):
                c.call(
                    "POST",
                    "/crm/v3/objects/contacts/search",
                    {
                        "filterGroups": [
                            {
                                "filters": [
                                    {
                                        "propertyName": "lastmodifieddate",
                                        "operator": "GTE",
                                        "value": str(int(time.time() * 1000)),
                                    }
                                ]
                            }
                        ],
                        "limit": 100,
                    },
                )
            single.append(50 / (time.perf_counter() - started))
            h = rawcopy.Conn(helpdesk.url, rawcopy.HELPDESK_AUTH)
            batches = n // 100
            started = time.perf_counter()
            for b in range(batches):
                users = [{"name": f"U {b}-{k}", "email": f"u{rep}.{b}.{k}@example.com"} for k in range(100)]
                h.call("POST", "/api/v2/users/create_or_update_many.json", {"users": users})
            write.append(batches * 100 / (time.perf_counter() - started))
    return {
        "crm_search_records_per_s": summary(search, 0),
        "crm_search_records_in_source": n,
        "crm_idle_search_requests_per_s": summary(single, 1),
        "helpdesk_create_or_update_many_records_per_s": summary(write, 0),
        "note": "serves backfill/incremental/rate_budget (CRM search) and every write figure (helpdesk bulk upsert)",
        "load_average": load(),
    }
