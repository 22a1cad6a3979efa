"""Start a sandbox as a real subprocess for tests, demos and benchmarks.

    with SandboxProcess("crm", seed=20) as crm:
        crm.url                      # http://127.0.0.1:<free port>
        crm.reset(seed=5)
        crm.admin("PATCH", "/records/contacts/101", {"properties": {"firstname": "Ada"}})

Talks to the admin API with urllib only, so it works wherever the sandbox itself does.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Credentials the sandboxes accept by default (see docs/sandbox.md).
CRM_TOKEN = "demo-crm-token"  # noqa: S105
HELPDESK_EMAIL = "agent@demo.example"
HELPDESK_TOKEN = "demo-helpdesk-token"  # noqa: S105

_RUNNING: set[SandboxProcess] = set()


class SandboxError(RuntimeError):
    """The sandbox did not start, or an admin call failed."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class SandboxProcess:
    """A sandbox system in a child process on a free loopback port, with its own temporary database."""

    def __init__(
        self,
        system: str,
        *,
        seed: int = 0,
        token: str | None = None,
        email: str | None = None,
        db: str | os.PathLike[str] | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.system = system
        self.seed = seed
        self.token = token
        self.email = email
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self._db = None if db is None else str(db)
        self._tmpdir: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.url = ""

    # -- lifecycle

    @property
    def db_path(self) -> str:
        if self._db is None:
            raise SandboxError("the sandbox has not been started")
        return self._db

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "connectors.sandbox", self.system, "--port", "0", "--db", self.db_path]
        args += ["--seed", str(self.seed)]
        if self.token is not None:
            args += ["--token", self.token]
        if self.email is not None:
            args += ["--email", self.email]
        return args + self.extra_args

    def start(self) -> SandboxProcess:
        if self._proc is not None:
            raise SandboxError("the sandbox is already started")
        if self._db is None:
            self._tmpdir = tempfile.mkdtemp(prefix=f"sandbox-{self.system}-")
            self._db = os.path.join(self._tmpdir, f"{self.system}.sqlite3")
        # stderr goes to a file, not a pipe: nobody reads it while the sandbox runs, and a full pipe
        # would block the server.
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - lives as long as the child
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self.command(),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        _RUNNING.add(self)
        # A thread drains stdout so the READY line can be waited for with a timeout and a chatty
        # child can never block on a full pipe.
        threading.Thread(target=self._pump, args=(self._proc,), daemon=True).start()
        try:
            self.url = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxError(
                    f"{self.system} sandbox did not print READY within {self.startup_timeout:g}s\n{self.stderr()}"
                )
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self._proc.wait(timeout=5) if self._proc else None
                raise SandboxError(
                    f"{self.system} sandbox exited with code {code} before READY\n{self.stderr()}"
                )
            if line.startswith("READY "):
                return line.split(None, 1)[1].strip()

    def stderr(self) -> str:
        """Everything the sandbox wrote to stderr so far."""
        if self._stderr is None:
            return ""
        with contextlib.suppress(ValueError, OSError):
            self._stderr.flush()
            self._stderr.seek(0)
            return str(self._stderr.read())
        return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, SIGKILL if needed; then remove the temporary database."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=timeout)
            if proc.stdout is not None:
                proc.stdout.close()
            self._proc = None
        _RUNNING.discard(self)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self._db = None

    def __enter__(self) -> SandboxProcess:
        return self if self._proc is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- talking to it

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], Any]:
        """Any call against the sandbox: (status, headers, decoded JSON body or None). Never raises on 4xx/5xx."""
        if not self.url:
            raise SandboxError("the sandbox has not been started")
        data = None if json_body is None else json.dumps(json_body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method.upper())  # noqa: S310 - our loopback URL
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                status, got_headers, raw = resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as err:
            status, got_headers, raw = err.code, dict(err.headers.items()), err.read()
        return status, got_headers, _decode(raw)

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        """Call the admin API (`/reset`, `/records/contacts`, ... with or without the `/_admin` prefix)."""
        if not path.startswith("/"):
            path = "/" + path
        if not path.startswith("/_admin/"):
            path = "/_admin" + path
        status, _, body = self.request(method, path, json)
        if status >= 400:
            raise SandboxError(f"{method} {path} answered {status}: {body}", status=status, body=body)
        return body

    def reset(self, seed: int = 0) -> dict[str, Any]:
        """Wipe and reseed deterministically; also clears request stats and faults."""
        return dict(self.admin("POST", "/reset", {"seed": seed}))

    def records(self, object_: str) -> list[dict[str, Any]]:
        return list(self.admin("GET", f"/records/{object_}")["results"])

    def stats(self) -> dict[str, Any]:
        return dict(self.admin("GET", "/stats"))

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """e.g. `set_faults(status=429, fail_next=2, retry_after=1)` or `set_faults(latency_ms=50)`."""
        return dict(self.admin("POST", "/faults", settings))

    def clear_faults(self) -> dict[str, Any]:
        return dict(self.admin("DELETE", "/faults"))

    def __repr__(self) -> str:
        return f"SandboxProcess({self.system!r}, url={self.url!r}, pid={self.pid})"


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        # Not every answer is JSON (e.g. http.server's own 501 page); hand back the text.
        return raw.decode("utf-8", "replace")


@atexit.register
def _stop_leftovers() -> None:
    # A test run that dies half-way must not leave servers holding ports.
    for sandbox in list(_RUNNING):
        with contextlib.suppress(Exception):
            sandbox.stop(timeout=3)
