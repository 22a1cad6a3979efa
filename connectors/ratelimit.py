"""The rate-limit governor: one request budget per connection, shared by every process that talks to it.

A system's limit is per account, not per worker: four Celery workers that each keep "their" 10 requests
a second send 40. So the budget lives where all of them see it, in Redis, changed only by atomic Lua
scripts (clock included: the scripts read Redis' own TIME, so the workers' clocks never have to agree).
Without Redis (the embedded demo, one worker) a process-local governor with the same semantics takes
its place.

A budget is what the systems document: at most `requests` in any window of `interval_seconds` (HubSpot:
100 per rolling 10 s). The governor keeps a log of the slots it handed out in the last window and lets a
request go as soon as fewer than `requests` slots fall in the window ending at that moment. So a job
spends a window's whole allowance at once (the first 100 go without waiting) and then sends each next
request the moment the oldest one leaves the window: the most a rolling window allows, never more.

The log is kept honest about when the server saw a request: a slot is stamped with its sending moment
while the request is in flight (plus `ARRIVAL_ALLOWANCE_SECONDS`, in case it is slow to arrive), and the
client `settle`s it when the answer is in, which stamps it with that moment (the server has certainly
seen the request by then). A slot never settled (its process died) simply ages out.

The governor hands out *reservations*: `acquire` takes a slot even when the window is full and answers
how long to sleep before sending. Callers never poll. A 429's Retry-After is stored as "blocked until"
on the same key so that the next request from any process waits it out too.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from connectors.base import RateLimit

logger = logging.getLogger(__name__)

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# Redis calls must not hang a worker; a governor that cannot answer falls back to the local one.
REDIS_TIMEOUT_SECONDS = 2.0
# How late after its slot an in-flight request may reach the server and still be counted where it
# lands (a loaded machine, a slow connect). Only matters while a full window's worth is in flight.
ARRIVAL_ALLOWANCE_SECONDS = 1.0
# Next-slot arithmetic rounds to microseconds; this keeps "a window later" strictly later.
_EPSILON = 0.001


@dataclass(frozen=True)
class Reservation:
    """The answer to "may I send?": `granted` with the seconds to sleep first, or refused (not taken)
    because the wait would be longer than the caller accepts. `slot` names the slot taken in the log of
    a budget (None without a budget); hand it back to `settle` once the request is answered."""

    granted: bool
    wait_seconds: float
    slot: str | None = None


class RateGovernor(Protocol):
    def acquire(
        self,
        key: str,
        limit: RateLimit | None,
        *,
        max_wait: float,
        waited_until: float | None = None,
        not_before: float = 0.0,
        in_flight: float = 0.0,
    ) -> Reservation:
        """Reserve the next request slot for `key`.

        `limit` None: no budget, only a stored block applies. `waited_until`: the end of a block (as
        returned by `block`) this caller has already slept through itself; that block is not applied
        again, a later or longer one still is. `not_before`: seconds from now before which the caller
        will not send anyway (it waits for another budget). `in_flight`: seconds the slot is counted
        past its moment until `settle` says the request is done (0: the slot is its moment, for callers
        that count what they receive themselves).
        """
        ...

    def settle(self, key: str, slot: str | None) -> None:
        """The request of `slot` was answered (or failed) now: it counts from this moment on."""
        ...

    def cancel(self, key: str, slot: str | None) -> None:
        """The request of `slot` was not sent: free the slot."""
        ...

    def block(self, key: str, seconds: float) -> float:
        """No request for `key` before `seconds` from now (never shortens a block); returns its end."""
        ...


# --- the window arithmetic ---------------------------------------------------------------------------
# `_reserve` is the reference; the Lua script below is the same steps, line for line. Keep them in step:
# tests/connectors/test_ratelimit_governor.py runs the same scenarios against both.


@dataclass
class _Log:
    blocked: float = 0.0  # no request before this moment
    slots: dict[str, float] = field(default_factory=dict)  # slot -> the moment it counts at


def _reserve(
    log: _Log,
    now: float,
    limit: RateLimit | None,
    *,
    max_wait: float,
    waited_until: float | None,
    not_before: float,
    in_flight: float,
    slot: str,
) -> Reservation:
    blocked = log.blocked
    if waited_until is not None and blocked <= waited_until:
        blocked = 0.0
    at = max(now + max(0.0, not_before), blocked)
    if limit is None:
        wait = at - now
        return Reservation(wait <= max_wait, wait)
    window = limit.interval_seconds
    # A slot at or before now - window can share no window with a request sent from now on.
    for name, moment in list(log.slots.items()):
        if moment <= now - window:
            del log.slots[name]
    live = sorted(moment for moment in log.slots.values() if moment > at - window)
    go = at
    if len(live) >= limit.requests:
        # The window ending at `go` must hold at most requests - 1 others: wait until enough have left it.
        go = max(at, live[len(live) - limit.requests] + window + _EPSILON)
    wait = go - now
    if wait > max_wait:
        return Reservation(False, wait)
    log.slots[slot] = go + in_flight
    return Reservation(True, wait, slot)


_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local requests = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local waited = tonumber(ARGV[4])
local not_before = math.max(0, tonumber(ARGV[5]))
local in_flight = tonumber(ARGV[6])
local slot = ARGV[7]
local epsilon = tonumber(ARGV[8])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0
if waited ~= nil and blocked <= waited then blocked = 0 end
local at = math.max(now + not_before, blocked)
if requests <= 0 then
  local wait = at - now
  if wait > max_wait then return {0, string.format('%.6f', wait)} end
  return {1, string.format('%.6f', wait)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.6f', now - window))
local since = string.format('(%.6f', at - window)
local count = redis.call('ZCOUNT', KEYS[2], since, '+inf')
local go = at
if count >= requests then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[2], since, '+inf', 'WITHSCORES', 'LIMIT', count - requests, 1)
  go = math.max(at, tonumber(oldest[2]) + window + epsilon)
end
local wait = go - now
if wait > max_wait then return {0, string.format('%.6f', wait)} end
redis.call('ZADD', KEYS[2], string.format('%.6f', go + in_flight), slot)
-- Once every slot has left the window, a missing key means the same thing.
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], math.ceil((tonumber(last[2]) + window - now) * 1000) + 1000)
return {1, string.format('%.6f', wait)}
"""

_SETTLE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', string.format('%.6f', now), ARGV[1])
end
return 1
"""

_BLOCK_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ends = now + tonumber(ARGV[1])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0
if ends > blocked then
  blocked = ends
  redis.call('HSET', KEYS[1], 'blocked', string.format('%.6f', blocked))
end
local need = math.ceil((blocked - now) * 1000) + 1000
if redis.call('PTTL', KEYS[1]) < need then redis.call('PEXPIRE', KEYS[1], need) end
return redis.call('HGET', KEYS[1], 'blocked')
"""


def _lua_number(value: float | None) -> str:
    # The script compares `waited` with the stored string it returned; the same six decimals keep them equal.
    return "" if value is None else f"{value:.6f}"


# Slot names must be unique among every process sharing the Redis log. A random prefix per process
# (renewed in a forked child, which would otherwise inherit its parent's) plus a counter gives that
# without asking the OS for fresh randomness on every request.
_slot_counter = itertools.count()
_slot_prefix = ""


def _renew_slot_prefix() -> None:
    global _slot_prefix
    _slot_prefix = uuid.uuid4().hex[:12]


_renew_slot_prefix()
os.register_at_fork(after_in_child=_renew_slot_prefix)


def _new_slot() -> str:
    return f"{_slot_prefix}{next(_slot_counter):x}"


# --- governors ---------------------------------------------------------------------------------------


class LocalGovernor:
    """The process-local governor: correct for threads of one process, blind to other processes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._logs: dict[str, _Log] = {}

    def acquire(
        self,
        key: str,
        limit: RateLimit | None,
        *,
        max_wait: float,
        waited_until: float | None = None,
        not_before: float = 0.0,
        in_flight: float = 0.0,
    ) -> Reservation:
        with self._lock:
            log = self._logs.setdefault(key, _Log())
            return _reserve(
                log,
                float(self._clock()),
                limit,
                max_wait=max_wait,
                waited_until=waited_until,
                not_before=not_before,
                in_flight=in_flight,
                slot=_new_slot(),
            )

    def settle(self, key: str, slot: str | None) -> None:
        if slot is None:
            return
        with self._lock:
            log = self._logs.get(key)
            if log is not None and slot in log.slots:
                log.slots[slot] = float(self._clock())

    def cancel(self, key: str, slot: str | None) -> None:
        if slot is None:
            return
        with self._lock:
            log = self._logs.get(key)
            if log is not None:
                log.slots.pop(slot, None)

    def block(self, key: str, seconds: float) -> float:
        with self._lock:
            log = self._logs.setdefault(key, _Log())
            log.blocked = max(log.blocked, float(self._clock()) + max(0.0, seconds))
            return log.blocked

    def reset(self) -> None:
        with self._lock:
            self._logs.clear()


class RedisGovernor:
    """The shared governor: per key a hash (the block) and a sorted set (the slots), changed only by the
    scripts above."""

    def __init__(
        self, url: str, *, prefix: str = "hub:ratelimit:", fallback: LocalGovernor | None = None
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self._acquire = self._client.register_script(_ACQUIRE_LUA)
        self._settle = self._client.register_script(_SETTLE_LUA)
        self._block = self._client.register_script(_BLOCK_LUA)
        self._fallback = fallback or LOCAL_GOVERNOR

    def redis_key(self, key: str) -> str:
        return self.prefix + key

    def slots_key(self, key: str) -> str:
        return self.prefix + key + ":slots"

    def acquire(
        self,
        key: str,
        limit: RateLimit | None,
        *,
        max_wait: float,
        waited_until: float | None = None,
        not_before: float = 0.0,
        in_flight: float = 0.0,
    ) -> Reservation:
        slot = _new_slot()
        try:
            granted, wait = self._acquire(
                keys=[self.redis_key(key), self.slots_key(key)],
                args=[
                    limit.requests if limit is not None else 0,
                    repr(limit.interval_seconds if limit is not None else 0.0),
                    repr(max_wait),
                    _lua_number(waited_until),
                    repr(not_before),
                    repr(in_flight),
                    slot,
                    repr(_EPSILON),
                ],
            )
        except redis.RedisError as exc:
            # Losing Redis must not stop every sync; each process keeps to the budget on its own
            # until it is back (a temporary overshoot of at most processes x budget, then 429s handle it).
            logger.warning("Rate-limit governor: Redis unavailable (%s); using the in-process budget", exc)
            return self._fallback.acquire(
                key,
                limit,
                max_wait=max_wait,
                waited_until=waited_until,
                not_before=not_before,
                in_flight=in_flight,
            )
        granted_ = bool(int(granted))
        return Reservation(granted_, float(wait), slot if granted_ and limit is not None else None)

    def settle(self, key: str, slot: str | None) -> None:
        if slot is None:
            return
        try:
            self._settle(keys=[self.slots_key(key)], args=[slot])
        except redis.RedisError as exc:
            logger.warning("Rate-limit governor: Redis unavailable (%s); slot left to age out", exc)
        # A slot handed out while Redis was away lives in the fallback; settling there is harmless.
        self._fallback.settle(key, slot)

    def cancel(self, key: str, slot: str | None) -> None:
        if slot is None:
            return
        try:
            self._client.zrem(self.slots_key(key), slot)
        except redis.RedisError as exc:
            logger.warning("Rate-limit governor: Redis unavailable (%s); slot left to age out", exc)
        self._fallback.cancel(key, slot)

    def block(self, key: str, seconds: float) -> float:
        try:
            ends = self._block(keys=[self.redis_key(key)], args=[repr(max(0.0, seconds))])
        except redis.RedisError as exc:
            logger.warning("Rate-limit governor: Redis unavailable (%s); blocking in-process only", exc)
            return self._fallback.block(key, seconds)
        return float(ends)

    def close(self) -> None:
        self._client.close()


LOCAL_GOVERNOR = LocalGovernor()
_redis_governors: dict[tuple[str, str], RedisGovernor] = {}
_redis_lock = threading.Lock()


def _setting(name: str, default: Any) -> Any:
    try:
        return getattr(settings, name, default)
    except ImproperlyConfigured:
        return default


def key_prefix() -> str:
    """Keys carry a short hash of the database name: installations (and test databases) sharing one
    Redis keep separate budgets even though their connection ids overlap."""
    databases = _setting("DATABASES", {}) or {}
    name = str((databases.get("default") or {}).get("NAME") or "")
    return f"hub:ratelimit:{hashlib.sha256(name.encode()).hexdigest()[:10]}:"


def shared_governor() -> RateGovernor:
    """Redis when HUB_RATE_LIMIT_REDIS_URL is set (settings default it to a redis:// broker), else local."""
    url = str(_setting("HUB_RATE_LIMIT_REDIS_URL", "") or "")
    if not url.startswith(REDIS_SCHEMES):
        return LOCAL_GOVERNOR
    prefix = key_prefix()
    with _redis_lock:
        governor = _redis_governors.get((url, prefix))
        if governor is None:
            governor = _redis_governors[(url, prefix)] = RedisGovernor(url, prefix=prefix)
        return governor


def connection_key(connection_id: int) -> str:
    return f"connection:{connection_id}"


# Budgets of their own for some endpoints, on top of the account's: (regular expression searched in the
# request path, budget). E.g. HubSpot's search endpoints allow 5 requests a second per account.
PathBudgets = Sequence[tuple[str, RateLimit]]


@dataclass(frozen=True)
class Budget:
    connection_id: int | None
    rate_limit: RateLimit | None
    paths: PathBudgets = ()


# The budget of the connection whose client is being built (see Provider.client). An HttpClient made
# meanwhile without an explicit connection_id/rate_limit takes it, so a connector that forgets to pass
# them still draws from its connection's budget instead of none; the endpoint budgets apply to every
# HttpClient built for that connection.
_building: ContextVar[Budget | None] = ContextVar("connection_budget", default=None)


@contextlib.contextmanager
def connection_budget(
    connection_id: int | None, rate_limit: RateLimit | None, paths: PathBudgets = ()
) -> Iterator[None]:
    token = _building.set(Budget(connection_id, rate_limit, tuple(paths)))
    try:
        yield
    finally:
        _building.reset(token)


def current_budget() -> Budget | None:
    return _building.get()


def path_key(key: str, pattern: str) -> str:
    """The governor key of an endpoint budget within the budget `key`."""
    return f"{key}:path:{pattern}"


def whole_seconds(seconds: float) -> int:
    """For messages: a wait of 0.2 s is "1 s", never "0 s"."""
    return max(1, math.ceil(seconds))
