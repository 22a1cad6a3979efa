"""The command line, process lifecycle, persistence and HTTP/1.1 behaviour of a sandbox."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from connectors.sandbox.testing import CRM_TOKEN, PROJECT_ROOT, SandboxError, SandboxProcess


def test_cli_prints_ready_with_the_real_port_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "connectors.sandbox", "crm", "--port", "0", "--db", ":memory:", "--seed", "3"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split()[1]
        port = urlsplit(url).port
        assert port and port > 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/_admin/health")
        health = json.loads(conn.getresponse().read())
        assert health["counts"]["contacts"] == 3
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigint_also_stops_cleanly() -> None:
    sandbox = SandboxProcess("helpdesk").start()
    try:
        assert sandbox._proc is not None
        sandbox._proc.send_signal(signal.SIGINT)
        assert sandbox._proc.wait(timeout=10) == 0
    finally:
        sandbox.stop()


def test_seed_applies_only_when_the_database_is_new(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "crm.sqlite3"
    with SandboxProcess("crm", seed=5, db=db) as first:
        created = first.admin("POST", "/records/contacts", {"properties": {"email": "kept@example.com"}})
        before = first.records("contacts")
    assert db.exists()
    with SandboxProcess("crm", seed=5, db=db) as second:
        after = second.records("contacts")
        assert after == before
        # The clock never hands out a time at or before what is stored, even across restarts.
        edited = second.admin("PATCH", f"/records/contacts/{created['id']}", {"properties": {"city": "Rome"}})
        assert edited["updatedAt"] > created["updatedAt"]


def test_a_database_belongs_to_one_system(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite3"
    with SandboxProcess("crm", db=db):
        pass
    with pytest.raises(SandboxError) as err:
        SandboxProcess("helpdesk", db=db).start()
    assert "holds a crm sandbox" in str(err.value)


def test_startup_failure_reports_stderr() -> None:
    with pytest.raises(SandboxError) as err:
        SandboxProcess("crm", extra_args=["--no-such-flag"]).start()
    message = str(err.value)
    assert "exited with code 2" in message
    assert "--no-such-flag" in message


def test_custom_token(tmp_path: Path) -> None:
    with SandboxProcess("crm", token="s3cret") as sandbox:
        assert (
            sandbox.request("GET", "/crm/v3/objects/contacts", headers={"Authorization": "Bearer s3cret"})[0]
            == 200
        )
        assert (
            sandbox.request(
                "GET", "/crm/v3/objects/contacts", headers={"Authorization": f"Bearer {CRM_TOKEN}"}
            )[0]
            == 401
        )


def test_keep_alive_serves_many_requests_on_one_connection(crm_sandbox: SandboxProcess) -> None:
    port = urlsplit(crm_sandbox.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Authorization": f"Bearer {CRM_TOKEN}", "Content-Type": "application/json"}
    conn.request("GET", "/crm/v3/objects/contacts?limit=1", headers=headers)
    first = conn.getresponse()
    first.read()
    assert first.version == 11 and first.getheader("Connection") != "close"
    sock = conn.sock
    started = time.monotonic()
    for i in range(50):
        body = json.dumps({"limit": 1, "after": str(i % 10)})
        conn.request("POST", "/crm/v3/objects/contacts/search", body=body, headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["total"] == 20
        assert conn.sock is sock, "the connection was not reused"
    # Well under Nagle/delayed-ACK territory (~40 ms a request).
    assert time.monotonic() - started < 2.0
    conn.close()


def test_chunked_request_body(crm_sandbox: SandboxProcess) -> None:
    port = urlsplit(crm_sandbox.url).port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    payload = json.dumps({"inputs": [{"properties": {"email": "chunk@example.com"}}]}).encode()
    conn.putrequest("POST", "/crm/v3/objects/contacts/batch/create")
    conn.putheader("Authorization", f"Bearer {CRM_TOKEN}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for start in range(0, len(payload), 16):
        chunk = payload[start : start + 16]
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    assert response.status == 201
    assert json.loads(response.read())["results"][0]["properties"]["email"] == "chunk@example.com"
    conn.close()
