"""The shared HTTP layer against a real local HTTP server (stdlib), with the sleep function injected."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.base import AuthenticationError, ConnectorError
from connectors.http import (
    MAX_REDIRECTS,
    REDACTED,
    BlockedDestinationError,
    HttpClient,
    HttpError,
    bearer_auth,
    check_destination,
    forbidden_reason,
    parse_retry_after,
    redact,
)

ALLOW_LOCAL = ["127.0.0.1", "localhost"]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers each path from a queue of replies; the last reply of a queue repeats."""

    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with server._lock:
                    server.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                    queue = server.script.get(path) or [Reply(404, {"message": "no such path"})]
                    reply = queue.pop(0) if len(queue) > 1 else queue[0]
                if reply.delay:
                    time.sleep(reply.delay)
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away, which is what the timeout test wants

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def on(self, path: str, *replies: Reply) -> None:
        self.script[path] = list(replies)

    def hits(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path.split("?", 1)[0] == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


class SleepRecorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def make_client(server: ScriptedServer, sleeps: SleepRecorder, **kwargs: Any) -> HttpClient:
    options: dict[str, Any] = {
        "allowed_private_hosts": ALLOW_LOCAL,
        "max_retries": 3,
        "timeout": 2.0,
        "sleep": sleeps,
        "system": "Testsys",
    }
    options.update(kwargs)
    return HttpClient(server.url, **options)


def test_retries_5xx_then_succeeds(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/flaky", Reply(500), Reply(502, {"message": "bad gateway"}), Reply(200, {"ok": True}))
    client = make_client(server, sleeps)

    response = client.get("/flaky")

    assert response.status == 200
    assert response.data == {"ok": True}
    assert server.hits("/flaky") == 3
    assert len(sleeps.waits) == 2
    # Full jitter: each wait lies between 0 and the exponential ceiling for its attempt.
    assert 0 <= sleeps.waits[0] <= 0.5
    assert 0 <= sleeps.waits[1] <= 1.0
    assert client.stats.retries == 2
    assert client.stats.requests == 3
    assert client.stats.status_counts == {500: 1, 502: 1, 200: 1}
    assert client.stats.last_latency_ms is not None
    assert client.stats.as_dict()["status_counts"] == {"200": 1, "500": 1, "502": 1}


def test_gives_up_after_max_retries_with_transient_error(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    server.on("/down", Reply(503, {"message": "maintenance"}))
    client = make_client(server, sleeps, max_retries=2)

    with pytest.raises(HttpError) as caught:
        client.get("/down")

    assert caught.value.permanent is False
    assert caught.value.status == 503
    assert "maintenance" in caught.value.message
    assert server.hits("/down") == 3
    assert len(sleeps.waits) == 2


def test_timeout_is_retried(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/slow", Reply(200, {"late": True}, delay=1.5), Reply(200, {"late": False}))
    client = make_client(server, sleeps, timeout=0.3)

    response = client.get("/slow")

    assert response.data == {"late": False}
    assert client.stats.connection_errors == 1
    assert client.stats.retries == 1
    assert len(sleeps.waits) == 1


def test_timeouts_exhausted_raise_transient_error(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/slow", Reply(200, {}, delay=1.0))
    client = make_client(server, sleeps, timeout=0.2, max_retries=1)

    with pytest.raises(HttpError) as caught:
        client.get("/slow")

    assert caught.value.permanent is False
    assert caught.value.status is None
    assert "timed out" in caught.value.message


def test_429_honours_retry_after_seconds(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/limited", Reply(429, {"message": "slow down"}, {"Retry-After": "2"}), Reply(200, {"ok": 1}))
    client = make_client(server, sleeps)

    response = client.get("/limited")

    assert response.status == 200
    assert sleeps.waits == [2.0]
    assert client.stats.throttle_wait_seconds >= 2
    assert client.stats.throttled == 1


def test_429_honours_retry_after_http_date(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    server.on("/limited", Reply(429, None, {"Retry-After": when}), Reply(200, {"ok": 1}))
    client = make_client(server, sleeps)

    client.get("/limited")

    assert len(sleeps.waits) == 1
    assert 3 <= sleeps.waits[0] <= 5


def test_429_without_retry_after_backs_off_and_gives_up_transiently(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    server.on("/limited", Reply(429, {"message": "too many"}))
    client = make_client(server, sleeps, max_retries=2)

    with pytest.raises(HttpError) as caught:
        client.get("/limited")

    assert caught.value.permanent is False
    assert caught.value.status == 429
    assert len(sleeps.waits) == 2


def test_401_is_authentication_error_and_not_retried(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/me", Reply(401, {"message": "Token expired"}))
    client = make_client(server, sleeps, auth=bearer_auth("tok-1234567"), secrets=["tok-1234567"])

    with pytest.raises(AuthenticationError) as caught:
        client.get("/me")

    assert caught.value.permanent is True
    assert caught.value.status == 401
    assert "Token expired" in caught.value.message
    assert server.hits("/me") == 1
    assert server.seen[0].headers["Authorization"] == "Bearer tok-1234567"


def test_4xx_is_permanent_and_carries_the_body(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/things", Reply(400, {"message": "Property x is invalid", "category": "VALIDATION_ERROR"}))
    client = make_client(server, sleeps)

    with pytest.raises(HttpError) as caught:
        client.post("/things", json={"x": 1})

    assert caught.value.permanent is True
    assert caught.value.status == 400
    assert caught.value.data == {"message": "Property x is invalid", "category": "VALIDATION_ERROR"}
    assert "Property x is invalid" in caught.value.message
    assert server.hits("/things") == 1


def test_expected_statuses_are_returned_instead_of_raised(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    server.on("/missing", Reply(404, {"message": "resource not found"}))
    client = make_client(server, sleeps)

    response = client.get("/missing", expected=(200, 404))

    assert response.status == 404
    assert response.data == {"message": "resource not found"}


def test_secret_in_error_body_is_redacted(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    secret = "sk-live-SECRET+value/42"
    server.on("/echo", Reply(400, {"message": f"invalid key {secret} (or {secret.replace('+', '%2B')})"}))
    client = make_client(server, sleeps, secrets=[secret])

    with pytest.raises(HttpError) as caught:
        client.get("/echo")

    assert secret not in caught.value.message
    assert "SECRET" not in caught.value.message
    assert REDACTED in caught.value.message


def test_secret_in_url_is_redacted_from_connection_errors(sleeps: SleepRecorder) -> None:
    # A port nobody listens on: connection refused, retried, then reported without the secret.
    probe = ScriptedServer()
    url = probe.url
    probe.close()
    client = HttpClient(
        url, allowed_private_hosts=ALLOW_LOCAL, max_retries=1, sleep=sleeps, secrets=["apikey-987"]
    )

    with pytest.raises(HttpError) as caught:
        client.get("/x", params={"api_key": "apikey-987"})

    assert caught.value.permanent is False
    assert "apikey-987" not in caught.value.message
    assert len(sleeps.waits) == 1


def test_redact_helper() -> None:
    assert redact("token=a b&x=a%20b c", ["a b"]) == f"token={REDACTED}&x={REDACTED} c"
    assert redact("nothing here", ["", "  "]) == "nothing here"
    assert redact("abcdef", ["abc", "abcdef"]) == REDACTED


@pytest.mark.parametrize(
    "host",
    ["10.0.0.1", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]", "2130706433", "0177.0.0.1", "127.0.0.1"],
)
def test_ssrf_guard_refuses_internal_addresses_without_connecting(
    host: str, sleeps: SleepRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = HttpClient(f"http://{host}:8080/api", allowed_private_hosts=[], sleep=sleeps)

    def no_connection(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the guard let a request through")

    monkeypatch.setattr(client._session, "request", no_connection)
    monkeypatch.setattr(client._session, "send", no_connection)

    with pytest.raises(BlockedDestinationError) as caught:
        client.get("/anything")

    assert caught.value.permanent is True
    assert client.stats.requests == 0


def test_ssrf_guard_reasons() -> None:
    import ipaddress

    assert forbidden_reason(ipaddress.ip_address("::ffff:8.8.8.8")) == "IPv4-mapped IPv6"
    assert forbidden_reason(ipaddress.ip_address("2002:7f00:1::1")) is not None  # 6to4 around 127.0.0.1
    assert forbidden_reason(ipaddress.ip_address("64:ff9b::a00:1")) is not None  # NAT64 around 10.0.0.1
    assert forbidden_reason(ipaddress.ip_address("224.0.0.1")) == "multicast"
    assert forbidden_reason(ipaddress.ip_address("100.64.0.1")) is not None  # carrier-grade NAT
    assert forbidden_reason(ipaddress.ip_address("8.8.8.8")) is None
    assert forbidden_reason(ipaddress.ip_address("2606:4700:4700::1111")) is None


def test_metadata_address_refused_even_when_allow_listed() -> None:
    with pytest.raises(BlockedDestinationError):
        check_destination("http://169.254.169.254/latest/meta-data/", ["169.254.169.254"])


def test_non_http_schemes_refused() -> None:
    with pytest.raises(BlockedDestinationError):
        check_destination("file:///etc/passwd", ALLOW_LOCAL)


def test_allow_listed_loopback_is_reachable(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/ok", Reply(200, {"ok": True}))
    client = make_client(server, sleeps, allowed_private_hosts=["127.0.0.1"])

    assert client.get("/ok").data == {"ok": True}


def test_requests_carry_the_session_headers_and_send_back_cookies_the_server_set(
    server: ScriptedServer, sleeps: SleepRecorder
) -> None:
    server.on("/first", Reply(200, {"ok": True}, headers={"Set-Cookie": "lb=node-2; Path=/"}))
    server.on("/second", Reply(200, {"ok": True}))
    client = make_client(server, sleeps, headers={"X-Extra": "1"})

    client.get("/first", params={"q": "a b"})
    client.post("/second", json={"k": "v"})

    first, second = server.seen
    assert first.path == "/first?q=a+b"
    assert "gzip" in first.headers["Accept-Encoding"]
    assert first.headers["Accept"] == "application/json"
    assert first.headers["X-Extra"] == "1"
    assert first.headers["User-Agent"].startswith("IntegrationsHub")
    assert "Cookie" not in first.headers
    assert second.headers["Cookie"] == "lb=node-2"
    assert second.headers["Content-Type"] == "application/json"
    assert json.loads(second.body) == {"k": "v"}


def test_settings_are_read_when_the_client_is_built(settings: Any, server: ScriptedServer) -> None:
    settings.HUB_HTTP_ALLOWED_PRIVATE_HOSTS = []
    settings.HUB_HTTP_TIMEOUT_SECONDS = 7
    settings.HUB_HTTP_MAX_RETRIES = 1
    client = HttpClient(server.url)

    assert client.timeout == 7.0
    assert client.max_retries == 1
    with pytest.raises(BlockedDestinationError):
        client.get("/ok")


def test_redirect_to_forbidden_address_is_refused(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/go", Reply(302, None, {"Location": "http://169.254.169.254/latest/meta-data/"}))
    client = make_client(server, sleeps)

    with pytest.raises(BlockedDestinationError):
        client.get("/go")

    assert server.hits("/go") == 1


def test_redirects_are_followed_manually(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/old", Reply(301, None, {"Location": "/new?page=2"}))
    server.on("/new", Reply(200, {"moved": True}))
    client = make_client(server, sleeps, auth=bearer_auth("t0ken-abc"))

    response = client.get("/old", params={"page": "1"})

    assert response.data == {"moved": True}
    assert server.seen[-1].path == "/new?page=2"
    # Same origin: the credentials follow.
    assert server.seen[-1].headers.get("Authorization") == "Bearer t0ken-abc"


def test_redirect_to_another_origin_drops_credentials(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/away", Reply(307, None, {"Location": f"http://localhost:{server.port}/landing"}))
    server.on("/landing", Reply(200, {"ok": True}))
    client = make_client(server, sleeps, auth=bearer_auth("t0ken-abc"))

    client.get("/away")

    assert server.seen[0].headers.get("Authorization") == "Bearer t0ken-abc"
    assert "Authorization" not in server.seen[-1].headers


def test_303_after_post_becomes_get(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/submit", Reply(303, None, {"Location": "/result"}))
    server.on("/result", Reply(200, {"done": True}))
    client = make_client(server, sleeps)

    client.post("/submit", json={"a": 1})

    assert server.seen[-1].method == "GET"
    assert server.seen[-1].body == b""


def test_redirect_loop_is_bounded(server: ScriptedServer, sleeps: SleepRecorder) -> None:
    server.on("/loop", Reply(302, None, {"Location": "/loop"}))
    client = make_client(server, sleeps)

    with pytest.raises(HttpError) as caught:
        client.get("/loop")

    assert caught.value.permanent is True
    assert server.hits("/loop") == MAX_REDIRECTS + 1


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:10 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_connector_error_hierarchy() -> None:
    assert issubclass(HttpError, ConnectorError)
    assert issubclass(BlockedDestinationError, ConnectorError)
