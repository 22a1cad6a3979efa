"""Teams, connections and workflows for the benchmarks (the same services the UI and API use)."""

from __future__ import annotations

import itertools
from typing import Any

_counter = itertools.count(1)

CONTACT_MAPPING: dict[str, Any] = {
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

# No pacing on the unlimited sandboxes unless a benchmark asks for it (the providers' defaults model
# the real SaaS limits, e.g. HubSpot 100 requests / 10 s, which would measure the governor, not us).
UNPACED = {"requests": 100000, "interval_seconds": 1, "burst": 99999}


def team() -> Any:
    import uuid

    from integrations_hub.accounts.models import Team

    return Team.objects.create(name=f"Bench team {next(_counter)} {uuid.uuid4().hex[:6]}")


def crm_connection(team_: Any, url: str, rate: dict[str, Any] | None = UNPACED) -> Any:
    from connectors.models import Connection
    from connectors.services import connection_create

    conn = connection_create(
        team=team_,
        name=f"CRM {next(_counter)}",
        kind="hubspot",
        config={"base_url": url},
        credentials={"access_token": "demo-crm-token"},
    )
    Connection.objects.filter(pk=conn.pk).update(rate_limit_override=rate)
    conn.refresh_from_db()
    return conn


def helpdesk_connection(team_: Any, url: str, rate: dict[str, Any] | None = UNPACED) -> Any:
    from connectors.models import Connection
    from connectors.services import connection_create

    conn = connection_create(
        team=team_,
        name=f"Helpdesk {next(_counter)}",
        kind="zendesk",
        config={"base_url": url, "email": "agent@demo.example"},
        credentials={"api_token": "demo-helpdesk-token"},
    )
    Connection.objects.filter(pk=conn.pk).update(rate_limit_override=rate)
    conn.refresh_from_db()
    return conn


def sync_workflow(
    crm_url: str, helpdesk_url: str, rate: dict[str, Any] | None = UNPACED, **extra: Any
) -> Any:
    from workflows.services.workflow import workflow_create

    t = team()
    options: dict[str, Any] = {
        "team": t,
        "name": f"Bench contacts to users {next(_counter)}",
        "source_connection": crm_connection(t, crm_url, rate),
        "source_object": "contacts",
        "target_connection": helpdesk_connection(t, helpdesk_url, rate),
        "target_object": "users",
        "mapping": CONTACT_MAPPING,
        "match_field": "email",
        "enabled": False,
    }
    options.update(extra)
    return workflow_create(**options)


def webhook_workflow(helpdesk_url: str, *, enabled: bool) -> Any:
    from workflows.models import Workflow
    from workflows.services.workflow import workflow_create

    t = team()
    return workflow_create(
        team=t,
        name=f"Bench hook {next(_counter)}",
        source_connection=None,
        source_object="",
        target_connection=helpdesk_connection(t, helpdesk_url),
        target_object="users",
        mapping={
            "fields": [
                {"target": "name", "source": ["name"], "transforms": [{"name": "trim"}]},
                {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
            ]
        },
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=enabled,
    )


def run_once(workflow: Any, trigger: str = "manual") -> Any:
    from workflows.services.runs import run_execute, run_request

    run = run_request(workflow=workflow, trigger=trigger, enqueue=False)
    assert run is not None, "a run is already queued or running"
    run_execute(run_id=run.pk)
    from workflows.models import Run

    # A poll that found nothing leaves no run behind.
    return Run.objects.filter(pk=run.pk).first()
