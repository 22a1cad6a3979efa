"""What a poll costs the source system: a poll that finds nothing is one request, counted at the sandbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from connectors.models import ObjectSchemaCache
from tests.workflows.helpers import crm_contacts, crm_to_helpdesk
from workflows.models import Run, Workflow
from workflows.services.runs import workflow_poll

SEARCH = "POST /crm/v3/objects/{object}/search"
PROPERTIES = "GET /crm/v3/properties/{object}"


def _requests_of_one_poll(workflow: Workflow, crm: Any) -> tuple[Run | None, dict[str, int]]:
    crm.admin("DELETE", "/_admin/stats")
    run = workflow_poll(workflow_id=workflow.pk)
    requests: dict[str, int] = crm.stats()["requests"]
    return run, requests


def test_a_poll_that_finds_nothing_makes_exactly_one_request(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    first = workflow_poll(workflow_id=workflow.pk)
    assert first is not None and first.created_count == 20

    idle, requests = _requests_of_one_poll(workflow, crm_sandbox)
    again, requests_again = _requests_of_one_poll(workflow, crm_sandbox)

    assert idle is None and again is None
    assert requests == {SEARCH: 1}
    assert requests_again == {SEARCH: 1}


def test_a_poll_that_finds_a_change_reads_it_without_asking_for_the_schema(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    assert workflow_poll(workflow_id=workflow.pk) is not None
    contact = crm_contacts(crm_sandbox)[0]
    crm_sandbox.admin(
        "PATCH", f"/_admin/records/contacts/{contact['id']}", {"properties": {"phone": "+44 20 7946 0001"}}
    )

    run, requests = _requests_of_one_poll(workflow, crm_sandbox)

    assert run is not None and run.records_read >= 1 and run.updated_count == 1, run and run.error
    assert PROPERTIES not in requests
    assert set(requests) == {SEARCH}


def test_a_stale_schema_is_fetched_again_on_its_own_schedule(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    assert workflow_poll(workflow_id=workflow.pk) is not None
    # Older than HUB_SCHEMA_MAX_AGE_SECONDS (10 minutes by default), as the cache is after a quiet spell.
    ObjectSchemaCache.objects.update(fetched_at=timezone.now() - timedelta(minutes=11))

    _, stale = _requests_of_one_poll(workflow, crm_sandbox)
    _, fresh = _requests_of_one_poll(workflow, crm_sandbox)

    # Once for the source's schema (the drift check refreshes it, the poll reuses that copy), once to search.
    assert stale == {PROPERTIES: 1, SEARCH: 1}
    assert fresh == {SEARCH: 1}
    assert workflow.source_connection_id is not None
    row = ObjectSchemaCache.objects.get(connection_id=workflow.source_connection_id, object_name="contacts")
    assert timezone.now() - row.fetched_at < timedelta(minutes=1)
