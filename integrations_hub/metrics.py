"""Prometheus metrics: GET /metrics.

Web, workers and beat are separate processes, often on separate machines, so a counter kept in one
process's memory would show only that process's share. Two sources, chosen per metric:

* Most series are read from the database at scrape time: runs, per-record outcomes, throttle waits,
  retries, stored webhook events, connections, heartbeats. The database is the source of truth that
  every process writes, so any web process on any machine reports the whole hub. These are gauges
  over what the database holds: pruning after HUB_RUN_RETENTION_DAYS lowers the run and record
  totals, which a counter must never do.
* The sync-latency histogram is observed in the worker that writes the records (nothing stores the
  per-record latency) and shared through prometheus_client's multiprocess mode: each process writes
  its samples into PROMETHEUS_MULTIPROC_DIR and /metrics sums the files of every process on the host.
* The broker's queue lengths are asked of the broker itself at scrape time.

docs/operations.md lists every series and the layout this implies.
"""

from __future__ import annotations

import bisect
import hmac
import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# From "as fast as a webhook" to "a daily schedule"; a backfill of records changed long ago lands in +Inf.
LATENCY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0)

SYNC_LATENCY = Histogram(
    "hub_sync_latency_seconds",
    "Time from a record's modification in the source to its write in the target, per written record.",
    ["workflow_id", "trigger"],
    buckets=LATENCY_BUCKETS,
)

# Only these statuses describe work waiting or stuck; processed events are history, not queue depth.
EVENT_STATUSES = ("pending", "processing", "failed")


@cache
def _metrics_dir() -> Path:
    """The multiprocess folder, created once per process (a fresh data dir does not have it yet)."""
    path = Path(settings.PROMETHEUS_MULTIPROC_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def metrics_files_clear() -> int:
    """Delete the samples of past processes. Only while none of this host's hub processes runs."""
    removed = 0
    for path in _metrics_dir().glob("*.db"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def sync_latency_observe(
    *, workflow_id: int, trigger: str, changed_at: Iterable[datetime], written_at: datetime | None = None
) -> None:
    """Record how long after its source change each written record reached the target."""
    written_at = written_at or timezone.now()
    try:
        _metrics_dir()
        child = SYNC_LATENCY.labels(workflow_id=str(workflow_id), trigger=trigger)
        amounts = []
        for changed in changed_at:
            if changed.tzinfo is None:
                changed = changed.replace(tzinfo=UTC)
            # A source clock ahead of ours would give a negative latency; it is "no measurable delay".
            amounts.append(max(0.0, (written_at - changed).total_seconds()))
        observe_many(child, amounts)
    except OSError:
        # Metrics must never fail a run: an unwritable or full folder costs the samples, nothing else.
        logger.warning(
            "could not record sync latency in %s", settings.PROMETHEUS_MULTIPROC_DIR, exc_info=True
        )


def observe_many(histogram: Any, amounts: Sequence[float]) -> None:
    """`histogram.observe(a)` for each amount, with one write per bucket touched and one to the sum.

    A page records a hundred latencies; in multiprocess mode each observe writes two values to the
    process's file. Uses the histogram's own bounds and values (prometheus_client's internals), and
    falls back to observing one by one where they are not there.
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for amount in amounts:
            histogram.observe(amount)
        return
    if not amounts:
        return
    counts = Counter(bisect.bisect_left(bounds, amount) for amount in amounts)
    total.inc(math.fsum(amounts))
    for index, count in counts.items():
        buckets[index].inc(count)


def _timestamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


@dataclass(frozen=True)
class _Workflow:
    labels: list[str]  # workflow_id, workflow (name), team
    trigger: str
    enabled: bool
    last_checked_at: datetime | None


WORKFLOW_LABELS = ["workflow_id", "workflow", "team"]


class DatabaseCollector(Collector):
    """Gauges computed from the database at scrape time; the same answer from every web process."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("hub_database_up", "1 when the metrics queries reached the database.")
        try:
            families = list(self._families())
        except DatabaseError:
            logger.exception("metrics: the database queries failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        from workflows.models import Workflow

        workflows = {
            pk: _Workflow([str(pk), name, team], trigger, enabled, last_checked_at)
            for pk, name, team, trigger, enabled, last_checked_at in Workflow.objects.order_by().values_list(
                "id", "name", "team__name", "trigger", "enabled", "last_checked_at"
            )
        }
        yield from self._workflow_state(workflows)
        yield from self._runs(workflows)
        yield from self._events(workflows)
        yield from self._connections()
        yield self._heartbeats()
        yield from self._conflicts()
        yield from self._syncs()

    @staticmethod
    def _labels(workflows: dict[int, _Workflow], workflow_id: int) -> list[str]:
        # A workflow deleted between two queries still gets its id, just no name.
        workflow = workflows.get(workflow_id)
        return workflow.labels if workflow is not None else [str(workflow_id), "", ""]

    def _workflow_state(self, workflows: dict[int, _Workflow]) -> Iterator[Metric]:
        enabled = GaugeMetricFamily(
            "hub_workflow_enabled", "1 when the workflow is enabled.", labels=WORKFLOW_LABELS
        )
        checked = GaugeMetricFamily(
            "hub_workflow_last_checked_timestamp_seconds",
            "When the workflow's trigger last looked for changes (Unix time), found or not.",
            labels=WORKFLOW_LABELS,
        )
        for workflow in workflows.values():
            enabled.add_metric(workflow.labels, 1 if workflow.enabled else 0)
            last = _timestamp(workflow.last_checked_at)
            if last is not None:
                checked.add_metric(workflow.labels, last)
        yield enabled
        yield checked

    def _runs(self, workflows: dict[int, _Workflow]) -> Iterator[Metric]:
        from workflows.models import Run, RunRecord

        labels = WORKFLOW_LABELS
        runs = GaugeMetricFamily(
            "hub_runs",
            "Runs in the database (kept HUB_RUN_RETENTION_DAYS) by workflow and status.",
            labels=[*labels, "status"],
        )
        counts = {
            (row["workflow_id"], row["status"]): row["n"]
            for row in Run.objects.order_by().values("workflow_id", "status").annotate(n=Count("id"))
        }
        for workflow_id in workflows:
            for status in Run.Status.values:
                runs.add_metric(
                    [*self._labels(workflows, workflow_id), status], counts.get((workflow_id, status), 0)
                )
        yield runs

        # Each run keeps per-outcome counts, written in the transaction that records the outcomes, so
        # summing them is exact and far cheaper than counting the per-record rows.
        run_fields = {field.name for field in Run._meta.get_fields()}
        outcomes = [o for o in RunRecord.Outcome.values if f"{o}_count" in run_fields]
        sums: dict[str, Any] = {f"{o}_count": Sum(f"{o}_count") for o in outcomes}
        sums.update(
            throttle=Sum("throttle_wait_seconds"), retries=Sum("retries"), api_requests=Sum("api_requests")
        )
        totals: dict[int, Any] = {
            row["workflow_id"]: row for row in Run.objects.order_by().values("workflow_id").annotate(**sums)
        }
        records = GaugeMetricFamily(
            "hub_run_records",
            "Source records processed by the runs in the database, by workflow and outcome.",
            labels=[*labels, "outcome"],
        )
        throttle = GaugeMetricFamily(
            "hub_run_throttle_wait_seconds",
            "Seconds the runs in the database waited on rate limits (the governor and 429 Retry-After).",
            labels=labels,
        )
        retries = GaugeMetricFamily(
            "hub_run_http_retries", "HTTP requests the runs in the database had to retry.", labels=labels
        )
        requests = GaugeMetricFamily(
            "hub_run_api_requests", "HTTP requests made by the runs in the database.", labels=labels
        )
        for workflow_id in workflows:
            row = totals.get(workflow_id, {})
            base = self._labels(workflows, workflow_id)
            for outcome in outcomes:
                records.add_metric([*base, outcome], row.get(f"{outcome}_count") or 0)
            throttle.add_metric(base, row.get("throttle") or 0.0)
            retries.add_metric(base, row.get("retries") or 0)
            requests.add_metric(base, row.get("api_requests") or 0)
        yield from (records, throttle, retries, requests)

    def _events(self, workflows: dict[int, _Workflow]) -> Iterator[Metric]:
        from workflows.models import InboundEvent, Workflow

        labels = WORKFLOW_LABELS
        events = GaugeMetricFamily(
            "hub_inbound_events",
            "Stored webhook deliveries and file rows not yet processed: pending (waiting, including "
            "retries not yet due), processing (claimed by a run) and failed (given up, see dead letters).",
            labels=[*labels, "status"],
        )
        counts = {
            (row["workflow_id"], row["status"]): row["n"]
            for row in InboundEvent.objects.order_by()
            .filter(status__in=EVENT_STATUSES)
            .values("workflow_id", "status")
            .annotate(n=Count("id"))
        }
        event_triggers = {Workflow.Trigger.WEBHOOK, Workflow.Trigger.FILE}
        for workflow_id, workflow in workflows.items():
            has_events = any((workflow_id, status) in counts for status in EVENT_STATUSES)
            if workflow.trigger not in event_triggers and not has_events:
                continue
            for status in EVENT_STATUSES:
                events.add_metric(
                    [*self._labels(workflows, workflow_id), status], counts.get((workflow_id, status), 0)
                )
        yield events

        oldest = GaugeMetricFamily(
            "hub_inbound_event_oldest_pending_age_seconds",
            "Age of the oldest pending event per workflow (only workflows with pending events).",
            labels=labels,
        )
        now = timezone.now()
        for workflow_id, first in (
            InboundEvent.objects.order_by()
            .filter(status=InboundEvent.Status.PENDING)
            .values("workflow_id")
            .annotate(first=Min("received_at"))
            .values_list("workflow_id", "first")
        ):
            oldest.add_metric(self._labels(workflows, workflow_id), max(0.0, (now - first).total_seconds()))
        yield oldest

    def _connections(self) -> Iterator[Metric]:
        from connectors.models import Connection
        from workflows.models import Run

        labels = ["connection_id", "connection", "team", "kind"]
        status = GaugeMetricFamily(
            "hub_connection_status",
            "1 for the connection's current state (ok, error, needs_reconnect, untested), 0 for the others.",
            labels=[*labels, "status"],
        )
        last_error = GaugeMetricFamily(
            "hub_connection_last_error_timestamp_seconds",
            "When a call to the connection last failed (Unix time); absent if it never failed.",
            labels=labels,
        )
        failed = GaugeMetricFamily(
            "hub_connection_failed_records",
            "Failed records of the runs in the database of workflows that write to this connection: "
            "records it rejected, or that could not be mapped for it.",
            labels=labels,
        )
        failed_by_target = {
            row["workflow__target_connection_id"]: row["failed"]
            for row in Run.objects.order_by()
            .values("workflow__target_connection_id")
            .annotate(failed=Sum("failed_count"))
        }
        for row in Connection.objects.order_by().values(
            "id", "name", "team__name", "kind", "status", "last_error_at"
        ):
            base = [str(row["id"]), row["name"], row["team__name"], row["kind"]]
            for value in Connection.Status.values:
                status.add_metric([*base, value], 1 if row["status"] == value else 0)
            moment = _timestamp(row["last_error_at"])
            if moment is not None:
                last_error.add_metric(base, moment)
            failed.add_metric(base, failed_by_target.get(row["id"]) or 0)
        yield from (status, last_error, failed)

    def _heartbeats(self) -> Metric:
        from integrations_hub.health.models import Heartbeat

        family = GaugeMetricFamily(
            "hub_heartbeat_timestamp_seconds",
            "Last heartbeat of each worker and beat process (Unix time).",
            labels=["role", "hostname"],
        )
        for role, hostname, last_seen in Heartbeat.objects.values_list("role", "hostname", "last_seen"):
            family.add_metric([role, hostname], last_seen.timestamp())
        return family

    def _conflicts(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "hub_conflicts_open",
            "Two-way sync conflicts waiting in the review queue (0 where two-way sync is not installed).",
        )
        try:
            count = open_conflict_count()
        except DatabaseError:
            # Two-way sync is newer than the rest: a missing table must not take the other series down.
            logger.exception("metrics: could not count open conflicts")
            return
        family.add_metric([], count)
        yield family

    def _syncs(self) -> Iterator[Metric]:
        """Two-way syncs: their state, their runs and what the runs did, and what waits for review."""
        if not apps.is_installed("workflows.sync"):
            return
        try:
            families = list(_sync_families())
        except DatabaseError:
            # Like the conflicts above: trouble in the sync tables must not take the other series down.
            logger.exception("metrics: could not read the two-way sync tables")
            return
        yield from families


SYNC_LABELS = ["sync_id", "sync", "team"]


def _sync_families() -> Iterator[Metric]:
    from workflows.sync.models import SYNC_RUN_COUNTERS, DuplicateHold, Sync, SyncConflict, SyncRun

    syncs = {
        pk: ([str(pk), name, team], enabled, last_checked_at)
        for pk, name, team, enabled, last_checked_at in Sync.objects.order_by().values_list(
            "id", "name", "team__name", "enabled", "last_checked_at"
        )
    }

    def labels(sync_id: int) -> list[str]:
        found = syncs.get(sync_id)
        return found[0] if found is not None else [str(sync_id), "", ""]

    enabled = GaugeMetricFamily(
        "hub_sync_enabled", "1 when the two-way sync is switched on.", labels=SYNC_LABELS
    )
    checked = GaugeMetricFamily(
        "hub_sync_last_checked_timestamp_seconds",
        "When the sync last read both sides (Unix time), found or not.",
        labels=SYNC_LABELS,
    )
    for sync_id, (_, on, last_checked_at) in syncs.items():
        enabled.add_metric(labels(sync_id), 1 if on else 0)
        moment = _timestamp(last_checked_at)
        if moment is not None:
            checked.add_metric(labels(sync_id), moment)
    yield from (enabled, checked)

    runs = GaugeMetricFamily(
        "hub_sync_runs",
        "Two-way sync runs in the database (kept HUB_RUN_RETENTION_DAYS) by sync and status.",
        labels=[*SYNC_LABELS, "status"],
    )
    counts = {
        (row["sync_id"], row["status"]): row["n"]
        for row in SyncRun.objects.order_by().values("sync_id", "status").annotate(n=Count("id"))
    }
    for sync_id in syncs:
        for status in SyncRun.Status.values:
            runs.add_metric([*labels(sync_id), status], counts.get((sync_id, status), 0))
    yield runs

    records = GaugeMetricFamily(
        "hub_sync_run_records",
        "Records read and what the sync runs in the database did with them, by sync and outcome "
        "(created_a: created on side A, and so on).",
        labels=[*SYNC_LABELS, "outcome"],
    )
    totals: dict[int, dict[str, Any]] = {
        row["sync_id"]: dict(row)
        for row in SyncRun.objects.order_by()
        .values("sync_id")
        .annotate(**{name: Sum(name) for name in SYNC_RUN_COUNTERS})
    }
    for sync_id in syncs:
        row: dict[str, Any] = totals.get(sync_id, {})
        for name in SYNC_RUN_COUNTERS:
            records.add_metric([*labels(sync_id), name], row.get(name) or 0)
    yield records

    review = GaugeMetricFamily(
        "hub_sync_review_open",
        "Items of a sync waiting in the review queue: conflicts, and records held as possible duplicates.",
        labels=[*SYNC_LABELS, "kind"],
    )
    waiting = {
        "conflict": dict(
            SyncConflict.objects.order_by()
            .filter(status=SyncConflict.Status.OPEN)
            .values("sync_id")
            .annotate(n=Count("id"))
            .values_list("sync_id", "n")
        ),
        "duplicate": dict(
            DuplicateHold.objects.order_by()
            .filter(status=DuplicateHold.Status.OPEN)
            .values("sync_id")
            .annotate(n=Count("id"))
            .values_list("sync_id", "n")
        ),
    }
    for sync_id in syncs:
        for kind, per_sync in waiting.items():
            review.add_metric([*labels(sync_id), kind], per_sync.get(sync_id, 0))
    yield review


def open_conflict_count() -> int:
    """Conflicts waiting for a person, read only if the two-way sync app and its model are installed."""
    config = next((c for c in apps.get_app_configs() if c.name == "workflows.sync"), None)
    if config is None:
        return 0
    model = None
    for name in ("SyncConflict", "Conflict"):
        try:
            model = config.get_model(name)
            break
        except LookupError:
            continue
    if model is None:
        return 0
    fields = {field.name: field for field in model._meta.get_fields()}
    queryset = model._default_manager.all()
    status = fields.get("status")
    if status is not None and "open" in {value for value, _label in getattr(status, "choices", None) or []}:
        queryset = queryset.filter(status="open")
    elif "resolved_at" in fields:
        queryset = queryset.filter(resolved_at__isnull=True)
    return int(queryset.count())


class BrokerCollector(Collector):
    """Messages waiting in each Celery queue, asked of the broker (Redis, RabbitMQ, the file broker)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("hub_broker_up", "1 when the broker answered the queue-length questions.")
        lengths = queue_lengths()
        up.add_metric([], 0 if lengths is None else 1)
        yield up
        family = GaugeMetricFamily(
            "hub_celery_queue_length",
            "Tasks waiting in the queue, not yet handed to a worker (tasks a worker holds are not counted).",
            labels=["queue"],
        )
        for name, length in (lengths or {}).items():
            family.add_metric([name], length)
        yield family


def queue_lengths() -> dict[str, int] | None:
    """Waiting messages per configured queue, or None when the broker cannot be reached."""
    from integrations_hub.celery import app

    names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            lengths: dict[str, int] = {}
            for name in names:
                channel: Any = connection.channel()
                try:
                    _queue, count, _consumers = channel.queue_declare(queue=name, passive=True)
                except connection.channel_errors:
                    # A queue nobody has published to does not exist yet (Redis drops empty lists).
                    count = 0
                finally:
                    channel.close()
                lengths[name] = int(count)
    except Exception:
        logger.warning("metrics: could not read queue lengths from the broker", exc_info=True)
        return None
    return lengths


def _authorised(request: HttpRequest) -> bool:
    token = str(settings.HUB_METRICS_TOKEN)
    if not token:
        return True
    scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorised(request):
        response = HttpResponse("A bearer token is required (HUB_METRICS_TOKEN).\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # A fresh registry per scrape: the collectors read the database and the broker now, and the
    # multiprocess collector sums the files of every process on this host.
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(_metrics_dir()))
    registry.register(DatabaseCollector())
    registry.register(BrokerCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
