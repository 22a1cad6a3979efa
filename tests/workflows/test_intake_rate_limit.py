"""Each webhook URL has a per-minute budget: beyond it 429 + Retry-After, and nothing is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import Client
from django.urls import reverse

from tests.factories import zendesk_connection
from workflows.models import InboundEvent, Workflow
from workflows.services.webhooks import (
    LOCAL_ENDPOINT_BUDGETS,
    RedisEndpointBudgets,
    endpoint_budgets,
    webhook_rate_limit,
    webhook_secret_set,
)
from workflows.services.workflow import workflow_create

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture(autouse=True)
def _fresh_budgets() -> Iterator[None]:
    # Workflow ids repeat between tests: a spent budget must not outlive its test.
    LOCAL_ENDPOINT_BUDGETS.reset()
    yield
    LOCAL_ENDPOINT_BUDGETS.reset()


@pytest.fixture
def hook(team: Any) -> Workflow:
    return workflow_create(
        team=team,
        name="Rate-limited leads",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url="http://127.0.0.1:9"),
        target_object="users",
        mapping={"fields": [{"target": "email", "source": "$.email"}]},
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=False,
    )


def _post(client: Client, workflow: Workflow, delivery_id: str) -> Any:
    return client.post(
        reverse("webhook_intake", args=[workflow.webhook_token]),
        data=json.dumps({"id": delivery_id, "email": f"{delivery_id}@example.com"}),
        content_type="application/json",
        headers={"webhook-id": delivery_id},
    )


def _limit(workflow: Workflow, per_minute: int | None) -> None:
    workflow.webhook_rate_per_minute = per_minute
    workflow.save(update_fields=["webhook_rate_per_minute"])


def test_over_the_budget_a_delivery_gets_429_with_retry_after_and_is_not_stored(
    client: Client, hook: Workflow
) -> None:
    _limit(hook, 8)  # a burst of 2, then one every 10 s

    statuses = [_post(client, hook, f"d{i}").status_code for i in range(3)]
    refused = _post(client, hook, "d3")

    assert statuses == [202, 202, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 10
    assert "retry after" in refused.json()["error"]
    assert sorted(InboundEvent.objects.values_list("event_id", flat=True)) == ["d0", "d1"]


def test_a_refused_delivery_sent_again_after_retry_after_is_stored_once(
    client: Client, hook: Workflow
) -> None:
    _limit(hook, 120)  # a burst of 30, then 1.5 a second
    assert all(_post(client, hook, f"d{i}").status_code == 202 for i in range(30))
    refused = _post(client, hook, "late")
    assert refused.status_code == 429

    time.sleep(int(refused["Retry-After"]))
    again = _post(client, hook, "late")

    assert again.status_code == 202
    assert InboundEvent.objects.filter(workflow=hook, event_id="late").count() == 1


def test_the_default_budget_comes_from_settings_and_zero_means_no_limit(
    client: Client, hook: Workflow, settings: Any
) -> None:
    settings.HUB_WEBHOOK_RATE_PER_MINUTE = 4
    limit = webhook_rate_limit(hook)
    assert limit is not None and (limit.per_minute, limit.burst, limit.interval) == (4, 1, 20.0)
    assert [_post(client, hook, f"d{i}").status_code for i in range(2)] == [202, 429]

    _limit(hook, 0)

    assert webhook_rate_limit(hook) is None
    assert {_post(client, hook, f"e{i}").status_code for i in range(20)} == {202}


def test_each_endpoint_has_its_own_budget(client: Client, hook: Workflow, team: Any) -> None:
    other = workflow_create(
        team=team,
        name="Other endpoint",
        source_connection=None,
        source_object="",
        target_connection=hook.target_connection,
        target_object="users",
        mapping={"fields": [{"target": "email", "source": "$.email"}]},
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=False,
    )
    _limit(hook, 4)
    _limit(other, 4)

    assert [_post(client, hook, f"d{i}").status_code for i in range(2)] == [202, 429]
    assert _post(client, other, "d0").status_code == 202


def _signed_hook(workflow: Workflow) -> bytes:
    secret = b"0123456789abcdef0123456789abcdef"
    webhook_secret_set(workflow=workflow, secret="whsec_" + base64.b64encode(secret).decode())
    workflow.webhook_signature = "standard"
    workflow.save(update_fields=["webhook_signature"])
    return secret


def _post_signed(client: Client, workflow: Workflow, delivery_id: str, secret: bytes) -> Any:
    body = json.dumps({"id": delivery_id, "email": f"{delivery_id}@example.com"})
    stamp = str(int(time.time()))
    digest = hmac.new(secret, f"{delivery_id}.{stamp}.{body}".encode(), hashlib.sha256).digest()
    return client.post(
        reverse("webhook_intake", args=[workflow.webhook_token]),
        data=body,
        content_type="application/json",
        headers={
            "webhook-id": delivery_id,
            "webhook-timestamp": stamp,
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
        },
    )


def test_unsigned_or_malformed_requests_do_not_spend_the_real_senders_budget(
    client: Client, hook: Workflow
) -> None:
    secret = _signed_hook(hook)
    _limit(hook, 8)  # a burst of 2, then one every 10 s

    forged = [_post(client, hook, f"forged{i}").status_code for i in range(20)]
    wrong_type = client.post(
        reverse("webhook_intake", args=[hook.webhook_token]), data="id=1", content_type="text/plain"
    )
    too_large = client.post(
        reverse("webhook_intake", args=[hook.webhook_token]),
        data=b"{" + b" " * (1024 * 1024) + b"}",
        content_type="application/json",
    )
    signed = [_post_signed(client, hook, f"real{i}", secret).status_code for i in range(3)]

    assert forged == [401] * 20
    assert (wrong_type.status_code, too_large.status_code) == (415, 413)
    # The real sender gets its whole burst; only its own deliveries spend it.
    assert signed == [202, 202, 429]
    assert sorted(InboundEvent.objects.values_list("event_id", flat=True)) == ["real0", "real1"]


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except Exception:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_the_budget_is_shared_by_every_process_through_redis(
    client: Client, hook: Workflow, settings: Any
) -> None:
    settings.HUB_RATE_LIMIT_REDIS_URL = REDIS_URL
    shared = endpoint_budgets()
    assert isinstance(shared, RedisEndpointBudgets)
    key = f"{shared.prefix}webhook:{hook.pk}"
    redis_client = redis.Redis.from_url(REDIS_URL)
    redis_client.delete(key)
    try:
        _limit(hook, 8)
        assert [_post(client, hook, f"d{i}").status_code for i in range(2)] == [202, 202]
        limit = webhook_rate_limit(hook)
        assert limit is not None
        assert LOCAL_ENDPOINT_BUDGETS.take(f"webhook:{hook.pk}", limit) == 0  # untouched: Redis kept it

        # Another web process: its own Redis connection, no memory of this one, the same budget.
        elsewhere = RedisEndpointBudgets(REDIS_URL, prefix=shared.prefix)
        try:
            wait = elsewhere.take(f"webhook:{hook.pk}", limit)
        finally:
            elsewhere.close()

        assert 9 < wait <= 10
        assert _post(client, hook, "d2").status_code == 429
    finally:
        redis_client.delete(key)


def test_without_redis_each_process_keeps_its_own_budget(settings: Any) -> None:
    settings.HUB_RATE_LIMIT_REDIS_URL = ""
    assert endpoint_budgets() is LOCAL_ENDPOINT_BUDGETS
    settings.HUB_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    unreachable = endpoint_budgets()
    limit = webhook_rate_limit(Workflow(webhook_rate_per_minute=4))
    assert limit is not None

    assert [unreachable.take("webhook:fallback", limit) > 0 for _ in range(2)] == [False, True]


def test_the_api_sets_an_endpoints_budget_and_where_the_change_time_is(hook: Workflow, editor: Any) -> None:
    from rest_framework.test import APIClient

    from integrations_hub.api.tokens import token_create

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=editor, name='tests').key}")
    url = f"/api/v1/workflows/{hook.pk}"

    changed = api.patch(
        url, {"webhook_rate_per_minute": 600, "webhook_updated_at_path": "meta.changed"}, format="json"
    )
    refused = api.patch(url, {"webhook_updated_at_path": "meta.["}, format="json")

    assert changed.status_code == 200, changed.content
    assert (changed.json()["webhook_rate_per_minute"], changed.json()["webhook_updated_at_path"]) == (
        600,
        "meta.changed",
    )
    assert refused.status_code == 400 and "webhook_updated_at_path" in refused.json()["errors"]
    hook.refresh_from_db()
    assert (hook.webhook_rate_per_minute, hook.webhook_updated_at_path) == (600, "meta.changed")
