"""Idempotency keys: the same work on the same data always gets the same key.

A record's key covers the workflow, its version and the source record's version, so a
webhook delivered twice (or a task retried) produces the same keys and the ports can
refuse to act twice, while an edit of the record, or a new version of the workflow,
acts again. Each action's key is the record's key plus the step id.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime


def source_version(updated_at: datetime | str | int) -> str:
    """One spelling per moment: aware datetimes in UTC, naive ones taken as UTC."""
    if isinstance(updated_at, datetime):
        moment = updated_at if updated_at.tzinfo is not None else updated_at.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return str(updated_at)


def _text(value: str | int | None) -> str | None:
    # 3 and "3" are the same version whether it came from the database or from JSON.
    return None if value is None else str(value)


def record_key(
    workflow_id: str | int | None,
    version: str | int | None,
    source_id: str,
    updated_at: datetime | str | int,
) -> str:
    """sha256 (hex) of the workflow id, its version, the source record id and its version."""
    # A JSON list, not a joined string: ("a:b", "c") and ("a", "b:c") must not collide.
    text = json.dumps(
        [_text(workflow_id), _text(version), str(source_id), source_version(updated_at)],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def action_key(record: str, step_id: str) -> str:
    """The key of one action step for one record version."""
    return f"{record}:{step_id}"
