"""Writes that must reach a system at most once: only a throttled attempt is sent again.

The HTTP layer retries every method, which is right for idempotent writes (upserts, updates by id).
A create without an idempotency key (Pipedrive's POST /v1/persons, Slack's chat.postMessage) is
different: after a timeout or a 5xx the system may have acted, and sending again would make a second
record or post a message twice. A 429 is the exception, because the system refused it before acting,
so it is sent again once the Retry-After has passed (the HTTP layer's governor holds the next attempt
back for exactly that long, for every process sharing the connection's budget).
"""

from __future__ import annotations

from typing import Any

from connectors.http import HttpClient, HttpError, HttpResponse, parse_retry_after

# How many 429s in a row one write waits out before the error goes to the caller.
THROTTLE_ATTEMPTS = 5
# Used only when a 429 carries no Retry-After, which the governor could not hold us back by.
FALLBACK_WAIT_SECONDS = 1.0


def send_once(http: HttpClient, method: str, path: str, **kwargs: Any) -> HttpResponse:
    """`http.request(...)` without retries, except after a 429 (see the module docstring)."""
    for attempt in range(THROTTLE_ATTEMPTS + 1):
        try:
            return http.request(method, path, retries=0, **kwargs)
        except HttpError as exc:
            # No response means the layer refused to send (a block longer than a worker should wait).
            if exc.status != 429 or exc.response is None or attempt == THROTTLE_ATTEMPTS:
                raise
            http.stats.retries += 1
            if parse_retry_after(exc.response.header("Retry-After")) is None:
                wait = FALLBACK_WAIT_SECONDS * 2**attempt
                http.stats.throttle_wait_seconds += wait
                http.sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
