"""Deal and ticket pipelines: the options of `dealstage` / `hs_pipeline_stage` labelled with their pipeline.

HubSpot's properties API lists every stage of every pipeline under one property with bare labels, and
accounts reuse stage names across pipelines ("Closed Won" in Sales and in Renewals). The pipelines API
says which pipeline each stage belongs to, so picklists read "Sales Pipeline: Closed Won".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from connectors.base import FieldSchema, PicklistOption
from connectors.http import HttpClient

# Object -> (pipeline property, stage property).
PIPELINE_PROPERTIES = {"deals": ("pipeline", "dealstage"), "tickets": ("hs_pipeline", "hs_pipeline_stage")}


def with_pipeline_labels(
    http: HttpClient, object_name: str, fields: Sequence[FieldSchema]
) -> tuple[FieldSchema, ...]:
    """`fields` with the pipeline and stage picklists rebuilt from `/crm/v3/pipelines/{object}`."""
    pipeline_property, stage_property = PIPELINE_PROPERTIES[object_name]
    data = http.get(f"/crm/v3/pipelines/{object_name}").data or {}
    pipelines = [p for p in data.get("results") or [] if isinstance(p, dict) and not p.get("archived")]
    pipeline_options = tuple(PicklistOption(str(p["id"]), str(p.get("label") or p["id"])) for p in pipelines)
    stage_options = tuple(
        PicklistOption(
            str(stage["id"]),
            f"{pipeline.get('label') or pipeline['id']}: {stage.get('label') or stage['id']}",
        )
        for pipeline in pipelines
        for stage in pipeline.get("stages") or []
        if isinstance(stage, dict) and not stage.get("archived")
    )
    rebuilt = []
    for field in fields:
        if field.name == pipeline_property and pipeline_options:
            field = replace(field, type="enumeration", options=pipeline_options)
        elif field.name == stage_property and stage_options:
            field = replace(field, type="enumeration", options=stage_options)
        rebuilt.append(field)
    return tuple(rebuilt)
