"""The seconds-resolution cursor Pipedrive and Mailchimp reads share (connectors/providers/watermark.py).

Driven by an in-memory "changed since <second>" API, so edits can land at exact moments.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import ChangePage, ConnectorError, SourceRecord
from connectors.providers.watermark import MAX_SEEN, Watermark, changes_by_second, fingerprint


class Listing:
    """Records (id -> (second, value)) served inclusively by second, in (second, id) order."""

    def __init__(self, records: dict[str, tuple[int, str]]) -> None:
        self.records = dict(records)
        self.calls = 0

    def fetch(self, since: int | None, offset: int, count: int) -> tuple[list[SourceRecord], bool]:
        self.calls += 1
        rows = sorted(
            (
                (second, rid, value)
                for rid, (second, value) in self.records.items()
                if since is None or second >= since
            ),
        )
        page = rows[offset : offset + count]
        records = [
            SourceRecord(rid, datetime.fromtimestamp(second, UTC), {"v": value})
            for second, rid, value in page
        ]
        return records, offset + count < len(rows)


def read(listing: Listing, cursor: str | None, page_size: int = 3) -> list[ChangePage]:
    return list(changes_by_second(listing.fetch, cursor, page_size=page_size, system="Test"))


def test_a_full_read_then_an_idle_read_returns_everything_once() -> None:
    # Two records a second: the newest second fits in one page, so an idle read is one request.
    listing = Listing({f"r{n:02d}": (100 + n // 2, "x") for n in range(20)})

    pages = read(listing, None)
    calls = listing.calls
    idle = read(listing, pages[-1].cursor)

    assert sorted(r.id for p in pages for r in p.records) == sorted(listing.records)
    assert [r for p in idle for r in p.records] == [] and listing.calls - calls == 1


def test_an_edit_in_the_cursors_own_second_is_returned() -> None:
    listing = Listing({"a": (100, "x"), "b": (101, "x")})
    cursor = read(listing, None)[-1].cursor

    listing.records["b"] = (101, "changed")  # same second, new values
    listing.records["c"] = (101, "new")
    changed = [r.id for p in read(listing, cursor) for r in p.records]

    assert sorted(changed) == ["b", "c"]


def test_more_records_in_one_second_than_a_page_are_stepped_over() -> None:
    listing = Listing({f"r{n:02d}": (100, "x") for n in range(10)} | {"late": (200, "x")})

    pages = read(listing, None, page_size=4)

    assert sorted(r.id for p in pages for r in p.records) == sorted(listing.records)


@settings(max_examples=60, deadline=None)
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=25),
    stop_after=st.integers(min_value=1, max_value=5),
    page_size=st.integers(min_value=1, max_value=4),
)
def test_resuming_from_any_page_skips_nothing(seconds: list[int], stop_after: int, page_size: int) -> None:
    listing = Listing({f"r{n:02d}": (second, "x") for n, second in enumerate(seconds)})
    pages = read(listing, None, page_size)
    taken = pages[:stop_after]

    resumed = read(listing, taken[-1].cursor, page_size)

    assert {r.id for p in taken + resumed for r in p.records} == set(listing.records)


def test_the_cursor_drops_fingerprints_past_its_size_limit_and_refuses_foreign_text() -> None:
    big = Watermark(5, {str(n): "f" for n in range(MAX_SEEN + 1)})

    assert Watermark.decode(big.encode(), "Test") == Watermark(5, {})
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    with pytest.raises(ConnectorError, match="Not a Test cursor"):
        Watermark.decode("garbage", "Test")
