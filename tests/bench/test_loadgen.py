"""The benchmarks' load generator: open loop, keep-alive, latencies from each request's due time."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: list[bytes] = []
    connections: set[tuple[str, int]] = set()
    delay = 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(body)
        type(self).connections.add(self.client_address)
        time.sleep(type(self).delay)
        answer = b'{"status":"stored"}'
        status = b"202 Accepted" if json.loads(body)["id"] else b"400 Bad Request"
        # One write: a head and body written apart meet Nagle and delayed acknowledgements (40 ms stalls).
        self.wfile.write(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(answer)).encode()
            + b"\r\n\r\n"
            + answer
        )

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.bodies, _Handler.connections, _Handler.delay = [], set(), 0.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hooks/x"
    httpd.shutdown()
    httpd.server_close()


def _loadgen(*args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_every_request_is_sent_once_over_kept_alive_connections(server: str) -> None:
    result = _loadgen(server, "200", "1", "4")
    assert result["sent"] == result["ok"] == 200
    assert result["statuses"] == {"202": 200}
    ids = [json.loads(body)["id"] for body in _Handler.bodies]
    assert len(set(ids)) == 200
    assert len(_Handler.connections) <= 4
    assert 150 < float(result["requests_per_s"]) < 260  # type: ignore[arg-type]


def test_a_slow_server_shows_as_latency_from_the_due_time(server: str) -> None:
    _Handler.delay = 0.05  # each answer takes 50 ms; 2 connections serve at most 40 a second
    result = _loadgen(server, "80", "1", "2")
    assert result["ok"] == 80
    # Offered 80/s, served 40/s: the last requests wait about a second past when they were due.
    assert float(result["p99_ms"]) > 700  # type: ignore[arg-type]
    assert float(result["p50_ms"]) > 200  # type: ignore[arg-type]


def test_only_loopback_targets_are_accepted() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "http://192.0.2.1/x", "1", "1", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "loopback only" in out.stderr
