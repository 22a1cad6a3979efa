"""Intake is one SELECT and one INSERT and queues one processing task per burst; the task drains
every pending event exactly once, including one that arrives while it is finishing."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import zendesk_connection
from tests.workflows.helpers import helpdesk_users
from workflows import tasks
from workflows.models import InboundEvent, Run, RunRecord, Workflow
from workflows.services import webhooks
from workflows.services.workflow import workflow_create

REDIS_CACHE_URL = "redis://127.0.0.1:6379/6"

MAPPING = {
    "fields": [
        {"target": "name", "source": "$.name"},
        {"target": "email", "source": "$.email", "transforms": [{"name": "lower"}]},
    ]
}


@pytest.fixture(autouse=True)
def _no_guards() -> None:
    cache.clear()


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The processing tasks intake queues (their arguments), instead of sending them to a broker."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.process_webhook_events, "delay", lambda *args: calls.append(args))
    return calls


def _hook(team: Any, target_url: str) -> Workflow:
    return workflow_create(
        team=team,
        name="Drained leads",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url=target_url),
        target_object="users",
        mapping=MAPPING,
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=True,
    )


def _post(client: Client, workflow: Workflow, n: int, delivery_id: str | None = None) -> Any:
    return client.post(
        reverse("webhook_intake", args=[workflow.webhook_token]),
        data=json.dumps({"id": f"lead-{n}", "name": f"Lead {n}", "email": f"lead{n}@example.com"}),
        content_type="application/json",
        headers={"webhook-id": delivery_id or f"evt-{n}"},
    )


@pytest.mark.django_db(transaction=True)
def test_a_delivery_costs_one_select_and_one_insert(
    client: Client, team: Any, queued: list[Any], django_assert_num_queries: Any
) -> None:
    hook = _hook(team, "http://127.0.0.1:9")

    with django_assert_num_queries(2) as captured:
        response = _post(client, hook, 1)

    assert response.status_code == 202
    select, insert = (query["sql"] for query in captured.captured_queries)
    assert select.startswith("SELECT") and '"mapping"' not in select and '"steps"' not in select
    assert insert.startswith("INSERT") and "workflows_inboundevent" in insert
    assert len(queued) == 1


@pytest.mark.django_db(transaction=True)
def test_later_deliveries_cost_one_insert_that_checks_the_workflow_row(
    client: Client, team: Any, queued: list[Any], django_assert_num_queries: Any
) -> None:
    hook = _hook(team, "http://127.0.0.1:9")
    assert _post(client, hook, 1).status_code == 202

    with django_assert_num_queries(1) as captured:
        response = _post(client, hook, 2)

    assert response.status_code == 202
    (insert,) = (query["sql"] for query in captured.captured_queries)
    assert insert.startswith("INSERT") and "EXISTS" in insert and "workflows_workflow" in insert


@pytest.mark.django_db(transaction=True)
def test_a_repeated_delivery_is_answered_from_the_stored_event(
    client: Client, team: Any, queued: list[Any], django_assert_num_queries: Any
) -> None:
    hook = _hook(team, "http://127.0.0.1:9")
    first = _post(client, hook, 1)

    with django_assert_num_queries(2):  # the refused INSERT, the stored event (the workflow is cached)
        again = _post(client, hook, 1)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert InboundEvent.objects.count() == 1


def test_a_burst_of_deliveries_queues_one_task_that_processes_each_event_once(
    client: Client,
    team: Any,
    helpdesk_sandbox: Any,
    queued: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    hook = _hook(team, helpdesk_sandbox.url)
    with django_capture_on_commit_callbacks(execute=True):
        statuses = [_post(client, hook, n).status_code for n in range(25)]
    assert statuses == [202] * 25
    assert len(queued) == 1 and queued[0][0] == hook.pk

    tasks.process_webhook_events(*queued[0])

    assert set(InboundEvent.objects.values_list("status", "attempts")) == {("processed", 1)}
    per_record = Counter(RunRecord.objects.values_list("source_id", flat=True))
    assert per_record == {f"lead-{n}": 1 for n in range(25)}
    assert len(helpdesk_users(helpdesk_sandbox)) == 25


def test_after_the_guard_window_a_delivery_queues_its_own_task(
    client: Client, team: Any, queued: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "DRAIN_GUARD_SECONDS", 0.05)
    hook = _hook(team, "http://127.0.0.1:9")

    webhooks.webhook_processing_request(workflow_id=hook.pk)
    webhooks.webhook_processing_request(workflow_id=hook.pk)
    time.sleep(0.1)
    webhooks.webhook_processing_request(workflow_id=hook.pk)

    assert len(queued) == 2


def test_an_event_arriving_while_the_drain_is_finishing_is_not_stranded(
    client: Client,
    team: Any,
    helpdesk_sandbox: Any,
    queued: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(webhooks, "DRAIN_GUARD_SECONDS", 1.5)
    hook = _hook(team, helpdesk_sandbox.url)
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, hook, 1).status_code == 202
    assert len(queued) == 1

    real_process = webhooks.webhook_process
    drains: list[Any] = []

    def process_then_deliver(*, workflow_id: int) -> Any:
        result = real_process(workflow_id=workflow_id)
        drains.append(result)
        if len(drains) == 1:
            # The drain found nothing more to do; a delivery lands before the task exits. Its intake
            # sees the guard of the queued task and queues nothing.
            with django_capture_on_commit_callbacks(execute=True):
                assert _post(client, hook, 2).status_code == 202
        return result

    monkeypatch.setattr(webhooks, "webhook_process", process_then_deliver)
    tasks.process_webhook_events(*queued[0])

    # The first run kept looking until the guard window closed, so the late delivery came after it and
    # queued a task of its own; the running task's last look took it all the same.
    assert len(queued) == 2
    assert len(drains) == 2 and all(isinstance(run, Run) for run in drains)
    assert set(InboundEvent.objects.values_list("status", "attempts")) == {("processed", 1)}
    assert Counter(RunRecord.objects.values_list("source_id", flat=True)) == {"lead-1": 1, "lead-2": 1}
    assert sorted(u["email"] for u in helpdesk_users(helpdesk_sandbox)) == [
        "lead1@example.com",
        "lead2@example.com",
    ]


def test_a_drain_that_finds_another_run_busy_asks_to_be_retried(team: Any) -> None:
    hook = _hook(team, "http://127.0.0.1:9")
    InboundEvent.objects.create(workflow=hook, event_id="e1", content_type="application/json", body=b"{}")
    Run.objects.create(workflow=hook, trigger=Run.Trigger.WEBHOOK, status=Run.Status.QUEUED)

    assert webhooks.webhook_drain(workflow_id=hook.pk, requested_at=time.time()) is False
    assert InboundEvent.objects.get().status == InboundEvent.Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_does_not_undo_a_stored_delivery(
    client: Client, team: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = _hook(team, "http://127.0.0.1:9")
    attempts: list[int] = []

    def broker_down(*args: Any) -> None:
        attempts.append(args[0])
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.process_webhook_events, "delay", broker_down)

    first, second = _post(client, hook, 1), _post(client, hook, 2)

    assert (first.status_code, second.status_code) == (202, 202)
    assert InboundEvent.objects.filter(status=InboundEvent.Status.PENDING).count() == 2
    # No guard is left behind by the failed attempt: the next delivery tried to queue a task again.
    assert attempts == [hook.pk, hook.pk]
    from workflows.services.maintenance import webhooks_due

    assert hook.pk in list(webhooks_due())


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_CACHE_URL, socket_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture
def redis_cache(settings: Any) -> Iterator[Any]:
    """The cache a deployment with HUB_CACHE_URL uses: Django's Redis cache."""
    if not _redis_up():
        pytest.skip("needs Redis on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_CACHE_URL,
            "KEY_PREFIX": "drain-tests",
        }
    }
    cache.clear()
    yield cache
    cache.clear()


def test_with_the_redis_cache_a_burst_queues_one_task_until_the_guard_expires(
    team: Any, queued: list[Any], redis_cache: Any
) -> None:
    hook = _hook(team, "http://127.0.0.1:9")

    results = [webhooks.webhook_processing_request(workflow_id=hook.pk) for _ in range(5)]

    assert results == [True, False, False, False, False]
    assert len(queued) == 1 and queued[0][0] == hook.pk and isinstance(queued[0][1], float)
    time.sleep(webhooks.DRAIN_GUARD_SECONDS + 0.1)
    assert webhooks.webhook_processing_request(workflow_id=hook.pk) is True
    assert len(queued) == 2


def test_with_the_redis_cache_the_drain_looks_again_only_once_the_guard_has_expired(
    client: Client,
    team: Any,
    helpdesk_sandbox: Any,
    queued: list[Any],
    redis_cache: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    hook = _hook(team, helpdesk_sandbox.url)
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, hook, 1).status_code == 202
    assert len(queued) == 1

    real_process = webhooks.webhook_process
    drains: list[Any] = []

    def process_then_deliver(*, workflow_id: int) -> Any:
        result = real_process(workflow_id=workflow_id)
        drains.append(result)
        if len(drains) == 1:
            with django_capture_on_commit_callbacks(execute=True):
                assert _post(client, hook, 2).status_code == 202
        return result

    monkeypatch.setattr(webhooks, "webhook_process", process_then_deliver)
    started = time.time()
    tasks.process_webhook_events(*queued[0])

    # The run kept looking until the guard had expired; the delivery after it queued its own task, and
    # the drain's last look took it as well: nothing is left pending.
    assert time.time() - started >= webhooks.DRAIN_GUARD_SECONDS - 0.05
    assert len(queued) == 2
    assert Counter(RunRecord.objects.values_list("source_id", flat=True)) == {"lead-1": 1, "lead-2": 1}
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundEvent.Status.PROCESSED}


def test_a_delivery_within_the_guard_window_is_taken_by_the_running_drain(
    client: Client,
    team: Any,
    helpdesk_sandbox: Any,
    queued: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(webhooks, "DRAIN_GUARD_SECONDS", 1.5)
    hook = _hook(team, helpdesk_sandbox.url)
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, hook, 1).status_code == 202
    assert len(queued) == 1
    real_sleep = time.sleep
    naps: list[float] = []

    def deliver_while_waiting(seconds: float) -> None:
        # The drain found nothing more and waits for new events: one arrives, within the window.
        naps.append(seconds)
        if len(naps) == 1:
            with django_capture_on_commit_callbacks(execute=True):
                assert _post(client, hook, 2).status_code == 202
        real_sleep(seconds)

    monkeypatch.setattr(webhooks.time, "sleep", deliver_while_waiting)
    started = time.time()
    tasks.process_webhook_events(*queued[0])

    assert len(queued) == 1, "the delivery within the window relied on the running task"
    assert naps and max(naps) <= webhooks.DRAIN_POLL_SECONDS
    assert time.time() - started >= 1.5 - 0.05
    runs = RunRecord.objects.values_list("source_id", "run_id")
    assert {source for source, _ in runs} == {"lead-1", "lead-2"}
    assert len({run for _, run in runs}) == 1, "one run took both events"
    assert sorted(u["email"] for u in helpdesk_users(helpdesk_sandbox)) == [
        "lead1@example.com",
        "lead2@example.com",
    ]


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_cache_does_not_fail_a_stored_delivery(
    team: Any, queued: list[Any], settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    hook = _hook(team, "http://127.0.0.1:9")
    client = Client(raise_request_exception=False)

    responses = [_post(client, hook, n) for n in (1, 2)]

    assert [response.status_code for response in responses] == [202, 202]
    assert InboundEvent.objects.filter(status=InboundEvent.Status.PENDING).count() == 2
    # Without a guard every delivery queues a task, and none waits for a guard that was never set.
    assert queued == [(hook.pk,), (hook.pk,)]


@pytest.fixture
def eager(settings: Any) -> Iterator[None]:
    """Tasks run where they are queued (CELERY_TASK_ALWAYS_EAGER), as in a one-process installation."""
    from integrations_hub.celery import app

    # Read before the setting changes: the app's configuration may read Django's settings lazily.
    before = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_in_eager_mode_every_delivery_is_processed_at_once(
    client: Client,
    team: Any,
    helpdesk_sandbox: Any,
    eager: None,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # However long a guard would last: no delivery may wait for one in eager mode.
    monkeypatch.setattr(webhooks, "DRAIN_GUARD_SECONDS", 30)
    hook = _hook(team, helpdesk_sandbox.url)

    for n in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            assert _post(client, hook, n).status_code == 202

    assert set(InboundEvent.objects.values_list("status", flat=True)) == {InboundEvent.Status.PROCESSED}
    assert Run.objects.filter(workflow=hook, status=Run.Status.SUCCEEDED).count() == 2
    assert sorted(u["email"] for u in helpdesk_users(helpdesk_sandbox)) == [
        "lead1@example.com",
        "lead2@example.com",
    ]


@pytest.mark.parametrize(("retries", "expected"), [(0, 1.0), (1, 2.0), (3, 8.0), (10, 30.0)])
def test_a_drain_blocked_by_a_busy_run_backs_off_to_every_30_seconds(
    retries: int, expected: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workflows.services import webhooks as webhook_services

    countdowns: list[float] = []

    def fake_retry(*, countdown: float) -> Exception:
        countdowns.append(countdown)
        return RuntimeError("retried")

    monkeypatch.setattr(webhook_services, "webhook_drain", lambda **_: False)
    monkeypatch.setattr(tasks.process_webhook_events, "retry", fake_retry)
    tasks.process_webhook_events.push_request(retries=retries)
    try:
        with pytest.raises(RuntimeError, match="retried"):
            tasks.process_webhook_events(1)
    finally:
        tasks.process_webhook_events.pop_request()

    assert countdowns == [expected]


def test_a_page_of_due_events_is_claimed_oldest_first_and_only_once(
    team: Any, django_assert_max_num_queries: Any
) -> None:
    from django.db import connection

    hook = _hook(team, "http://127.0.0.1:9")
    for n in range(5):
        InboundEvent.objects.create(
            workflow=hook, event_id=f"e{n}", content_type="application/json", body=b"{}"
        )
    later = InboundEvent.objects.get(event_id="e0")
    later.next_attempt_at = timezone.now() + timedelta(minutes=5)  # waiting for a retry: not due
    later.save()
    run = Run.objects.create(workflow=hook, trigger=Run.Trigger.WEBHOOK, status=Run.Status.RUNNING)

    # On PostgreSQL one statement claims and reads the page (UPDATE ... RETURNING).
    with django_assert_max_num_queries(1 if connection.vendor == "postgresql" else 3):
        page = webhooks._claim(hook, run, 3)

    assert [event.event_id for event in page] == ["e1", "e2", "e3"]
    assert {(event.status, event.run_id, event.attempts) for event in page} == {("processing", run.pk, 1)}
    assert [event.event_id for event in webhooks._claim(hook, run, 3)] == ["e4"]
    assert webhooks._claim(hook, run, 3) == []
