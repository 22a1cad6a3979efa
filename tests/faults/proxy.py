"""A loopback HTTP proxy in front of a sandbox that makes a fixed share of requests time out.

The sandbox's own fault injector does one status at a time (e.g. 20 % 503s); this adds the other fault
of the scenario, requests that hang past the hub's HTTP timeout, on the same traffic. Bounded: every
hang ends after `hang_seconds`, and the server stops with the test.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class TimeoutProxy:
    def __init__(self, upstream: str, *, timeout_rate: float, hang_seconds: float, seed: int = 7) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname == "127.0.0.1", "fault traffic stays on loopback"
        self.upstream_port = parts.port
        self.timeout_rate = timeout_rate
        self.hang_seconds = hang_seconds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.timeouts = 0
        self.requests = 0
        self.api_requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    proxy.requests += 1
                    api = not self.path.startswith("/_admin")
                    proxy.api_requests += int(api)
                    # Every 1/rate-th API request hangs (the 3rd, then every 20th for 5 %): deterministic,
                    # so even a short run meets at least one timeout.
                    period = max(1, round(1 / proxy.timeout_rate)) if proxy.timeout_rate else 0
                    hang = api and period > 0 and proxy.api_requests % period == 3 % period
                    proxy.timeouts += int(hang)
                if hang:
                    time.sleep(proxy.hang_seconds)  # the client has given up by now
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                    }
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    def __enter__(self) -> TimeoutProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
