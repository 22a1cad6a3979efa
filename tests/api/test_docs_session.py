"""The curl session of docs/api.md, step by step through the Django test client.

The worker's part (executing the queued run) is done by calling the service the Celery task calls.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.core.management import call_command
from rest_framework.test import APIClient

from workflows.services.runs import run_execute

MAPPING = {
    "fields": [
        {
            "target": "name",
            "source": ["firstname", "lastname"],
            "transforms": [{"name": "join", "args": {"separator": " "}}],
        },
        {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
        {"target": "phone", "source": ["phone"]},
    ]
}


def test_the_documented_curl_session_works(editor: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> None:
    # 1. A token, from the management command.
    out = StringIO()
    call_command(
        "api_token", "create", "erin-editor", "--name", "curl session", stdout=out, stderr=StringIO()
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")

    # 2. The two connections, tested.
    crm = api.post(
        "/api/v1/connections",
        {
            "name": "CRM",
            "kind": "hubspot",
            "config": {"base_url": crm_sandbox.url},
            "credentials": {"access_token": "demo-crm-token"},
        },
        format="json",
    )
    helpdesk = api.post(
        "/api/v1/connections",
        {
            "name": "Helpdesk",
            "kind": "zendesk",
            "config": {"base_url": helpdesk_sandbox.url, "email": "agent@demo.example"},
            "credentials": {"api_token": "demo-helpdesk-token"},
        },
        format="json",
    )
    assert (crm.status_code, helpdesk.status_code) == (201, 201)
    assert crm.json()["has_credentials"] is True and crm.json()["status"] == "untested"
    crm_id, helpdesk_id = crm.json()["id"], helpdesk.json()["id"]
    assert api.post(f"/api/v1/connections/{crm_id}/test").json()["message"] == "HubSpot CRM at 127.0.0.1"
    assert api.post(f"/api/v1/connections/{helpdesk_id}/test").json()["ok"] is True

    # 3. The workflow, created and published.
    workflow = api.post(
        "/api/v1/workflows",
        {
            "name": "Contacts to users",
            "source_connection": crm_id,
            "source_object": "contacts",
            "target_connection": helpdesk_id,
            "target_object": "users",
            "match_field": "email",
            "mapping": MAPPING,
        },
        format="json",
    )
    assert workflow.status_code == 201 and workflow.json()["published_version"] is None
    workflow_id = workflow.json()["id"]
    published = api.post(f"/api/v1/workflows/{workflow_id}/publish")
    assert (published.status_code, published.json()["number"], published.json()["created_by"]) == (
        201,
        1,
        "erin-editor",
    )

    # 4. A lead without a name, then run now (twice with the same key: one run).
    crm_sandbox.admin("POST", "/records/contacts", {"properties": {"email": "webform-lead@example.com"}})
    queued = api.post(f"/api/v1/workflows/{workflow_id}/run", HTTP_IDEMPOTENCY_KEY="6f1c1c52-run-1")
    again = api.post(f"/api/v1/workflows/{workflow_id}/run", HTTP_IDEMPOTENCY_KEY="6f1c1c52-run-1")
    assert queued.status_code == 202 and queued.json()["status"] == "queued"
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    run_id = queued.json()["id"]
    assert queued["Location"] == f"/api/v1/runs/{run_id}"
    run_execute(run_id=run_id)  # what the worker does with the queued run
    run = api.get(f"/api/v1/runs/{run_id}").json()
    assert (run["status"], run["records_read"], run["created_count"], run["failed_count"]) == (
        "partial",
        21,
        20,
        1,
    )

    # 5. The per-record results.
    page = api.get(f"/api/v1/runs/{run_id}/records?limit=2").json()
    assert page["count"] == 21 and len(page["results"]) == 2
    assert page["results"][0]["outcome"] == "created" and page["results"][0]["diff"]["email"][0] is None
    failed = api.get(f"/api/v1/runs/{run_id}/records?outcome=failed").json()["results"]
    assert [(r["record_key"], r["error"]) for r in failed] == [
        ("webform-lead@example.com", "Name:  is too short (minimum one character)")
    ]
    replay = api.post(f"/api/v1/runs/{run_id}/replay", {"version": "current"}, format="json")
    assert replay.status_code == 202 and replay.json()["replay_of"] == run_id

    # 6. The two errors shown.
    taken = api.post("/api/v1/connections", {"name": "CRM", "kind": "hubspot"}, format="json")
    assert taken.json()["errors"] == {"name": ["Your team already has a connection with this name."]}
    missing = api.get("/api/v1/workflows/99")
    assert missing.status_code == 404 and missing.json()["detail"] == "Not found."
