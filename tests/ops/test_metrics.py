"""GET /metrics: the series move with real runs against the sandboxes, and the token guards them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone

from integrations_hub.celery import app as celery_app
from integrations_hub.health.models import Heartbeat
from tests.factories import hubspot_connection, zendesk_connection
from tests.ops.scrape import Series, matching, parse, value
from tests.workflows.helpers import crm_to_helpdesk, run_now
from workflows.models import Run, Workflow
from workflows.services.webhooks import webhook_receive
from workflows.services.workflow import workflow_create
from workflows.tasks import process_webhook_events


def scrape(client: Client, **headers: str) -> Series:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def test_a_run_moves_the_run_record_and_latency_series(
    client: Client, team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    labels = {"workflow_id": workflow.pk, "workflow": workflow.name, "team": team.name}
    latency = {"workflow_id": workflow.pk, "trigger": "manual"}
    before = scrape(client)

    run = run_now(workflow)

    after = scrape(client)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert value(before, "hub_runs", {**labels, "status": "succeeded"}) == 0
    assert value(after, "hub_runs", {**labels, "status": "succeeded"}) == 1
    assert value(after, "hub_run_records", {**labels, "outcome": "created"}) == run.created_count == 20
    assert value(after, "hub_run_api_requests", labels) == run.api_requests > 0
    assert value(after, "hub_workflow_enabled", labels) == 1
    # Observed in this process (as a worker would) and read back through the multiprocess files.
    count = "hub_sync_latency_seconds_count"
    assert value(after, count, latency) - value(before, count, latency) == 20
    # The seed contacts were last modified before 2026: all older than the top bucket of one day.
    top = {**latency, "le": "86400.0"}
    assert value(after, "hub_sync_latency_seconds_bucket", top) == value(
        before, "hub_sync_latency_seconds_bucket", top
    )

    crm_sandbox.admin("PATCH", "/records/contacts/101", {"properties": {"phone": "+44 20 7946 0000"}})
    again = run_now(workflow)

    latest = scrape(client)
    assert again.updated_count == 1
    assert value(latest, "hub_runs", {**labels, "status": "succeeded"}) == 2
    assert value(latest, "hub_run_records", {**labels, "outcome": "updated"}) == 1
    # An edit synced seconds after it was made lands in the low buckets.
    fast = {**latency, "le": "60.0"}
    assert (
        value(latest, "hub_sync_latency_seconds_bucket", fast)
        - value(after, "hub_sync_latency_seconds_bucket", fast)
        == 1
    )


def test_records_a_target_rejects_count_against_that_connection(
    client: Client, team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    # The helpdesk requires a name; a CRM lead with only an email is rejected by it.
    crm_sandbox.admin("POST", "/records/contacts", {"properties": {"email": "nameless@example.com"}})
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    target = workflow.target_connection
    connection = {"connection_id": target.pk, "connection": target.name, "team": team.name, "kind": "zendesk"}

    run = run_now(workflow)

    series = scrape(client)
    assert run.status == Run.Status.PARTIAL and run.failed_count == 1
    assert value(series, "hub_connection_failed_records", connection) == 1
    assert value(series, "hub_connection_status", {**connection, "status": "ok"}) == 1
    assert value(series, "hub_connection_status", {**connection, "status": "error"}) == 0
    labels = {"workflow_id": workflow.pk, "workflow": workflow.name, "team": team.name}
    assert value(series, "hub_runs", {**labels, "status": "partial"}) == 1
    assert value(series, "hub_run_records", {**labels, "outcome": "failed"}) == 1


@pytest.fixture
def hook(team: Any, helpdesk_sandbox: Any) -> Workflow:
    # Disabled: deliveries are stored and wait, which is what queue depth is about.
    return workflow_create(
        team=team,
        name="Web-form leads",
        source_connection=None,
        source_object="",
        target_connection=zendesk_connection(team=team, base_url=helpdesk_sandbox.url),
        target_object="users",
        mapping={"fields": [{"target": "email", "source": "$.email"}]},
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=False,
    )


def test_waiting_work_shows_as_pending_events_and_queue_length(client: Client, hook: Workflow) -> None:
    labels = {"workflow_id": hook.pk, "workflow": hook.name, "team": hook.team.name}
    before = scrape(client)
    for n in range(3):
        webhook_receive(
            workflow=hook,
            headers={"X-Event-Id": f"evt-{n}"},
            body=json.dumps({"id": n, "email": f"lead{n}@example.com"}).encode(),
            content_type="application/json",
        )
    # The task a delivery hands to the realtime queue, published as the intake would (a worker would
    # take it; here nobody does, so it waits and is counted).
    process_webhook_events.apply_async(args=[hook.pk])
    try:
        after = scrape(client)
    finally:
        with celery_app.connection_for_write() as connection:
            connection.default_channel.queue_purge("realtime")

    assert value(before, "hub_inbound_events", {**labels, "status": "pending"}) == 0
    assert value(after, "hub_inbound_events", {**labels, "status": "pending"}) == 3
    assert value(after, "hub_inbound_event_oldest_pending_age_seconds", labels, default=-1) >= 0
    assert value(after, "hub_broker_up") == 1
    queued = value(after, "hub_celery_queue_length", {"queue": "realtime"})
    assert queued - value(before, "hub_celery_queue_length", {"queue": "realtime"}) == 1
    assert set(matching(after, "hub_celery_queue_length")) == {
        frozenset({("queue", name)}) for name in ("realtime", "bulk", "celery")
    }


def test_heartbeats_are_reported_per_process(client: Client, db: None) -> None:
    seen = timezone.now()
    Heartbeat.objects.create(role=Heartbeat.Role.WORKER, hostname="realtime@box", last_seen=seen)

    series = scrape(client)

    heartbeat = value(
        series, "hub_heartbeat_timestamp_seconds", {"role": "worker", "hostname": "realtime@box"}
    )
    assert heartbeat == pytest.approx(seen.timestamp())
    assert value(series, "hub_database_up") == 1


def test_open_conflicts_count_what_waits_for_review(client: Client, team: Any) -> None:
    if not apps.is_installed("workflows.sync"):
        pytest.skip("two-way sync (workflows.sync) is not installed, so there are no conflicts to count")
    from workflows.sync.models import Sync, SyncConflict, SyncLink

    assert value(scrape(client), "hub_conflicts_open", default=-1) == 0
    sync = Sync.objects.create(
        team=team,
        name="Contacts and users",
        a_connection=hubspot_connection(team=team, base_url="http://127.0.0.1:9"),
        a_object="contacts",
        b_connection=zendesk_connection(team=team, base_url="http://127.0.0.1:9"),
        b_object="users",
    )
    link = SyncLink.objects.create(sync=sync, a_id="101", b_id="10001")
    for pair, status in (("phone", "open"), ("notes", "open"), ("city", "resolved")):
        SyncConflict.objects.create(
            sync=sync, link=link, pair_key=pair, a_field=pair, b_field=pair, status=status
        )

    assert value(scrape(client), "hub_conflicts_open", default=-1) == 2


def test_a_metrics_token_is_required_once_set(client: Client, db: None, settings: Any) -> None:
    settings.HUB_METRICS_TOKEN = "scrape-secret"

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-it"})
    basic = client.get("/metrics", headers={"Authorization": "Basic scrape-secret"})
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})

    assert missing.status_code == wrong.status_code == basic.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert b"hub_runs" not in wrong.content
    assert right.status_code == 200 and b"hub_database_up 1.0" in right.content


def test_prometheus_can_scrape_over_plain_http_when_the_site_redirects_to_https(
    client: Client, db: None, settings: Any
) -> None:
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/login/").status_code == 301
    assert client.get("/metrics").status_code == 200


def test_observing_a_page_of_latencies_at_once_counts_like_observing_each() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from integrations_hub.metrics import observe_many

    amounts = [0.0, 0.004, 0.05, 0.05, 0.3, 1.0, 1.0000001, 7.5, 120.0, 10_000.0, 3.2, 0.25]
    registry = CollectorRegistry()
    one = Histogram("one_seconds", "one by one", registry=registry, buckets=(0.05, 0.25, 1, 5, 60))
    many = Histogram("many_seconds", "at once", registry=registry, buckets=(0.05, 0.25, 1, 5, 60))
    for amount in amounts:
        one.observe(amount)
    observe_many(many, amounts[:5])
    observe_many(many, amounts[5:])
    observe_many(many, [])

    def samples(name: str) -> dict[str, float]:
        return {
            f"{s.name.removeprefix(name)}{s.labels.get('le', '')}": s.value
            for metric in registry.collect()
            if metric.name == name
            for s in metric.samples
            if not s.name.endswith("_created")
        }

    expected = samples("one_seconds")
    assert expected["_bucket+Inf"] == len(amounts) and expected["_bucket0.05"] == 4
    got = samples("many_seconds")
    assert got.keys() == expected.keys()
    for key, count in expected.items():
        assert got[key] == pytest.approx(count), key
