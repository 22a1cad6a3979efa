"""Match consistency past the exact-count limit: the total is estimated, shared targets are looked for
among the most recent links, and the page says so, in the same number of queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connectors.models import Connection
from workflows import health
from workflows.health import workflow_health
from workflows.models import RecordLink, Workflow
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(team: Any, crm: Connection, helpdesk: Connection) -> Workflow:
    return workflow_create(
        team=team,
        name="Contacts to users",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping={"fields": [{"target": "email", "source": ["email"]}]},
    )


def _links(workflow: Workflow, targets: list[str], prefix: str = "s") -> None:
    RecordLink.objects.bulk_create(
        RecordLink(workflow=workflow, source_id=f"{prefix}{i}", target_id=t, last_fingerprint="x")
        for i, t in enumerate(targets)
    )
    if db.vendor == "postgresql":  # the estimate is the planner's, kept by ANALYZE
        with db.cursor() as cursor:
            cursor.execute("ANALYZE workflows_recordlink")


def test_past_the_limit_shared_targets_are_found_among_the_recent_links(
    workflow: Workflow, monkeypatch: Any
) -> None:
    # 30 links, oldest first: t0 is shared by two old links, t20 and t25 by two recent ones each.
    targets = [f"t{i}" for i in range(30)]
    targets[1] = "t0"
    targets[21] = "t20"
    targets[29] = "t25"
    _links(workflow, targets)
    monkeypatch.setattr(health, "MATCH_EXACT", 12)
    monkeypatch.setattr(health, "MATCH_SAMPLE", 10)

    matching = workflow_health(workflow=workflow).matching

    assert matching.approximate and matching.checked == 10
    assert matching.links == 30  # the planner's estimate (SQLite has none: the count itself)
    assert matching.shared_targets == 2  # t20 and t25; t0 is older than the ten checked


def test_under_the_limit_the_counts_are_exact(workflow: Workflow) -> None:
    _links(workflow, ["t0", "t0", "t1", "t2"])
    matching = workflow_health(workflow=workflow).matching
    assert not matching.approximate
    assert (matching.links, matching.linked_targets, matching.shared_targets) == (4, 3, 1)


def test_the_page_labels_the_sampled_figures_and_costs_the_same_queries(
    editor_client: Any, workflow: Workflow, monkeypatch: Any
) -> None:
    url = reverse("workflow_health", args=[workflow.pk])
    monkeypatch.setattr(health, "MATCH_EXACT", 12)
    monkeypatch.setattr(health, "MATCH_SAMPLE", 10)
    _links(workflow, [f"t{i // 2 if i > 25 else i}" for i in range(30)])
    with CaptureQueriesContext(db) as few:
        body = editor_client.get(url).content.decode()
    assert "About 30 records linked" in body
    assert "Among the 10 most recent links, 2 target records are linked to more than one source" in body

    _links(workflow, [f"u{i}" for i in range(200)], prefix="more")
    with CaptureQueriesContext(db) as many:
        body = editor_client.get(url).content.decode()
    assert "About 230 records linked" in body
    assert "Among the 10 most recent links, every target record is linked to one source record" in body
    assert len(few) == len(many)
