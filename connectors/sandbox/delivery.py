"""Webhook deliveries from a sandbox: automatic ones for subscriptions, and one-off admin ones.

The real systems push events to a subscriber's HTTPS endpoint, signed with their own schemes. Two ways
lead here. A subscription registered through the dialect's own API (HubSpot app subscriptions, Zendesk
webhooks, Stripe webhook endpoints, Pipedrive webhooks, Mailchimp list webhooks) makes every committed
change in the sandbox queue a delivery on the `Dispatcher`: a background thread that sends it, signs
it afresh on every attempt (the signed timestamp is the attempt's), and retries failures with backoff as
the real senders do. The admin API can also send one delivery straight away to a URL a test names
(`deliver`). The dialect builds the body and the headers; this module sends them and reports what the
receiver answered. Standard library only, like the rest of the sandbox.
"""

from __future__ import annotations

import collections
import heapq
import http.client
import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from connectors.sandbox.engine import HttpError, Request, Response, Router, iso_ms, json_response, wall_ms

# A receiver that takes longer than this is treated as failed, as the real senders do (Stripe and
# HubSpot give up after a few seconds and retry later).
DELIVERY_TIMEOUT_SECONDS = 10.0
_ANSWER_CHARS = 2000
# Seconds between attempts of an automatic delivery. The real senders back off over hours or days
# (Stripe up to three days, HubSpot ten times over a day, Pipedrive at 3, 30 and 150 s); the sandbox
# keeps the shape (a few attempts, growing gaps) on a scale a test can wait for.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
# How many attempts the delivery log keeps (GET /_admin/webhooks/deliveries).
LOG_SIZE = 500


@dataclass(frozen=True)
class Delivery:
    url: str
    status: int | None
    answer: str
    error: str | None

    def as_json(self, body: bytes, headers: Mapping[str, str], **extra: Any) -> dict[str, Any]:
        """What the admin API reports: the exact bytes and headers sent, and the receiver's answer."""
        return {
            "ok": self.error is None and self.status is not None and 200 <= self.status < 300,
            "url": self.url,
            "status": self.status,
            "response_body": self.answer,
            "error": self.error,
            "request": {"headers": dict(headers), "body": body.decode("utf-8")},
            **extra,
        }


def target_url(req: Request) -> str:
    """The `url` of an admin delivery request, checked to be http(s) (else a 400 in the admin shape)."""
    payload = req.json_object()
    url = payload.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise HttpError(json_response(400, {"ok": False, "error": "url must be an http(s) URL"}))
    return url


def http_url(value: object) -> str | None:
    """`value` if it is an absolute http(s) URL, else None."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def deliver(url: str, body: bytes, headers: Mapping[str, str], *, method: str = "POST") -> Delivery:
    """Send `body` to `url` once; never raises for the receiver's failures (they are the report).

    http.client rather than urllib: urllib rewrites header names (`X-HubSpot-Signature-v3` becomes
    `X-hubspot-signature-v3`), and receivers should see them as the real systems send them.
    """
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = connection_class(parts.netloc, timeout=DELIVERY_TIMEOUT_SECONDS)
    try:
        sent_headers = {**headers, "Content-Length": str(len(body))} if method != "GET" else dict(headers)
        connection.request(method, target, body=body if method != "GET" else None, headers=sent_headers)
        response = connection.getresponse()
        answer = response.read(_ANSWER_CHARS).decode("utf-8", "replace")
        return Delivery(url, int(response.status), answer, None)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Delivery(url, None, "", f"delivery failed: {exc}")
    finally:
        connection.close()


# --- Automatic deliveries ---------------------------------------------------------------------------

# Builds the headers of one attempt from the body and the attempt number (1 for the first); signing
# here, not when the delivery is queued, gives every retry a fresh signed timestamp.
Signer = Callable[[bytes, int], Mapping[str, str]]


@dataclass
class Outgoing:
    """One delivery for one subscription: its bytes, how to sign them, and what to log it as."""

    url: str
    body: bytes
    sign: Signer
    subscription: str
    label: str
    # Answers that mean "do not retry" (e.g. Zendesk and Stripe stop at most 4xx); None retries all.
    final_statuses: Callable[[int], bool] | None = None
    # Rebuilds the body for an attempt, for systems that number attempts inside it (HubSpot).
    render: Callable[[int], bytes] | None = None
    attempt: int = 0
    first_at_ms: int = field(default_factory=wall_ms)


class Dispatcher:
    """Sends queued deliveries from one background thread, retrying failures with growing delays.

    One thread per sandbox process: deliveries of one subscription leave in the order the changes
    were committed (a retry waits its turn behind nothing, as with the real senders, which do not
    promise order either). The thread starts with the first delivery.
    """

    def __init__(self, retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS) -> None:
        self.retry_delays = tuple(retry_delays)
        self._queue: list[tuple[float, int, Outgoing]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._log: collections.deque[dict[str, Any]] = collections.deque(maxlen=LOG_SIZE)
        self._busy = 0
        self._generation = 0
        self._thread: threading.Thread | None = None

    def submit(self, outgoing: Outgoing) -> None:
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic(), next(self._order), outgoing))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def clear(self) -> None:
        """Drop queued deliveries and the log (a sandbox reset starts a clean experiment)."""
        with self._cond:
            self._queue.clear()
            self._log.clear()
            self._generation += 1
            self._cond.notify_all()

    def log(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._log)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._busy

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or in flight (retries included), False after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
            return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    wait = (self._queue[0][0] - time.monotonic()) if self._queue else None
                    self._cond.wait(wait)
                _, _, item = heapq.heappop(self._queue)
                self._busy += 1
                generation = self._generation
            try:
                self._attempt(item, generation)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, item: Outgoing, generation: int) -> None:
        item.attempt += 1
        body = item.render(item.attempt) if item.render is not None else item.body
        headers = dict(item.sign(body, item.attempt))
        result = deliver(item.url, body, headers)
        ok = result.error is None and result.status is not None and 200 <= result.status < 300
        final = (
            result.status is not None
            and item.final_statuses is not None
            and item.final_statuses(result.status)
        )
        retry = not ok and not final and item.attempt <= len(self.retry_delays)
        with self._cond:
            if generation != self._generation:
                return  # a reset happened while this attempt was in flight
            self._log.append(
                {
                    "subscription": item.subscription,
                    "event": item.label,
                    "url": item.url,
                    "attempt": item.attempt,
                    "at": iso_ms(wall_ms()),
                    "ok": ok,
                    "status": result.status,
                    "error": result.error,
                    "will_retry": retry,
                }
            )
            if retry:
                delay = self.retry_delays[item.attempt - 1]
                heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), item))
                self._cond.notify_all()


def register_admin(router: Router, dispatcher: Dispatcher) -> None:
    """`GET /_admin/webhooks/deliveries`: every attempt (newest last) and how many are still pending;
    `?wait=<seconds>` first waits until nothing is pending (retries included)."""

    def deliveries(req: Request) -> Response:
        wait = req.arg("wait")
        idle = True
        if wait:
            try:
                idle = dispatcher.wait_idle(min(float(wait), 60.0))
            except ValueError:
                return json_response(400, {"ok": False, "error": "wait must be a number of seconds"})
        return json_response(
            200, {"ok": True, "idle": idle, "pending": dispatcher.pending(), "attempts": dispatcher.log()}
        )

    router.add("GET", "/_admin/webhooks/deliveries", deliveries, auth=False, admin=True)
