"""Fixtures for the SaaS sandboxes the connector tests talk to (see tests/saas_sandboxes.py), and a
local endpoint for their webhook deliveries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.sandbox.testing import SandboxProcess
from tests.connectors.webhook_receiver import WebhookReceiver
from tests.saas_sandboxes import fresh


@pytest.fixture
def billing_sandbox() -> SandboxProcess:
    """The Stripe-dialect sandbox, reset to 30 customers (with their invoices and payment intents)."""
    return fresh("billing")


@pytest.fixture
def sales_sandbox() -> SandboxProcess:
    """The Pipedrive-dialect sandbox, reset to 30 persons (with organizations, deals and activities)."""
    return fresh("sales")


@pytest.fixture
def marketing_sandbox() -> SandboxProcess:
    """The Mailchimp-dialect sandbox, reset to one audience of 30 members."""
    return fresh("marketing")


@pytest.fixture
def chat_sandbox() -> SandboxProcess:
    """The Slack-dialect sandbox, reset to no messages."""
    return fresh("chat")


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A local endpoint sandboxes can deliver webhooks to (`.url()`, `.last`)."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
