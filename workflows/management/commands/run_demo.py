"""Start the whole demo: both sandbox systems, the web server, one Celery worker per queue, and beat.

Ctrl-C stops everything this command started. Logs go to data/logs/<process>.log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.http import HttpClient
from integrations_hub.metrics import metrics_files_clear
from workflows.demo import DEMO_ADMIN, DEMO_EDITOR


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) != 0


# Leads from a web form often carry only an email. The CRM accepts them; the helpdesk requires a
# name, so the demo shows how a record the target rejects is reported while the others go through.
DEMO_NAMELESS_LEADS = ("webform-lead@example.com", "newsletter-signup@example.org")

# One worker per queue, as in production (docs/operations.md): a long backfill on `bulk` never holds
# up webhook and file events on `realtime`. (name, queues, concurrency)
DEMO_WORKERS = (
    ("worker-realtime", "realtime", 1),
    ("worker-bulk", "bulk,celery", 2),
)


def _add_leads_without_names(crm_url: str) -> None:
    with HttpClient(crm_url, system="The sandbox CRM") as client:
        for email in DEMO_NAMELESS_LEADS:
            # 409: already there from an earlier `make run`.
            client.post(
                "/_admin/records/contacts", json={"properties": {"email": email}}, expected=(200, 201, 409)
            )


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # Treat `kill` like Ctrl-C so the children are stopped too.
    raise KeyboardInterrupt


DEMO_PRIVATE_HOSTS = ("127.0.0.1", "localhost")


class Command(BaseCommand):
    help = "Run the demo: sandbox CRM and helpdesk, web server, Celery workers (realtime, bulk) and beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HUB_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("HUB_PORT", "8000")))
        parser.add_argument("--crm-port", type=int, default=int(os.environ.get("HUB_CRM_PORT", "8101")))
        parser.add_argument(
            "--helpdesk-port", type=int, default=int(os.environ.get("HUB_HELPDESK_PORT", "8102"))
        )
        parser.add_argument("--contacts", type=int, default=300, help="demo contacts seeded in the CRM")
        parser.add_argument("--poll-seconds", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        # The demo's sandboxes listen on loopback, which the outbound guard refuses unless allowed: allow
        # it for this process and those it starts, unless the administrator set the list.
        if "HUB_HTTP_ALLOWED_PRIVATE_HOSTS" not in os.environ:
            os.environ["HUB_HTTP_ALLOWED_PRIVATE_HOSTS"] = ",".join(DEMO_PRIVATE_HOSTS)
            settings.HUB_HTTP_ALLOWED_PRIVATE_HOSTS = list(DEMO_PRIVATE_HOSTS)
        host = options["host"]
        ports = {"web": options["port"], "crm": options["crm_port"], "helpdesk": options["helpdesk_port"]}
        taken = [f"{name} ({port})" for name, port in ports.items() if not _port_free("127.0.0.1", port)]
        if taken:
            raise CommandError(
                "These ports are in use: " + ", ".join(taken) + ". Is the demo already running? "
                "Stop it, or choose others with HUB_PORT, HUB_CRM_PORT and HUB_HELPDESK_PORT."
            )
        data_dir = Path(settings.DATA_DIR)
        log_dir = data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        # The histogram files of the previous demo's processes; this demo's processes start from zero.
        metrics_files_clear()
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        try:
            crm_url = self._sandbox("crm", ports["crm"], data_dir, log_dir, options["contacts"])
            helpdesk_url = self._sandbox("helpdesk", ports["helpdesk"], data_dir, log_dir, 0)
            _add_leads_without_names(crm_url)
            call_command(
                "seed_demo",
                crm_url=crm_url,
                helpdesk_url=helpdesk_url,
                poll_seconds=options["poll_seconds"],
                stdout=self.stdout,
            )
            python = sys.executable
            celery = [python, "-m", "celery", "-A", "integrations_hub"]
            for name, queues, concurrency in DEMO_WORKERS:
                self._start(
                    name,
                    [
                        *celery,
                        "worker",
                        "--loglevel=INFO",
                        f"--concurrency={concurrency}",
                        "-Q",
                        queues,
                        "-n",
                        f"{name}@%h",
                        "--without-gossip",
                        "--without-mingle",
                    ],
                    log_dir,
                )
            self._start("beat", [*celery, "beat", "--loglevel=INFO"], log_dir)
            self._start(
                "web",
                [
                    python,
                    "-m",
                    "gunicorn",
                    "integrations_hub.wsgi",
                    "--bind",
                    f"{host}:{ports['web']}",
                    "--workers",
                    "2",
                    "--access-logfile",
                    "-",
                ],
                log_dir,
            )
            self._wait_for_port(ports["web"], "web")
            url = f"http://{host}:{ports['web']}/"
            self.stdout.write(self.style.SUCCESS(f"\nIntegrations Hub is running at {url}"))
            self.stdout.write(
                f"  log in as {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]} (admin) or {DEMO_EDITOR[0]} / {DEMO_EDITOR[1]} (editor)"
            )
            self.stdout.write(f"  sandbox CRM {crm_url} · sandbox helpdesk {helpdesk_url}")
            self.stdout.write(f"  health {url}healthz · logs in {log_dir}/")
            self.stdout.write("  Press Ctrl-C to stop everything.\n")
            self._supervise()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop_all()

    def _sandbox(self, system: str, port: int, data_dir: Path, log_dir: Path, seed: int) -> str:
        db = data_dir / f"sandbox-{system}.sqlite3"
        command = [sys.executable, "-m", "connectors.sandbox", system, "--port", str(port), "--db", str(db)]
        if seed:
            command += ["--seed", str(seed)]
        self._start(f"sandbox-{system}", command, log_dir)
        self._wait_for_port(port, f"sandbox-{system}")
        return f"http://127.0.0.1:{port}"

    def _start(self, name: str, command: list[str], log_dir: Path) -> None:
        log = (log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules, no shell
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append((name, process))
        self.stdout.write(f"  started {name} (pid {process.pid})")

    def _wait_for_port(self, port: int, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _port_free("127.0.0.1", port):
                return
            self._check_alive()
            time.sleep(0.2)
        raise CommandError(
            f"{name} did not start listening on port {port} within {timeout:.0f} s; see its log."
        )

    def _check_alive(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise CommandError(f"{name} exited with code {process.returncode}; see data/logs/{name}.log")

    def _supervise(self) -> None:
        while True:
            self._check_alive()
            time.sleep(1)

    def _stop_all(self) -> None:
        # SIGTERM to each leader only: Celery's worker then shuts its own pool down warmly.
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 15
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                self.stdout.write(f"  {name} did not stop in time; killed")
        self.stdout.write("All demo processes stopped.")
