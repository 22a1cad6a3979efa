"""Sync runs are history like workflow runs: pruned after the retention period, and counted in /metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.ops.scrape import parse, value
from tests.workflows.sync.fakes import FakeSystem
from tests.workflows.sync.helpers import fake_sync, run_sync
from workflows.services.maintenance import runs_prune
from workflows.sync.models import DuplicateHold, SyncLink, SyncOutcome, SyncRun

pytestmark = pytest.mark.django_db


def _age(run: SyncRun, days: int) -> None:
    SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_pruning_removes_old_sync_runs_and_their_outcomes_but_not_the_links_or_the_newest_run(
    team: Any, systems: tuple[FakeSystem, FakeSystem], settings: Any
) -> None:
    settings.HUB_RUN_RETENTION_DAYS = 30
    crm, _ = systems
    crm.person_create({"email": "ada@example.com"})
    sync = fake_sync(team)
    old = run_sync(sync)
    crm.person_edit("101", "phone", "1")
    recent = run_sync(sync)
    crm.person_edit("101", "phone", "2")
    newest = run_sync(sync)
    _age(old, 40)
    _age(recent, 10)
    # The newest run is kept however old it is: the sync page shows how its last run went.
    _age(newest, 50)
    assert SyncOutcome.objects.filter(run=old).exists()

    deleted = runs_prune()

    assert deleted == 1
    assert set(SyncRun.objects.values_list("pk", flat=True)) == {recent.pk, newest.pk}
    assert not SyncOutcome.objects.filter(run_id=old.pk).exists()
    assert SyncLink.objects.filter(sync=sync, status=SyncLink.Status.ACTIVE).count() == 1


def test_an_active_sync_run_is_never_pruned(team: Any, systems: tuple[FakeSystem, FakeSystem]) -> None:
    sync = fake_sync(team)
    running = SyncRun.objects.create(sync=sync, status=SyncRun.Status.RUNNING)
    SyncRun.objects.create(sync=sync, status=SyncRun.Status.SUCCEEDED)
    _age(running, 400)

    assert runs_prune(older_than_days=1) == 0
    assert SyncRun.objects.filter(pk=running.pk).exists()


def test_metrics_count_sync_runs_their_records_and_the_review_queue(
    client: Client, team: Any, systems: tuple[FakeSystem, FakeSystem]
) -> None:
    crm, desk = systems
    crm.person_create({"email": "ada@example.com"})
    crm.person_create({"email": "twin@example.com"})
    crm.person_create({"email": "twin@example.com"})
    desk.person_create({"email": "grace@example.com"})
    sync = fake_sync(team)
    labels = {"sync_id": sync.pk, "sync": sync.name, "team": team.name}

    run = run_sync(sync)
    series = parse(client.get("/metrics").content.decode())

    assert value(series, "hub_sync_runs", {**labels, "status": "succeeded"}) == 1
    assert value(series, "hub_sync_runs", {**labels, "status": "failed"}) == 0
    assert value(series, "hub_sync_run_records", {**labels, "outcome": "read_a"}) == 3
    assert value(series, "hub_sync_run_records", {**labels, "outcome": "created_b"}) == run.created_b == 1
    assert value(series, "hub_sync_run_records", {**labels, "outcome": "created_a"}) == run.created_a == 1
    assert value(series, "hub_sync_run_records", {**labels, "outcome": "held"}) == run.held == 2
    assert value(series, "hub_sync_review_open", {**labels, "kind": "duplicate"}) == 2
    assert value(series, "hub_sync_review_open", {**labels, "kind": "conflict"}) == 0
    assert value(series, "hub_sync_enabled", labels) == 0
    assert value(series, "hub_sync_last_checked_timestamp_seconds", labels) > 0

    DuplicateHold.objects.filter(sync=sync).update(status=DuplicateHold.Status.DISMISSED)
    SyncRun.objects.filter(pk=run.pk).delete()
    after = parse(client.get("/metrics").content.decode())

    assert value(after, "hub_sync_review_open", {**labels, "kind": "duplicate"}) == 0
    assert value(after, "hub_sync_runs", {**labels, "status": "succeeded"}) == 0
    assert value(after, "hub_sync_run_records", {**labels, "outcome": "created_b"}) == 0
