"""A worker process for the governor tests: sends requests through the shared HTTP layer and reports.

    python -m tests.connectors.governor_worker --url URL --redis REDIS --prefix P --connection-id 7 \
        --count 10 --requests 10 --interval 1 --burst 2 [--start-at EPOCH] [--retries 0] [--on-signal]

Runs without Django settings, like any process that only needs the HTTP layer; prints one JSON line
with what it saw (statuses, how long the governor made it wait).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from connectors.base import ConnectorError, RateLimit
from connectors.http import HttpClient
from connectors.ratelimit import RedisGovernor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--connection-id", type=int, required=True)
    parser.add_argument("--count", type=int, default=1, help="requests to send")
    parser.add_argument("--requests", type=int, default=0, help="budget: requests per interval (0: none)")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--start-at", type=float, default=0.0, help="epoch seconds to start sending at")
    parser.add_argument("--retries", type=int, default=0)
    parser.add_argument(
        "--on-signal", action="store_true", help="print READY, then send once a line arrives on stdin"
    )
    args = parser.parse_args(argv)

    limit = RateLimit(args.requests, args.interval, args.burst) if args.requests else None
    governor = RedisGovernor(args.redis, prefix=args.prefix)
    client = HttpClient(
        args.url,
        connection_id=args.connection_id,
        rate_limit=limit,
        governor=governor,
        allowed_private_hosts=["127.0.0.1"],
        max_retries=args.retries,
        timeout=10,
    )
    # Start together, so the processes really compete for the budget instead of taking turns.
    delay = args.start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    if args.on_signal:
        # Started and imported; the test decides the moment (a slow start must not blur the timing).
        print("READY", flush=True)
        sys.stdin.readline()
    statuses: list[int | str] = []
    for _ in range(args.count):
        try:
            statuses.append(client.get("/work", expected=range(200, 600)).status)
        except ConnectorError as exc:
            statuses.append(f"error: {exc.message}")
    client.close()
    governor.close()
    print(json.dumps({"statuses": statuses, "throttle_wait_seconds": client.stats.throttle_wait_seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
