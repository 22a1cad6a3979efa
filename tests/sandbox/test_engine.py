"""Engine building blocks in-process: clock, time formats, router, store and faults."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sandbox.engine import (
    FaultInjector,
    MonotonicClock,
    Request,
    Response,
    Router,
    Store,
    iso_ms,
    iso_s,
    parse_timestamp,
)
from connectors.sandbox.seed import generate


def frozen_clock(value: float = 1_700_000_000.0) -> MonotonicClock:
    return MonotonicClock(now=lambda: value)


def test_clock_never_repeats_even_when_time_stands_still() -> None:
    clock = frozen_clock()
    ticks = [clock.tick() for _ in range(1000)]
    assert ticks == sorted(ticks) and len(set(ticks)) == 1000
    assert ticks[0] == 1_700_000_000_000


def test_clock_never_goes_back_and_respects_observed_values() -> None:
    times = iter([100.0, 99.0, 101.0])
    clock = MonotonicClock(now=lambda: next(times))
    assert clock.tick() == 100_000
    assert clock.tick() == 100_001  # wall clock stepped back
    clock.observe(200_000)
    assert clock.tick() == 200_001


def test_time_formats() -> None:
    stamp = parse_timestamp("2026-11-28T10:00:00.999Z")
    assert stamp is not None
    assert iso_ms(stamp) == "2026-11-28T10:00:00.999Z"
    assert iso_s(stamp) == "2026-11-28T10:00:00Z"
    assert parse_timestamp(str(stamp)) == stamp
    assert parse_timestamp(stamp) == stamp
    assert parse_timestamp("2026-11-28T11:00:00+01:00") == stamp - 999
    assert parse_timestamp("2026-11-28") == stamp - 10 * 3_600_000 - 999
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(True) is None


def test_router_prefers_literal_routes_and_reports_allowed_methods() -> None:
    router = Router()
    router.add("GET", "/api/v2/users/{id}.json", lambda req: Response(200, "one"))
    router.add("GET", "/api/v2/users/me.json", lambda req: Response(200, "me"))
    router.add("PUT", "/api/v2/users/{id}.json", lambda req: Response(200, "put"))
    me = router.match("GET", "/api/v2/users/me.json")
    assert me.route is not None and me.route.pattern == "/api/v2/users/me.json"
    one = router.match("GET", "/api/v2/users/42.json")
    assert one.route is not None and one.params == {"id": "42"}
    quoted = router.match("GET", "/api/v2/users/a%40b.json")
    assert quoted.params == {"id": "a@b"}
    missing = router.match("POST", "/api/v2/users/42.json")
    assert missing.route is None and missing.allowed == ("GET", "PUT")
    assert router.match("GET", "/api/v2/users/42.json/x").route is None


def test_store_write_is_all_or_nothing() -> None:
    store = Store(":memory:", frozen_clock())
    with store.write() as tx:
        tx.insert("things", {"n": 1}, first_id=10, unique={"email": "A@x.example"})

    def failing_write() -> None:
        with store.write() as tx:
            tx.insert("things", {"n": 2}, first_id=10)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_write()
    with store.read() as tx:
        assert [r.data for r in tx.all("things")] == [{"n": 1}]
        assert tx.find_unique("things", "email", "a@X.EXAMPLE") == 10
        assert tx.find_unique("things", "email", "b@x.example") is None
    store.close()


def test_store_update_moves_unique_keys_and_bumps_time() -> None:
    store = Store(":memory:", frozen_clock())
    with store.write() as tx:
        row = tx.insert("things", {"email": "a@x.example"}, first_id=1, unique={"email": "a@x.example"})
        updated = tx.update("things", row.id, {"email": "b@x.example"}, unique={"email": "b@x.example"})
        assert updated.updated_ms > row.updated_ms and updated.created_ms == row.created_ms
        assert tx.find_unique("things", "email", "a@x.example") is None
        assert tx.find_unique("things", "email", "b@x.example") == row.id
    store.close()


def test_a_count_is_reused_only_while_no_row_has_changed() -> None:
    store = Store(":memory:", frozen_clock())
    with store.write() as tx:
        first = tx.insert("things", {"n": 1}, first_id=1)
        tx.insert("things", {"n": 2}, first_id=1)
    where = "json_extract(data, '$.n') >= ?"
    with store.read() as tx:
        assert tx.count("things", where, [1]) == 2
        assert tx.count("things", where, [2]) == 1
        assert tx.count("things", where, [1]) == 2  # the same condition, nothing changed
    with store.write() as tx:
        tx.insert("things", {"n": 3}, first_id=1)
    with store.read() as tx:
        assert tx.count("things", where, [1]) == 3
    with store.write() as tx:
        tx.update("things", first.id, {"n": 0})
    with store.read() as tx:
        assert tx.count("things", where, [1]) == 2
    with store.write() as tx:
        assert tx.remove("things", first.id)
    with store.read() as tx:
        assert tx.count("things", where, [0]) == 2
        assert tx.count("things") == 2

    def failing_write() -> None:
        with store.write() as tx:
            tx.insert("things", {"n": 9}, first_id=1)
            assert tx.count("things") == 3  # inside the write: its own row counts
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_write()
    with store.read() as tx:
        assert tx.count("things") == 2  # the rolled-back row is not counted
    store.close()


@settings(max_examples=60, deadline=None)
@given(
    stamps=st.lists(st.integers(min_value=0, max_value=50), max_size=30),
    bounds=st.lists(
        st.tuples(st.sampled_from([">=", ">", "<=", "<"]), st.integers(min_value=-1, max_value=51)),
        min_size=1,
        max_size=8,
    ),
    later=st.lists(st.integers(min_value=0, max_value=50), max_size=3),
)
def test_bounded_counts_agree_with_sql_while_paging_and_after_writes(
    stamps: list[int], bounds: list[tuple[str, int]], later: list[int]
) -> None:
    store = Store(":memory:", frozen_clock())
    with store.write() as tx:
        for stamp in stamps:
            tx.insert("things", {}, first_id=1, created_ms=stamp, updated_ms=stamp)

    def check() -> None:
        with store.read() as tx:
            # Twice over: the first round counts in SQL, the rest bisect the column.
            for op, bound in bounds + bounds:
                for column in ("updated_ms", "id"):
                    where = f"({column} {op} ?)"
                    sql = f"SELECT COUNT(*) FROM records WHERE object='things' AND {where}"  # noqa: S608
                    expected = store._conn.execute(sql, (bound,)).fetchone()[0]
                    assert tx.count("things", where, [bound]) == expected, (column, op, bound)

    check()
    with store.write() as tx:
        for stamp in later:
            tx.insert("things", {}, first_id=1, created_ms=stamp, updated_ms=stamp)
        rows = tx.all("things")
        if rows:
            tx.remove("things", rows[0].id)
    check()
    store.close()


@settings(max_examples=40, deadline=None)
@given(
    writes=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=40),
    page=st.integers(min_value=1, max_value=7),
    split=st.integers(min_value=0, max_value=40),
)
def test_change_cursor_reads_each_change_exactly_once(writes: list[int], page: int, split: int) -> None:
    """However writes interleave with paged reads, resuming from the last position misses nothing."""
    store = Store(":memory:", frozen_clock())
    ids: list[int] = []
    position = (0, -1)
    seen: list[tuple[int, int]] = []

    def drain() -> None:
        nonlocal position
        with store.read() as tx:
            while rows := tx.changes_after("things", position, page):
                seen.extend((r.id, r.updated_ms) for r in rows)
                position = (rows[-1].updated_ms, rows[-1].id)

    for index, target in enumerate(writes):
        with store.write() as tx:
            if target < len(ids):
                tx.update("things", ids[target], {"v": index})
            else:
                ids.append(tx.insert("things", {"v": index}, first_id=1).id)
        if index == split:
            drain()
    drain()
    with store.read() as tx:
        final = {r.id: r.updated_ms for r in tx.all("things")}
    # Every record's latest version was read, and no version was read twice.
    assert {i: ms for i, ms in seen if final[i] == ms} == final
    assert len(seen) == len(set(seen))
    store.close()


def test_fault_injector_counts_down_and_filters_paths() -> None:
    faults = FaultInjector()

    def request(path: str) -> Request:
        return Request("GET", path, {}, {}, b"", "127.0.0.1", "http://x")

    faults.configure({"status": 429, "fail_next": 2, "path_prefix": "/a"})
    decisions = [faults.decide(request(p)) for p in ("/b", "/a/1", "/a/2", "/a/3")]
    assert [d.status for d in decisions] == [None, 429, 429, None]
    assert decisions[1].retry_after == 1  # a 429 always says when to come back
    with pytest.raises(ValueError, match="unknown fault settings"):
        faults.configure({"latency": 5})


def test_seed_generation_is_deterministic_and_unique() -> None:
    first, second = generate(500, "crm"), generate(500, "crm")
    assert first == second
    assert generate(500, "helpdesk") != first
    emails = [p.email for p in first.people]
    assert len(set(emails)) == 500
    assert all(e.isascii() for e in emails)
    assert len({c.domain for c in first.companies}) == len(first.companies) == 62
    assert generate(0, "crm").people == () and generate(0, "crm").companies == ()
    stamps = [(p.created_ms, p.updated_ms) for p in first.people]
    assert all(c <= u for c, u in stamps)
