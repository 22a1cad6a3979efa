"""Webhook triggers: a delivery is stored before it is acknowledged, then processed from the database."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any, cast
from urllib.parse import parse_qsl

import jmespath
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from connectors.base import SourceRecord
from connectors.crypto import decrypt_secrets, encrypt_secrets
from workflows.models import InboundEvent, Run, Workflow

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
ACCEPTED_TYPES = ("application/json", "application/x-www-form-urlencoded")
# Headers senders use for a delivery's unique id, most specific first.
EVENT_ID_HEADERS = ("webhook-id", "x-event-id", "x-request-id", "idempotency-key", "x-github-delivery")


class WebhookRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def webhook_secret_set(*, workflow: Workflow, secret: str) -> None:
    workflow.webhook_secret_encrypted = encrypt_secrets({"secret": secret})
    workflow.save(update_fields=["webhook_secret_encrypted", "updated_at"])


def webhook_secret(workflow: Workflow) -> str:
    return decrypt_secrets(workflow.webhook_secret_encrypted).get("secret", "")


def webhook_receive(
    *, workflow: Workflow, headers: Mapping[str, str], body: bytes, content_type: str
) -> tuple[InboundEvent, bool]:
    """Verify and store one delivery. Returns the event and whether it is new (False: a repeat)."""
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
    event_id = next((lowered[h] for h in EVENT_ID_HEADERS if lowered.get(h)), "") or (
        "sha256:" + hashlib.sha256(body).hexdigest()
    )
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                workflow=workflow, event_id=event_id[:200], content_type=media_type, body=body
            )
    except IntegrityError:
        return InboundEvent.objects.get(workflow=workflow, event_id=event_id[:200]), False
    if workflow.enabled:
        from workflows.tasks import process_webhook_events

        transaction.on_commit(lambda: process_webhook_events.delay(workflow.pk))
    return event, True


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
    now = timezone.now()
    return InboundEvent.objects.filter(workflow=workflow, status=InboundEvent.Status.PENDING).filter(
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
        ids = list(_due(workflow).order_by("id").values_list("id", flat=True)[: context.batch_size])
        if not ids:
            return
        InboundEvent.objects.filter(pk__in=ids, status=InboundEvent.Status.PENDING).update(
            status=InboundEvent.Status.PROCESSING, run=run, attempts=F("attempts") + 1
        )
        events = list(InboundEvent.objects.filter(pk__in=ids, run=run, status=InboundEvent.Status.PROCESSING))
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


def _record(event: InboundEvent, id_path: Any, record_path: Any) -> SourceRecord:
    raw = bytes(event.body)
    try:
        if event.content_type == "application/x-www-form-urlencoded":
            payload: Any = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        else:
            payload = json.loads(raw.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"The body is not valid JSON: {exc}") from None
    fields = record_path.search(payload) if record_path is not None else payload
    if not isinstance(fields, dict):
        raise ValueError("The event does not hold a record (a JSON object) where the workflow expects one.")
    record_id = id_path.search(payload) if isinstance(payload, dict) else None
    return SourceRecord(
        id=str(record_id) if record_id not in (None, "") else event.event_id,
        updated_at=event.received_at,
        fields=fields,
    )


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
