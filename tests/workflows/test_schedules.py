from __future__ import annotations

import json
from typing import Any

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.factories import hubspot_connection, zendesk_connection
from workflows.models import Workflow
from workflows.services.workflow import (
    workflow_create,
    workflow_delete,
    workflow_set_enabled,
    workflow_update,
)

MAPPING = {"fields": [{"target": "email", "source": ["email"]}]}


@pytest.fixture
def unrelated_task(db: None) -> PeriodicTask:
    interval, _ = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(
        name="someone else's", task="other.task", interval=interval, args="[1]"
    )


def _workflow(team: Any, *, enabled: bool) -> Workflow:
    crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9")
    helpdesk = zendesk_connection(team=team, base_url="http://127.0.0.1:9")
    return workflow_create(
        team=team,
        name="Contacts",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping=MAPPING,
        poll_interval_seconds=120,
        enabled=enabled,
    )


def _snapshot(task: PeriodicTask) -> tuple[Any, ...]:
    task.refresh_from_db()
    return (task.name, task.task, task.interval_id, task.args, task.enabled, task.last_run_at)


def test_enabling_creates_one_periodic_task_for_the_workflow(team: Any, unrelated_task: PeriodicTask) -> None:
    before = _snapshot(unrelated_task)
    workflow = _workflow(team, enabled=False)
    assert workflow.periodic_task is None

    workflow_set_enabled(workflow=workflow, enabled=True)

    workflow.refresh_from_db()
    task = workflow.periodic_task
    assert task is not None
    assert task.task == "workflows.poll_workflow"
    assert json.loads(task.args) == [workflow.pk]
    assert task.interval.every == 120 and task.interval.period == IntervalSchedule.SECONDS
    assert PeriodicTask.objects.filter(task="workflows.poll_workflow").count() == 1
    assert _snapshot(unrelated_task) == before


def test_changing_the_interval_changes_the_same_task(team: Any, unrelated_task: PeriodicTask) -> None:
    before = _snapshot(unrelated_task)
    workflow = _workflow(team, enabled=True)
    task_id = workflow.periodic_task_id

    workflow_update(workflow=workflow, poll_interval_seconds=45)
    workflow.refresh_from_db()
    assert workflow.periodic_task.interval.every == 120  # a draft edit does not touch the running schedule

    workflow_update(workflow=workflow, publish=True)

    workflow.refresh_from_db()
    assert workflow.periodic_task_id == task_id
    assert workflow.periodic_task is not None
    assert workflow.periodic_task.interval.every == 45
    assert PeriodicTask.objects.filter(task="workflows.poll_workflow").count() == 1
    assert _snapshot(unrelated_task) == before


def test_disabling_removes_the_task_and_only_that_task(team: Any, unrelated_task: PeriodicTask) -> None:
    before = _snapshot(unrelated_task)
    workflow = _workflow(team, enabled=True)
    task_id = workflow.periodic_task_id

    workflow_set_enabled(workflow=workflow, enabled=False)

    workflow.refresh_from_db()
    assert workflow.periodic_task is None
    assert not PeriodicTask.objects.filter(pk=task_id).exists()
    assert _snapshot(unrelated_task) == before


def test_enabling_twice_keeps_a_single_task(team: Any) -> None:
    workflow = _workflow(team, enabled=True)
    workflow_set_enabled(workflow=workflow, enabled=True)
    workflow_set_enabled(workflow=workflow, enabled=True)
    assert PeriodicTask.objects.filter(task="workflows.poll_workflow").count() == 1


def test_deleting_a_workflow_removes_its_task(team: Any, unrelated_task: PeriodicTask) -> None:
    workflow = _workflow(team, enabled=True)
    workflow_delete(workflow=workflow)
    assert not PeriodicTask.objects.filter(task="workflows.poll_workflow").exists()
    assert PeriodicTask.objects.filter(pk=unrelated_task.pk).exists()
