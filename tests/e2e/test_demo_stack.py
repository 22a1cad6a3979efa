"""`make run`'s stack, for real: sandboxes, web, worker and beat as processes, the demo syncing on its own.

Runs once with the embedded defaults (SQLite and the file broker) and, where DATABASE_URL and
CELERY_BROKER_URL point at PostgreSQL and Redis (as in CI), once more against those.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 40
POLL_SECONDS = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get_json(url: str, timeout: float = 5) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _send_json(method: str, url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _wait_for(what: str, check: Callable[[], Any], timeout: float, proc: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the demo stopped while waiting for {what}: exit {proc.returncode}")
        try:
            last = check()
        except (OSError, ValueError, sqlite3.Error) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    web: str
    crm: str
    helpdesk: str
    query: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def _postgres_env(
    base_url: str,
) -> tuple[dict[str, str], Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]]:
    import psycopg

    parsed = urlparse(base_url)
    db_name = f"{parsed.path.lstrip('/') or 'hub'}_stack"
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    url = parsed._replace(path=f"/{db_name}").geturl()

    def query(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with psycopg.connect(url) as conn:
            return list(conn.execute(sql.replace("?", "%s"), params).fetchall())

    return {"DATABASE_URL": url}, query


def _stack_modes() -> list[str]:
    modes = ["embedded"]
    if os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get(
        "CELERY_BROKER_URL", ""
    ).startswith("redis"):
        modes.append("postgres-redis")
    return modes


@pytest.fixture(params=_stack_modes())
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    # Without HUB_HTTP_ALLOWED_PRIVATE_HOSTS, as on a fresh machine: the demo must allow its loopback
    # sandboxes itself, while the production default allows no private host.
    dropped = {"DATABASE_URL", "CELERY_BROKER_URL", "HUB_HTTP_ALLOWED_PRIVATE_HOSTS"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["HUB_DATA_DIR"] = str(tmp_path / "data")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["HUB_HEARTBEAT_STALE_SECONDS"] = "60"
    if request.param == "postgres-redis":
        extra, query = _postgres_env(os.environ["DATABASE_URL"])
        env.update(extra)
        broker = urlparse(os.environ["CELERY_BROKER_URL"])
        env["CELERY_BROKER_URL"] = broker._replace(path="/14").geturl()
    else:
        db_file = tmp_path / "data" / "hub.sqlite3"

        def query(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            with sqlite3.connect(db_file, timeout=10) as conn:
                return list(conn.execute(sql, params).fetchall())

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=180,
    )
    ports = {"web": _free_port(), "crm": _free_port(), "helpdesk": _free_port()}
    proc = subprocess.Popen(
        [
            sys.executable, "manage.py", "run_demo",
            "--port", str(ports["web"]), "--crm-port", str(ports["crm"]), "--helpdesk-port", str(ports["helpdesk"]),
            "--contacts", str(CONTACTS), "--poll-seconds", str(POLL_SECONDS),
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    stack = Stack(
        proc=proc,
        web=f"http://127.0.0.1:{ports['web']}",
        crm=f"http://127.0.0.1:{ports['crm']}",
        helpdesk=f"http://127.0.0.1:{ports['helpdesk']}",
        query=query,
    )
    try:
        yield stack
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_demo_syncs_every_contact_and_then_an_edit_within_one_poll(stack: Stack) -> None:
    _wait_for("the web server", lambda: _get_json(stack.web + "/healthz")[0] in (200, 503), 90, stack.proc)
    contacts = _get_json(stack.crm + "/_admin/records/contacts")[1]["results"]
    assert len(contacts) >= CONTACTS

    def helpdesk_emails() -> set[str]:
        return {u["email"] for u in _get_json(stack.helpdesk + "/_admin/records/users")[1]["results"]}

    def all_synced() -> bool:
        created = stack.query(
            "SELECT count(*) FROM workflows_runrecord WHERE outcome IN ('created', 'failed')", ()
        )
        return created[0][0] >= len(contacts)

    _wait_for("the first run to finish every contact", all_synced, 120, stack.proc)
    failed = {
        row[0] for row in stack.query("SELECT source_id FROM workflows_runrecord WHERE outcome='failed'", ())
    }
    expected = {c["properties"]["email"].strip().lower() for c in contacts if c["id"] not in failed}
    assert helpdesk_emails() == expected

    _status, health = _wait_for(
        "/healthz to be 200",
        lambda: (lambda r: r if r[0] == 200 else None)(_get_json(stack.web + "/healthz")),
        60,
        stack.proc,
    )
    assert health["status"] == "ok"

    contact = next(c for c in contacts if c["id"] not in failed)
    edited_at = time.monotonic()
    _send_json(
        "PATCH",
        f"{stack.crm}/_admin/records/contacts/{contact['id']}",
        {"properties": {"phone": "+1 555 0100"}},
    )

    def updated() -> bool:
        rows = stack.query(
            "SELECT diff FROM workflows_runrecord WHERE outcome='updated' AND source_id=?", (contact["id"],)
        )
        return bool(rows)

    _wait_for("the edit to show as an updated outcome", updated, POLL_SECONDS * 2 + 30, stack.proc)
    assert time.monotonic() - edited_at < POLL_SECONDS * 2 + 30
    users = _get_json(stack.helpdesk + "/_admin/records/users")[1]["results"]
    user = next(u for u in users if u["email"] == contact["properties"]["email"].strip().lower())
    assert user["phone"] == "+1 555 0100"

    stack.proc.send_signal(signal.SIGINT)
    output, _ = stack.proc.communicate(timeout=40)
    assert "All demo processes stopped." in output
    assert "demo-admin-pass" in output  # the login is printed
    for url in (stack.web, stack.crm, stack.helpdesk):
        port = int(url.rsplit(":", 1)[1])
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"{url} still listening after Ctrl-C"
