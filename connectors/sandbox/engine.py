"""The sandbox engine: a small HTTP server, router, storage and admin API shared by every dialect.

A dialect (crm.py, helpdesk.py, ...) only describes URL shapes, JSON shapes, auth and validation of one
kind of SaaS API; everything a demo system needs beyond that lives here so a new dialect is a page of
code. The sandbox must run with nothing but the standard library: it is started as a separate process
by the demo, the tests and the benchmarks, and must not depend on the hub's own stack.
"""

from __future__ import annotations

import abc
import argparse
import base64
import binascii
import bisect
import contextlib
import functools
import hmac
import json
import random
import re
import socket
import sqlite3
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

# Bodies larger than this are refused: no real API call we imitate comes close, and an unbounded read
# would let one broken client exhaust the process.
MAX_BODY_BYTES = 16 * 1024 * 1024


# --- Time -----------------------------------------------------------------------------------------


class MonotonicClock:
    """Epoch milliseconds that never repeat and never go backwards within a process.

    Incremental reads ("changed since T", "after cursor C") are only exact if every write gets its own
    modification time: two writes in the same millisecond would otherwise straddle a watermark. Under a
    burst of writes the clock runs ahead of the wall clock by at most one millisecond per write and
    catches up once the burst is over.
    """

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._last = 0
        self._lock = threading.Lock()

    def tick(self) -> int:
        with self._lock:
            ms = int(self._now() * 1000)
            if ms <= self._last:
                ms = self._last + 1
            self._last = ms
            return ms

    def observe(self, ms: int) -> None:
        """Never hand out a time at or before `ms` (a value already stored, e.g. by a previous run)."""
        with self._lock:
            self._last = max(self._last, ms)

    def last(self) -> int:
        with self._lock:
            return self._last


# One clock per process: every store in the process shares it, so values are unique process-wide.
CLOCK = MonotonicClock()

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _from_ms(ms: int) -> datetime:
    # Integer arithmetic: fromtimestamp(ms / 1000) can round .999 up and break the ms digits.
    return _EPOCH + timedelta(milliseconds=ms)


@functools.lru_cache(maxsize=8192)
def _iso_second(seconds: int) -> str:
    # A record's timestamps are rendered several times per response (HubSpot: four), and a page of
    # records shares few seconds: formatted once each.
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def iso_ms(ms: int) -> str:
    """`2026-11-28T10:00:00.123Z`, the HubSpot style."""
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


def iso_s(ms: int) -> str:
    """`2026-11-28T10:00:00Z`, the Zendesk style."""
    return _iso_second(ms // 1000) + "Z"


def wall_ms() -> int:
    return int(time.time() * 1000)


def parse_timestamp(value: object) -> int | None:
    """Epoch milliseconds from epoch ms (number or digit string) or an ISO 8601 string; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


# --- Requests and responses ------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        """The body bytes and their content type; bytes bodies pass through, anything else is JSON."""
        if self.body is None:
            return b"", ""
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        data = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return data, "application/json; charset=utf-8"


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, body, dict(headers or {}))


class HttpError(Exception):
    """Raised from deep inside a handler to answer with `response` straight away."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


class JsonBodyError(ValueError):
    """The request body is not the JSON the endpoint needs; the dialect words the answer."""


_NO_JSON = object()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client_host: str
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    route: str = ""
    _parsed: Any = field(default=_NO_JSON, repr=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def json(self) -> Any:
        if self._parsed is _NO_JSON:
            if not self.body.strip():
                raise JsonBodyError("the request body is empty; a JSON document is required")
            try:
                self._parsed = json.loads(self.body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise JsonBodyError(f"the request body is not valid JSON: {exc}") from None
        return self._parsed

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise JsonBodyError("the request body must be a JSON object")
        return data

    def int_arg(self, name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
        """A whole-number query argument, clamped to [minimum, maximum] as the real APIs do."""
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise JsonBodyError(f"query parameter {name} must be a whole number, got {raw!r}") from None
        value = max(value, minimum)
        return min(value, maximum) if maximum is not None else value


Handler = Callable[[Request], Response]


# --- Auth helpers ----------------------------------------------------------------------------------
# Dialects decide what is accepted and how a refusal looks; these only take the credentials apart.


def bearer_token(req: Request) -> str | None:
    """The token of `Authorization: Bearer <token>` (scheme case-insensitive), else None."""
    scheme, _, credential = (req.header("authorization") or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip() or None


def basic_credentials(req: Request) -> tuple[str, str] | None:
    """(user, password) of `Authorization: Basic ...`, else None (also for malformed base64)."""
    scheme, _, encoded = (req.header("authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, secret) if sep else None


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the sandbox is not a timing-attack example."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


# --- Routing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    auth: bool
    admin: bool
    order: int

    @property
    def priority(self) -> tuple[int, int]:
        # Literal routes beat parameterised ones (`users/me.json` before `users/{id}.json`), so
        # dialects may register in whatever order reads best.
        return (self.pattern.count("{"), self.order)


@dataclass(frozen=True)
class RouteMatch:
    route: Route | None
    params: dict[str, str]
    allowed: tuple[str, ...] = ()


class Router:
    _PARAM = re.compile(r"\{(\w+)\}")

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(
        self, method: str, pattern: str, handler: Handler, *, auth: bool = True, admin: bool = False
    ) -> None:
        regex = ""
        pos = 0
        for m in self._PARAM.finditer(pattern):
            regex += re.escape(pattern[pos : m.start()]) + f"(?P<{m.group(1)}>[^/]+?)"
            pos = m.end()
        regex += re.escape(pattern[pos:])
        route = Route(
            method.upper(), pattern, re.compile(f"^{regex}$"), handler, auth, admin, len(self._routes)
        )
        self._routes.append(route)
        self._routes.sort(key=lambda r: r.priority)

    def match(self, method: str, path: str) -> RouteMatch:
        allowed: list[str] = []
        for route in self._routes:
            m = route.regex.match(path)
            if m is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            return RouteMatch(route, {k: unquote(v) for k, v in m.groupdict().items()})
        return RouteMatch(None, {}, tuple(sorted(set(allowed))))

    def patterns(self) -> list[str]:
        return [f"{r.method} {r.pattern}" for r in sorted(self._routes, key=lambda r: r.order)]


# --- Stats and faults ------------------------------------------------------------------------------


class Stats:
    """Request counts by route pattern and by status, so benchmarks can see how many calls a sync made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._requests: Counter[str] = Counter()
            self._statuses: Counter[str] = Counter()
            self._faults = 0
            self._since = wall_ms()

    def record(self, key: str, status: int, *, fault: bool = False) -> None:
        with self._lock:
            self._requests[key] += 1
            self._statuses[str(status)] += 1
            if fault:
                self._faults += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._requests.values()),
                "requests": dict(sorted(self._requests.items())),
                "statuses": dict(sorted(self._statuses.items())),
                "faults_injected": self._faults,
                "since": iso_ms(self._since),
            }


@dataclass(frozen=True)
class FaultDecision:
    delay_seconds: float
    status: int | None
    retry_after: int | None


class FaultInjector:
    """Added latency and injected errors for API (non-admin) requests, set through `/_admin/faults`.

    `fail_next` fails exactly the next N requests so tests are deterministic; `error_rate` fails a
    fraction at random (seeded, so a benchmark run can be repeated).
    """

    _FIELDS = ("latency_ms", "error_rate", "status", "retry_after", "fail_next", "path_prefix", "seed")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._latency_ms = 0
            self._error_rate = 0.0
            self._status = 503
            self._retry_after: int | None = None
            self._fail_next = 0
            self._path_prefix = ""
            self._seed: int | None = None
            self._rng = random.Random()

    def configure(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the settings with `payload` (omitted keys go back to their defaults)."""
        unknown = sorted(set(payload) - set(self._FIELDS))
        if unknown:
            raise ValueError(f"unknown fault settings {unknown}; known: {list(self._FIELDS)}")
        latency = _number(payload, "latency_ms", 0, 0, 600_000)
        rate = _number(payload, "error_rate", 0.0, 0.0, 1.0)
        status = int(_number(payload, "status", 503, 400, 599))
        retry_raw = payload.get("retry_after")
        retry_after = None if retry_raw is None else int(_number(payload, "retry_after", 1, 0, 3600))
        fail_next = int(_number(payload, "fail_next", 0, 0, 1_000_000))
        prefix = payload.get("path_prefix") or ""
        if not isinstance(prefix, str):
            raise ValueError("path_prefix must be a string")
        seed = payload.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer")
        with self._lock:
            self._latency_ms = int(latency)
            self._error_rate = float(rate)
            self._status = status
            # A 429 without Retry-After is not what the real APIs send, so it always gets one.
            self._retry_after = 1 if retry_after is None and status == 429 else retry_after
            self._fail_next = fail_next
            self._path_prefix = prefix
            self._seed = seed
            self._rng = random.Random(seed)
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self._latency_ms,
                "error_rate": self._error_rate,
                "status": self._status,
                "retry_after": self._retry_after,
                "fail_next": self._fail_next,
                "path_prefix": self._path_prefix,
                "seed": self._seed,
            }

    def decide(self, req: Request) -> FaultDecision:
        with self._lock:
            if self._path_prefix and not req.path.startswith(self._path_prefix):
                return FaultDecision(0.0, None, None)
            status: int | None = None
            if self._fail_next > 0:
                self._fail_next -= 1
                status = self._status
            elif self._error_rate > 0 and self._rng.random() < self._error_rate:
                status = self._status
            return FaultDecision(self._latency_ms / 1000.0, status, self._retry_after if status else None)


def _number(payload: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = payload.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    if not low <= value <= high:
        raise ValueError(f"{key} must be between {low:g} and {high:g}")
    return float(value)


# --- Storage ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    object: str
    id: int
    data: dict[str, Any]
    created_ms: int
    updated_ms: int


@dataclass(frozen=True)
class Change:
    """One committed write, as the store's listeners see it (webhook deliveries are built from these).

    `action` is "created", "updated", "moved" (to `to_object`, e.g. a record archived) or "deleted";
    `data` is the record after the write (before it, for "deleted"), `previous` the data before it.
    """

    action: str
    object: str
    id: int
    data: dict[str, Any]
    previous: dict[str, Any] | None
    at_ms: int
    to_object: str | None = None
    created_ms: int = 0


ChangeListener = Callable[[list[Change]], None]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    object TEXT NOT NULL,
    id INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (object, id)
);
-- Incremental reads and `lastmodifieddate` searches walk this index, never the whole table.
CREATE INDEX IF NOT EXISTS records_by_updated ON records (object, updated_ms, id);
-- Case-insensitive unique values (email, domain, external id) and lookups by them.
CREATE TABLE IF NOT EXISTS unique_keys (
    object TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (object, name, value)
);
CREATE INDEX IF NOT EXISTS unique_keys_by_id ON unique_keys (object, id);
CREATE TABLE IF NOT EXISTS sequences (object TEXT PRIMARY KEY, next_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL,
                                  PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_JSON_KEY = re.compile(r"^[A-Za-z0-9_]+$")


def json_field(name: str) -> str:
    """SQL for one top-level key of a record's JSON (names are checked: they end up in the SQL text)."""
    if not _JSON_KEY.match(name):
        raise ValueError(f"not a usable field name: {name!r}")
    return f"json_extract(data, '$.\"{name}\"')"


class Store:
    """Records of every object type in one SQLite database, behind one lock.

    A single connection and a lock keep `:memory:` databases working and make each batch endpoint one
    transaction; a sandbox serves one client at a time in practice, so the lock is not the bottleneck.
    """

    def __init__(self, path: str, clock: MonotonicClock = CLOCK) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:" and not path.startswith("file::memory:"):
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL survives a process crash; only an OS crash can lose the last writes, which
            # is fine for demo data.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute("SELECT MAX(updated_ms), MAX(created_ms) FROM records").fetchone()
        self.clock.observe(max(row[0] or 0, row[1] or 0))
        # Called with the changes of every committed write transaction, in commit order (still under
        # the store's lock, so a listener may read the store but must not write to it).
        self.listeners: list[ChangeListener] = []
        # Counts made by read transactions, kept while no row has changed since (see `Tx.count`).
        self._counts = CountCache()

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                if self.path != ":memory:":
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        with self._lock:
            yield Tx(self._conn, self.clock, counts=self._counts)

    @contextlib.contextmanager
    def write(self, *, notify: bool = True) -> Iterator[Tx]:
        """One transaction: everything inside commits together or not at all.

        After the commit the listeners hear of its changes (`notify=False` for seeding and resets,
        which no real system reports as changes).
        """
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            tx = Tx(self._conn, self.clock, record_changes=notify and bool(self.listeners))
            try:
                yield tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            if tx.changes:
                for listener in list(self.listeners):
                    try:
                        listener(list(tx.changes))
                    except Exception:  # a listener's bug must not turn a committed write into a 500
                        traceback.print_exc(file=sys.stderr)


# "(updated_ms >= ?)" and the like: one bound on a column that every record has, as an incremental
# search asks (the dialects build their SQL from checked names, so the text is predictable).
_BOUND = re.compile(r"\(?(updated_ms|created_ms|id) (>=|>|<=|<) \?\)?")


class CountCache:
    """Counts made by read transactions, valid while the connection's `total_changes` stays the same.

    A condition seen before answers from memory. From the second count with one bound on updated_ms,
    created_ms or id in the same data version (a search paging on), such counts answer by bisecting
    that column's values, read once (sorted): paging through a million records by modification time
    then costs one read of the column, not a count per page. A lone count (one poll after a change)
    stays one COUNT.
    """

    def __init__(self) -> None:
        self._exact: dict[tuple[Any, ...], tuple[int, int]] = {}
        self._columns: dict[tuple[str, str], tuple[int, list[int] | None]] = {}

    def get(
        self, conn: sqlite3.Connection, version: int, object_: str, where: str, params: Sequence[Any]
    ) -> int | None:
        cached = self._exact.get((object_, where, *params))
        if cached is not None and cached[0] == version:
            return cached[1]
        bound = _BOUND.fullmatch(where)
        if bound is None or len(params) != 1 or not isinstance(params[0], int | float):
            return None
        column, op = bound.groups()
        values = self._column(conn, version, object_, column)
        if values is None:
            return None
        limit = params[0]
        if op == ">=":
            return len(values) - bisect.bisect_left(values, limit)
        if op == ">":
            return len(values) - bisect.bisect_right(values, limit)
        if op == "<=":
            return bisect.bisect_right(values, limit)
        return bisect.bisect_left(values, limit)

    def put(self, version: int, object_: str, where: str, params: Sequence[Any], counted: int) -> None:
        if len(self._exact) >= 256:
            self._exact.clear()
        self._exact[(object_, where, *params)] = (version, counted)

    def _column(self, conn: sqlite3.Connection, version: int, object_: str, column: str) -> list[int] | None:
        """The column's sorted values, from the second bounded count in this version; None before."""
        key = (object_, column)
        cached = self._columns.get(key)
        if len(self._columns) >= 16 and cached is None:
            self._columns.clear()
        if cached is None or cached[0] != version:
            self._columns[key] = (version, None)  # the first: counted by SQL, noted
            return None
        if cached[1] is None:
            sql = f"SELECT {column} FROM records WHERE object=? ORDER BY {column}"  # noqa: S608 - matched
            self._columns[key] = (version, [row[0] for row in conn.execute(sql, (object_,))])
        return self._columns[key][1]


class Tx:
    """Operations on the store; only valid inside `Store.read()` / `Store.write()`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        clock: MonotonicClock,
        *,
        record_changes: bool = False,
        counts: CountCache | None = None,
    ) -> None:
        self._conn = conn
        self.clock = clock
        self._record = record_changes
        self.changes: list[Change] = []
        self._counts = counts

    def _note(self, change: Change) -> None:
        if self._record:
            self.changes.append(change)

    @staticmethod
    def _row(object_: str, values: Sequence[Any]) -> Row:
        return Row(object_, int(values[0]), json.loads(values[3]), int(values[1]), int(values[2]))

    def get(self, object_: str, id_: int) -> Row | None:
        found = self._conn.execute(
            "SELECT id, created_ms, updated_ms, data FROM records WHERE object=? AND id=?", (object_, id_)
        ).fetchone()
        return self._row(object_, found) if found else None

    def get_many(self, object_: str, ids: Iterable[int]) -> dict[int, Row]:
        wanted = list(dict.fromkeys(ids))
        rows: dict[int, Row] = {}
        # SQLite caps bound parameters; 500 per query stays well under any build's limit.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for values in self._conn.execute(
                f"SELECT id, created_ms, updated_ms, data FROM records WHERE object=? AND id IN ({marks})",  # noqa: S608
                (object_, *chunk),
            ):
                row = self._row(object_, values)
                rows[row.id] = row
        return rows

    def find_unique(self, object_: str, name: str, value: str) -> int | None:
        found = self._conn.execute(
            "SELECT id FROM unique_keys WHERE object=? AND name=? AND value=?", (object_, name, value.lower())
        ).fetchone()
        return int(found[0]) if found else None

    def next_id(self, object_: str, first: int) -> int:
        found = self._conn.execute("SELECT next_id FROM sequences WHERE object=?", (object_,)).fetchone()
        value = int(found[0]) if found else first
        self._conn.execute(
            "INSERT INTO sequences (object, next_id) VALUES (?, ?) "
            "ON CONFLICT(object) DO UPDATE SET next_id=excluded.next_id",
            (object_, value + 1),
        )
        return value

    def _set_unique(
        self, object_: str, id_: int, unique: Mapping[str, str | None], *, new: bool = False
    ) -> None:
        for name, value in unique.items():
            if not new:
                self._conn.execute(
                    "DELETE FROM unique_keys WHERE object=? AND name=? AND id=?", (object_, name, id_)
                )
            if value:
                self._conn.execute(
                    "INSERT INTO unique_keys (object, name, value, id) VALUES (?, ?, ?, ?)",
                    (object_, name, value.lower(), id_),
                )

    def insert(
        self,
        object_: str,
        data: Mapping[str, Any],
        *,
        first_id: int,
        unique: Mapping[str, str | None] | None = None,
        created_ms: int | None = None,
        updated_ms: int | None = None,
    ) -> Row:
        """Create a record; ids come from a per-object sequence starting at `first_id`.

        Explicit timestamps are only for seed data (fixed, so a seed is reproducible); real writes take
        the next clock tick.
        """
        id_ = self.next_id(object_, first_id)
        if updated_ms is None:
            updated_ms = self.clock.tick()
        else:
            self.clock.observe(updated_ms)
        created_ms = updated_ms if created_ms is None else created_ms
        self._conn.execute(
            "INSERT INTO records (object, id, created_ms, updated_ms, data) VALUES (?, ?, ?, ?, ?)",
            (object_, id_, created_ms, updated_ms, json.dumps(data, separators=(",", ":"))),
        )
        self._set_unique(object_, id_, unique or {}, new=True)
        self._note(Change("created", object_, id_, dict(data), None, updated_ms, created_ms=created_ms))
        return Row(object_, id_, dict(data), created_ms, updated_ms)

    def insert_many(
        self,
        object_: str,
        items: Sequence[tuple[Mapping[str, Any], Mapping[str, str | None], int]],
        *,
        first_id: int,
    ) -> list[int]:
        """Seed data in bulk: (data, unique values, timestamp) per record, created and last modified at
        that timestamp; ids are taken from the sequence as one block. Returns the ids in order."""
        if not items:
            return []
        start = self.next_id(object_, first_id)
        ids = list(range(start, start + len(items)))
        if len(items) > 1:
            self._conn.execute("UPDATE sequences SET next_id=? WHERE object=?", (ids[-1] + 1, object_))
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        self._conn.executemany(
            "INSERT INTO records (object, id, created_ms, updated_ms, data) VALUES (?, ?, ?, ?, ?)",
            [(object_, id_, ms, ms, dumps(data)) for id_, (data, _, ms) in zip(ids, items, strict=True)],
        )
        self._conn.executemany(
            "INSERT INTO unique_keys (object, name, value, id) VALUES (?, ?, ?, ?)",
            [
                (object_, name, value.lower(), id_)
                for id_, (_, unique, _) in zip(ids, items, strict=True)
                for name, value in unique.items()
                if value
            ],
        )
        self.clock.observe(max(ms for _, _, ms in items))
        for id_, (data, _, ms) in zip(ids, items, strict=True):
            self._note(Change("created", object_, id_, dict(data), None, ms, created_ms=ms))
        return ids

    def update(
        self,
        object_: str,
        id_: int,
        data: Mapping[str, Any],
        *,
        unique: Mapping[str, str | None] | None = None,
        created_ms: int | None = None,
    ) -> Row:
        """Replace a record's data and give it a fresh modification time."""
        current = self.get(object_, id_)
        if current is None:
            raise KeyError(f"{object_} {id_} does not exist")
        updated_ms = self.clock.tick()
        created = current.created_ms if created_ms is None else created_ms
        self._conn.execute(
            "UPDATE records SET data=?, updated_ms=?, created_ms=? WHERE object=? AND id=?",
            (json.dumps(data, separators=(",", ":")), updated_ms, created, object_, id_),
        )
        self._set_unique(object_, id_, unique or {})
        self._note(Change("updated", object_, id_, dict(data), current.data, updated_ms, created_ms=created))
        return Row(object_, id_, dict(data), created, updated_ms)

    def move(self, object_: str, id_: int, to_object: str, data: Mapping[str, Any] | None = None) -> Row:
        """Move a record under another object name (e.g. `contacts:archived`), keeping its id.

        Its unique values are released (a new record may take the email of an archived one) and it
        gets a fresh modification time: the moment it was archived.
        """
        current = self.get(object_, id_)
        if current is None:
            raise KeyError(f"{object_} {id_} does not exist")
        new_data = dict(current.data if data is None else data)
        updated_ms = self.clock.tick()
        self._conn.execute(
            "DELETE FROM records WHERE object=? AND id=?",
            (to_object, id_),
        )
        self._conn.execute(
            "UPDATE records SET object=?, data=?, updated_ms=? WHERE object=? AND id=?",
            (to_object, json.dumps(new_data, separators=(",", ":")), updated_ms, object_, id_),
        )
        self._conn.execute("DELETE FROM unique_keys WHERE object=? AND id=?", (object_, id_))
        self._note(
            Change("moved", object_, id_, new_data, current.data, updated_ms, to_object, current.created_ms)
        )
        return Row(to_object, id_, new_data, current.created_ms, updated_ms)

    def remove(self, object_: str, id_: int) -> bool:
        """Delete a record for good, with its unique values."""
        current = self.get(object_, id_) if self._record else None
        self._conn.execute("DELETE FROM unique_keys WHERE object=? AND id=?", (object_, id_))
        gone = self._conn.execute("DELETE FROM records WHERE object=? AND id=?", (object_, id_)).rowcount > 0
        if gone and current is not None:
            self._note(
                Change(
                    "deleted",
                    object_,
                    id_,
                    current.data,
                    current.data,
                    self.clock.tick(),
                    None,
                    current.created_ms,
                )
            )
        return gone

    def page_by_id(
        self, object_: str, *, after: int | None = None, before: int | None = None, limit: int
    ) -> list[Row]:
        """Up to `limit` records in id order, strictly after `after` (or strictly before `before`)."""
        if before is not None:
            found = self._conn.execute(
                "SELECT id, created_ms, updated_ms, data FROM records WHERE object=? AND id<? "
                "ORDER BY id DESC LIMIT ?",
                (object_, before, limit),
            ).fetchall()
            return [self._row(object_, v) for v in reversed(found)]
        found = self._conn.execute(
            "SELECT id, created_ms, updated_ms, data FROM records WHERE object=? AND id>? ORDER BY id LIMIT ?",
            (object_, -(2**62) if after is None else after, limit),
        ).fetchall()
        return [self._row(object_, v) for v in found]

    def changes_after(self, object_: str, position: tuple[int, int], limit: int) -> list[Row]:
        """Records after `(updated_ms, id)` in (updated_ms, id) order: the basis of incremental exports."""
        ms, id_ = position
        found = self._conn.execute(
            "SELECT id, created_ms, updated_ms, data FROM records WHERE object=? "
            "AND (updated_ms > ? OR (updated_ms = ? AND id > ?)) ORDER BY updated_ms, id LIMIT ?",
            (object_, ms, ms, id_, limit),
        ).fetchall()
        return [self._row(object_, v) for v in found]

    def select(
        self,
        object_: str,
        where: str = "1=1",
        params: Sequence[Any] = (),
        *,
        order_by: str = "id",
        limit: int = -1,
        offset: int = 0,
    ) -> list[Row]:
        """Records matching a SQL condition over the columns id, created_ms, updated_ms and data.

        The condition and ordering are built by dialect code from checked names (see `json_field`);
        values always go in `params`.
        """
        sql = (
            f"SELECT id, created_ms, updated_ms, data FROM records WHERE object=? AND ({where}) "  # noqa: S608
            f"ORDER BY {order_by} LIMIT ? OFFSET ?"
        )
        found = self._conn.execute(sql, (object_, *params, limit, offset)).fetchall()
        return [self._row(object_, v) for v in found]

    def count(self, object_: str, where: str = "1=1", params: Sequence[Any] = ()) -> int:
        """How many records match. Searches page through one condition, and an incremental sync moves
        its lower bound on the modification time page by page: read transactions reuse what they
        counted (see `CountCache`) while no row of the database has changed since. Counting walks every
        matching row; without this, paging through a million records counted up to a million rows for
        every page (the search's `total`), and the sandbox, not its client, set the pace."""
        cache = self._counts
        # Rows inserted, updated or deleted on this connection so far: any write moves it.
        version = self._conn.total_changes
        if cache is not None:
            found = cache.get(self._conn, version, object_, where, params)
            if found is not None:
                return found
        sql = f"SELECT COUNT(*) FROM records WHERE object=? AND ({where})"  # noqa: S608
        counted = int(self._conn.execute(sql, (object_, *params)).fetchone()[0])
        if cache is not None:
            cache.put(version, object_, where, params, counted)
        return counted

    def all(self, object_: str) -> list[Row]:
        return self.select(object_)

    def put_blob(self, kind: str, key: str, data: Any) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO blobs (kind, key, data) VALUES (?, ?, ?)",
            (kind, key, json.dumps(data, separators=(",", ":"))),
        )

    def get_blob(self, kind: str, key: str) -> Any | None:
        found = self._conn.execute("SELECT data FROM blobs WHERE kind=? AND key=?", (kind, key)).fetchone()
        return json.loads(found[0]) if found else None

    def blobs(self, kind: str) -> list[tuple[str, Any]]:
        """Every (key, data) of one kind, in key order."""
        rows = self._conn.execute("SELECT key, data FROM blobs WHERE kind=? ORDER BY key", (kind,)).fetchall()
        return [(str(key), json.loads(data)) for key, data in rows]

    def delete_blob(self, kind: str, key: str) -> bool:
        return self._conn.execute("DELETE FROM blobs WHERE kind=? AND key=?", (kind, key)).rowcount > 0

    def get_meta(self, key: str) -> str | None:
        found = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(found[0]) if found else None

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def wipe(self) -> None:
        """Remove all data but keep `meta` (which system owns the file)."""
        for table in ("records", "unique_keys", "sequences", "blobs"):
            self._conn.execute(f"DELETE FROM {table}")  # noqa: S608


# --- Dialects --------------------------------------------------------------------------------------


class Dialect(abc.ABC):
    """One imitated SaaS API. Subclasses register their routes and describe their error shapes."""

    system: ClassVar[str]
    # Object name -> first id handed out for it.
    objects: ClassVar[Mapping[str, int]]
    default_port: ClassVar[int] = 0

    def __init__(self, store: Store, options: Mapping[str, Any]) -> None:
        self.store = store
        self.options = dict(options)
        # The base URL clients last reached this sandbox at; webhook payloads carry resource URLs.
        self.base_url = ""

    @classmethod  # noqa: B027 - an optional hook, empty on purpose
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Extra command-line options of this dialect (e.g. the accepted token)."""

    @abc.abstractmethod
    def register(self, router: Router) -> None: ...

    @abc.abstractmethod
    def authenticate(self, req: Request) -> Response | None:
        """None when the request carries valid credentials, else the dialect's 401."""

    @abc.abstractmethod
    def error(self, status: int, kind: str, message: str) -> Response:
        """An error in this API's shape. kind: not_found, method_not_allowed, bad_request, fault, internal."""

    @abc.abstractmethod
    def seed(self, tx: Tx, count: int) -> dict[str, int]:
        """Create deterministic demo data for `count`; returns how many records of each object."""

    @abc.abstractmethod
    def admin_list(self, req: Request, object_: str) -> list[Any]: ...

    @abc.abstractmethod
    def admin_create(self, req: Request, object_: str, payload: dict[str, Any]) -> Response: ...

    @abc.abstractmethod
    def admin_update(self, req: Request, object_: str, id_: int, payload: dict[str, Any]) -> Response: ...

    def changes_committed(self, changes: list[Change]) -> None:  # noqa: B027 - an optional hook
        """Hear of every committed write (e.g. to queue webhook deliveries); reads only, no writes."""

    def reset_hook(self) -> None:  # noqa: B027 - an optional hook
        """Forget per-run state kept outside the store (queued deliveries and their log) on a reset."""


BeforeHook = Callable[[Request], Response | None]


class SandboxApp:
    """Dispatches requests: admin routes, then before-hooks (faults), auth and the dialect's handler."""

    def __init__(
        self,
        dialect_cls: type[Dialect],
        store: Store,
        options: Mapping[str, Any] | None = None,
        *,
        allow_remote_admin: bool = False,
    ) -> None:
        self.store = store
        self.dialect = dialect_cls(store, options or {})
        self.router = Router()
        self.stats = Stats()
        self.faults = FaultInjector()
        self.allow_remote_admin = allow_remote_admin
        # Hooks run before auth on every API request; the first to return a response answers it.
        # Dialects can add their own (rate limits, idempotency keys) next to fault injection.
        self.before_hooks: list[BeforeHook] = []
        self._register_admin()
        self.dialect.register(self.router)
        store.listeners.append(self.dialect.changes_committed)
        with store.write() as tx:
            owner = tx.get_meta("system")
            if owner is None:
                tx.set_meta("system", dialect_cls.system)
            elif owner != dialect_cls.system:
                raise RuntimeError(
                    f"{store.path} holds a {owner} sandbox, not {dialect_cls.system}; use another --db"
                )

    # -- lifecycle

    def seed_if_new(self, count: int) -> bool:
        """Seed once, when the database is first created; reopening an existing file keeps its data."""
        with self.store.write(notify=False) as tx:
            if tx.get_meta("seeded") is not None:
                return False
            self.dialect.seed(tx, count)
            tx.set_meta("seeded", str(count))
        return True

    def reset(self, count: int) -> dict[str, int]:
        self.dialect.reset_hook()
        with self.store.write(notify=False) as tx:
            tx.wipe()
            counts = self.dialect.seed(tx, count)
            tx.set_meta("seeded", str(count))
        # A reset starts a clean experiment: earlier traffic and faults would only confuse it.
        self.stats.clear()
        self.faults.clear()
        return counts

    # -- dispatch

    def handle(self, req: Request) -> Response:
        try:
            return self._handle(req)
        except HttpError as exc:
            return exc.response
        except JsonBodyError as exc:
            return self.dialect.error(400, "bad_request", str(exc))
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return self.dialect.error(500, "internal", "the sandbox failed to handle this request")

    def _handle(self, req: Request) -> Response:
        match = self.router.match(req.method, req.path)
        if match.route is None:
            if req.path.startswith("/_admin/"):
                return json_response(
                    404, {"ok": False, "error": f"no admin endpoint {req.method} {req.path}"}
                )
            key = "(unmatched)"
            if match.allowed:
                resp = self.dialect.error(405, "method_not_allowed", f"{req.method} is not allowed here")
                resp.headers["Allow"] = ", ".join(match.allowed)
            else:
                resp = self.dialect.error(404, "not_found", f"no endpoint {req.method} {req.path}")
            self.stats.record(key, resp.status)
            return resp
        route = match.route
        req.params = match.params
        req.route = route.pattern
        self.dialect.base_url = req.base_url
        if route.admin:
            if not self.allow_remote_admin and not _is_loopback(req.client_host):
                return json_response(
                    403, {"ok": False, "error": "the admin API only answers loopback clients"}
                )
            try:
                return route.handler(req)
            except JsonBodyError as exc:
                return json_response(400, {"ok": False, "error": str(exc)})
        key = f"{route.method} {route.pattern}"
        decision = self.faults.decide(req)
        if decision.delay_seconds > 0:
            time.sleep(decision.delay_seconds)
        if decision.status is not None:
            resp = self.dialect.error(decision.status, "fault", "injected fault")
            if decision.retry_after is not None:
                resp.headers["Retry-After"] = str(decision.retry_after)
            self.stats.record(key, resp.status, fault=True)
            return resp
        try:
            resp = self._api(req, route)
        except HttpError as exc:
            resp = exc.response
        except JsonBodyError as exc:
            resp = self.dialect.error(400, "bad_request", str(exc))
        self.stats.record(key, resp.status)
        return resp

    def _api(self, req: Request, route: Route) -> Response:
        for hook in self.before_hooks:
            early = hook(req)
            if early is not None:
                return early
        if route.auth:
            denied = self.dialect.authenticate(req)
            if denied is not None:
                return denied
        return route.handler(req)

    # -- admin API

    def _register_admin(self) -> None:
        add = self.router.add
        add("GET", "/_admin/health", self._admin_health, auth=False, admin=True)
        add("POST", "/_admin/reset", self._admin_reset, auth=False, admin=True)
        add("GET", "/_admin/records/{object}", self._admin_list, auth=False, admin=True)
        add("POST", "/_admin/records/{object}", self._admin_create, auth=False, admin=True)
        add("PATCH", "/_admin/records/{object}/{id}", self._admin_update, auth=False, admin=True)
        add("GET", "/_admin/stats", self._admin_stats, auth=False, admin=True)
        add("DELETE", "/_admin/stats", self._admin_clear_stats, auth=False, admin=True)
        add("GET", "/_admin/faults", self._admin_faults, auth=False, admin=True)
        add("POST", "/_admin/faults", self._admin_set_faults, auth=False, admin=True)
        add("DELETE", "/_admin/faults", self._admin_clear_faults, auth=False, admin=True)

    def _admin_health(self, req: Request) -> Response:
        with self.store.read() as tx:
            counts = {name: tx.count(name) for name in self.dialect.objects}
        return json_response(200, {"ok": True, "system": self.dialect.system, "counts": counts})

    def _admin_reset(self, req: Request) -> Response:
        payload = req.json_object() if req.body.strip() else {}
        seed = payload.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            return json_response(400, {"ok": False, "error": "seed must be a whole number >= 0"})
        counts = self.reset(seed)
        return json_response(200, {"ok": True, "system": self.dialect.system, "seed": seed, "counts": counts})

    def _object(self, req: Request) -> str:
        name = req.params["object"]
        if name not in self.dialect.objects:
            known = ", ".join(self.dialect.objects)
            raise HttpError(
                json_response(404, {"ok": False, "error": f"unknown object {name!r}; known: {known}"})
            )
        return name

    def _admin_list(self, req: Request) -> Response:
        return json_response(200, {"results": self.dialect.admin_list(req, self._object(req))})

    def _admin_create(self, req: Request) -> Response:
        object_ = self._object(req)
        return self.dialect.admin_create(req, object_, req.json_object())

    def _admin_update(self, req: Request) -> Response:
        object_ = self._object(req)
        try:
            id_ = int(req.params["id"])
        except ValueError:
            return json_response(404, {"ok": False, "error": f"no {object_} record {req.params['id']!r}"})
        return self.dialect.admin_update(req, object_, id_, req.json_object())

    def _admin_stats(self, req: Request) -> Response:
        return json_response(200, self.stats.snapshot())

    def _admin_clear_stats(self, req: Request) -> Response:
        self.stats.clear()
        return json_response(200, self.stats.snapshot())

    def _admin_faults(self, req: Request) -> Response:
        return json_response(200, self.faults.snapshot())

    def _admin_set_faults(self, req: Request) -> Response:
        try:
            return json_response(200, self.faults.configure(req.json_object()))
        except ValueError as exc:
            return json_response(400, {"ok": False, "error": str(exc)})

    def _admin_clear_faults(self, req: Request) -> Response:
        self.faults.clear()
        return json_response(200, self.faults.snapshot())


def _is_loopback(host: str) -> bool:
    return (
        host in {"127.0.0.1", "::1", "localhost"} or host.startswith("127.") or host.startswith("::ffff:127.")
    )


# --- HTTP server -----------------------------------------------------------------------------------


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open many connections at once; the default backlog of 5 would refuse some.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp, *, verbose: bool = False) -> None:
        self.app = app
        self.verbose = verbose
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SandboxRequestHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "IntegrationsHubSandbox/1.0"
    # Idle keep-alive connections are dropped after this long so their threads do not pile up.
    timeout = 120
    server: SandboxServer

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm and delayed ACKs add ~40 ms to small keep-alive responses.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400/413 (the connection is then closed)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            self._fail(400, "invalid Content-Length")
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            self._fail(413, "request body too large")
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self._fail(400, "invalid chunked encoding")
                return None
            if size == 0:
                # Trailers, then the blank line that ends the body.
                while self.rfile.readline(8192).strip():
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                self._fail(413, "request body too large")
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _fail(self, status: int, message: str) -> None:
        # The rest of the stream can no longer be trusted, so this connection ends here.
        self.close_connection = True
        self._send(json_response(status, {"error": message}))

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        address = self.server.server_address[0]
        bound = address.decode() if isinstance(address, bytes) else str(address)
        # Links in responses use the Host the client called, so they work behind port mappings too.
        host = self.headers.get("Host") or f"{bound}:{self.server.port}"
        req = Request(
            method=self.command,
            path=path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_host=str(self.client_address[0]),
            base_url=f"http://{host}",
        )
        self._send(self.server.app.handle(req))

    def _send(self, resp: Response) -> None:
        payload, content_type = resp.encode()
        try:
            phrase = HTTPStatus(resp.status).phrase
        except ValueError:
            phrase = ""
        lines = [
            f"HTTP/1.1 {resp.status} {phrase}",
            f"Date: {self.date_time_string()}",
            f"Server: {self.version_string()}",
            f"Content-Length: {len(payload)}",
        ]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.extend(f"{k}: {v}" for k, v in resp.headers.items() if k.lower() != "content-type")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            # One write for head and body: a split write stalls on delayed ACKs on some stacks.
            self.wfile.write(head + payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if self.server.verbose:
            self.log_request(resp.status, len(payload))

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


def start_in_thread(app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    """Serve `app` from a background thread (for in-process use); stop with `server.shutdown()`."""
    server = SandboxServer((host, port), app)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server
