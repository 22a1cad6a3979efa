"""Structured logs: every line written while a run executes names the run and its workflow."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations_hub.logging import JsonFormatter, PlainFormatter, current_log_context, log_context
from tests.workflows.helpers import crm_to_helpdesk, run_now
from workflows.services import runs as run_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, logging.StreamHandler[io.StringIO]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.ops.logging")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_a_json_line_carries_the_bound_ids_extras_and_the_exception(
    captured: tuple[logging.Logger, logging.StreamHandler[io.StringIO]],
) -> None:
    logger, handler = captured
    handler.setFormatter(JsonFormatter())

    with log_context(run_id=7, workflow_id=3):
        try:
            raise ValueError("the target said no")
        except ValueError:
            logger.exception("writing page %s failed", 2, extra={"records": 100})
    logger.info("after the run")

    first, second = (json.loads(line) for line in handler.stream.getvalue().splitlines())
    assert first["message"] == "writing page 2 failed"
    assert (first["run_id"], first["workflow_id"], first["records"]) == (7, 3, 100)
    assert first["level"] == "ERROR" and first["logger"] == "tests.ops.logging"
    assert "ValueError: the target said no" in first["exception"]
    assert first["time"].endswith("+00:00")
    assert "run_id" not in second and "workflow_id" not in second


def test_a_plain_line_ends_with_the_bound_ids_before_any_traceback(
    captured: tuple[logging.Logger, logging.StreamHandler[io.StringIO]],
) -> None:
    logger, handler = captured
    handler.setFormatter(PlainFormatter(fmt="%(levelname)s %(name)s %(message)s"))

    with log_context(run_id=7), log_context(workflow_id=3):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("page failed")

    lines = handler.stream.getvalue().splitlines()
    assert lines[0] == "ERROR tests.ops.logging page failed [run_id=7 workflow_id=3]"
    assert lines[-1] == "ValueError: boom"
    assert current_log_context() == {}


def test_run_execute_binds_the_run_and_workflow_for_everything_it_logs(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    seen: list[dict[str, Any]] = []
    original = run_service.process_records

    def spy(*args: Any, **kwargs: Any) -> None:
        seen.append(current_log_context())
        original(*args, **kwargs)

    monkeypatch.setattr(run_service, "process_records", spy)

    run = run_now(workflow)

    assert seen and all(context == {"run_id": run.pk, "workflow_id": workflow.pk} for context in seen)
    assert current_log_context() == {}


def test_log_format_is_chosen_by_the_environment_and_checked_at_start_up(tmp_path: Path) -> None:
    env = {**os.environ, "HUB_DATA_DIR": str(tmp_path), "LOG_FORMAT": "json"}
    code = "import logging, django; django.setup(); logging.getLogger('hub.check').warning('hello')"
    env["DJANGO_SETTINGS_MODULE"] = "integrations_hub.settings"
    ok = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    bad = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    line = json.loads(ok.stderr.strip().splitlines()[-1])
    assert (line["logger"], line["message"], line["level"]) == ("hub.check", "hello", "WARNING")
    assert bad.returncode != 0 and "LOG_FORMAT must be plain or json" in bad.stderr
