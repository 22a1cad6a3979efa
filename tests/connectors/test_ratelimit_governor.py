"""The rate-limit governor: one budget per connection, shared by processes through Redis, or in-process.

The multi-process tests count at the server: worker processes send through the real HTTP layer to a
loopback stdlib server that timestamps every request it receives.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError

from connectors.base import ConnectionSettings, ConnectorClient, Provider, RateLimit
from connectors.http import HttpClient, HttpError
from connectors.models import Connection
from connectors.providers.hubspot.provider import HubSpotProvider
from connectors.ratelimit import LocalGovernor, RateGovernor, RedisGovernor, shared_governor
from connectors.services import client_for

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/15"
# Timing tolerance for waits computed from real clocks (a Redis round trip, a busy CI machine).
SLACK = 0.06


def redis_url() -> str:
    """CI's Redis when the settings point at one, else a local database of its own."""
    configured = str(getattr(django_settings, "HUB_RATE_LIMIT_REDIS_URL", "") or "")
    return configured if configured.startswith("redis://") else DEFAULT_TEST_REDIS


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    url = redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {url} is not reachable: {exc}")
    prefix = f"hub:test:ratelimit:{uuid.uuid4().hex[:8]}:"
    yield prefix
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["local", "redis"])
def governor(request: pytest.FixtureRequest) -> Iterator[RateGovernor]:
    """Each semantic test runs against both governors: they must behave the same."""
    if request.param == "local":
        yield LocalGovernor()
        return
    prefix = request.getfixturevalue("redis_prefix")
    shared = RedisGovernor(redis_url(), prefix=prefix)
    yield shared
    shared.close()


def waits(governor: RateGovernor, key: str, limit: RateLimit | None, count: int) -> list[float]:
    return [governor.acquire(key, limit, max_wait=60).wait_seconds for _ in range(count)]


# --- semantics, identical for both governors ------------------------------------------------------


def test_a_whole_window_goes_at_once_then_each_request_waits_for_the_oldest_to_leave(
    governor: RateGovernor,
) -> None:
    # 3 in any 1 s: the window's 3 at once, then the next ones a window after the first ones.
    got = waits(governor, "c1", RateLimit(3, 1.0), 7)

    assert got == pytest.approx([0, 0, 0, 1, 1, 1, 2], abs=SLACK)


def test_no_window_of_the_interval_ever_holds_more_than_the_limit(governor: RateGovernor) -> None:
    moments = waits(governor, "c1", RateLimit(4, 0.5), 13)

    assert busiest_window(moments, seconds=0.45) <= 4
    # ... and the budget is used: 13 requests at 4 per 0.5 s take 3 windows after the first.
    assert max(moments) == pytest.approx(1.5, abs=SLACK)


def test_a_block_delays_the_next_request_and_the_window_still_holds_behind_it(
    governor: RateGovernor,
) -> None:
    governor.block("c1", 0.5)

    got = waits(governor, "c1", RateLimit(2, 1.0), 4)

    # Not four requests at the end of the block: a window still holds two.
    assert got == pytest.approx([0.5, 0.5, 1.5, 1.5], abs=SLACK)


def test_a_request_in_flight_counts_until_it_is_settled(governor: RateGovernor) -> None:
    limit = RateLimit(2, 1.0)
    first = governor.acquire("c1", limit, max_wait=60, in_flight=5.0)
    second = governor.acquire("c1", limit, max_wait=60, in_flight=5.0)
    held = governor.acquire("c1", limit, max_wait=60)
    governor.cancel("c1", held.slot)

    # Not answered yet: counted as if they reached the server as late as allowed (5 s), plus a window.
    assert held.wait_seconds == pytest.approx(6.0, abs=SLACK)

    governor.settle("c1", first.slot)
    governor.settle("c1", second.slot)
    after = governor.acquire("c1", limit, max_wait=60)

    # Answered now: they count from now, so the next one goes a window later.
    assert after.granted and after.wait_seconds == pytest.approx(1.0, abs=SLACK)


def test_a_cancelled_slot_is_free_again(governor: RateGovernor) -> None:
    limit = RateLimit(2, 10.0)
    unused = governor.acquire("c1", limit, max_wait=60)
    governor.cancel("c1", unused.slot)

    assert waits(governor, "c1", limit, 3) == pytest.approx([0, 0, 10], abs=SLACK)


def test_a_block_applies_without_any_budget(governor: RateGovernor) -> None:
    assert waits(governor, "c1", None, 20) == [0] * 20

    governor.block("c1", 0.4)

    assert governor.acquire("c1", None, max_wait=60).wait_seconds == pytest.approx(0.4, abs=SLACK)


def test_a_shorter_block_never_shortens_a_longer_one(governor: RateGovernor) -> None:
    governor.block("c1", 2.0)
    governor.block("c1", 0.1)

    assert governor.acquire("c1", None, max_wait=60).wait_seconds == pytest.approx(2.0, abs=SLACK)


def test_a_wait_beyond_max_wait_is_refused_and_takes_no_slot(governor: RateGovernor) -> None:
    limit = RateLimit(10, 1.0, burst=1)
    governor.block("c1", 5.0)

    refused = governor.acquire("c1", limit, max_wait=1.0)
    granted = governor.acquire("c1", limit, max_wait=10.0)

    assert not refused.granted and refused.wait_seconds == pytest.approx(5.0, abs=SLACK)
    # Still the first slot after the block: the refused call did not use one.
    assert granted.granted and granted.wait_seconds == pytest.approx(5.0, abs=SLACK)


def test_the_caller_that_slept_through_its_block_is_not_held_again_but_others_are(
    governor: RateGovernor,
) -> None:
    ends = governor.block("c1", 0.5)

    mine = governor.acquire("c1", None, max_wait=60, waited_until=ends)
    theirs = governor.acquire("c1", None, max_wait=60)
    governor.block("c1", 1.0)
    longer = governor.acquire("c1", None, max_wait=60, waited_until=ends)

    assert mine.wait_seconds == 0
    assert theirs.wait_seconds == pytest.approx(0.5, abs=SLACK)
    assert longer.wait_seconds == pytest.approx(1.0, abs=SLACK)


def test_budgets_of_different_connections_are_independent(governor: RateGovernor) -> None:
    limit = RateLimit(10, 1.0, burst=1)
    governor.block("c1", 3.0)
    waits(governor, "c1", limit, 3)

    assert waits(governor, "c2", limit, 1) == [0]


def test_rate_limit_rejects_a_burst_that_leaves_no_refill() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimit(10, 1.0, burst=10)
    with pytest.raises(ValueError, match="unknown"):
        RateLimit.from_dict({"requests": 10, "interval_seconds": 1, "per": 3})
    assert RateLimit.from_dict({"requests": 190, "interval_seconds": 10, "burst": 10}) == RateLimit(
        190, 10.0, 10
    )


def test_a_connection_override_replaces_the_providers_budget(team: Any) -> None:
    default = Connection.objects.create(team=team, name="Default", kind="hubspot", config={})
    bigger = Connection.objects.create(
        team=team,
        name="Enterprise",
        kind="hubspot",
        config={},
        rate_limit_override={"requests": 190, "interval_seconds": 10, "burst": 10},
    )

    assert client_for(default).settings.rate_limit == HubSpotProvider.rate_limit
    assert client_for(bigger).settings.rate_limit == RateLimit(190, 10.0, burst=10)


@pytest.mark.parametrize(
    "override",
    [{"requests": 10, "interval_seconds": 1, "burst": 10}, {"requests": "many"}, ["not", "an", "object"]],
)
def test_an_unusable_override_is_refused_by_validation(team: Any, override: Any) -> None:
    connection = Connection(team=team, name="Bad", kind="hubspot", config={}, rate_limit_override=override)

    with pytest.raises(ValidationError) as caught:
        connection.full_clean()

    assert "rate_limit_override" in caught.value.message_dict


# --- the HTTP layer asks the governor ------------------------------------------------------------


class Recorder(ThreadingHTTPServer):
    """Answers every request (scripted statuses first, then 200) and records when each arrived."""

    daemon_threads = True

    def __init__(self, script: list[tuple[int, dict[str, str]]] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        self.script = list(script or [])
        self.arrivals: list[float] = []
        self.answered: list[tuple[float, int]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _RecorderHandler(BaseHTTPRequestHandler):
    server: Recorder
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        # Wall-clock time, so timestamps compare across processes.
        now = time.time()
        with self.server.lock:
            self.server.arrivals.append(now)
            status, headers = self.server.script.pop(0) if self.server.script else (200, {})
            self.server.answered.append((now, status))
        body = b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def busiest_window(arrivals: list[float], seconds: float = 1.0) -> int:
    """The most requests that arrived within any `seconds`-long window, both ends included."""
    times = sorted(arrivals)
    best = 0
    start = 0
    for end, moment in enumerate(times):
        while moment - times[start] > seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_busiest_window_counts_both_ends() -> None:
    assert busiest_window([0.0, 0.5, 1.0, 1.01]) == 3
    assert busiest_window([0.0, 2.0, 4.0]) == 1


def test_the_client_sleeps_what_the_governor_says_and_counts_it_as_throttling(recorder: Recorder) -> None:
    # A clock that only moves when the client sleeps: the waits are then exact, however slow the
    # requests themselves are on a busy machine.
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    client = HttpClient(
        recorder.url,
        connection_id=1,
        rate_limit=RateLimit(2, 1.0),  # two in any second
        governor=LocalGovernor(clock=lambda: now[0]),
        sleep=sleep,
    )

    for _ in range(5):
        client.get("/work")

    # Two at once; the third a second after the first was answered (at 0), the fifth after the third.
    assert slept == pytest.approx([1.0, 1.0], abs=0.01)
    assert client.stats.throttle_wait_seconds == pytest.approx(2.0, abs=0.02)
    assert client.stats.backoff_wait_seconds == 0
    assert client.stats.retries == 0


def test_a_retry_after_beyond_the_cap_fails_fast_and_the_next_call_is_not_sent(recorder: Recorder) -> None:
    recorder.script = [(429, {"Retry-After": "3600"})]
    client = HttpClient(recorder.url, connection_id=1, governor=LocalGovernor(), sleep=lambda s: None)

    with pytest.raises(HttpError) as first:
        client.get("/work")
    with pytest.raises(HttpError) as second:
        client.get("/work")

    assert first.value.status == 429 and not first.value.permanent
    assert "rate limited for another" in second.value.message and not second.value.permanent
    assert len(recorder.arrivals) == 1


def test_threads_sharing_the_in_process_governor_stay_within_the_budget(recorder: Recorder) -> None:
    governor = LocalGovernor()
    limit = RateLimit(10, 1.0, burst=2)

    def work() -> None:
        client = HttpClient(recorder.url, connection_id=42, rate_limit=limit, governor=governor)
        for _ in range(8):
            client.get("/work")
        client.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not any(thread.is_alive() for thread in threads)
    assert len(recorder.arrivals) == 32
    assert busiest_window(recorder.arrivals) <= 10
    # 10 in each of 4 windows (the last 2 in the fourth): the budget was used, not merely respected by luck.
    assert max(recorder.arrivals) - min(recorder.arrivals) >= 3.0
    assert max(recorder.arrivals) - min(recorder.arrivals) < 6.0


class _BareClient(ConnectorClient):
    """A connector client that builds its HttpClient without mentioning any budget."""

    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.http = HttpClient(str(settings.config["base_url"]))

    def test(self) -> str:
        return "bare"

    def discover_schema(self, object_name: str) -> Any:
        raise NotImplementedError

    def list_changes(self, object_name: str, cursor: str | None, *, page_size: int = 100) -> Any:
        raise NotImplementedError

    def upsert_batch(self, object_name: str, items: list[Any], *, match_field: str) -> Any:
        raise NotImplementedError


class _BareProvider(Provider):
    key = "bare"
    label = "Bare"
    auth_scheme = "none"
    client_class = _BareClient
    rate_limit = RateLimit(10, 1.0, burst=2)


def test_a_client_built_by_its_provider_draws_from_its_connections_budget_unasked(settings: Any) -> None:
    settings.HUB_RATE_LIMIT_REDIS_URL = ""
    client = _BareProvider.client(
        ConnectionSettings(connection_id=7, config={"base_url": "http://127.0.0.1:9"})
    )
    outside = HttpClient("http://127.0.0.1:9")

    assert isinstance(client, _BareClient)
    assert client.http.governor_key == "connection:7"
    assert client.http.rate_limit == RateLimit(10, 1.0, burst=2)
    assert client.http.governor is shared_governor()
    assert outside.governor_key == "anonymous" and outside.rate_limit is None


# --- real processes, real Redis ------------------------------------------------------------------


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def start_worker(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.connectors.governor_worker", *args],
        cwd=ROOT,
        env=worker_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float, stdin: str | None = None) -> dict[str, Any]:
    try:
        out, err = proc.communicate(input=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    assert proc.returncode == 0, err
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def run_workers(commands: list[list[str]], timeout: float = 60) -> list[dict[str, Any]]:
    procs = [start_worker(args) for args in commands]
    deadline = time.monotonic() + timeout
    try:
        return [finish(proc, max(1.0, deadline - time.monotonic())) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def worker_args(recorder: Recorder, prefix: str, **options: Any) -> list[str]:
    args = ["--url", recorder.url, "--redis", redis_url(), "--prefix", prefix, "--connection-id", "7"]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def test_worker_processes_never_exceed_the_shared_budget(recorder: Recorder, redis_prefix: str) -> None:
    start_at = time.time() + 2.0  # after every interpreter has started
    budget = {"requests": 10, "interval": 1.0, "burst": 2}
    commands = [worker_args(recorder, redis_prefix, count=10, start_at=start_at, **budget) for _ in range(4)]

    reports = run_workers(commands)

    assert len(recorder.arrivals) == 40
    assert all(report["statuses"] == [200] * 10 for report in reports)
    assert busiest_window(recorder.arrivals) <= 10
    # Alone, four processes would send 40 requests in well under a second; shared, 10 go in each
    # second, counted at the server.
    assert max(recorder.arrivals) - min(recorder.arrivals) >= 3.0
    assert sum(report["throttle_wait_seconds"] for report in reports) > 0


def test_retry_after_from_one_process_delays_the_next_request_of_another(
    recorder: Recorder, redis_prefix: str
) -> None:
    recorder.script = [(429, {"Retry-After": "2"})]
    # The second process is up and waiting before the first one is throttled, so its request is
    # attempted right after the 429 however slowly interpreters start on a busy machine.
    second = start_worker([*worker_args(recorder, redis_prefix, count=1), "--on-signal"])
    try:
        assert second.stdout is not None
        ready, _, _ = select.select([second.stdout], [], [], 30)
        assert ready, "the waiting worker did not start within 30 s"
        assert second.stdout.readline().strip() == "READY"

        (first,) = run_workers([worker_args(recorder, redis_prefix, count=1, retries=0)])
        report = finish(second, timeout=30, stdin="go\n")
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    assert first["statuses"] == [429]
    assert report["statuses"] == [200]
    (throttled_at, _), (next_at, status) = recorder.answered
    assert status == 200
    assert 2.0 <= next_at - throttled_at < 6.0
    # The wait came from the block the other process stored.
    assert report["throttle_wait_seconds"] > 1.0


def test_the_settings_pick_redis_when_the_broker_is_redis_and_local_otherwise() -> None:
    code = "from django.conf import settings; print(repr(settings.HUB_RATE_LIMIT_REDIS_URL))"
    seen = {}
    for broker in ("redis://127.0.0.1:6379/13", "filesystem://", "memory://"):
        env = {
            **os.environ,
            "CELERY_BROKER_URL": broker,
            "DJANGO_SETTINGS_MODULE": "integrations_hub.settings",
        }
        env.pop("HUB_RATE_LIMIT_REDIS_URL", None)
        out = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        seen[broker] = out.stdout.strip()

    assert seen == {
        "redis://127.0.0.1:6379/13": "'redis://127.0.0.1:6379/13'",
        "filesystem://": "''",
        "memory://": "''",
    }


def test_shared_governor_follows_the_setting(settings: Any, redis_prefix: str) -> None:
    settings.HUB_RATE_LIMIT_REDIS_URL = ""
    assert isinstance(shared_governor(), LocalGovernor)

    settings.HUB_RATE_LIMIT_REDIS_URL = redis_url()
    governor = shared_governor()

    assert isinstance(governor, RedisGovernor) and governor.url == redis_url()
    assert shared_governor() is governor
