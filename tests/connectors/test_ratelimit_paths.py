"""Endpoint budgets: some endpoints have a documented limit of their own (HubSpot search: 5 requests a
second per account), drawn from on top of the connection's budget and counted at a loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import ConnectionSettings, RateLimit
from connectors.http import HttpClient
from connectors.providers.hubspot.provider import HubSpotProvider
from connectors.providers.zendesk.provider import ZendeskProvider
from connectors.ratelimit import LocalGovernor
from tests.connectors.test_ratelimit_governor import Recorder, busiest_window

SEARCH = "/crm/v3/objects/contacts/search"
SEARCH_BUDGET = (r"/search$", RateLimit(5, 1.0))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def test_search_calls_keep_to_their_own_budget_at_the_server(recorder: Recorder) -> None:
    client = HttpClient(
        recorder.url,
        connection_id=7,
        rate_limit=RateLimit(100, 10.0),
        path_budgets=[SEARCH_BUDGET],
        governor=LocalGovernor(),
    )

    for _ in range(12):
        client.get(SEARCH)

    assert len(recorder.arrivals) == 12
    # The account's budget (100 per 10 s) would let all 12 go at once; the search budget holds them to
    # 5 in any second: 5, then 5 a second later, then 2.
    assert busiest_window(recorder.arrivals, seconds=1.0) <= 5
    assert 2.0 <= max(recorder.arrivals) - min(recorder.arrivals) < 4.0
    assert client.stats.throttle_wait_seconds > 1.5


def test_other_calls_are_not_held_by_a_spent_search_budget(recorder: Recorder) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    client = HttpClient(
        recorder.url,
        connection_id=7,
        rate_limit=RateLimit(100, 10.0),
        path_budgets=[SEARCH_BUDGET],
        governor=LocalGovernor(clock=lambda: now[0]),
        sleep=sleep,
    )

    for _ in range(5):
        client.get(SEARCH)
    for _ in range(20):
        client.get("/crm/v3/objects/contacts/101")
    assert slept == []

    client.get(SEARCH)

    assert slept == pytest.approx([1.0], abs=0.01)


def test_every_call_counts_in_the_accounts_budget_searches_included(recorder: Recorder) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    client = HttpClient(
        recorder.url,
        connection_id=7,
        rate_limit=RateLimit(6, 10.0),
        path_budgets=[SEARCH_BUDGET],
        governor=LocalGovernor(clock=lambda: now[0]),
        sleep=sleep,
    )

    for _ in range(3):
        client.get(SEARCH)
    for _ in range(3):
        client.get("/crm/v3/objects/contacts/101")
    client.get(SEARCH)

    # Searches had budget left; the account's 6 per 10 s did not.
    assert slept == pytest.approx([10.0], abs=0.01)


def _settings(**overrides: Any) -> ConnectionSettings:
    return ConnectionSettings(
        connection_id=7,
        config={"base_url": "http://127.0.0.1:9", "subdomain": "demo", "email": "agent@demo.example"},
        credentials={"access_token": "token", "api_token": "token"},
        **overrides,
    )


def test_providers_declare_their_documented_endpoint_budgets(settings: Any) -> None:
    settings.HUB_RATE_LIMIT_REDIS_URL = ""

    hubspot = HubSpotProvider.client(_settings())
    zendesk = ZendeskProvider.client(_settings())

    assert hubspot.http.rate_limit == RateLimit(100, 10.0)  # type: ignore[attr-defined]
    assert [(p, limit) for _, p, limit in hubspot.http.path_budgets] == [  # type: ignore[attr-defined]
        (r"/search$", RateLimit(5, 1.0))
    ]
    assert zendesk.http.rate_limit == RateLimit(400, 60.0)  # type: ignore[attr-defined]
    assert [(p, limit) for _, p, limit in zendesk.http.path_budgets] == [  # type: ignore[attr-defined]
        (r"^/api/v2/incremental/", RateLimit(10, 60.0))
    ]


def test_a_connections_own_budget_replaces_the_endpoint_budgets_too(settings: Any) -> None:
    settings.HUB_RATE_LIMIT_REDIS_URL = ""

    client = HubSpotProvider.client(_settings(rate_limit=RateLimit(190, 10.0)))

    assert client.http.rate_limit == RateLimit(190, 10.0)  # type: ignore[attr-defined]
    assert client.http.path_budgets == ()  # type: ignore[attr-defined]
