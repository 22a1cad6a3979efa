"""A rate-limiting reverse proxy on loopback: at most N requests in any window of W seconds, else 429.

The CRM and helpdesk sandboxes enforce no request budget of their own (only fault injection), so the
`rate_budget` benchmark puts this in front of them: it forwards to the sandbox, answers 429 with
`Retry-After` past the budget, and counts both.
"""

from __future__ import annotations

import collections
import http.client
import http.server
import math
import threading
import time
from typing import Any
from urllib.parse import urlparse


class Limiter:
    def __init__(self, upstream: str, requests: int, window: float) -> None:
        self.upstream = urlparse(upstream)
        self.requests = requests
        self.window = window
        self.sent: collections.deque[float] = collections.deque()
        self.lock = threading.Lock()
        self.forwarded = 0
        self.rejected = 0
        self.max_in_window = 0
        self.local = threading.local()
        limiter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                wait = limiter.admit()
                if wait is not None:
                    payload = b'{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","category":"RATE_LIMITS"}'
                    self.send_response(429)
                    self.send_header("Retry-After", str(max(1, math.ceil(wait))))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                status, headers, data = limiter.forward(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in {
                        "content-length",
                        "connection",
                        "transfer-encoding",
                        "keep-alive",
                        "date",
                        "server",
                    }:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def admit(self) -> float | None:
        """None to forward now; else the seconds until a slot frees up."""
        with self.lock:
            now = time.monotonic()
            while self.sent and self.sent[0] <= now - self.window:
                self.sent.popleft()
            if len(self.sent) >= self.requests:
                self.rejected += 1
                return self.sent[0] + self.window - now
            self.sent.append(now)
            self.forwarded += 1
            self.max_in_window = max(self.max_in_window, len(self.sent))
            return None

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(
                self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60
            )
        headers = {k: v for k, v in headers.items() if k.lower() not in {"host", "connection"}}
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
        except (http.client.HTTPException, OSError):
            conn.close()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
        return response.status, response.getheaders(), response.read()

    def __enter__(self) -> Limiter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
