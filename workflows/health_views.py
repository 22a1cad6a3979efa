"""Health pages: one per workflow and one per connection (workflows.health does the bounded reads)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from connectors.feasibility import rate_limit_label
from connectors.selectors import connection_get
from integrations_hub.accounts.access import team_of, team_required
from workflows.health import RECENT_RUNS, connection_health, workflow_health
from workflows.selectors import workflow_get


@require_GET
@team_required
def workflow_health_page(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    return render(
        request,
        "workflows/builder/health_workflow.html",
        {"health": workflow_health(workflow=workflow), "workflow": workflow, "window": RECENT_RUNS},
    )


@require_GET
@team_required
def connection_health_page(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    return render(
        request,
        "workflows/builder/health_connection.html",
        {
            "health": connection_health(connection=connection),
            "connection": connection,
            "window": RECENT_RUNS,
            "rate_limit": rate_limit_label(connection.rate_limit()),
        },
    )
