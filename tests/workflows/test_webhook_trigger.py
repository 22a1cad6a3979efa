"""Webhook triggers: stored before the 2xx, processed from the database, each delivery one effect."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import zendesk_connection
from tests.workflows.helpers import helpdesk_users
from workflows.models import InboundEvent, Run, Workflow
from workflows.services.webhooks import webhook_process
from workflows.services.workflow import workflow_create, workflow_set_enabled

LEAD_MAPPING = {
    "fields": [
        {"target": "name", "source": "$.lead.name"},
        {"target": "email", "source": "$.lead.email", "transforms": [{"name": "trim"}, {"name": "lower"}]},
    ]
}


@pytest.fixture
def hook(team: Any, helpdesk_sandbox: Any) -> Workflow:
    return workflow_create(
        team=team,
        name="Web-form leads",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url=helpdesk_sandbox.url),
        target_object="users",
        mapping=LEAD_MAPPING,
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=True,
    )


def _post(client: Client, workflow: Workflow, body: Any, **headers: str) -> Any:
    return client.post(
        reverse("webhook_intake", args=[workflow.webhook_token]),
        data=json.dumps(body) if not isinstance(body, (bytes, str)) else body,
        content_type=headers.pop("content_type", "application/json"),
        headers=headers,
    )


def test_a_delivery_is_stored_before_it_is_acknowledged(client: Client, hook: Workflow) -> None:
    response = _post(client, hook, {"id": "lead-1", "lead": {"name": "Ada", "email": "ada@example.com"}})
    assert response.status_code == 202
    event = InboundEvent.objects.get(pk=response.json()["id"])
    assert event.status == InboundEvent.Status.PENDING
    assert json.loads(bytes(event.body))["lead"]["email"] == "ada@example.com"


def test_stored_events_are_written_to_the_target(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    for i in range(3):
        _post(
            client, hook, {"id": f"lead-{i}", "lead": {"name": f"Lead {i}", "email": f" Lead{i}@Example.com"}}
        )

    run = webhook_process(workflow_id=hook.pk)

    assert isinstance(run, Run)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.created_count == 3
    assert sorted(u["email"] for u in helpdesk_users(helpdesk_sandbox)) == [
        f"lead{i}@example.com" for i in range(3)
    ]
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="concurrent writers need a server database; runs against PostgreSQL (as in CI)",
)
@pytest.mark.django_db(transaction=True)
def test_the_same_delivery_ten_times_at_once_has_exactly_one_effect(team: Any, helpdesk_sandbox: Any) -> None:
    workflow = workflow_create(
        team=team,
        name="Leads",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url=helpdesk_sandbox.url),
        target_object="users",
        mapping=LEAD_MAPPING,
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=False,  # processed explicitly below
    )
    body = json.dumps({"id": "lead-7", "lead": {"name": "Grace", "email": "grace@example.com"}})
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def deliver() -> None:
        from django.db import connection

        barrier.wait()
        response = Client().post(
            f"/hooks/{workflow.webhook_token}", data=body, content_type="application/json",
            headers={"webhook-id": "msg_same_delivery"},
        )  # fmt: skip
        statuses.append(response.status_code)
        connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses).count(202) == 1
    assert sorted(statuses).count(200) == 9
    assert InboundEvent.objects.filter(workflow=workflow).count() == 1
    workflow_set_enabled(workflow=workflow, enabled=True)
    webhook_process(workflow_id=workflow.pk)
    webhook_process(workflow_id=workflow.pk)
    assert [u["email"] for u in helpdesk_users(helpdesk_sandbox)] == ["grace@example.com"]


def test_a_disabled_workflow_still_stores_events_for_later(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    workflow_set_enabled(workflow=hook, enabled=False)
    assert (
        _post(client, hook, {"id": "x", "lead": {"name": "Kept", "email": "kept@example.com"}}).status_code
        == 202
    )
    assert webhook_process(workflow_id=hook.pk) is None
    assert helpdesk_users(helpdesk_sandbox) == []

    workflow_set_enabled(workflow=hook, enabled=True)
    run = webhook_process(workflow_id=hook.pk)

    assert isinstance(run, Run) and run.created_count == 1


def test_wrong_content_type_and_oversized_bodies_are_refused(client: Client, hook: Workflow) -> None:
    assert _post(client, hook, "<xml/>", content_type="text/xml").status_code == 415
    big = json.dumps({"id": "big", "blob": "x" * (1024 * 1024)})
    assert _post(client, hook, big).status_code == 413
    assert not InboundEvent.objects.exists()


def test_an_unreadable_event_fails_alone(client: Client, hook: Workflow, helpdesk_sandbox: Any) -> None:
    _post(client, hook, "not json at all", **{"webhook-id": "broken"})
    _post(client, hook, {"id": "ok", "lead": {"name": "Fine", "email": "fine@example.com"}})

    webhook_process(workflow_id=hook.pk)

    broken = InboundEvent.objects.get(event_id="broken")
    assert broken.status == InboundEvent.Status.FAILED
    assert "not valid JSON" in broken.error
    assert [u["email"] for u in helpdesk_users(helpdesk_sandbox)] == ["fine@example.com"]


def test_a_transient_target_failure_puts_events_back_for_a_retry(
    client: Client, hook: Workflow, helpdesk_sandbox: Any, settings: Any
) -> None:
    settings.HUB_HTTP_MAX_RETRIES = 0
    settings.HUB_RETRY_SCHEDULE_SECONDS = [0, 0]
    _post(client, hook, {"id": "r1", "lead": {"name": "Retry", "email": "retry@example.com"}})
    helpdesk_sandbox.admin("POST", "/_admin/faults", {"status": 503, "error_rate": 1.0})

    failed = webhook_process(workflow_id=hook.pk)

    assert isinstance(failed, Run) and failed.status == Run.Status.FAILED
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.PENDING and event.attempts == 1
    helpdesk_sandbox.admin("DELETE", "/_admin/faults", None)

    retried = webhook_process(workflow_id=hook.pk)

    assert isinstance(retried, Run) and retried.created_count == 1
    assert [u["email"] for u in helpdesk_users(helpdesk_sandbox)] == ["retry@example.com"]


def test_a_signed_webhook_is_checked_on_the_raw_bytes(client: Client, hook: Workflow) -> None:
    import base64
    import hashlib
    import hmac
    import time

    from workflows.services.webhooks import webhook_secret_set

    secret_bytes = b"0123456789abcdef0123456789abcdef"
    webhook_secret_set(workflow=hook, secret="whsec_" + base64.b64encode(secret_bytes).decode())
    hook.webhook_signature = "standard"
    hook.save()
    body = json.dumps({"id": "signed", "lead": {"name": "Signed", "email": "signed@example.com"}})
    msg_id, stamp = "msg_1", str(int(time.time()))
    digest = hmac.new(secret_bytes, f"{msg_id}.{stamp}.{body}".encode(), hashlib.sha256).digest()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }

    tampered = body.replace("Signed", "Signet")
    assert _post(client, hook, tampered, **headers).status_code == 401
    assert (
        _post(client, hook, body, **{**headers, "webhook-timestamp": str(int(stamp) - 3600)}).status_code
        == 401
    )
    assert _post(client, hook, body, **headers).status_code == 202
    assert InboundEvent.objects.filter(workflow=hook).count() == 1


def test_events_claimed_by_a_lost_run_are_processed_by_the_next_one(
    client: Client, hook: Workflow, helpdesk_sandbox: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    _post(client, hook, {"id": "lost", "lead": {"name": "Lost", "email": "lost@example.com"}})
    long_ago = timezone.now() - timedelta(hours=1)
    lost = Run.objects.create(
        workflow=hook,
        trigger=Run.Trigger.WEBHOOK,
        status=Run.Status.RUNNING,
        version=hook.published_version,
        started_at=long_ago,
        heartbeat_at=long_ago,
    )
    InboundEvent.objects.update(status=InboundEvent.Status.PROCESSING, run=lost)

    run = webhook_process(workflow_id=hook.pk)

    lost.refresh_from_db()
    assert lost.status == Run.Status.FAILED and "stopped" in lost.error
    assert isinstance(run, Run) and run.created_count == 1
    assert [u["email"] for u in helpdesk_users(helpdesk_sandbox)] == ["lost@example.com"]
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}
