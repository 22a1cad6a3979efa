"""Nothing a user types is ever evaluated as code: no eval/exec anywhere, and template or expression
payloads pass through mappings as the plain text they are."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workflows.engine.mapping import MappingSpecError, compile_mapping

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("integrations_hub", "connectors", "workflows")
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}

# Sandbox-escape and template-injection payloads of common template and expression engines.
PAYLOADS = [
    "{{7*7}}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "{{ config.__class__.__init__.__globals__ }}",
    "{{''.__class__.__mro__[1].__subclasses__()}}",
    "${T(java.lang.Runtime).getRuntime().exec('id')}",
    "__import__('os').system('id')",
    "{% import os %}{{ os.system('id') }}",
    "{{request.application.__globals__.__builtins__.__import__('os').popen('id').read()}}",
    "*{7*7}",
    "@(7*7)",
    "{7*7}",
    "'; DROP TABLE workflows_run; --",
]


def _python_files() -> list[Path]:
    files: list[Path] = []
    for package in SOURCE_PACKAGES:
        files.extend(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)
    return files


def test_no_source_file_calls_eval_exec_or_compile() -> None:
    offenders: list[str] = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN_CALLS
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}()")
    assert offenders == []


def test_only_the_shared_http_layer_imports_requests() -> None:
    importers: list[str] = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "requests" or name.startswith("requests.") for name in names):
                importers.append(str(path.relative_to(ROOT)))
    assert sorted(set(importers)) == ["connectors/http.py"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_values_come_out_as_the_same_text(payload: str) -> None:
    mapping = compile_mapping(
        {
            "fields": [
                {"target": "plain", "source": ["name"]},
                {"target": "trimmed", "source": ["name"], "transforms": [{"name": "trim"}]},
                {
                    "target": "joined",
                    "source": ["name", "city"],
                    "transforms": [{"name": "join", "args": {"separator": " "}}],
                },
                {
                    "target": "formatted",
                    "source": ["name"],
                    "transforms": [{"name": "format", "args": {"template": "Hi {name}!"}}],
                },
            ]
        }
    )
    result = mapping.apply({"name": payload, "city": "Oslo"})
    assert result.errors == []
    assert result.values["plain"] == payload
    assert result.values["trimmed"] == payload.strip()
    assert result.values["joined"] == f"{payload} Oslo"
    assert result.values["formatted"] == f"Hi {payload}!"
    assert "49" not in "".join(str(v) for v in result.values.values())


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_as_format_templates_are_literal_text(payload: str) -> None:
    try:
        mapping = compile_mapping(
            {
                "fields": [
                    {
                        "target": "out",
                        "source": ["name"],
                        "transforms": [{"name": "format", "args": {"template": payload}}],
                    }
                ]
            }
        )
    except MappingSpecError as exc:  # a template the validator refuses is fine, as long as nothing ran
        refusal = str(exc)
        assert "49" not in refusal
        return
    result = mapping.apply({"name": "Ada", "7*7": "seven"})
    rendered = "".join(str(v) for v in result.values.values())
    assert "49" not in rendered
    assert "uid=" not in rendered
