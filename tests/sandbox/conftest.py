"""The sandbox tests use the fixtures of tests/fixtures_sandbox.py; nothing is redefined here.

The root conftest loads that plugin. Should this directory ever be collected without it, the plugin is
loaded from here so the fixtures still exist exactly once.
"""

from __future__ import annotations

import pytest

PLUGIN = "tests.fixtures_sandbox"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)
