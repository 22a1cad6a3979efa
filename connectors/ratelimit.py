"""The rate-limit governor: one request budget per connection, shared by every process that talks to it.

A system's limit is per account, not per worker: four Celery workers that each keep "their" 10 requests
a second send 40. So the budget lives where all of them see it, a token bucket in Redis updated by one
atomic Lua script (clock included: the script reads Redis' own TIME, so the workers' clocks never have
to agree). Without Redis (the embedded demo, one worker) a process-local governor with the same
semantics takes its place.

The governor hands out *reservations*: `acquire` takes a token even when none is left yet and answers
how long to sleep before sending. Callers never poll, and the order in which workers asked is the order
in which they send. A 429's Retry-After is stored as "blocked until" on the same bucket so that the next
request from any process waits it out too, and the bucket's refill restarts from the end of the block
(so the queue behind a block drains at the normal rate instead of all at once).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from connectors.base import RateLimit

logger = logging.getLogger(__name__)

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# Redis calls must not hang a worker; a governor that cannot answer falls back to the local one.
REDIS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Reservation:
    """The answer to "may I send?": `granted` with the seconds to sleep first, or refused (not taken)
    because the wait would be longer than the caller accepts."""

    granted: bool
    wait_seconds: float


class RateGovernor(Protocol):
    def acquire(
        self, key: str, limit: RateLimit | None, *, max_wait: float, waited_until: float | None = None
    ) -> Reservation:
        """Reserve the next request slot for `key`.

        `limit` None: no bucket, only a stored block applies. `waited_until`: the end of a block (as
        returned by `block`) this caller has already slept through itself; that block is not applied
        again, a later or longer one still is.
        """
        ...

    def block(self, key: str, seconds: float) -> float:
        """No request for `key` before `seconds` from now (never shortens a block); returns its end."""
        ...


# --- the bucket arithmetic ---------------------------------------------------------------------------
# `_reserve` is the reference; the Lua script below is the same steps, line for line. Keep them in step:
# tests/connectors/test_ratelimit_governor.py runs the same scenarios against both.


@dataclass
class _Bucket:
    tokens: float | None = None  # None: never used (or expired), i.e. full
    ts: float = 0.0  # the moment `tokens` was computed for; in the future while a block is queued
    blocked: float = 0.0  # no request before this moment


def _reserve(
    bucket: _Bucket,
    now: float,
    limit: RateLimit | None,
    max_wait: float,
    waited_until: float | None,
) -> Reservation:
    blocked = bucket.blocked
    if waited_until is not None and blocked <= waited_until:
        blocked = 0.0
    at = max(now, blocked)
    if limit is None:
        wait = at - now
        return Reservation(wait <= max_wait, wait)
    rate = limit.refill_per_second
    burst = float(limit.burst)
    tokens = bucket.tokens
    ts = bucket.ts
    if tokens is None:
        tokens, ts = burst, at
    if at > ts:
        tokens = min(burst, tokens + (at - ts) * rate)
        ts = at
    go = ts if tokens >= 1 else ts + (1 - tokens) / rate
    wait = go - now
    if wait > max_wait:
        return Reservation(False, wait)
    bucket.tokens = tokens - 1
    bucket.ts = ts
    return Reservation(True, wait)


_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local waited = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'blocked')
local blocked = tonumber(state[3]) or 0
if waited ~= nil and blocked <= waited then blocked = 0 end
local at = math.max(now, blocked)
if rate <= 0 then
  local wait = at - now
  if wait > max_wait then return {0, string.format('%.6f', wait)} end
  return {1, string.format('%.6f', wait)}
end
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = at
end
if at > ts then
  tokens = math.min(burst, tokens + (at - ts) * rate)
  ts = at
end
local go = ts
if tokens < 1 then go = ts + (1 - tokens) / rate end
local wait = go - now
if wait > max_wait then return {0, string.format('%.6f', wait)} end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.9f', tokens), 'ts', string.format('%.6f', ts))
-- Once the bucket is full again and no block is pending, a missing key means the same thing.
local full_at = ts + (burst - tokens) / rate
local until_ = math.max(full_at, tonumber(state[3]) or 0)
redis.call('PEXPIRE', KEYS[1], math.ceil((until_ - now) * 1000) + 1000)
return {1, string.format('%.6f', wait)}
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


# --- governors ---------------------------------------------------------------------------------------


class LocalGovernor:
    """The process-local governor: correct for threads of one process, blind to other processes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def acquire(
        self, key: str, limit: RateLimit | None, *, max_wait: float, waited_until: float | None = None
    ) -> Reservation:
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket())
            return _reserve(bucket, float(self._clock()), limit, max_wait, waited_until)

    def block(self, key: str, seconds: float) -> float:
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket())
            bucket.blocked = max(bucket.blocked, float(self._clock()) + max(0.0, seconds))
            return bucket.blocked

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()


class RedisGovernor:
    """The shared governor: one hash per key in Redis, changed only by the two scripts above."""

    def __init__(
        self, url: str, *, prefix: str = "hub:ratelimit:", fallback: LocalGovernor | None = None
    ) -> None:
        self.url = url
        self.prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        self._acquire = self._client.register_script(_ACQUIRE_LUA)
        self._block = self._client.register_script(_BLOCK_LUA)
        self._fallback = fallback or LOCAL_GOVERNOR

    def redis_key(self, key: str) -> str:
        return self.prefix + key

    def acquire(
        self, key: str, limit: RateLimit | None, *, max_wait: float, waited_until: float | None = None
    ) -> Reservation:
        rate = limit.refill_per_second if limit is not None else 0.0
        burst = limit.burst if limit is not None else 0
        try:
            granted, wait = self._acquire(
                keys=[self.redis_key(key)],
                args=[repr(rate), burst, repr(max_wait), _lua_number(waited_until)],
            )
        except redis.RedisError as exc:
            # Losing Redis must not stop every sync; each process keeps to the budget on its own
            # until it is back (a temporary overshoot of at most processes x budget, then 429s handle it).
            logger.warning("Rate-limit governor: Redis unavailable (%s); using the in-process budget", exc)
            return self._fallback.acquire(key, limit, max_wait=max_wait, waited_until=waited_until)
        return Reservation(bool(int(granted)), float(wait))

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


# The budget of the connection whose client is being built (see Provider.client). An HttpClient made
# meanwhile without an explicit connection_id/rate_limit takes it, so a connector that forgets to pass
# them still draws from its connection's budget instead of none.
_building: ContextVar[tuple[int | None, RateLimit | None] | None] = ContextVar(
    "connection_budget", default=None
)


@contextlib.contextmanager
def connection_budget(connection_id: int | None, rate_limit: RateLimit | None) -> Iterator[None]:
    token = _building.set((connection_id, rate_limit))
    try:
        yield
    finally:
        _building.reset(token)


def current_budget() -> tuple[int | None, RateLimit | None] | None:
    return _building.get()


def whole_seconds(seconds: float) -> int:
    """For messages: a wait of 0.2 s is "1 s", never "0 s"."""
    return max(1, math.ceil(seconds))
