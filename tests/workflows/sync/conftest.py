"""Fixtures for two-way sync tests: Hypothesis profiles, the fake systems and their connector kinds."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from connectors import registry
from tests.workflows.sync.fakes import SYSTEMS, Clock, FakeSystem

# The state machine's example budget: "default" for every normal `pytest` run, "deep" for `make test-deep`.
# Only the example count changes; every other Hypothesis test in the suite sets its own max_examples.
settings.register_profile("default", max_examples=200)
settings.register_profile("deep", max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def fake_providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the fake systems connector kinds ("fake_crm", "fake_desk") for the length of a test."""
    monkeypatch.setitem(registry.PROVIDERS, "fake_crm", "tests.workflows.sync.fakes.FakeCrmProvider")
    monkeypatch.setitem(registry.PROVIDERS, "fake_desk", "tests.workflows.sync.fakes.FakeDeskProvider")
    registry.get_provider.cache_clear()
    yield
    registry.get_provider.cache_clear()
    SYSTEMS.clear()


@pytest.fixture
def systems(fake_providers: None) -> tuple[FakeSystem, FakeSystem]:
    """A fresh CRM-like system (A) and helpdesk-like system (B) on one clock."""
    clock = Clock()
    crm = FakeSystem("crm", clock, unique_email=False, first_id=101)
    desk = FakeSystem("desk", clock, unique_email=True, first_id=10001, normalise=True)
    SYSTEMS.update({"crm": crm, "desk": desk})
    return crm, desk
