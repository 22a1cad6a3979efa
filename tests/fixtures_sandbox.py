"""Pytest plugin: sandbox systems as real processes for any test that needs one.

Load it from the root conftest with `pytest_plugins = ["tests.fixtures_sandbox"]`. One process per
system per test session (per xdist worker); the function fixtures reset it before each test, so every
test sees the same small deterministic data set and empty request stats and fault settings.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.sandbox.testing import SandboxProcess

# Small seeds keep the per-test reset fast: 20 CRM contacts (and 2 companies), an empty helpdesk.
CRM_TEST_SEED = 20
HELPDESK_TEST_SEED = 0


@pytest.fixture(scope="session")
def crm_sandbox_process() -> Iterator[SandboxProcess]:
    """The CRM sandbox process for the whole session; prefer `crm_sandbox`, which resets it."""
    with SandboxProcess("crm", seed=CRM_TEST_SEED) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def helpdesk_sandbox_process() -> Iterator[SandboxProcess]:
    """The helpdesk sandbox process for the whole session; prefer `helpdesk_sandbox`."""
    with SandboxProcess("helpdesk", seed=HELPDESK_TEST_SEED) as sandbox:
        yield sandbox


@pytest.fixture
def crm_sandbox(crm_sandbox_process: SandboxProcess) -> SandboxProcess:
    """The CRM sandbox reset to CRM_TEST_SEED contacts; `.url`, token `demo-crm-token`."""
    crm_sandbox_process.reset(CRM_TEST_SEED)
    return crm_sandbox_process


@pytest.fixture
def helpdesk_sandbox(helpdesk_sandbox_process: SandboxProcess) -> SandboxProcess:
    """The helpdesk sandbox reset to HELPDESK_TEST_SEED users; agent@demo.example / demo-helpdesk-token."""
    helpdesk_sandbox_process.reset(HELPDESK_TEST_SEED)
    return helpdesk_sandbox_process
