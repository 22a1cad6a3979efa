"""A bounded open-loop HTTP load generator with keep-alive (loopback only).

    python -m bench.loadgen URL RATE SECONDS THREADS [--json-template '{"id": "{n}", ...}']

Request n is due at start + n / RATE; its latency is measured from when it was due (so a slow server
cannot hide its queueing by slowing the generator down). Prints one JSON line with the results.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
import uuid
from urllib.parse import urlparse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("threads", type=int)
    parser.add_argument("--prefix", default=uuid.uuid4().hex[:8])
    args = parser.parse_args()
    target = urlparse(args.url)
    if target.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("loopback only")
    total = int(args.rate * args.seconds)
    lock = threading.Lock()
    state = {"next": 0}
    latencies: list[float] = []
    sent_at: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    start = time.perf_counter() + 0.2
    hard_stop = start + args.seconds * 3 + 30

    def worker() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        while True:
            with lock:
                n = state["next"]
                if n >= total:
                    return
                state["next"] += 1
            due = start + n / args.rate
            now = time.perf_counter()
            if now > hard_stop:
                return
            if due > now:
                time.sleep(due - now)
            body = json.dumps(
                {
                    "id": f"{args.prefix}-{n}",
                    "name": f" Load Test {n} ",
                    "email": f"load.{args.prefix}.{n}@example.com",
                }
            ).encode()
            headers = {"Content-Type": "application/json", "X-Event-Id": f"{args.prefix}-{n}"}
            try:
                conn.request("POST", target.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                status = type(exc).__name__
                if len(errors) < 5:
                    errors.append(repr(exc))
            done = time.perf_counter()
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status.startswith("2"):
                    latencies.append((done - due) * 1000)
                    sent_at.append(done)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, hard_stop - time.perf_counter()))
    end = max(sent_at) if sent_at else time.perf_counter()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return (
            ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")
        )

    print(
        json.dumps(
            {
                "offered_per_s": args.rate,
                "sent": state["next"],
                "ok": len(latencies),
                "requests_per_s": len(latencies) / max(1e-9, end - start),
                "p50_ms": pct(50),
                "p95_ms": pct(95),
                "p99_ms": pct(99),
                "max_ms": ordered[-1] if ordered else None,
                "statuses": statuses,
                "errors": errors,
                "prefix": args.prefix,
            }
        )
    )


if __name__ == "__main__":
    main()
