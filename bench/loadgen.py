"""A bounded open-loop HTTP load generator with keep-alive (loopback only).

    python -m bench.loadgen URL RATE SECONDS CONNECTIONS

Request n is due at start + n / RATE; its latency is measured from when it was due (so a slow server
cannot hide its queueing by slowing the generator down). Prints one JSON line with the results.

One thread, asyncio, requests written as prepared bytes and answers read by their Content-Length: the
generator shares the machine's cores with the server it measures, so it must cost little, and with
one thread no request waits for an interpreter lock held by another (threads of one Python process
would add their own queueing to the latencies measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any
from urllib.parse import urlparse


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        """Send one request, read its whole answer: (status, whether the server closes the connection)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        closing = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                closing = True
        if length:
            await self.reader.readexactly(length)
        return status, closing

    def close(self) -> None:
        self.writer.close()


async def _run(
    host: str, port: int, path: str, rate: float, seconds: float, connections: int, prefix: str
) -> dict[str, Any]:
    total = int(rate * seconds)
    latencies: list[float] = []
    sent_at: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(None)  # opened on first use
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    hard_stop = start + seconds * 3 + 30
    pending: set[asyncio.Task[None]] = set()

    def request(n: int) -> bytes:
        body = json.dumps(
            {"id": f"{prefix}-{n}", "name": f" Load Test {n} ", "email": f"load.{prefix}.{n}@example.com"}
        ).encode()
        return (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"X-Event-Id: {prefix}-{n}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def one(n: int, due: float, conn: _Connection | None) -> None:
        status = ""
        try:
            if conn is None:
                conn = _Connection(*await asyncio.open_connection(host, port))
            code, closing = await asyncio.wait_for(conn.exchange(request(n)), timeout=30)
            status = str(code)
            if closing:
                conn.close()
                conn = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            status = type(exc).__name__
            if len(errors) < 5:
                errors.append(repr(exc))
            if conn is not None:
                conn.close()
            conn = None
        done = loop.time()
        statuses[status] = statuses.get(status, 0) + 1
        if status.startswith("2"):
            latencies.append((done - due) * 1000)
            sent_at.append(done)
        idle.put_nowait(conn)

    for n in range(total):
        due = start + n / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if loop.time() > hard_stop:
            break
        conn = await idle.get()
        task = asyncio.create_task(one(n, due, conn))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=max(0.0, hard_stop - loop.time()))
    while not idle.empty():
        conn = idle.get_nowait()
        if conn is not None:
            conn.close()
    end = max(sent_at) if sent_at else loop.time()
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return (
            ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")
        )

    return {
        "offered_per_s": rate,
        "sent": sum(statuses.values()),
        "ok": len(latencies),
        "requests_per_s": len(latencies) / max(1e-9, end - start),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": ordered[-1] if ordered else None,
        "statuses": statuses,
        "errors": errors,
        "prefix": prefix,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("rate", type=float)
    parser.add_argument("seconds", type=float)
    parser.add_argument("connections", type=int)
    parser.add_argument("--prefix", default=uuid.uuid4().hex[:8])
    args = parser.parse_args()
    target = urlparse(args.url)
    if target.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("loopback only")
    result = asyncio.run(
        _run(
            target.hostname,
            target.port or 80,
            target.path or "/",
            args.rate,
            args.seconds,
            args.connections,
            args.prefix,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
