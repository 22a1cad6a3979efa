"""The per-record log and the dead letters page at any depth: pages follow the last row shown (keyset),
the search goes through indexes, totals come from counters, and a deep page costs what the first does."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connectors.models import Connection
from workflows import views
from workflows.demo import DEMO_MAPPING
from workflows.models import Run, RunRecord, Workflow
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db

OUTCOMES = ["created", "updated", "unchanged", "skipped", "failed"]


def _workflow(team: Any, crm: Connection, helpdesk: Connection) -> Workflow:
    return workflow_create(
        team=team,
        name="Contacts to users",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping=DEMO_MAPPING,
    )


def _run(workflow: Workflow, records: int) -> Run:
    per = {o: sum(1 for i in range(records) if OUTCOMES[i % 5] == o) for o in OUTCOMES}
    run = Run.objects.create(
        workflow=workflow,
        status=Run.Status.PARTIAL,
        records_read=records,
        created_count=per["created"],
        updated_count=per["updated"],
        unchanged_count=per["unchanged"],
        skipped_count=per["skipped"],
        failed_count=per["failed"],
    )
    RunRecord.objects.bulk_create(
        RunRecord(
            run=run,
            source_id=f"src-{i}",
            target_id=f"t{i}",
            record_key=f"person{i:03d}@example.com",
            outcome=OUTCOMES[i % 5],
            error="Email is invalid" if OUTCOMES[i % 5] == "failed" else "",
            source_fields={"email": "bad"} if OUTCOMES[i % 5] == "failed" else None,
        )
        for i in range(records)
    )
    return run


def _keys(body: str) -> list[str]:
    return re.findall(r"person\d{3}@example\.com", body)


def _link(body: str, label: str) -> str | None:
    """The hx-get URL of the pager link with this label."""
    match = re.search(r'hx-get="([^"]+)" hx-target="#run-records">' + re.escape(label), body)
    return match.group(1).replace("&amp;", "&") if match else None


def _get(client: Any, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, url
    return response.content.decode()


def test_next_walks_the_whole_log_once_in_order_and_previous_steps_back(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, settings: Any
) -> None:
    settings.HUB_RUN_RECORDS_PAGE_SIZE = 7
    run = _run(_workflow(team, crm, helpdesk), 30)
    url: str | None = reverse("run_records", args=[run.pk])
    pages: list[list[str]] = []
    while url:
        body = _get(editor_client, url)
        pages.append(_keys(body))
        assert ("« First" in body) == (len(pages) > 1)
        url = _link(body, "Next →")
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert [k for p in pages for k in p] == [f"person{i:03d}@example.com" for i in range(30)]

    third = _get(
        editor_client, reverse("run_records", args=[run.pk]), after=run.records.order_by("id")[13].pk
    )
    assert _keys(third) == pages[2]
    previous = _link(third, "← Previous")
    assert previous is not None
    assert _keys(_get(editor_client, previous)) == pages[1]
    assert "30 records in this run" in third


def test_filters_stay_on_the_pager_links_and_the_total_comes_from_the_counters(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, settings: Any
) -> None:
    settings.HUB_RUN_RECORDS_PAGE_SIZE = 2
    run = _run(_workflow(team, crm, helpdesk), 25)
    body = _get(editor_client, reverse("run_records", args=[run.pk]), outcome="failed")
    assert _keys(body) == ["person004@example.com", "person009@example.com"]
    assert "5 records failed in this run" in body
    following = _link(body, "Next →")
    assert following is not None and "outcome=failed" in following
    assert _keys(_get(editor_client, following)) == ["person014@example.com", "person019@example.com"]

    # The counters, not COUNT(*), give the total: a run's counters say what it did.
    Run.objects.filter(pk=run.pk).update(failed_count=1_234_567)
    body = _get(editor_client, reverse("run_records", args=[run.pk]), outcome="failed")
    assert "1,234,567 records failed in this run" in body


def test_search_matches_a_key_prefix_as_typed_or_lower_cased_and_an_exact_source_id(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    run = _run(_workflow(team, crm, helpdesk), 30)
    url = reverse("run_records", args=[run.pk])
    assert _keys(_get(editor_client, url, q="person01")) == [
        f"person{i:03d}@example.com" for i in range(10, 20)
    ]
    assert _keys(_get(editor_client, url, q="PERSON007@Example.com")) == ["person007@example.com"]
    assert _keys(_get(editor_client, url, q="src-21")) == ["person021@example.com"]
    # A key's middle is not a prefix: the search stays on the index.
    assert _keys(_get(editor_client, url, q="example.com")) == []


def test_a_deep_page_of_the_log_costs_the_same_queries_as_the_first(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, settings: Any
) -> None:
    settings.HUB_RUN_RECORDS_PAGE_SIZE = 5
    run = _run(_workflow(team, crm, helpdesk), 60)
    ids = list(run.records.order_by("id").values_list("id", flat=True))
    counts = []
    for params in ({}, {"after": ids[40]}, {"before": ids[50]}, {"after": ids[20], "outcome": "failed"}):
        with CaptureQueriesContext(db) as captured:
            _get(editor_client, reverse("run_detail", args=[run.pk]), **params)
        counts.append(len(captured))
        # Neither the page nor the total counts the run's records.
        assert not [q for q in captured if "COUNT(" in q["sql"].upper() and "runrecord" in q["sql"]]
    assert len(set(counts)) == 1, counts


def test_dead_letters_page_newest_first_with_a_capped_total(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, monkeypatch: Any
) -> None:
    workflow = _workflow(team, crm, helpdesk)
    _run(workflow, 300)  # 60 failed records waiting for replay
    url = reverse("workflow_dead_letters", args=[workflow.pk])
    first = _get(editor_client, url)
    failed = [f"person{i:03d}@example.com" for i in range(299, -1, -1) if i % 5 == 4]
    assert _keys(first) == failed[:50]
    assert "60 waiting for replay" in first
    match = re.search(r'href="\?after=(\d+)">Next →', first)
    assert match is not None
    with CaptureQueriesContext(db) as first_queries:
        _get(editor_client, url)
    with CaptureQueriesContext(db) as second_queries:
        second = _get(editor_client, url, after=match.group(1))
    assert _keys(second) == failed[50:]
    assert len(first_queries) == len(second_queries)

    detail = _get(editor_client, reverse("workflow_detail", args=[workflow.pk]))
    assert "60 failed records waiting for replay" in detail
    monkeypatch.setattr(views, "COUNT_CAP", 40)
    detail = _get(editor_client, reverse("workflow_detail", args=[workflow.pk]))
    assert "40+ failed records waiting for replay" in detail
