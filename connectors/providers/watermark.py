"""A resume point for APIs that filter changes by whole seconds ("changed since 10:00:05").

Pipedrive's recents and Mailchimp's `since_last_changed` compare modification times in seconds. Asking
"since the newest second I have seen" repeats the records of that second, and asking "after it" would
skip records written later in the same second. So the cursor keeps that second *and* a fingerprint of
each record already read at it: a record is skipped as a repeat only when it is unchanged, so an edit
made later in the same second still comes through, and an idle poll reads nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import ChangePage, ConnectorError, SourceRecord

# Past this many records in one second the fingerprints are dropped and those records are simply
# read again next time (repeats are allowed; a cursor must stay small enough to store).
MAX_SEEN = 500


def fingerprint(values: Mapping[str, Any]) -> str:
    """A short digest of a record's values; equal values give equal fingerprints."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Watermark:
    since: int | None = None  # epoch seconds; None: from the beginning
    seen: Mapping[str, str] = field(default_factory=dict)  # id -> fingerprint, records read at `since`

    def encode(self) -> str:
        data: dict[str, Any] = {"since": self.since}
        if self.seen and len(self.seen) <= MAX_SEEN:
            data["seen"] = dict(sorted(self.seen.items()))
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: str | None, system: str) -> Watermark:
        if cursor is None or not cursor.strip():
            return cls()
        try:
            data = json.loads(cursor)
            since = data["since"]
            seen = data.get("seen", {})
        except (ValueError, TypeError, KeyError):
            raise ConnectorError(f"Not a {system} cursor: {cursor!r}", permanent=True) from None
        valid_since = since is None or (isinstance(since, int) and not isinstance(since, bool))
        if not valid_since or not isinstance(seen, dict):
            raise ConnectorError(f"Not a {system} cursor: {cursor!r}", permanent=True)
        return cls(since, {str(k): str(v) for k, v in seen.items()})

    def is_repeat(self, record_id: str, second: int, print_: str) -> bool:
        return second == self.since and self.seen.get(record_id) == print_

    def after(self, read: Iterable[tuple[str, int, str]]) -> Watermark:
        """The watermark once `read` ((id, second, fingerprint), in change order) has been handed out."""
        since = self.since
        seen = dict(self.seen)
        for record_id, second, print_ in read:
            if since is None or second > since:
                since, seen = second, {}
            if second == since:
                seen[record_id] = print_
        return Watermark(since, seen)


Fetch = Callable[[int | None, int, int], tuple[list[SourceRecord], bool]]
"""(since second or None, offset, limit) -> (records changed at or after it in change order, more)."""


def changes_by_second(
    fetch: Fetch, cursor: str | None, *, page_size: int, system: str
) -> Iterator[ChangePage]:
    """Page through an inclusive "changed since <second>" listing without skipping or re-reading.

    Every page re-anchors the query on the newest second read so far instead of growing one offset: a
    record edited while we page moves to the end of the ordering, and with a fixed query that would
    shift an unread record into the part already passed. Only when a whole page sits on the anchor
    second do we step over it with an offset.
    """
    mark = Watermark.decode(cursor, system)
    anchor, offset = mark.since, 0
    while True:
        records, more = fetch(anchor, offset, page_size)
        if not records:
            yield ChangePage(
                records=[], cursor=mark.encode() if mark.since is not None else cursor, has_more=False
            )
            return
        keyed = [(r.id, int(r.updated_at.timestamp()), fingerprint(r.fields)) for r in records]
        fresh = [r for r, key in zip(records, keyed, strict=True) if not mark.is_repeat(*key)]
        newest = keyed[-1][1]
        mark = mark.after(keyed)
        if anchor is not None and newest == anchor:
            offset += len(records)
        else:
            anchor, offset = newest, 0
        yield ChangePage(records=fresh, cursor=mark.encode(), has_more=more)
        if not more:
            return
