"""Run one sandbox system: `python -m connectors.sandbox crm --port 8101 --db data/sandbox-crm.sqlite3`.

Prints `READY <url>` on stdout (and nothing else there) once the port accepts connections, so a parent
process can wait for that line; diagnostics go to stderr. SIGTERM and SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from connectors.sandbox.engine import Dialect, SandboxApp, SandboxServer, Store

# System name -> "module:Dialect class". A new dialect is one more line here.
SYSTEMS = {
    "crm": "connectors.sandbox.crm:CrmDialect",
    "helpdesk": "connectors.sandbox.helpdesk:HelpdeskDialect",
    "billing": "connectors.sandbox.billing:BillingDialect",
    "sales": "connectors.sandbox.sales:SalesDialect",
    "marketing": "connectors.sandbox.marketing:MarketingDialect",
    "chat": "connectors.sandbox.chat:ChatDialect",
}


def load_dialect(system: str) -> type[Dialect]:
    module_name, _, class_name = SYSTEMS[system].partition(":")
    dialect = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(dialect, type) and issubclass(dialect, Dialect)):
        raise TypeError(f"{SYSTEMS[system]} is not a Dialect")
    return dialect


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.sandbox", description="Run a demo SaaS system."
    )
    systems = parser.add_subparsers(dest="system", required=True, metavar="SYSTEM")
    for name in SYSTEMS:
        dialect = load_dialect(name)
        sub = systems.add_parser(name, help=f"the {name} sandbox ({dialect.__name__})")
        sub.add_argument(
            "--port", type=int, default=dialect.default_port, help="0 picks a free port (printed in READY)"
        )
        sub.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        sub.add_argument(
            "--db", default=":memory:", help="SQLite file, created if missing; :memory: for none"
        )
        sub.add_argument(
            "--seed", type=int, default=0, metavar="N", help="demo records to create when the database is new"
        )
        sub.add_argument("--verbose", action="store_true", help="log every request to stderr")
        sub.add_argument(
            "--allow-remote-admin",
            action="store_true",
            help="answer /_admin requests from non-loopback clients (e.g. across containers)",
        )
        dialect.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.seed < 0:
        print("--seed must be 0 or more", file=sys.stderr)
        return 2
    dialect = load_dialect(args.system)
    if args.db != ":memory:":
        Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    store = Store(args.db)
    try:
        app = SandboxApp(dialect, store, vars(args), allow_remote_admin=args.allow_remote_admin)
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        store.close()
        return 2
    seeded = app.seed_if_new(args.seed)
    try:
        server = SandboxServer((args.host, args.port), app, verbose=args.verbose)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        store.close()
        return 1

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    worker.start()
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "", "::") else args.host  # noqa: S104
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    url = f"http://{shown_host}:{server.port}"
    print(
        f"{args.system} sandbox on {url} (db {args.db}, {'seeded with ' + str(args.seed) if seeded else 'existing data'})",
        file=sys.stderr,
        flush=True,
    )
    print(f"READY {url}", flush=True)
    # A timed wait keeps the main thread responsive to signals on every platform.
    while not stop.wait(0.5):
        if not worker.is_alive():
            break
    server.shutdown()
    server.server_close()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
