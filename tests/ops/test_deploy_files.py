"""The deployment files (compose, systemd, Procfile, the demo) run the same roles on the same queues."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from integrations_hub.celery import app as celery_app
from workflows.management.commands.run_demo import DEMO_WORKERS

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
SYSTEMD = DOCKER / "systemd"
COMPOSE_ENV = {"SECRET_KEY": "compose-check", "HUB_ENCRYPTION_KEYS": "compose-check"}


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed here (`make compose-check` installs Debian's package)")
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    return subprocess.run(
        [binary, "-f", str(DOCKER / "compose.yml"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _queues(command: list[str] | str) -> str:
    words = command.split() if isinstance(command, str) else command
    return words[words.index("-Q") + 1]


def test_the_compose_file_validates_and_runs_every_role() -> None:
    result = _compose("config", env=COMPOSE_ENV)

    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"migrate", "web", "worker-realtime", "worker-bulk", "beat", "postgres", "redis"}
    assert _queues(services["worker-realtime"]["command"]) == "realtime"
    assert _queues(services["worker-bulk"]["command"]) == "bulk,celery"
    assert services["beat"]["command"][-2:] == ["beat", "--loglevel=INFO"]
    # Web and workers share the histogram folder, or /metrics would miss what the workers observed.
    for role in ("web", "worker-realtime", "worker-bulk"):
        assert "metrics:/app/data/metrics:rw" in services[role]["volumes"]


def test_the_compose_file_refuses_to_start_without_the_secrets() -> None:
    result = _compose("config", "--quiet", env={})

    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_the_systemd_units_parse() -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    units = sorted(str(path) for path in SYSTEMD.glob("integrations-hub*"))
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True, timeout=60)
    # The program paths are those of an installed hub (/opt/integrations-hub); everything else must be clean.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable: No such file or directory" not in line
    ]
    assert problems == []


def _unit_commands() -> dict[str, str]:
    commands = {}
    for path in SYSTEMD.glob("integrations-hub-*.service"):
        role = path.stem.removeprefix("integrations-hub-")
        starts = re.findall(r"^ExecStart=(.+)$", path.read_text(), flags=re.MULTILINE)
        commands[role] = " ".join(starts).replace("%%", "%")
    return commands


def _procfile() -> dict[str, str]:
    lines = (DOCKER / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_systemd_procfile_and_compose_agree_on_the_worker_layout() -> None:
    units = _unit_commands()
    procfile = _procfile()

    for role, queues in (("worker-realtime", "realtime"), ("worker-bulk", "bulk,celery")):
        assert _queues(units[role]) == _queues(procfile[role]) == queues
    assert " beat " in units["beat"] + " " and " beat " in procfile["beat"] + " "
    assert "gunicorn integrations_hub.wsgi" in units["web"] and procfile["web"].startswith("gunicorn ")
    assert "migrate --noinput" in units["migrate"]


def _route(task: str) -> str:
    route: dict[str, Any] = celery_app.amqp.router.route({}, task)
    return str(route["queue"].name)


def test_real_time_work_and_bulk_work_go_to_separate_queues() -> None:
    assert _route("workflows.process_webhook_events") == "realtime"
    assert _route("workflows.sweep") == "realtime"
    assert _route("workflows.send_incident_alert") == "realtime"
    assert _route("workflows.poll_workflow") == "bulk"
    assert _route("workflows.execute_run") == "bulk"
    assert _route("workflows.prune_runs") == "bulk"


def test_every_task_lands_on_a_queue_that_the_production_workers_and_the_demo_consume() -> None:
    celery_app.loader.import_default_modules()
    production = {
        q for role in ("worker-realtime", "worker-bulk") for q in _queues(_procfile()[role]).split(",")
    }
    demo = {q for _name, queues, _concurrency in DEMO_WORKERS for q in queues.split(",")}
    configured = {queue.name for queue in settings.CELERY_TASK_QUEUES}

    assert production == demo == configured == {"realtime", "bulk", "celery"}
    for task in celery_app.tasks:
        if not task.startswith("celery."):
            assert _route(task) in production, task
