"""Two real Celery workers on separate queues: a webhook run finishes while a large backfill still runs.

Everything is a real process: the sandbox CRM (seeded with 20,000 contacts, its API slowed down) and
helpdesk, gunicorn, a `-Q realtime` worker and a `-Q bulk,celery` worker, each with concurrency 1,
on PostgreSQL and Redis. Both workers use a database created for this test (pytest-django's test
database is invisible to other processes) and a Redis database number of their own. Were the
webhook's task routed to the bulk worker, it would wait behind the backfill and the test would fail.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from connectors.sandbox.testing import SandboxProcess
from tests.ops.scrape import parse, value

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 20_000
# Added to every CRM API call: 200 search pages of 100 contacts take at least 200 * 0.1 s, so the
# backfill is still running well after the webhook's run is done.
CRM_LATENCY_MS = 100
REDIS_URL = "redis://127.0.0.1:6379/13"
# Everything below is bounded; together well under two minutes.
STARTUP_TIMEOUT = 60.0
RUN_TIMEOUT = 30.0


def _server_database_url() -> str:
    configured = os.environ.get("DATABASE_URL", "")
    return configured if configured.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(
    what: str, check: Callable[[], Any], timeout: float, procs: dict[str, subprocess.Popen[bytes]]
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode} while waiting for {what}")
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


@dataclass
class Stack:
    web: str
    crm: SandboxProcess
    helpdesk: SandboxProcess
    ids: dict[str, Any]
    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]]
    query: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]

    def manage(self, *args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "tests.ops.queue_stack", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


def _reachable_services() -> tuple[str, str]:
    """The admin URL of the PostgreSQL server and the Redis URL, or skip saying which is missing."""
    import psycopg
    import redis

    admin_url = urlparse(_server_database_url())._replace(path="/postgres").geturl()
    try:
        psycopg.connect(admin_url, connect_timeout=3, autocommit=True).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL is not reachable at {admin_url} ({exc}); this test needs a real server")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); this test needs a real broker")
    return admin_url, REDIS_URL


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    import psycopg
    import redis

    admin_url, broker_url = _reachable_services()
    db_name = f"hub_ops_queues_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    database_url = urlparse(admin_url)._replace(path=f"/{db_name}").geturl()
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()

    def query(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_url) as conn:
            return list(conn.execute(sql, params).fetchall())

    data = tmp_path / "data"
    (data / "metrics").mkdir(parents=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    inherited = {"DATABASE_URL", "CELERY_BROKER_URL", "HUB_DATA_DIR", "PROMETHEUS_MULTIPROC_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in inherited and not k.startswith("HUB_RATE_LIMIT")}
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        HUB_DATA_DIR=str(data),
        PROMETHEUS_MULTIPROC_DIR=str(data / "metrics"),
        DJANGO_SETTINGS_MODULE="integrations_hub.settings",
        PYTHONUNBUFFERED="1",
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with (
            SandboxProcess("crm", seed=CONTACTS, startup_timeout=STARTUP_TIMEOUT) as crm,
            SandboxProcess("helpdesk", seed=0) as helpdesk,
        ):
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=180,
            )
            web_port = _free_port()
            celery = [sys.executable, "-m", "celery", "-A", "integrations_hub", "worker", "--loglevel=INFO"]
            commands = {
                "web": [sys.executable, "-m", "gunicorn", "integrations_hub.wsgi", "--bind", f"127.0.0.1:{web_port}", "--workers", "1"],
                "worker-realtime": [*celery, "-Q", "realtime", "-n", "realtime@%h", "--concurrency=1", "--without-gossip", "--without-mingle"],
                "worker-bulk": [*celery, "-Q", "bulk,celery", "-n", "bulk@%h", "--concurrency=1", "--without-gossip", "--without-mingle"],
            }  # fmt: skip
            for name, command in commands.items():
                with (logs / f"{name}.log").open("wb") as log:
                    procs[name] = subprocess.Popen(
                        command,
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
            stack = Stack(
                web=f"http://127.0.0.1:{web_port}",
                crm=crm,
                helpdesk=helpdesk,
                ids={},
                env=env,
                logs=logs,
                procs=procs,
                query=query,
            )
            stack.ids = stack.manage("setup", "--crm", crm.url, "--helpdesk", helpdesk.url)

            def workers_alive() -> bool:
                rows = query("SELECT hostname FROM health_heartbeat WHERE role = 'worker'", ())
                names = {row[0].split("@")[0] for row in rows}
                return {"realtime", "bulk"} <= names

            _wait_for("both workers' heartbeats", workers_alive, STARTUP_TIMEOUT, procs)
            yield stack
    finally:
        for proc in procs.values():
            # The bulk worker is killed mid-backfill on purpose: nothing of this stack is kept.
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        broker.flushdb()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def _post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def test_a_webhook_run_finishes_while_a_large_backfill_is_still_running(stack: Stack) -> None:
    backfill_id, hook_id = stack.ids["backfill"], stack.ids["hook"]
    stack.crm.set_faults(latency_ms=CRM_LATENCY_MS, path_prefix="/crm/")
    backfill_run = stack.manage("backfill", "--workflow", str(backfill_id))["run"]

    def backfill_progressing() -> bool:
        rows = stack.query("SELECT status, records_read FROM workflows_run WHERE id = %s", (backfill_run,))
        return bool(rows) and rows[0][0] == "running" and rows[0][1] >= 100

    _wait_for("the backfill to write its first pages", backfill_progressing, RUN_TIMEOUT, stack.procs)
    status, body = _post_json(
        f"{stack.web}/hooks/{stack.ids['token']}",
        {"id": "lead-1", "lead": {"name": "Ada Realtime", "email": "Ada.Realtime@example.com"}},
    )
    assert status == 202, body

    def webhook_run_finished() -> list[tuple[Any, ...]]:
        return stack.query(
            "SELECT id, status, finished_at FROM workflows_run WHERE workflow_id = %s AND finished_at IS NOT NULL",
            (hook_id,),
        )

    [(hook_run, hook_status, hook_finished)] = _wait_for(
        "the webhook's run to finish", webhook_run_finished, RUN_TIMEOUT, stack.procs
    )
    [(backfill_status, backfill_finished, backfill_read)] = stack.query(
        "SELECT status, finished_at, records_read FROM workflows_run WHERE id = %s", (backfill_run,)
    )

    assert hook_status == "succeeded"
    assert (backfill_status, backfill_finished) == ("running", None)
    assert 0 < backfill_read < CONTACTS
    assert "ada.realtime@example.com" in {user["email"] for user in stack.helpdesk.records("users")}
    # Each task ran on its own queue's worker ("Task <name>[<id>] received" in the worker's log).
    assert "Task workflows.process_webhook_events[" in stack.log("worker-realtime")
    assert "Task workflows.process_webhook_events[" not in stack.log("worker-bulk")
    assert "Task workflows.execute_run[" in stack.log("worker-bulk")
    assert "Task workflows.execute_run[" not in stack.log("worker-realtime")

    # /metrics of the web process sees what the worker processes did: the database series, and the
    # latency the realtime worker observed, through the shared multiprocess folder.
    series = parse(_get_text(f"{stack.web}/metrics"))
    backfill_labels = {"workflow_id": backfill_id, "workflow": "CRM backfill", "team": "Ops"}
    hook_labels = {"workflow_id": hook_id, "workflow": "Web-form leads", "team": "Ops"}
    assert value(series, "hub_runs", {**backfill_labels, "status": "running"}) == 1
    assert value(series, "hub_runs", {**hook_labels, "status": "succeeded"}) == 1
    latency = {"workflow_id": hook_id, "trigger": "webhook"}
    assert value(series, "hub_sync_latency_seconds_count", latency) == 1
    assert value(series, "hub_sync_latency_seconds_bucket", {**latency, "le": "15.0"}) == 1
    assert value(series, "hub_broker_up") == 1
    assert hook_run and hook_finished is not None
