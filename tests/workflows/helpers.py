"""Shared builders for workflow tests against the sandboxes."""

from __future__ import annotations

from typing import Any

from tests.factories import hubspot_connection, zendesk_connection
from workflows.models import Run, Workflow
from workflows.services.runs import run_execute, run_request
from workflows.services.workflow import workflow_create

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


def crm_to_helpdesk(team: Any, crm: Any, helpdesk: Any, **overrides: Any) -> Workflow:
    options: dict[str, Any] = {
        "team": team,
        "name": "Contacts to users",
        "source_connection": hubspot_connection(team=team, base_url=crm.url),
        "source_object": "contacts",
        "target_connection": zendesk_connection(team=team, base_url=helpdesk.url),
        "target_object": "users",
        "mapping": CONTACT_MAPPING,
        "match_field": "email",
        "enabled": True,
    }
    options.update(overrides)
    return workflow_create(**options)


def run_now(workflow: Workflow, trigger: str = Run.Trigger.MANUAL) -> Run:
    run = run_request(workflow=workflow, trigger=trigger, enqueue=False)
    assert run is not None
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def helpdesk_users(helpdesk: Any) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = helpdesk.admin("GET", "/_admin/records/users")["results"]
    return users


def crm_contacts(crm: Any) -> list[dict[str, Any]]:
    contacts: list[dict[str, Any]] = crm.admin("GET", "/_admin/records/contacts")["results"]
    return contacts
