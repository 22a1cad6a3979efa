"""A real stack per fault test: a private PostgreSQL cluster and a private Redis (which the tests may
restart; the shared 5432/6379 are never touched), sandbox processes, and Celery worker subprocesses.

Everything the stack is told goes through its environment; nothing in a subprocess is patched.
The suite is not collected by `make test` (the Makefile's `test` target passes --ignore=tests/faults);
run it with `make test-faults`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors.sandbox.testing import SandboxProcess
from tests.faults.proxy import TimeoutProxy

ROOT = Path(__file__).resolve().parents[2]
HUBCTL = str(Path(__file__).with_name("hubctl.py"))
TEMPLATE_DB = "faults_template"
# Each scenario must finish well inside this (the brief: < 2 min).
SCENARIO_BUDGET_SECONDS = 110


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.3) -> Any:
    """Poll `check` until it returns something truthy; bounded in time."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


# --- private PostgreSQL ----------------------------------------------------------------------------


class PrivatePostgres:
    def __init__(self) -> None:
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not versions or shutil.which("runuser") is None:
            pytest.skip("PostgreSQL server binaries or runuser are not available")
        self.bin = versions[-1]
        self.dir = tempfile.mkdtemp(prefix="faults-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        os.chmod(self.dir, 0o700)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self._pg("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    def _pg(self, tool: str, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{self.bin}/{tool}", *args],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.dir,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        self._pg("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.dir, "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self, down_seconds: float = 3.0) -> None:
        # "immediate" is the closest thing to a crash: every connection is cut, no checkpoint.
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def execute(self, sql: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def query(self, db: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url(db), connect_timeout=5) as conn:
            return list(conn.execute(sql, params).fetchall())

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


# --- private Redis ---------------------------------------------------------------------------------


class PrivateRedis:
    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not available")
        self.dir = tempfile.mkdtemp(prefix="faults-redis-")
        self.port = free_port()
        self.start()

    def cli(self, *args: str) -> str:
        return subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()

    def start(self) -> None:
        subprocess.run(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", self.dir, "--pidfile", os.path.join(self.dir, "redis.pid")],
            check=True, timeout=10, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until("the private Redis", lambda: self.cli("ping") == "PONG", 10, 0.1)

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(Path(self.dir, "redis.pid").read_text().strip())
        return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        # Like a crash: SIGKILL, so nothing is saved and every client is cut.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until("Redis to stop", lambda: self.cli("ping") != "PONG", 10, 0.1)
        Path(self.dir, "redis.pid").unlink(missing_ok=True)

    def restart(self, down_seconds: float = 3.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        # Migrate once into a template; each test gets a fresh copy in a second.
        pg.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        env = base_env()
        env["DATABASE_URL"] = pg.url(TEMPLATE_DB)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT, env=env, check=True, timeout=180,
        )  # fmt: skip
        yield pg
    finally:
        pg.destroy()


@pytest.fixture(scope="session")
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    try:
        yield redis
    finally:
        redis.destroy()


def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "HUB_RATE_LIMIT_REDIS_URL"}
        and not k.startswith("HUB_OAUTH_")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("SECRET_KEY", "faults-secret")
    env["HUB_ENCRYPTION_KEYS"] = "qco4J8RE_GBefWq1e4JzAq2UBDbfL3a_F0YOBYw5poI="
    return env


# --- the stack -------------------------------------------------------------------------------------


@dataclass
class Stack:
    pg: PrivatePostgres
    redis: PrivateRedis
    db: str
    env: dict[str, str]
    tmp: Path
    crm: SandboxProcess
    helpdesk: SandboxProcess
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    web: subprocess.Popen[bytes] | None = None
    web_url: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    proxies: list[Any] = field(default_factory=list)

    # -- processes

    def hubctl(self, command: str, args: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, HUBCTL, command, json.dumps(args or {})],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("HUBCTL ")), None)
        if done.returncode != 0 or line is None:
            raise AssertionError(
                f"hubctl {command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return dict(json.loads(line[len("HUBCTL ") :]))

    def start_worker(self, name: str, concurrency: int = 1) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "integrations_hub", "worker", "--loglevel=INFO",
             f"--concurrency={concurrency}", "--pool=prefork", "-Q", "realtime,bulk,celery",
             "-n", f"{name}@faults", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.workers[name] = proc
        return proc

    def start_web(self) -> str:
        port = free_port()
        log = (self.tmp / "web.log").open("ab")
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "integrations_hub.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "2", "--timeout", "30"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.web_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_until("the web server", up, 30)
        return self.web_url

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (the main process and its pool children)."""
        proc = self.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        procs = list(self.workers.values()) + ([self.web] if self.web else [])
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.workers.clear()
        self.web = None

    def logs(self) -> str:
        parts = []
        for path in sorted(self.tmp.glob("*.log")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name} (last 4000 chars)\n{text[-4000:]}")
        return "\n".join(parts)

    # -- the database

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.pg.query(self.db, sql, params)

    def runs(self, workflow_id: int | None = None) -> list[dict[str, Any]]:
        workflow_id = workflow_id or self.info["workflow_id"]
        rows = self.query(
            "SELECT id, status, trigger, records_read, error FROM workflows_run WHERE workflow_id=%s ORDER BY id",
            (workflow_id,),
        )
        return [
            dict(zip(("id", "status", "trigger", "records_read", "error"), row, strict=True)) for row in rows
        ]

    def run_status(self, run_id: int) -> str:
        return str(self.query("SELECT status FROM workflows_run WHERE id=%s", (run_id,))[0][0])

    def queue_run(self, workflow_id: int | None = None) -> int:
        run_id = self.hubctl("run", {"workflow_id": workflow_id or self.info["workflow_id"]})["run_id"]
        assert run_id, f"no run was queued; runs: {self.runs(workflow_id)}"
        return int(run_id)

    def wait_run_done(self, run_id: int, timeout: float = 60) -> str:
        return str(
            wait_until(
                f"run {run_id} to finish",
                lambda: (s := self.run_status(run_id)) not in ("queued", "running") and s,
                timeout,
            )
        )

    def failed_records(self) -> list[tuple[Any, ...]]:
        return self.query("SELECT source_id, error FROM workflows_runrecord WHERE outcome='failed'")


@pytest.fixture
def stack_factory(
    private_postgres: PrivatePostgres,
    private_redis: PrivateRedis,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Stack]]:
    created: list[Stack] = []
    proxies: list[TimeoutProxy] = []

    def make(
        *,
        contacts: int = 150,
        env: dict[str, str] | None = None,
        crm_args: tuple[str, ...] = (),
        oauth: bool = False,
        webhook: bool = False,
        workers: int = 1,
        web: bool = False,
        timeout_rate: float = 0.0,
    ) -> Stack:
        db = f"faults_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"[:60].lower()
        private_postgres.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        private_postgres.execute(f'CREATE DATABASE "{db}" TEMPLATE "{TEMPLATE_DB}"')
        private_redis.cli("FLUSHALL")
        crm = SandboxProcess("crm", seed=contacts, extra_args=crm_args).start()
        helpdesk = SandboxProcess("helpdesk", email="agent@demo.example").start()
        stack_env = base_env()
        stack_env.update(
            {
                "DATABASE_URL": private_postgres.url(db),
                "CELERY_BROKER_URL": private_redis.url(0),
                "HUB_DATA_DIR": str(tmp_path / "data"),
                "HUB_HEARTBEAT_STALE_SECONDS": "60",
                # A run whose worker died is replaced after this (see the report: the setting this needs).
                "HUB_STALE_RUN_SECONDS": "8",
                "HUB_HTTP_TIMEOUT_SECONDS": "3",
            }
        )
        if oauth:
            from connectors.sandbox.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

            stack_env.update(
                {
                    "HUB_OAUTH_HUBSPOT_CLIENT_ID": DEFAULT_CLIENT_ID,
                    "HUB_OAUTH_HUBSPOT_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
                    "HUB_OAUTH_HUBSPOT_AUTHORIZE_URL": f"{crm.url}/oauth/authorize",
                    "HUB_OAUTH_HUBSPOT_TOKEN_URL": f"{crm.url}/oauth/v1/token",
                }
            )
        stack_env.update(env or {})
        stack = Stack(private_postgres, private_redis, db, stack_env, tmp_path, crm, helpdesk)
        created.append(stack)
        crm_url, helpdesk_url = crm.url, helpdesk.url
        if timeout_rate:
            # Both systems behind a proxy that lets a share of requests hang past the hub's timeout.
            for sandbox in (crm, helpdesk):
                proxy = TimeoutProxy(
                    sandbox.url, timeout_rate=timeout_rate, hang_seconds=5, seed=len(proxies)
                )
                proxies.append(proxy.__enter__())
            crm_url, helpdesk_url = proxies[-2].url, proxies[-1].url
        stack.proxies = proxies[-2:] if timeout_rate else []
        stack.info = stack.hubctl(
            "setup",
            {"crm_url": crm_url, "helpdesk_url": helpdesk_url, "oauth": oauth, "webhook": webhook},
        )
        for index in range(workers):
            stack.start_worker(f"w{index + 1}")
        if web:
            stack.start_web()
        return stack

    started = time.monotonic()
    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for stack in created:
        if failed:
            sys.stderr.write(stack.logs())
        stack.stop()
        stack.crm.stop()
        stack.helpdesk.stop()
        with contextlib.suppress(Exception):
            private_postgres.execute(f'DROP DATABASE IF EXISTS "{stack.db}" WITH (FORCE)')
    for proxy in proxies:
        proxy.__exit__()
    elapsed = time.monotonic() - started
    sys.stderr.write(f"\n[faults] {request.node.name}: {elapsed:.1f} s\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
