"""`mapping`: the engine alone, a 20-field mapping with transforms, one process."""

from __future__ import annotations

import random
import time
from typing import Any

from bench.common import REPEAT, load, scaled, summary

TARGET = 50_000
# Records per apply_many call: the backfill's page size.
BATCH = 100

SPEC: dict[str, Any] = {
    "fields": [
        {
            "target": "name",
            "source": ["firstname", "lastname"],
            "transforms": [{"name": "join", "args": {"separator": " "}}],
        },
        {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
        {"target": "first", "source": ["firstname"], "transforms": [{"name": "trim"}, {"name": "title"}]},
        {"target": "last", "source": ["lastname"], "transforms": [{"name": "upper"}]},
        {"target": "phone", "source": ["phone"], "transforms": [{"name": "trim"}]},
        {"target": "city", "source": ["city"], "transforms": [{"name": "title"}]},
        {
            "target": "country",
            "source": ["country"],
            "transforms": [{"name": "default", "args": {"value": "US"}}],
        },
        {
            "target": "job",
            "source": ["jobtitle"],
            "transforms": [{"name": "truncate", "args": {"length": 40}}],
        },
        {"target": "company", "source": ["company"], "transforms": [{"name": "trim"}]},
        {
            "target": "stage",
            "source": ["lifecyclestage"],
            "transforms": [
                {
                    "name": "value_map",
                    "args": {"map": {"lead": "L", "customer": "C", "subscriber": "S"}, "unmapped": "pass"},
                }
            ],
        },
        {
            "target": "nps",
            "source": ["nps_score"],
            "transforms": [{"name": "to_integer", "args": {"rounding": "round"}}],
        },
        {"target": "opt_in", "source": ["newsletter_opt_in"], "transforms": [{"name": "to_boolean"}]},
        {"target": "tier", "source": ["customer_tier"], "transforms": [{"name": "upper"}]},
        {
            "target": "notes",
            "source": ["notes_internal"],
            "transforms": [{"name": "replace", "args": {"find": "\n", "replacement": " "}}],
        },
        {
            "target": "label",
            "source": ["firstname", "company"],
            "transforms": [{"name": "join", "args": {"separator": " @ "}}],
        },
        {"target": "status", "source": ["hs_lead_status"], "transforms": [{"name": "lower"}]},
        {"target": "alt_email", "source": ["email"], "transforms": [{"name": "upper"}]},
        {"target": "score_text", "source": ["nps_score"], "transforms": [{"name": "to_string"}]},
        {"target": "region", "source": ["country", "city"], "transforms": [{"name": "first_non_empty"}]},
        {"target": "source_id", "source": ["hs_object_id"], "transforms": [{"name": "trim"}]},
    ]
}

STAGES = ["lead", "customer", "subscriber", "opportunity"]


def _records(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        out.append(
            {
                "firstname": f" ada{i % 97} ",
                "lastname": f"lovelace{i % 89}",
                "email": f" Ada.{i}@Example.com ",
                "phone": "+44 20 7946 0958",
                "city": "london",
                "country": "GB" if i % 3 else None,
                "jobtitle": "Head of analytical engines and other machinery",
                "company": " Babbage Ltd ",
                "lifecyclestage": STAGES[i % 4],
                "nps_score": str(rng.randint(0, 10)) + ".4",
                "newsletter_opt_in": "true" if i % 2 else "false",
                "customer_tier": "gold",
                "notes_internal": "line one\nline two",
                "hs_lead_status": "OPEN",
                "hs_object_id": str(100 + i),
            }
        )
    return out


def run() -> dict[str, Any]:
    from workflows.engine.mapping import compile_mapping

    compiled = compile_mapping(SPEC)
    n = scaled(200_000, 5_000)
    records = _records(n)
    # Warm up, and check the mapping maps cleanly (a failing transform would be a cheaper path).
    sample = compiled.apply_many(records[:2])[0]
    errors = getattr(sample, "errors", None)
    rates, cpu_rates, single_rates = [], [], []
    for _ in range(REPEAT):
        # The way a sync maps: a batch at a time (plan_batch hands CompiledMapping.apply_many a page).
        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, n, BATCH):
            compiled.apply_many(records[start : start + BATCH])
        rates.append(n / (time.perf_counter() - started))
        cpu_rates.append(n / max(1e-9, time.process_time() - cpu))
        # And one record at a time (multi-step workflows, two-way syncs, previews).
        started = time.perf_counter()
        for record in records:
            compiled.apply(record)
        single_rates.append(n / (time.perf_counter() - started))
    result = {
        "records": n,
        "fields": len(SPEC["fields"]),
        "records_per_s": summary(rates, 0),
        "records_per_cpu_s": summary(cpu_rates, 0),
        "batch_size": BATCH,
        "records_per_s_one_at_a_time": summary(single_rates, 0),
        "target_records_per_s": TARGET,
        "holds": summary(rates)["median"] >= TARGET,
        "sample_errors": [str(e) for e in errors] if errors else [],
        "load_average": load(),
    }
    return result
