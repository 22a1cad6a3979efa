"""Shared plumbing: sizes, repetitions, the dedicated database, sandboxes, timing statistics."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
REPEAT = max(3, int(os.environ.get("BENCH_REPEAT", "3")))
BENCH_DB = os.environ.get("BENCH_DB_NAME", "integrations_hub_bench")
PG_URL = os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
    "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/integrations_hub"
)


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, round(n * SCALE))


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    """Median, min and max of the repetitions, plus the raw values."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
    }


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if dirty:
            commit += " (+ uncommitted changes)"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_start": load(),
        "git_commit": commit,
        "scale": SCALE,
        "repetitions": REPEAT,
    }


# -- the dedicated database ------------------------------------------------------------------------


def postgres_up() -> bool:
    try:
        import psycopg

        admin = urlparse(PG_URL)._replace(path="/postgres").geturl()
        with psycopg.connect(admin, connect_timeout=3):
            return True
    except Exception:
        return False


def database_env(workdir: Path) -> dict[str, str]:
    """A fresh dedicated database: PostgreSQL when it answers, else SQLite in `workdir`."""
    env: dict[str, str] = {"HUB_DATA_DIR": str(workdir / "data")}
    if postgres_up():
        import psycopg

        parsed = urlparse(PG_URL)
        admin = parsed._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
        env["DATABASE_URL"] = parsed._replace(path=f"/{BENCH_DB}").geturl()
    return env


def hub_env(base: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "integrations_hub.settings")
    import django

    django.setup()


# -- sandboxes and HTTP ----------------------------------------------------------------------------


# The CRM sandbox's contacts for every benchmark: written in bulk (seconds for 100,000, where the demo
# seed of companies, deals and tickets took minutes), each with its own modification time.
CRM_SEED_ARGS = ["--seed-style", "contacts"]


def crm_sandbox(seed: int, **kwargs: Any) -> Any:
    return sandbox("crm", seed=seed, extra_args=CRM_SEED_ARGS, **kwargs)


def sandbox(system: str, seed: int = 0, **kwargs: Any) -> Any:
    from connectors.sandbox.testing import SandboxProcess

    # Seeding 100,000+ records takes a while on a busy machine.
    return SandboxProcess(system, seed=seed, startup_timeout=kwargs.pop("startup_timeout", 1800), **kwargs)


def get_json(url: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return json.loads(response.read())


def sandbox_total(box: Any) -> dict[str, Any]:
    stats: dict[str, Any] = box.stats()
    return stats


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    handle = log.open("wb")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        handle.close()


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")
