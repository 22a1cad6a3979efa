from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.factories import hubspot_connection, zendesk_connection
from workflows.models import Run, RunRecord, Workflow
from workflows.services.workflow import workflow_create

MAPPING = {"fields": [{"target": "email", "source": ["email"]}]}


@pytest.fixture
def setup(team: Any) -> dict[str, Any]:
    crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9")
    helpdesk = zendesk_connection(team=team, base_url="http://127.0.0.1:9")
    workflow = workflow_create(
        team=team,
        name="Contacts to users",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping=MAPPING,
    )
    run = Run.objects.create(workflow=workflow, status=Run.Status.PARTIAL, records_read=2, failed_count=1)
    RunRecord.objects.create(
        run=run, source_id="1", record_key="ok@example.com", outcome="created", target_id="9"
    )
    RunRecord.objects.create(
        run=run,
        source_id="2",
        record_key="bad@example",
        outcome="failed",
        error="Email: bad@example is invalid",
    )
    return {"crm": crm, "helpdesk": helpdesk, "workflow": workflow, "run": run}


def _team_pages(setup: dict[str, Any]) -> list[str]:
    return [
        reverse("workflow_detail", args=[setup["workflow"].pk]),
        reverse("run_detail", args=[setup["run"].pk]),
        reverse("run_status", args=[setup["run"].pk]),
        reverse("run_records", args=[setup["run"].pk]),
        reverse("connection_detail", args=[setup["crm"].pk]),
        reverse("connection_edit", args=[setup["crm"].pk]),
    ]


def test_member_sees_every_page_of_their_team(editor_client: Any, setup: dict[str, Any]) -> None:
    for url in [reverse("dashboard"), reverse("run_list"), reverse("connection_list"), *_team_pages(setup)]:
        response = editor_client.get(url)
        assert response.status_code == 200, url


def test_user_of_another_team_gets_404_on_every_object(outsider_client: Any, setup: dict[str, Any]) -> None:
    for url in _team_pages(setup):
        assert outsider_client.get(url).status_code == 404, url
    for name, pk in [
        ("workflow_run_now", setup["workflow"].pk),
        ("workflow_toggle", setup["workflow"].pk),
        ("connection_test", setup["crm"].pk),
    ]:
        assert outsider_client.post(reverse(name, args=[pk])).status_code == 404, name
    assert not Run.objects.filter(workflow=setup["workflow"]).exclude(pk=setup["run"].pk).exists()


def test_lists_show_nothing_of_another_team(outsider_client: Any, setup: dict[str, Any]) -> None:
    for url in [reverse("dashboard"), reverse("run_list"), reverse("connection_list")]:
        body = outsider_client.get(url).content.decode()
        assert "Contacts to users" not in body, url
        assert ">CRM<" not in body, url


def test_anonymous_visitors_are_sent_to_login(client: Any, setup: dict[str, Any]) -> None:
    for url in [reverse("dashboard"), *_team_pages(setup)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_run_detail_shows_each_record_outcome_and_error(editor_client: Any, setup: dict[str, Any]) -> None:
    body = editor_client.get(reverse("run_detail", args=[setup["run"].pk])).content.decode()
    assert "ok@example.com" in body
    assert "Email: bad@example is invalid" in body


def test_run_record_log_is_paginated_and_filterable(
    editor_client: Any, setup: dict[str, Any], settings: Any
) -> None:
    settings.HUB_RUN_RECORDS_PAGE_SIZE = 1
    run = setup["run"]
    first = editor_client.get(reverse("run_records", args=[run.pk])).content.decode()
    first_id = run.records.order_by("id").values_list("id", flat=True)[0]
    assert f"after={first_id}" in first and "Previous" not in first
    second = editor_client.get(reverse("run_records", args=[run.pk]), {"after": first_id}).content.decode()
    assert "Previous" in second and "Next →" not in second
    failed = editor_client.get(reverse("run_records", args=[run.pk]), {"outcome": "failed"}).content.decode()
    assert "bad@example" in failed and "ok@example.com" not in failed
    found = editor_client.get(reverse("run_records", args=[run.pk]), {"q": "ok@"}).content.decode()
    assert "ok@example.com" in found and "bad@example" not in found


def test_dashboard_lists_workflow_with_last_run(editor_client: Any, setup: dict[str, Any]) -> None:
    body = editor_client.get(reverse("dashboard")).content.decode()
    assert "Contacts to users" in body
    assert reverse("run_detail", args=[setup["run"].pk]) in body


def test_toggle_enables_and_disables_the_workflow(editor_client: Any, setup: dict[str, Any]) -> None:
    workflow: Workflow = setup["workflow"]
    editor_client.post(reverse("workflow_toggle", args=[workflow.pk]), {"enabled": "on"})
    workflow.refresh_from_db()
    assert workflow.enabled and workflow.periodic_task is not None
    editor_client.post(reverse("workflow_toggle", args=[workflow.pk]))
    workflow.refresh_from_db()
    assert not workflow.enabled and workflow.periodic_task is None


def test_page_query_count_does_not_grow_with_rows(
    editor_client: Any, setup: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    run = setup["run"]
    RunRecord.objects.bulk_create(
        RunRecord(run=run, source_id=str(i), record_key=f"u{i}@example.com", outcome="updated")
        for i in range(3, 40)
    )
    with django_assert_max_num_queries(12):
        assert editor_client.get(reverse("run_detail", args=[run.pk])).status_code == 200
    with django_assert_max_num_queries(12):
        assert editor_client.get(reverse("dashboard")).status_code == 200
