"""Deleting one record by its URL, the same way for every system: done, or failed with the system's words.

An id that is already gone is a failed result saying so, not an exception: a sync propagating a deletion
the other side already made, or a delete step run twice, must not stop the run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from connectors.base import WriteResult
from connectors.http import HttpClient, HttpError, HttpResponse


def delete_record(
    http: HttpClient,
    path: str,
    *,
    target_id: str,
    gone: str,
    rejections: Collection[int],
    message_of: Callable[[HttpResponse], str | None],
    gone_statuses: Collection[int] = (404,),
    **kwargs: Any,
) -> WriteResult:
    """`DELETE path`. `gone` is the message when the system answers one of `gone_statuses`; statuses in
    `rejections` fail the record with the system's own (redacted) message; anything else is raised."""
    try:
        http.delete(path, **kwargs)
    except HttpError as exc:
        if exc.status in gone_statuses:
            return WriteResult(key=target_id, ok=False, error=gone)
        if exc.status not in rejections:
            raise
        said = message_of(exc.response) if exc.response is not None else None
        return WriteResult(key=target_id, ok=False, error=http.redact(said or exc.message))
    return WriteResult(key=target_id, ok=True, target_id=target_id, action="deleted")
