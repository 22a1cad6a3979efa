"""The file trigger: each row of an uploaded CSV becomes a stored event, processed like a webhook delivery.

Storing rows as events gives uploads the same guarantees as webhooks: nothing is written before it
is stored, a re-upload of the same file adds nothing twice, and failed rows are retried or replayed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import IO

from django.db import transaction

from workflows.models import InboundEvent, Workflow

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000


class FileRejected(ValueError):
    pass


@dataclass(frozen=True)
class FileReceipt:
    rows: int
    new: int
    duplicates: int


def file_receive(*, workflow: Workflow, upload: IO[bytes], name: str = "upload.csv") -> FileReceipt:
    raw = upload.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise FileRejected("The file is larger than 20 MiB; split it into smaller files.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRejected("The file is not UTF-8 text; export it as CSV UTF-8.") from None
    if not text.strip():
        raise FileRejected("The file is empty.")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames or any(not (h or "").strip() for h in reader.fieldnames):
        raise FileRejected("The first row must name every column.")
    digest = hashlib.sha256(raw).hexdigest()[:32]
    events: list[InboundEvent] = []
    for index, row in enumerate(reader):
        if index >= MAX_ROWS:
            raise FileRejected(f"The file has more than {MAX_ROWS} rows; split it into smaller files.")
        if None in row:
            raise FileRejected(f"Row {index + 2} has more values than there are columns.")
        values = {
            key.strip(): (value.strip() if isinstance(value, str) else value) for key, value in row.items()
        }
        events.append(
            InboundEvent(
                workflow=workflow,
                event_id=f"file:{digest}:{index}",
                content_type="application/json",
                body=json.dumps(values).encode(),
            )
        )
    with transaction.atomic():
        before = InboundEvent.objects.filter(
            workflow=workflow, event_id__startswith=f"file:{digest}:"
        ).count()
        InboundEvent.objects.bulk_create(events, batch_size=1000, ignore_conflicts=True)
        after = InboundEvent.objects.filter(workflow=workflow, event_id__startswith=f"file:{digest}:").count()
        if workflow.enabled and after > before:
            from workflows.tasks import process_webhook_events

            transaction.on_commit(lambda: process_webhook_events.delay(workflow.pk))
    return FileReceipt(rows=len(events), new=after - before, duplicates=len(events) - (after - before))
