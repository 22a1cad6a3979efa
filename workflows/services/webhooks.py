"""Webhook triggers: a delivery is stored before it is acknowledged, then processed from the database."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl

import jmespath
from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from jmespath.exceptions import JMESPathError

from connectors.base import SourceRecord
from connectors.crypto import decrypt_secrets, encrypt_secrets
from connectors.ratelimit import REDIS_SCHEMES, key_prefix, whole_seconds
from workflows.models import InboundEvent, Run, RunRecord, Workflow

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
ACCEPTED_TYPES = ("application/json", "application/x-www-form-urlencoded")
# Headers senders use for a delivery's unique id, most specific first.
EVENT_ID_HEADERS = ("webhook-id", "x-event-id", "x-request-id", "idempotency-key", "x-github-delivery")
# Where senders say when the record changed, tried in this order when a workflow names no path:
# Zendesk and most REST APIs (`updated_at`), HubSpot (`occurredAt`, epoch milliseconds), Pipedrive
# (`update_time`), Stripe events (`created`, epoch seconds). Looked up in the body, then in the record.
UPDATED_AT_KEYS = (
    "updated_at",
    "updatedAt",
    "occurredAt",
    "occurred_at",
    "update_time",
    "modified_at",
    "last_modified",
    "created",
)
# While a processing task of a workflow is queued, deliveries queue no other one: the task drains every
# pending event in batches, then looks once more after this window has closed (see webhook_drain), so a
# delivery that relied on it is never left behind. Whole seconds: Redis keeps a cache key's lifetime in
# whole seconds, and Django's Redis cache truncates a fraction (0.25 s would be no guard at all).
DRAIN_GUARD_SECONDS = 1
# How often a drain whose guard window is still open looks for newly stored events.
DRAIN_POLL_SECONDS = 0.05
# Until when (unix time) the run of the current drain keeps looking for new events.
_drain_until: ContextVar[float | None] = ContextVar("webhook_drain_until", default=None)


class WebhookRejected(Exception):
    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class EventRecord(SourceRecord):
    """A record from a webhook event. `source_updated_at` is when the source changed it, if the event
    says; without it `updated_at` is the moment of receipt and the change is applied in arrival order."""

    source_updated_at: datetime | None = None


def webhook_secret_set(*, workflow: Workflow, secret: str) -> None:
    workflow.webhook_secret_encrypted = encrypt_secrets({"secret": secret})
    workflow.save(update_fields=["webhook_secret_encrypted", "updated_at"])


def webhook_secret(workflow: Workflow) -> str:
    return decrypt_secrets(workflow.webhook_secret_encrypted).get("secret", "")


# The columns intake reads: loading the mapping and steps of every workflow for each delivery is waste.
INTAKE_FIELDS = (
    "id",
    "enabled",
    "webhook_token",
    "webhook_signature",
    "webhook_secret_encrypted",
    "webhook_record_path",
    "webhook_updated_at_path",
    "webhook_rate_per_minute",
)


# --- the intake row, cached per process ---------------------------------------------------------------
# A delivery's workflow is looked up by its URL token. Each web process keeps the intake columns of the
# workflows it has served, and a delivery's INSERT holds only while the row still has exactly those
# columns (`INSERT ... SELECT ... WHERE EXISTS`, one statement). A rotated secret, a pause, a new URL or
# a deleted workflow therefore shows at the very next delivery, which reloads the row and is checked
# again: a cached row never admits a delivery its current row would refuse. The cache only saves the
# SELECT; entries are dropped after INTAKE_CACHE_SECONDS unused, and the whole cache when it is full.
INTAKE_CACHE_SECONDS = 300.0
INTAKE_CACHE_SIZE = 4096


class WorkflowChanged(Exception):
    """The workflow's intake columns changed after they were cached: reload the row and try again."""


class IntakeCache:
    def __init__(self) -> None:
        self._rows: dict[str, tuple[Workflow, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> tuple[Workflow | None, bool]:
        """The webhook workflow at this token (None: no such URL), and whether it came from the cache."""
        if not connection.features.can_return_columns_from_insert:
            # Without INSERT ... RETURNING a cached row could not be checked as it is used.
            return intake_workflow_load(token), False
        cached = self._rows.get(token)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0], True
        return self.reload(token), False

    def reload(self, token: str) -> Workflow | None:
        now = time.monotonic()
        workflow = intake_workflow_load(token)
        with self._lock:
            if workflow is None:
                self._rows.pop(token, None)
            else:
                if len(self._rows) >= INTAKE_CACHE_SIZE:
                    self._rows.clear()
                self._rows[token] = (workflow, now + INTAKE_CACHE_SECONDS)
        return workflow

    def forget(self, token: str) -> None:
        with self._lock:
            self._rows.pop(token, None)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


INTAKE_CACHE = IntakeCache()


def intake_values(workflow: Workflow) -> tuple[Any, ...]:
    return tuple(getattr(workflow, name) for name in INTAKE_FIELDS)


def intake_workflow_load(token: str) -> Workflow | None:
    if not token:
        return None
    return (
        Workflow.objects.only(*INTAKE_FIELDS)
        .filter(webhook_token=token, trigger=Workflow.Trigger.WEBHOOK)
        .first()
    )


@functools.lru_cache(maxsize=1024)
def _conditional_insert(vendor: str, intake: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The statement for one workflow's intake columns, compiled once per process (per `vendor`)."""
    meta = InboundEvent._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    current = Workflow.objects.filter(
        trigger=Workflow.Trigger.WEBHOOK, **dict(zip(INTAKE_FIELDS, intake, strict=True))
    ).values("id")
    where, where_params = current.query.sql_with_params()
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(str(field.column)) for field in fields)}) "
        f"SELECT {', '.join(['%s'] * len(fields))} WHERE EXISTS ({where}) "
        f"RETURNING {quote(str(meta.pk.column))}"
    )
    return sql, tuple(where_params)


_EVENT_FIELDS = [field for field in InboundEvent._meta.concrete_fields if not field.primary_key]


def _insert_if_current(event: InboundEvent, workflow: Workflow) -> bool:
    """Store the event in one statement, provided the workflow's intake columns are still those of
    `workflow`. False (nothing stored) when they changed; IntegrityError for a repeated delivery."""
    # The connection itself, not the `connection` proxy: each field's preparation looks it up several
    # times, and every lookup through the proxy goes through a thread-critical local (a delivery's
    # largest single cost in Python after the database round trip).
    db = connections[DEFAULT_DB_ALIAS]
    values = [field.get_db_prep_save(field.pre_save(event, True), db) for field in _EVENT_FIELDS]
    sql, where_params = _conditional_insert(db.vendor, intake_values(workflow))
    with db.cursor() as cursor:
        cursor.execute(sql, [*values, *where_params])
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = db.alias
    return True


# --- the endpoint budget -------------------------------------------------------------------------------
# Each webhook URL accepts at most N deliveries in any minute, a quarter of them at once. The budget is a
# GCRA token bucket: one number per endpoint (the theoretical arrival time of the next delivery), kept in
# Redis and changed by one atomic script reading Redis' own clock, so every web process shares it and
# their clocks need not agree. Without Redis (or while it is unreachable) each process keeps its own.


@dataclass(frozen=True)
class EndpointLimit:
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        """Seconds between deliveries once the burst is spent: burst + one minute's refill = N."""
        return 60.0 / max(1, self.per_minute - self.burst) if self.per_minute > 1 else 60.0

    @property
    def tolerance(self) -> float:
        return self.interval * (self.burst - 1)


def _gcra(tat: float | None, now: float, limit: EndpointLimit) -> tuple[float | None, float]:
    """(the new arrival time, 0) when granted; (None, seconds to wait) when refused."""
    tat = max(tat if tat is not None else now, now)
    if tat - now > limit.tolerance:
        return None, tat - limit.tolerance - now
    return tat + limit.interval, 0.0


_GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tolerance then return string.format('%.6f', tat - tolerance - now) end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.6f', next_tat), 'PX', math.ceil((next_tat - now) * 1000) + 1000)
return '0'
"""


class LocalEndpointBudgets:
    """One process's budgets: right for a single web process, and the fallback without Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tats: dict[str, float] = {}

    def take(self, key: str, limit: EndpointLimit) -> float:
        """0 when the delivery may be accepted, else the seconds until one will be."""
        with self._lock:
            now = time.monotonic()
            tat, wait = _gcra(self._tats.get(key), now, limit)
            if tat is not None:
                self._tats[key] = tat
            return wait

    def reset(self) -> None:
        with self._lock:
            self._tats.clear()


class RedisEndpointBudgets:
    """The budgets every web process shares."""

    def __init__(self, url: str, *, prefix: str) -> None:
        import redis

        self.prefix = prefix
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._client.register_script(_GCRA_LUA)

    def take(self, key: str, limit: EndpointLimit) -> float:
        try:
            answer = self._script(
                keys=[self.prefix + key], args=[repr(limit.interval), repr(limit.tolerance)]
            )
        except self._errors as exc:
            logger.warning("Webhook budgets: Redis unavailable (%s); using this process's budget", exc)
            return LOCAL_ENDPOINT_BUDGETS.take(key, limit)
        return float(answer)

    def close(self) -> None:
        self._client.close()


LOCAL_ENDPOINT_BUDGETS = LocalEndpointBudgets()
_shared_budgets: dict[tuple[str, str], RedisEndpointBudgets] = {}
_shared_lock = threading.Lock()


def endpoint_budgets() -> LocalEndpointBudgets | RedisEndpointBudgets:
    """Redis when HUB_RATE_LIMIT_REDIS_URL names one (settings default it to a Redis broker), else local."""
    url = str(getattr(settings, "HUB_RATE_LIMIT_REDIS_URL", "") or "")
    if not url.startswith(REDIS_SCHEMES):
        return LOCAL_ENDPOINT_BUDGETS
    # Installations (and test databases) sharing one Redis keep apart: the prefix hashes the database name.
    prefix = key_prefix().replace("hub:ratelimit:", "hub:webhook-budget:", 1)
    with _shared_lock:
        budgets = _shared_budgets.get((url, prefix))
        if budgets is None:
            budgets = _shared_budgets[(url, prefix)] = RedisEndpointBudgets(url, prefix=prefix)
        return budgets


def webhook_rate_limit(workflow: Workflow) -> EndpointLimit | None:
    """The endpoint's budget: the workflow's own, else HUB_WEBHOOK_RATE_PER_MINUTE (0: no limit)."""
    per_minute = workflow.webhook_rate_per_minute
    if per_minute is None:
        per_minute = int(getattr(settings, "HUB_WEBHOOK_RATE_PER_MINUTE", 6000))
    if per_minute <= 0:
        return None
    # Senders flush their queues in bursts: a quarter of the minute's budget may arrive at once.
    return EndpointLimit(per_minute=per_minute, burst=max(1, per_minute // 4))


def webhook_admit(workflow: Workflow) -> None:
    """Take one delivery from the endpoint's budget. Over budget: 429 with Retry-After. The body is not
    stored then: the sender keeps it and delivers it again after the wait, as webhook senders do on 429."""
    limit = webhook_rate_limit(workflow)
    if limit is None:
        return
    wait = endpoint_budgets().take(f"webhook:{workflow.pk}", limit)
    if wait > 0:
        seconds = whole_seconds(wait)
        raise WebhookRejected(
            429, f"Too many deliveries to this endpoint; retry after {seconds} s.", retry_after=seconds
        )


def webhook_receive(
    *,
    workflow: Workflow,
    headers: Mapping[str, str],
    body: bytes,
    content_type: str,
    only_if_current: bool = False,
) -> tuple[InboundEvent, bool]:
    """Verify, admit and store one delivery. Returns the event and whether it is new (False: a repeat).

    The signature is checked before the delivery is taken from the endpoint's budget: a sender that
    cannot sign (anyone who learnt the URL) is refused with 401 and spends nothing of the real sender's
    budget. A new delivery costs one INSERT (and queues the workflow's processing unless it is already
    queued). `only_if_current`: `workflow` may be a cached row; the INSERT holds only while the stored row
    still has its intake columns, else WorkflowChanged is raised and nothing is stored.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_TYPES and not media_type.endswith("+json"):
        raise WebhookRejected(415, f"Content type {media_type or '(none)'!r} is not accepted; send JSON.")
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "The body is larger than 1 MiB.")
    lowered = {key.lower(): value for key, value in headers.items()}
    if workflow.webhook_signature != "none":
        from connectors.webhooks import WebhookSignatureError, verify_inbound

        try:
            verify_inbound(lowered, body, webhook_secret(workflow), cast(Any, workflow.webhook_signature))
        except WebhookSignatureError as exc:
            raise WebhookRejected(401, f"Signature check failed: {exc}") from None
    webhook_admit(workflow)
    event_id = next((lowered[h] for h in EVENT_ID_HEADERS if lowered.get(h)), "") or (
        "sha256:" + hashlib.sha256(body).hexdigest()
    )
    event = InboundEvent(
        workflow=workflow,
        event_id=event_id[:200],
        content_type=media_type,
        body=body,
        source_updated_at=event_source_time(
            body,
            media_type,
            updated_at_path=workflow.webhook_updated_at_path,
            record_path=workflow.webhook_record_path,
        ),
    )

    def store() -> bool:
        if only_if_current:
            return _insert_if_current(event, workflow)
        event.save(force_insert=True)
        return True

    try:
        if transaction.get_autocommit():
            # Outside a transaction a failed INSERT needs no savepoint to roll back to.
            stored = store()
        else:
            with transaction.atomic():
                stored = store()
    except IntegrityError:
        return InboundEvent.objects.get(workflow=workflow, event_id=event_id[:200]), False
    if not stored:
        raise WorkflowChanged(workflow.webhook_token)
    if workflow.enabled:
        workflow_id = workflow.pk
        transaction.on_commit(lambda: webhook_processing_request(workflow_id=workflow_id))
    return event, True


def _guard_key(workflow_id: int) -> str:
    return f"hub:webhook-drain:{workflow_id}"


def webhook_processing_request(*, workflow_id: int) -> bool:
    """Queue the workflow's processing task, unless one was queued in the last DRAIN_GUARD_SECONDS.

    Called after the event's commit: the task queued by whoever set the guard takes a last look once the
    guard has expired, so it sees this event. Returns whether a task was queued. The event is already
    stored, so nothing here fails the delivery: without the cache a task is queued all the same.
    """
    from workflows.tasks import process_webhook_events

    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        # Processed right here, after the commit, and to the end: no guard, since no task lingers
        # for a later delivery to rely on, so every delivery drains for itself.
        return _enqueue(workflow_id, lambda: process_webhook_events.delay(workflow_id))
    key = _guard_key(workflow_id)
    try:
        guarded = cache.add(key, 1, timeout=DRAIN_GUARD_SECONDS)
    except Exception:
        # No guard can be set or seen: queue a task that looks once (every delivery queues its own).
        logger.warning("Webhook drain guard unavailable for workflow %s", workflow_id, exc_info=True)
        return _enqueue(workflow_id, lambda: process_webhook_events.delay(workflow_id))
    if not guarded:
        return False
    # Taken after the guard was set, so the task's last look comes after the guard has expired.
    requested_at = time.time()
    if _enqueue(workflow_id, lambda: process_webhook_events.delay(workflow_id, requested_at)):
        return True
    # Drop the guard so the next delivery tries to queue a task again.
    try:
        cache.delete(key)
    except Exception:
        logger.warning("Could not drop the webhook drain guard of workflow %s", workflow_id, exc_info=True)
    return False


def _enqueue(workflow_id: int, send: Callable[[], Any]) -> bool:
    try:
        send()
    except Exception:
        # The event is stored, so the delivery stands; the minute sweep hands it to a worker once the
        # broker is back.
        logger.warning("Could not queue webhook processing for workflow %s", workflow_id, exc_info=True)
        return False
    return True


def webhook_drain(*, workflow_id: int, requested_at: float | None = None) -> Run | bool | None:
    """Process every pending event of the workflow. Returns False when another run is busy (try later).

    `requested_at`: when intake queued this task and set its guard. Deliveries within the guard window
    queued nothing, trusting this task: so its run keeps taking new events as they arrive (looking every
    DRAIN_POLL_SECONDS) until the window has closed, then it looks once more. A delivery after the window
    queues a task of its own. (Web and worker hosts' clocks must agree to well within the window, as NTP
    keeps them; the minute sweep is the backstop.)
    """
    if requested_at is None:
        return webhook_process(workflow_id=workflow_id)
    deadline = requested_at + DRAIN_GUARD_SECONDS
    token = _drain_until.set(deadline)
    try:
        result = _process_when_free(workflow_id, deadline)
        while result is not False and (wait := deadline - time.time()) > 0:
            if _due_ids(workflow_id).exists():
                again = _process_when_free(workflow_id, deadline)
                result = again if again is not None else result
            else:
                time.sleep(min(wait, DRAIN_POLL_SECONDS))
    finally:
        _drain_until.reset(token)
    if result is False:
        return False
    again = webhook_process(workflow_id=workflow_id)
    if again is False:
        return False
    return again if again is not None else result


def _process_when_free(workflow_id: int, deadline: float) -> Run | bool | None:
    """A run of the workflow; while another one is busy (finishing its own window) wait for it, until
    the deadline: a task retried by Celery instead would leave these events waiting a second more."""
    while True:
        result = webhook_process(workflow_id=workflow_id)
        if result is not False or time.time() >= deadline:
            return result
        time.sleep(DRAIN_POLL_SECONDS)


def webhook_process(*, workflow_id: int) -> Run | bool | None:
    """Process pending events in a run. Returns the run, or False when another run is busy (try later)."""
    from workflows.services.runs import fail_stale_runs, run_execute, run_request

    workflow = Workflow.objects.filter(pk=workflow_id, enabled=True).first()
    if workflow is None:
        return None
    fail_stale_runs(workflow=workflow)
    if not _due(workflow).exists():
        return None
    run = run_request(workflow=workflow, trigger=Run.Trigger.WEBHOOK, enqueue=False)
    if run is None:
        return False
    run_execute(run_id=run.pk)
    return Run.objects.filter(pk=run.pk).first()


def _due(workflow: Workflow) -> Any:
    return _due_ids(workflow.pk)


def _due_ids(workflow_id: int) -> Any:
    now = timezone.now()
    return InboundEvent.objects.filter(workflow_id=workflow_id, status=InboundEvent.Status.PENDING).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def event_pages(context: Any) -> Iterator[tuple[list[SourceRecord], Callable[[], None]]]:
    """Claim due events in batches (a conditional update, so two runs never take the same event)."""
    run: Run = context.run
    workflow: Workflow = context.workflow
    id_path = jmespath.compile(context.definition.webhook_id_path or "id")
    record_path = (
        jmespath.compile(context.definition.webhook_record_path)
        if context.definition.webhook_record_path
        else None
    )
    while True:
        events = _claim(workflow, run, context.batch_size)
        if not events:
            until = _drain_until.get()
            wait = until - time.time() if until is not None else 0.0
            if wait <= 0:
                return
            # The drain's guard window is open: events stored now rely on this run.
            time.sleep(min(wait, DRAIN_POLL_SECONDS))
            continue
        records: list[SourceRecord] = []
        unreadable: dict[int, str] = {}
        for event in events:
            try:
                records.append(_record(event, id_path, record_path))
            except ValueError as exc:
                unreadable[event.pk] = str(exc)
        claimed = [event.pk for event in events]

        def mark_read(claimed: list[int] = claimed, unreadable: dict[int, str] = unreadable) -> None:
            now = timezone.now()
            InboundEvent.objects.filter(pk__in=claimed).exclude(pk__in=list(unreadable)).update(
                status=InboundEvent.Status.PROCESSED, processed_at=now
            )
            for pk, message in unreadable.items():
                InboundEvent.objects.filter(pk=pk).update(
                    status=InboundEvent.Status.FAILED, processed_at=now, error=message
                )

        yield records, mark_read


def _claim(workflow: Workflow, run: Run, limit: int) -> list[InboundEvent]:
    """Take up to `limit` due events for the run, oldest first: on PostgreSQL in one statement."""
    if connection.vendor != "postgresql":
        ids = list(_due(workflow).order_by("id").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        InboundEvent.objects.filter(pk__in=ids, status=InboundEvent.Status.PENDING).update(
            status=InboundEvent.Status.PROCESSING, run=run, attempts=F("attempts") + 1
        )
        return list(
            InboundEvent.objects.filter(pk__in=ids, run=run, status=InboundEvent.Status.PROCESSING).order_by(
                "id"
            )
        )
    # The table name is the model's own, quoted; every value is a parameter.
    table = connection.ops.quote_name(InboundEvent._meta.db_table)
    sql = (
        f"UPDATE {table} SET status = %s, run_id = %s, attempts = attempts + 1 WHERE id IN ("  # noqa: S608
        f"SELECT id FROM {table} WHERE workflow_id = %s AND status = %s"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
        " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *"
    )
    params = [
        InboundEvent.Status.PROCESSING.value,
        run.pk,
        workflow.pk,
        InboundEvent.Status.PENDING.value,
        timezone.now(),
        limit,
    ]
    return sorted(InboundEvent.objects.raw(sql, params), key=lambda event: event.pk)


def _payload(raw: bytes, content_type: str) -> Any:
    try:
        if content_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return json.loads(raw.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"The body is not valid JSON: {exc}") from None


def _record(event: InboundEvent, id_path: Any, record_path: Any) -> EventRecord:
    payload = _payload(bytes(event.body), event.content_type)
    fields = record_path.search(payload) if record_path is not None else payload
    if not isinstance(fields, dict):
        raise ValueError("The event does not hold a record (a JSON object) where the workflow expects one.")
    record_id = id_path.search(payload) if isinstance(payload, dict) else None
    return EventRecord(
        id=str(record_id) if record_id not in (None, "") else event.event_id,
        updated_at=event.source_updated_at or event.received_at,
        fields=fields,
        source_updated_at=event.source_updated_at,
    )


@functools.lru_cache(maxsize=256)
def _compiled(path: str) -> Any:
    return jmespath.compile(path)


def event_source_time(
    body: bytes, content_type: str, *, updated_at_path: str = "", record_path: str = ""
) -> datetime | None:
    """When the source changed the record, as the body says: at `updated_at_path` (JMESPath), or at
    the first of UPDATED_AT_KEYS found in the body or its record. None when it says nothing usable."""
    try:
        payload = _payload(body, content_type)
        if updated_at_path:
            return parse_source_time(_compiled(updated_at_path).search(payload))
        places = [payload]
        if record_path:
            places.append(_compiled(record_path).search(payload))
    except (ValueError, JMESPathError):
        return None
    for place in places:
        if isinstance(place, dict):
            for key in UPDATED_AT_KEYS:
                if key in place:
                    found = parse_source_time(place[key])
                    if found is not None:
                        return found
    return None


def parse_source_time(value: Any) -> datetime | None:
    """An ISO 8601 string, or epoch seconds or milliseconds (number or digits); naive means UTC."""
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        return None
    if parsed is None:
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def source_time(record: SourceRecord) -> datetime | None:
    return record.source_updated_at if isinstance(record, EventRecord) else None


class AppliedChange(Protocol):
    """What is remembered of the change last applied to one source record: a single-mapping workflow's
    `RecordLink`, or a multi-step workflow's source mark (`workflows.services.steps`)."""

    @property
    def target_id(self) -> str: ...

    @property
    def match_value(self) -> str: ...

    source_updated_at: datetime | None


def split_older_than_applied(
    run: Run, records: list[SourceRecord], links: Mapping[str, AppliedChange]
) -> tuple[list[SourceRecord], list[RunRecord]]:
    """Keep one change per record, the one to apply; the others are skipped, each with its reason.

    The changes to a record are taken in arrival order, as if applied one by one: a change that says when
    the source made it is older, and set aside, when that time is before one already applied (remembered
    on the link, or a change earlier in this batch); an equal time is not older. Any other change replaces
    the one before it, which is then superseded. So changes without a time are applied in arrival order,
    and splitting a batch in two changes nothing. Records that are not events (a poll's) pass through.
    """
    winners: dict[str, EventRecord] = {}
    applied_at: dict[str, datetime | None] = {}
    skipped: list[RunRecord] = []
    for record in records:
        if not isinstance(record, EventRecord):
            continue
        link = links.get(record.id)
        if record.id not in applied_at:
            applied_at[record.id] = link.source_updated_at if link is not None else None
        known = applied_at[record.id]
        changed_at = record.source_updated_at
        if changed_at is not None and known is not None and changed_at < known:
            skipped.append(
                _skipped(
                    run,
                    record,
                    link,
                    f"Older than the change already applied at {known.isoformat()} "
                    f"(this change was made at {changed_at.isoformat()}); the newer change stays.",
                )
            )
            continue
        replaced = winners.get(record.id)
        if replaced is not None:
            skipped.append(
                _skipped(
                    run,
                    replaced,
                    link,
                    "Superseded by a later change to the same record in this batch; the later one is applied.",
                )
            )
        winners[record.id] = record
        if changed_at is not None and (known is None or changed_at > known):
            applied_at[record.id] = changed_at
    kept: list[SourceRecord] = []
    for record in records:
        if not isinstance(record, EventRecord):
            kept.append(record)
        elif winners.get(record.id) is record:
            newest = applied_at[record.id]
            # A change without a time that came after one made at T is newer than T too: the link
            # remembers T, so a change made before T still counts as older.
            if record.source_updated_at is None and newest is not None:
                record = dataclasses.replace(record, source_updated_at=newest)
            kept.append(record)
    return kept, skipped


def _skipped(run: Run, record: SourceRecord, link: AppliedChange | None, reason: str) -> RunRecord:
    return RunRecord(
        run=run,
        source_id=record.id,
        target_id=link.target_id if link is not None else "",
        record_key=link.match_value if link is not None else "",
        outcome=RunRecord.Outcome.SKIPPED,
        error=reason,
    )


def source_changed_later(link: AppliedChange, record: SourceRecord | None) -> bool:
    """Whether this change is newer than the one the link remembers (so the link has to learn it)."""
    changed_at = source_time(record) if record is not None else None
    return changed_at is not None and (link.source_updated_at is None or changed_at > link.source_updated_at)


def link_note_applied(link: AppliedChange, record: SourceRecord | None) -> None:
    """Remember on the link when the source made the change just applied (never moving it back)."""
    if source_changed_later(link, record):
        link.source_updated_at = source_time(record) if record is not None else None


def retry_schedule() -> list[int]:
    return list(settings.HUB_RETRY_SCHEDULE_SECONDS)


def events_release_after_failure(*, run: Run, error: str) -> None:
    """A run that failed mid-way gives its events back, to be retried on the backoff schedule."""
    schedule = retry_schedule()
    now = timezone.now()
    for event in InboundEvent.objects.filter(run=run, status=InboundEvent.Status.PROCESSING):
        if event.attempts > len(schedule):
            event.status = InboundEvent.Status.FAILED
            event.error = f"Gave up after {event.attempts} attempts: {error}"
            event.processed_at = now
        else:
            event.status = InboundEvent.Status.PENDING
            event.next_attempt_at = now + timedelta(seconds=schedule[event.attempts - 1])
            event.error = error
        event.save(update_fields=["status", "error", "processed_at", "next_attempt_at"])


def events_replay(*, workflow: Workflow, event_ids: list[int] | None = None) -> int:
    """Put failed (or chosen) events back in the queue, e.g. after the workflow was fixed or re-enabled."""
    events = InboundEvent.objects.filter(workflow=workflow)
    events = (
        events.filter(pk__in=event_ids) if event_ids else events.filter(status=InboundEvent.Status.FAILED)
    )
    count = events.update(status=InboundEvent.Status.PENDING, next_attempt_at=None, attempts=0, error="")
    if count and workflow.enabled:
        from workflows.tasks import process_webhook_events

        transaction.on_commit(lambda: process_webhook_events.delay(workflow.pk))
    return count
