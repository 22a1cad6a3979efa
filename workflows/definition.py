"""The published form of a workflow: a JSON snapshot that runs use, so editing the draft never
changes what a run in progress (or a replay "on the version that ran") does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from workflows.models import Workflow

SCHEMA_VERSION = 1


def definition_snapshot(workflow: Workflow) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "trigger": {
            "type": workflow.trigger,
            "connection": workflow.source_connection_id,
            "object": workflow.source_object,
            "interval_seconds": workflow.poll_interval_seconds,
            "cron": workflow.schedule_cron,
            "start_from": workflow.start_from,
            "start_from_date": workflow.start_from_date.isoformat() if workflow.start_from_date else None,
            "flood_threshold": workflow.flood_threshold,
            "webhook_id_path": workflow.webhook_id_path,
            "webhook_record_path": workflow.webhook_record_path,
        },
        "target": {"connection": workflow.target_connection_id, "object": workflow.target_object},
        "match_field": workflow.match_field,
        "mapping": workflow.mapping,
        "steps": workflow.steps or [],
    }


@dataclass(frozen=True)
class Definition:
    trigger_type: str
    source_connection_id: int | None
    source_object: str
    target_connection_id: int
    target_object: str
    match_field: str
    mapping: dict[str, Any]
    start_from: str
    start_from_date: datetime | None
    flood_threshold: int
    webhook_id_path: str
    webhook_record_path: str
    steps: list[Any]
    raw: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Definition:
        trigger = data["trigger"]
        raw_date = trigger.get("start_from_date")
        return cls(
            trigger_type=trigger["type"],
            source_connection_id=int(trigger["connection"]) if trigger.get("connection") else None,
            source_object=trigger["object"],
            target_connection_id=int(data["target"]["connection"]),
            target_object=data["target"]["object"],
            match_field=data["match_field"],
            mapping=data["mapping"],
            start_from=trigger.get("start_from", "everything"),
            start_from_date=parse_datetime(raw_date) if raw_date else None,
            flood_threshold=int(trigger.get("flood_threshold") or 0),
            webhook_id_path=trigger.get("webhook_id_path") or "id",
            webhook_record_path=trigger.get("webhook_record_path") or "",
            steps=list(data.get("steps") or []),
            raw=data,
        )

    def step_definition(self) -> dict[str, Any]:
        """The multi-step form the step interpreter compiles (see workflows.engine.definition)."""
        trigger = self.raw["trigger"]
        return {
            "trigger": {
                key: value
                for key, value in {
                    "type": trigger["type"],
                    # A webhook or file has no source connection: the events are the records.
                    "connection": trigger.get("connection") or "inbound",
                    "object": trigger.get("object") or "events",
                }.items()
                if value is not None
            },
            "steps": self.steps,
        }
