"""Health of a workflow and of a connection, read from what the runs recorded.

Every read is bounded: the last RECENT_RUNS runs (through the run_workflow_recent_idx index), the dropped
fields of the last COVERAGE_RUNS runs only, a capped number of workflows per connection. A page therefore
costs the same few queries however long the history is.

Latency here is what the database can prove: from when a change reached the hub (a webhook event was
received) or the run was due (a poll, a schedule) until the run had written it. A poll also waits up to
its interval before it starts; the timing label next to the chart says so.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from connectors.models import Connection, ObjectSchemaCache
from connectors.schemas import field_from_json
from workflows.charts import Chart, line_chart
from workflows.models import InboundEvent, Incident, RecordLink, Run, RunRecord, StepLink, Workflow

RECENT_RUNS = 200
COVERAGE_RUNS = 20
# Enough dropped-field entries to rank the reasons; more would only cost time.
COVERAGE_RECORDS = 5000
WORKFLOWS_PER_CONNECTION = 50
# Match consistency is counted exactly up to this many links; past it, estimated and sampled.
MATCH_EXACT = 10_000
MATCH_SAMPLE = 2000
TOKEN_WARNING = timedelta(days=1)
_RUN_FIELDS = (
    "id",
    "workflow_id",
    "status",
    "trigger",
    "created_at",
    "started_at",
    "finished_at",
    "records_read",
    "failed_count",
    "api_requests",
    "retries",
    "throttle_wait_seconds",
)


@dataclass(frozen=True)
class RunPoint:
    id: int
    status: str
    created_at: datetime
    finished_at: datetime | None
    records_read: int
    failed_count: int
    latency: float | None

    @property
    def status_label(self) -> str:
        return Run.Status(self.status).label


@dataclass(frozen=True)
class Throttling:
    runs: int
    throttled_runs: int
    wait_seconds: float
    retries: int
    requests: int


@dataclass(frozen=True)
class Activity:
    """The charts and totals over the recent runs of one workflow or of a connection's workflows."""

    runs: int
    since: datetime | None
    last_success_at: datetime | None
    last_run: RunPoint | None
    latency_p50: float | None
    latency_p95: float | None
    error_rate: float | None
    latency_chart: Chart
    error_chart: Chart
    throttling: Throttling


@dataclass(frozen=True)
class SchemaState:
    connection_name: str
    object_name: str
    fetched_at: datetime
    changed_at: datetime
    last_change: dict[str, Any]
    fields: int


@dataclass(frozen=True)
class Coverage:
    mapped: list[tuple[str, str]]
    unused_source: list[str]
    unmapped_target: list[tuple[str, bool]]
    dropped: list[tuple[str, str, int]]
    runs_checked: int


@dataclass(frozen=True)
class Matching:
    links: int
    linked_targets: int
    shared_targets: int
    step_links: int
    # Past MATCH_EXACT links: `links` is the planner's estimate, `linked_targets` is not counted, and
    # `shared_targets` is over the `checked` most recent links only (each checked through link_target_idx).
    approximate: bool = False
    checked: int = 0


@dataclass
class WorkflowHealth:
    workflow: Workflow
    activity: Activity
    matching: Matching
    incidents: list[Incident]
    schemas: list[SchemaState]
    coverage: Coverage
    connections: list[Connection] = field(default_factory=list)


@dataclass
class ConnectionHealth:
    connection: Connection
    activity: Activity
    workflows: list[Workflow]
    incidents: list[Incident]
    schemas: list[SchemaState]
    token_expires_soon: bool


# ---------------------------------------------------------------------------------------------
# Runs → latency, error rate, throttling
# ---------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: always a value that was measured."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _recent_runs(runs: QuerySet[Run]) -> tuple[list[RunPoint], Throttling]:
    rows = list(runs.order_by("-created_at", "-id").values(*_RUN_FIELDS)[:RECENT_RUNS])
    first_event = dict(
        InboundEvent.objects.filter(run_id__in=[row["id"] for row in rows])
        .values("run_id")
        .annotate(first=Min("received_at"))
        .values_list("run_id", "first")
    )
    points = []
    for row in rows:
        latency = None
        if row["finished_at"] is not None and row["records_read"]:
            began = first_event.get(row["id"]) or row["created_at"]
            latency = max(0.0, (row["finished_at"] - began).total_seconds())
        points.append(
            RunPoint(
                row["id"],
                row["status"],
                row["created_at"],
                row["finished_at"],
                row["records_read"],
                row["failed_count"],
                latency,
            )
        )
    points.reverse()
    throttling = Throttling(
        runs=len(rows),
        throttled_runs=sum(1 for row in rows if row["throttle_wait_seconds"] > 0),
        wait_seconds=sum(row["throttle_wait_seconds"] for row in rows),
        retries=sum(row["retries"] for row in rows),
        requests=sum(row["api_requests"] for row in rows),
    )
    return points, throttling


def _errors(points: list[RunPoint]) -> tuple[int, int]:
    """(errors, attempts): failed records over records read, and a run that failed before reading
    anything (refused credentials, an unreachable system) counts as one failed attempt."""
    errors = attempts = 0
    for point in points:
        if point.status == Run.Status.FAILED and not point.records_read:
            errors += 1
            attempts += 1
        else:
            errors += point.failed_count
            attempts += point.records_read
    return errors, attempts


def _activity(points: list[RunPoint], throttling: Throttling) -> Activity:
    latencies = [p.latency for p in points if p.latency is not None]
    errors, attempts = _errors(points)
    # Hours for a short history, days for a long one: about a dozen points either way.
    hourly = bool(points) and points[-1].created_at - points[0].created_at <= timedelta(hours=48)
    buckets: dict[str, list[RunPoint]] = {}
    for point in points:
        moment = timezone.localtime(point.created_at)
        key = moment.strftime("%d %b %H:00") if hourly else moment.strftime("%d %b")
        buckets.setdefault(key, []).append(point)
    labels = list(buckets)
    p50s, p95s, rates = [], [], []
    for bucket in buckets.values():
        values = [p.latency for p in bucket if p.latency is not None]
        p50s.append(percentile(values, 0.5))
        p95s.append(percentile(values, 0.95))
        bucket_errors, bucket_attempts = _errors(bucket)
        rates.append(100 * bucket_errors / bucket_attempts if bucket_attempts else None)
    finished = [p for p in points if p.status in (Run.Status.SUCCEEDED, Run.Status.PARTIAL)]
    return Activity(
        runs=len(points),
        since=points[0].created_at if points else None,
        last_success_at=finished[-1].finished_at if finished else None,
        last_run=points[-1] if points else None,
        latency_p50=percentile(latencies, 0.5),
        latency_p95=percentile(latencies, 0.95),
        error_rate=100 * errors / attempts if attempts else None,
        latency_chart=line_chart("Sync latency", labels, {"p50": p50s, "p95": p95s}, unit="s"),
        error_chart=line_chart("Error rate", labels, {"errors": rates}, unit="%", classes=("line-bad",)),
        throttling=throttling,
    )


# ---------------------------------------------------------------------------------------------
# Schemas, incidents, matching, coverage
# ---------------------------------------------------------------------------------------------


def _schemas(query: Q, names: dict[int, str]) -> list[SchemaState]:
    if not query:
        return []
    rows = ObjectSchemaCache.objects.filter(query).order_by("connection_id", "object_name")
    return [
        SchemaState(
            names.get(row.connection_id, str(row.connection_id)),
            row.object_name,
            row.fetched_at,
            row.changed_at,
            dict(row.last_change or {}),
            len(row.fields or []),
        )
        for row in rows
    ]


def _mapping_rows(workflow: Workflow) -> list[dict[str, Any]]:
    """Every mapping row the workflow writes: its own mapping, or its action steps' mappings."""
    rows = [r for r in (workflow.mapping or {}).get("fields") or [] if isinstance(r, dict)]
    pending = list(workflow.steps or [])
    while pending:
        step = pending.pop()
        if not isinstance(step, dict):
            continue
        if step.get("type") == "action" and isinstance(step.get("mapping"), dict):
            rows.extend(r for r in step["mapping"].get("fields") or [] if isinstance(r, dict))
        pending.extend(step.get("then") or [])
        pending.extend(step.get("else") or [])
    unique = {str(r.get("target")): r for r in rows}
    return list(unique.values())


def _coverage(workflow: Workflow, caches: dict[tuple[int, str], list[Any]]) -> Coverage:
    rows = _mapping_rows(workflow)
    mapped = []
    used: set[str] = set()
    for row in rows:
        sources = row.get("source") or []
        sources = [sources] if isinstance(sources, str) else [str(s) for s in sources]
        used.update(sources)
        mapped.append((", ".join(sources) or "(a fixed value)", str(row.get("target"))))
    source_id = workflow.source_connection_id
    source_fields = caches.get((source_id, workflow.source_object), []) if source_id is not None else []
    target_fields = [
        field_from_json(f) for f in caches.get((workflow.target_connection_id, workflow.target_object), [])
    ]
    targets = {target for _, target in mapped}
    run_ids = list(
        Run.objects.filter(workflow=workflow)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)[:COVERAGE_RUNS]
    )
    counts: Counter[tuple[str, str]] = Counter()
    dropped_lists = (
        RunRecord.objects.filter(run_id__in=run_ids)
        .exclude(dropped=[])
        .values_list("dropped", flat=True)[:COVERAGE_RECORDS]
    )
    for entries in dropped_lists:
        for entry in entries or []:
            if isinstance(entry, list | tuple) and len(entry) >= 2:
                counts[(str(entry[0]), str(entry[1]))] += 1
    return Coverage(
        mapped=mapped,
        unused_source=sorted(str(f.get("name")) for f in source_fields if f.get("name") not in used),
        unmapped_target=[
            (f.name, f.required) for f in target_fields if not f.read_only and f.name not in targets
        ],
        dropped=[(name, reason, n) for (name, reason), n in counts.most_common(20)],
        runs_checked=len(run_ids),
    )


def _matching(workflow: Workflow) -> Matching:
    links = RecordLink.objects.filter(workflow=workflow)
    # The "@source" row of a record remembers the change last applied to it, not a write of a step.
    step_links = (
        StepLink.objects.filter(workflow=workflow).exclude(step_id="@source").count() if workflow.steps else 0
    )
    if links.order_by().values("pk")[: MATCH_EXACT + 1].count() > MATCH_EXACT:
        return _matching_sampled(workflow, links, step_links)
    totals = links.aggregate(n=Count("id"), targets=Count("target_id", distinct=True))
    # Two source records linked to one target record: they overwrite each other on every run.
    shared = links.values("target_id").annotate(n=Count("id")).filter(n__gt=1).count()
    return Matching(totals["n"], totals["targets"], shared, step_links)


def _matching_sampled(workflow: Workflow, links: QuerySet[RecordLink], step_links: int) -> Matching:
    """Hundreds of thousands of links: counting them, or grouping them by target, would read them all on
    every view. The total is estimated; shared targets are looked for among the most recent links."""
    table = RecordLink._meta.db_table
    # Per recent link, at most two links of its target through link_target_idx (a correlated subquery
    # with a LIMIT: the planner cannot turn it into a hash join over every link of the workflow).
    sql = f"""
        SELECT COUNT(DISTINCT r.target_id)
        FROM (SELECT target_id FROM {table} WHERE workflow_id = %s ORDER BY id DESC LIMIT %s) r
        WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM {table} o
                                     WHERE o.workflow_id = %s AND o.target_id = r.target_id LIMIT 2) x) > 1
    """  # noqa: S608 - the table name is the model's own
    with connection.cursor() as cursor:
        cursor.execute(sql, [workflow.pk, MATCH_SAMPLE, workflow.pk])
        shared = int(cursor.fetchone()[0])
    return Matching(
        max(_estimate(links), MATCH_EXACT + 1), 0, shared, step_links, approximate=True, checked=MATCH_SAMPLE
    )


def _estimate(rows: QuerySet[Any]) -> int:
    """The planner's row estimate (PostgreSQL keeps it from ANALYZE): no rows are read."""
    if connection.vendor != "postgresql":
        return rows.count()
    plan = json.loads(rows.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def measured_latency(*, workflow: Workflow) -> tuple[float | None, int]:
    """The p50 sync latency of the recent runs and how many runs it is over: shown next to the timing label."""
    points, _ = _recent_runs(Run.objects.filter(workflow=workflow))
    latencies = [p.latency for p in points if p.latency is not None]
    return percentile(latencies, 0.5), len(latencies)


def workflow_health(*, workflow: Workflow) -> WorkflowHealth:
    points, throttling = _recent_runs(Run.objects.filter(workflow=workflow))
    connections = [c for c in (workflow.source_connection, workflow.target_connection) if c is not None]
    names = {c.pk: c.name for c in connections}
    query = Q()
    for connection_id, object_name in (
        (workflow.source_connection_id, workflow.source_object),
        (workflow.target_connection_id, workflow.target_object),
    ):
        if connection_id is not None and object_name:
            query |= Q(connection_id=connection_id, object_name=object_name)
    caches: dict[tuple[int, str], list[Any]] = {}
    if query:
        caches = {
            (row.connection_id, row.object_name): row.fields or []
            for row in ObjectSchemaCache.objects.filter(query).only("connection_id", "object_name", "fields")
        }
    return WorkflowHealth(
        workflow=workflow,
        activity=_activity(points, throttling),
        matching=_matching(workflow),
        incidents=list(Incident.objects.filter(workflow=workflow, resolved_at__isnull=True)[:20]),
        schemas=_schemas(query, names),
        coverage=_coverage(workflow, caches),
        connections=connections,
    )


def connection_health(*, connection: Connection) -> ConnectionHealth:
    workflows = list(
        Workflow.objects.filter(Q(source_connection=connection) | Q(target_connection=connection))
        .only("id", "name", "enabled", "paused_reason", "trigger", "poll_interval_seconds", "schedule_cron")
        .order_by("name")[:WORKFLOWS_PER_CONNECTION]
    )
    ids = [w.pk for w in workflows]
    points, throttling = _recent_runs(Run.objects.filter(workflow_id__in=ids))
    expires = connection.token_expires_at
    return ConnectionHealth(
        connection=connection,
        activity=_activity(points, throttling),
        workflows=workflows,
        incidents=list(
            Incident.objects.filter(workflow_id__in=ids, resolved_at__isnull=True).select_related("workflow")[
                :20
            ]
        ),
        schemas=_schemas(Q(connection=connection), {connection.pk: connection.name}),
        token_expires_soon=expires is not None and expires - timezone.now() < TOKEN_WARNING,
    )
