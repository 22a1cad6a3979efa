"""Intake keeps each webhook workflow's row in the web process, and a cached row never decides anything the
current row would decide otherwise: a rotated secret, a pause, a new budget or a deletion shows at the very
next delivery, even when the change was made by another process (a plain UPDATE, no signal)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from connectors.webhooks import generate_secret, standard_headers
from tests.factories import zendesk_connection
from workflows import tasks
from workflows.models import InboundEvent, Workflow
from workflows.services.webhooks import (
    INTAKE_CACHE,
    LOCAL_ENDPOINT_BUDGETS,
    webhook_secret_set,
)
from workflows.services.workflow import workflow_create


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Any:
    INTAKE_CACHE.clear()
    LOCAL_ENDPOINT_BUDGETS.reset()
    yield
    INTAKE_CACHE.clear()
    LOCAL_ENDPOINT_BUDGETS.reset()


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.process_webhook_events, "delay", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def hook(team: Any) -> Workflow:
    workflow = workflow_create(
        team=team,
        name="Signed leads",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url="http://127.0.0.1:9"),
        target_object="users",
        mapping={"fields": [{"target": "email", "source": "$.email"}]},
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=True,
    )
    return workflow


def _post(client: Client, workflow: Workflow, n: int, secret: str | None = None) -> Any:
    body = json.dumps({"id": f"lead-{n}", "email": f"lead{n}@example.com"})
    headers = (
        standard_headers(secret, f"msg_{n}", int(time.time()), body)
        if secret is not None
        else {"webhook-id": f"msg_{n}"}
    )
    return Client().post(
        f"/hooks/{workflow.webhook_token}", data=body, content_type="application/json", headers=headers
    )


def _sign_with(workflow: Workflow, secret: str) -> None:
    webhook_secret_set(workflow=workflow, secret=secret)
    Workflow.objects.filter(pk=workflow.pk).update(webhook_signature="standard")


@pytest.mark.django_db(transaction=True)
def test_a_rotated_out_secret_is_refused_at_the_next_delivery(
    client: Client, hook: Workflow, queued: list[Any]
) -> None:
    old, new = generate_secret(), generate_secret()
    _sign_with(hook, old)
    assert _post(client, hook, 1, old).status_code == 202  # the row, with the old secret, is now cached

    webhook_secret_set(workflow=Workflow.objects.get(pk=hook.pk), secret=new)

    assert _post(client, hook, 2, old).status_code == 401
    assert _post(client, hook, 3, new).status_code == 202
    assert sorted(InboundEvent.objects.values_list("event_id", flat=True)) == ["msg_1", "msg_3"]


@pytest.mark.django_db(transaction=True)
def test_a_delivery_signed_with_a_new_secret_is_accepted_although_the_old_one_was_cached(
    client: Client, hook: Workflow, queued: list[Any]
) -> None:
    old, new = generate_secret(), generate_secret()
    _sign_with(hook, old)
    assert _post(client, hook, 1, old).status_code == 202
    # Rotated by another process: this one still holds the old secret until a delivery shows the change.
    webhook_secret_set(workflow=Workflow.objects.get(pk=hook.pk), secret=new)

    response = _post(client, hook, 2, new)

    assert response.status_code == 202
    assert InboundEvent.objects.filter(event_id="msg_2").exists()


@pytest.mark.django_db(transaction=True)
def test_a_paused_workflow_stores_deliveries_without_queueing_processing(
    client: Client, hook: Workflow, queued: list[Any]
) -> None:
    assert _post(client, hook, 1).status_code == 202
    assert len(queued) == 1

    Workflow.objects.filter(pk=hook.pk).update(enabled=False)
    # As if the drain guard window had closed: an enabled workflow would queue processing again.
    cache.clear()
    response = _post(client, hook, 2)

    assert response.status_code == 202
    assert InboundEvent.objects.filter(workflow=hook).count() == 2
    assert len(queued) == 1


@pytest.mark.django_db(transaction=True)
def test_a_deleted_workflow_answers_404_and_stores_nothing(
    client: Client, hook: Workflow, queued: list[Any]
) -> None:
    assert _post(client, hook, 1).status_code == 202
    token = hook.webhook_token
    Workflow.objects.filter(pk=hook.pk).delete()

    response = Client().post(f"/hooks/{token}", data=json.dumps({"id": "x"}), content_type="application/json")

    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_budget_spent_under_the_cached_limit_is_rechecked_against_the_new_one(
    client: Client, hook: Workflow, queued: list[Any]
) -> None:
    Workflow.objects.filter(pk=hook.pk).update(webhook_rate_per_minute=4)
    assert [_post(client, hook, n).status_code for n in (1, 2)] == [202, 429]

    Workflow.objects.filter(pk=hook.pk).update(webhook_rate_per_minute=0)

    assert {_post(client, hook, n).status_code for n in range(3, 13)} == {202}
