"""Clients of the SaaS connectors pointed at their sandboxes, set up for fast, observable tests."""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectionSettings, ConnectorClient, RateLimit
from connectors.registry import get_provider
from connectors.sandbox.testing import SandboxProcess
from tests.saas_sandboxes import BILLING_KEY, CHAT_TOKEN, MARKETING_KEY, MARKETING_LIST_ID, SALES_TOKEN

# So large that the governor never holds a request back: waits seen by a test then come from the
# system (Retry-After), not from the provider's documented budget.
UNLIMITED = RateLimit(requests=1_000_000, interval_seconds=1, burst=999_999)


class Sleeps:
    """Records the waits a client asks for instead of sleeping through them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def connect(kind: str, config: dict[str, Any], credentials: dict[str, str], **settings: Any) -> Any:
    """A client of `kind` whose sleeps are recorded (`client.http.sleep.waits`)."""
    settings.setdefault("rate_limit", UNLIMITED)
    client: ConnectorClient = get_provider(kind).client(
        ConnectionSettings(connection_id=None, config=config, credentials=credentials, **settings)
    )
    http = getattr(client, "http")  # noqa: B009 - every connector client has one; the ABC does not say so
    http.sleep = Sleeps()
    return client


def stripe(sandbox: SandboxProcess, key: str = BILLING_KEY, **settings: Any) -> Any:
    return connect("stripe", {"base_url": sandbox.url}, {"secret_key": key}, **settings)


def pipedrive(sandbox: SandboxProcess, token: str = SALES_TOKEN, **settings: Any) -> Any:
    return connect("pipedrive", {"base_url": sandbox.url}, {"api_token": token}, **settings)


def mailchimp(sandbox: SandboxProcess, key: str = MARKETING_KEY, **config: Any) -> Any:
    return connect(
        "mailchimp", {"base_url": sandbox.url, "list_id": MARKETING_LIST_ID, **config}, {"api_key": key}
    )


def slack(sandbox: SandboxProcess, credential: str = CHAT_TOKEN, **config: Any) -> Any:
    return connect("slack", {"base_url": sandbox.url, **config}, {"bot_token_or_webhook_url": credential})
