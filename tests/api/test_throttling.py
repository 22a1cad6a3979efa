"""Request budgets: per user across all their tokens, per address without credentials; 429 problems."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from integrations_hub.api.problems import PROBLEM_CONTENT_TYPE
from integrations_hub.env import ImproperlyConfiguredSetting
from integrations_hub.settings import api_throttle_rate
from tests.api.conftest import World, token_client


@pytest.fixture
def low_budgets(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/minute", "anon": "2/minute"},
    }


def test_a_user_over_budget_gets_a_429_problem_with_retry_after(
    world: World, editor: Any, low_budgets: None
) -> None:
    client = token_client(editor)
    statuses = [client.get("/api/v1/workflows").status_code for _ in range(3)]

    refused = client.get("/api/v1/workflows")

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM_CONTENT_TYPE
    body = refused.json()
    assert body["type"] == "urn:integrations-hub:problem:throttled" and body["status"] == 429
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_all_tokens_of_a_user_share_one_budget_and_other_users_keep_theirs(
    world: World, editor: Any, admin_user: Any, low_budgets: None
) -> None:
    first, second = token_client(editor), token_client(editor)

    used = [first.get("/api/v1/connections").status_code for _ in range(3)]

    assert used == [200, 200, 200]
    assert second.get("/api/v1/connections").status_code == 429
    assert token_client(admin_user).get("/api/v1/connections").status_code == 200


def test_requests_without_credentials_have_their_own_budget(db: None, low_budgets: None) -> None:
    client = APIClient()

    schema = [client.get("/api/schema/?format=json").status_code for _ in range(2)]
    refused = client.get("/api/schema/?format=json")

    assert schema == [200, 200]
    assert refused.status_code == 429 and "Retry-After" in refused


def test_a_forged_forwarded_address_does_not_buy_a_new_budget(db: None, low_budgets: None) -> None:
    client = APIClient()

    statuses = [
        client.get("/api/schema/?format=json", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(3)
    ]

    assert statuses == [200, 200, 429]


def test_every_operation_documents_the_429_with_retry_after(client: Any, db: None) -> None:
    schema = client.get("/api/schema/?format=json").json()

    for path, item in schema["paths"].items():
        for method, operation in item.items():
            response = operation["responses"]["429"]
            assert PROBLEM_CONTENT_TYPE in response["content"], (method, path)
            assert "Retry-After" in response["headers"], (method, path)


def test_budgets_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_TEST_UNSET_RATE", raising=False)
    assert api_throttle_rate("HUB_TEST_UNSET_RATE", "1200/Minute") == "1200/minute"
    assert api_throttle_rate("HUB_TEST_UNSET_RATE", "off") is None
    monkeypatch.setenv("HUB_TEST_UNSET_RATE", "30/second")
    assert api_throttle_rate("HUB_TEST_UNSET_RATE", "1200/minute") == "30/second"
    monkeypatch.delenv("HUB_TEST_UNSET_RATE")
    for bad in ("fast", "10/fortnight", "0/minute", "-1/second"):
        with pytest.raises(ImproperlyConfiguredSetting, match="HUB_TEST_UNSET_RATE"):
            api_throttle_rate("HUB_TEST_UNSET_RATE", bad)
