"""A tiny HTTP server that records what a sandbox delivers, so tests can check real webhook requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivered:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """Answers every POST with `status` and keeps the requests (`deliveries`) in arrival order.

    A GET (the URL check Mailchimp makes before saving a webhook) is answered with `status` too and
    kept in `validations`.
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.deliveries: list[Delivered] = []
        self.validations: list[Delivered] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.validations.append(Delivered("GET", self.path, dict(self.headers.items()), b""))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.deliveries.append(
                    Delivered("POST", self.path, dict(self.headers.items()), self.rfile.read(length))
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        ).start()

    def url(self, path: str = "/hooks/in") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    @property
    def last(self) -> Delivered:
        assert self.deliveries, "nothing was delivered"
        return self.deliveries[-1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
