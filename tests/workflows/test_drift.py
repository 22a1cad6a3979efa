"""Schema drift: a mapped field deleted or retyped in a system pauses the workflow before any record fails."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection, ObjectSchemaCache
from tests.factories import hubspot_connection
from tests.workflows.helpers import CONTACT_MAPPING, crm_contacts, crm_to_helpdesk, helpdesk_users, run_now
from workflows.definition import Definition
from workflows.models import InboundEvent, Incident, Run, RunRecord, Workflow
from workflows.services.drift import DRIFT_PREFIX, types_compatible, workflow_check_drift
from workflows.services.webhooks import webhook_process
from workflows.services.workflow import workflow_create, workflow_set_enabled, workflow_update

TIER_ROW = {"target": "user_fields.customer_tier", "source": ["customer_tier"]}
NPS_ROW = {"target": "user_fields.nps_score", "source": ["nps_score"]}
MAPPING_WITH_CUSTOM_FIELDS = {"fields": [*CONTACT_MAPPING["fields"], TIER_ROW, NPS_ROW]}


def _later() -> None:
    """Move past the drift check's max age, as the next poll a few minutes later would be."""
    ObjectSchemaCache.objects.update(fetched_at=timezone.now() - timedelta(minutes=11))


def _touch_a_contact(crm: Any) -> None:
    contact = crm_contacts(crm)[0]
    crm.admin(
        "PATCH", f"/_admin/records/contacts/{contact['id']}", {"properties": {"jobtitle": "Chief Tester"}}
    )


def _open_incidents(workflow: Workflow) -> list[tuple[str, str]]:
    return list(
        Incident.objects.filter(workflow=workflow, resolved_at__isnull=True).values_list("kind", "message")
    )


@pytest.fixture
def synced(team: Any, crm_sandbox: Any, helpdesk_sandbox: Any) -> Workflow:
    """A workflow that maps two custom fields and has run once, so its schemas are cached."""
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox, mapping=MAPPING_WITH_CUSTOM_FIELDS)
    first = run_now(workflow)
    assert first.status == Run.Status.SUCCEEDED, first.error
    assert first.created_count == 20
    return workflow


def test_a_deleted_mapped_field_pauses_the_workflow_instead_of_failing_records(
    synced: Workflow, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    crm_sandbox.admin("DELETE", "/_admin/properties/contacts/customer_tier", None)
    _touch_a_contact(crm_sandbox)
    _later()
    users_before = helpdesk_users(helpdesk_sandbox)

    run = run_now(synced, trigger=Run.Trigger.POLL)

    assert run.status == Run.Status.FAILED
    assert run.error.startswith(DRIFT_PREFIX)
    assert "CRM · Contacts has no field 'customer_tier' any more (read by the mapping)" in run.error
    assert RunRecord.objects.filter(run=run).count() == 0
    assert run.records_read == 0
    synced.refresh_from_db()
    assert not synced.enabled
    assert synced.paused_reason == run.error
    assert _open_incidents(synced) == [(Incident.Kind.PAUSED, run.error)]
    assert helpdesk_users(helpdesk_sandbox) == users_before


def test_the_pause_reason_is_shown_on_the_workflow_page(
    synced: Workflow, crm_sandbox: Any, editor_client: Any
) -> None:
    crm_sandbox.admin("DELETE", "/_admin/properties/contacts/customer_tier", None)
    _later()
    run_now(synced)

    page = editor_client.get(reverse("workflow_detail", args=[synced.pk])).content.decode()

    assert "paused: Schema drift" in page
    assert "customer_tier" in page


def test_an_incompatible_type_change_of_a_mapped_field_pauses_too(synced: Workflow, crm_sandbox: Any) -> None:
    crm_sandbox.admin("PATCH", "/_admin/properties/contacts/nps_score", {"type": "string"})
    _later()

    run = run_now(synced)

    assert run.status == Run.Status.FAILED
    assert "'NPS score' (nps_score) changed type from number to string (read by the mapping)" in run.error
    assert RunRecord.objects.filter(run=run).count() == 0
    synced.refresh_from_db()
    assert not synced.enabled and synced.paused_reason == run.error


def test_a_type_change_within_the_same_family_does_not_pause(synced: Workflow, crm_sandbox: Any) -> None:
    # A picklist that becomes free text still sends text.
    crm_sandbox.admin("PATCH", "/_admin/properties/contacts/customer_tier", {"type": "string"})
    _later()

    run = run_now(synced)

    assert run.status == Run.Status.SUCCEEDED, run.error
    synced.refresh_from_db()
    assert synced.enabled and synced.paused_reason == ""


def test_a_new_field_in_the_source_does_not_pause(synced: Workflow, crm_sandbox: Any) -> None:
    crm_sandbox.admin("POST", "/_admin/properties/contacts", {"name": "favourite_colour", "type": "string"})
    _touch_a_contact(crm_sandbox)
    _later()

    run = run_now(synced, trigger=Run.Trigger.POLL)

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.updated_count + run.unchanged_count == 1
    synced.refresh_from_db()
    assert synced.enabled and synced.paused_reason == ""
    assert _open_incidents(synced) == []


def test_a_type_change_published_over_is_not_drift(synced: Workflow, crm_sandbox: Any) -> None:
    crm_sandbox.admin("PATCH", "/_admin/properties/contacts/nps_score", {"type": "string"})
    _later()
    assert run_now(synced).status == Run.Status.FAILED
    synced.refresh_from_db()

    # The person adapts the mapping to the new type and publishes: the change happened before this version.
    fixed = {
        "fields": [
            *CONTACT_MAPPING["fields"],
            TIER_ROW,
            {**NPS_ROW, "transforms": [{"name": "to_number"}]},
        ]
    }
    workflow_update(workflow=synced, mapping=fixed, publish=True)
    workflow_set_enabled(workflow=synced, enabled=True)
    run = run_now(synced)

    assert run.status == Run.Status.SUCCEEDED, run.error
    # A clean check closes the drift incident; the workflow runs again.
    assert _open_incidents(synced) == []
    synced.refresh_from_db()
    assert synced.enabled


def test_enabling_again_without_fixing_the_mapping_pauses_again_without_a_second_alert(
    synced: Workflow, crm_sandbox: Any
) -> None:
    crm_sandbox.admin("DELETE", "/_admin/properties/contacts/customer_tier", None)
    _later()
    first = run_now(synced)
    synced.refresh_from_db()
    workflow_set_enabled(workflow=synced, enabled=True)

    second = run_now(synced)

    assert second.status == Run.Status.FAILED and second.error == first.error
    synced.refresh_from_db()
    assert not synced.enabled
    incidents = Incident.objects.filter(workflow=synced)
    assert incidents.count() == 1
    assert incidents.get().last_run_id == second.pk


def test_a_cached_schema_is_confirmed_with_the_system_before_pausing(synced: Workflow) -> None:
    # The cache says the field is gone, the system still has it (restored meanwhile): no pause.
    row = ObjectSchemaCache.objects.get(object_name="contacts")
    row.fields = [f for f in row.fields if f["name"] != "customer_tier"]
    row.save()
    assert synced.published_version is not None

    report = workflow_check_drift(
        workflow=synced, definition=Definition.from_json(synced.published_version.definition)
    )

    assert report is None
    synced.refresh_from_db()
    assert synced.enabled
    row.refresh_from_db()
    assert "customer_tier" in {f["name"] for f in row.fields}


def test_a_schema_the_system_will_not_serve_is_a_connection_error_not_drift(
    synced: Workflow, crm_sandbox: Any
) -> None:
    _later()
    crm_sandbox.set_faults(status=403, fail_next=10, path_prefix="/crm/v3/properties")

    run = run_now(synced)

    assert run.status == Run.Status.FAILED
    assert not run.error.startswith(DRIFT_PREFIX)
    synced.refresh_from_db()
    assert synced.enabled and synced.paused_reason == ""
    # Whatever a refused request opens today (failing, or reconnect for a 403), never a pause.
    kinds = [kind for kind, _ in _open_incidents(synced)]
    assert kinds and Incident.Kind.PAUSED not in kinds
    source = Connection.objects.get(pk=synced.source_connection_id)
    assert source.status == Connection.Status.ERROR


def test_a_webhook_workflow_checks_only_its_target(
    team: Any, crm_sandbox: Any, client: Any, settings: Any
) -> None:
    # Webhook deliveries into the CRM: the sender's fields are not any system's schema.
    hook = workflow_create(
        team=team,
        name="Form leads to CRM",
        source_connection=None,
        source_object="",
        target_connection=hubspot_connection(team=team, base_url=crm_sandbox.url),
        target_object="contacts",
        mapping={
            "fields": [
                {"target": "email", "source": "$.email"},
                {"target": "customer_tier", "source": "plan"},
            ]
        },
        match_field="email",
        trigger=Workflow.Trigger.WEBHOOK,
        enabled=True,
    )
    crm_sandbox.admin("DELETE", "/_admin/properties/contacts/customer_tier", None)
    response = client.post(
        reverse("webhook_intake", args=[hook.webhook_token]),
        data=json.dumps({"id": "lead-1", "email": "lead@example.com", "plan": "gold"}),
        content_type="application/json",
    )
    assert response.status_code == 202

    run = webhook_process(workflow_id=hook.pk)

    assert isinstance(run, Run)
    assert run.status == Run.Status.FAILED
    assert "CRM · Contacts has no field 'customer_tier' any more (written by the mapping)" in run.error
    # The unknown source field "plan" is not reported: only the target side is checked.
    assert "plan" not in run.error
    assert RunRecord.objects.filter(run=run).count() == 0
    hook.refresh_from_db()
    assert not hook.enabled and hook.paused_reason == run.error
    # The delivery is kept, to be processed once the mapping is fixed.
    assert InboundEvent.objects.get(workflow=hook).status != InboundEvent.Status.PROCESSED
    assert "lead@example.com" not in {c["properties"]["email"] for c in crm_contacts(crm_sandbox)}


@pytest.mark.parametrize(
    ("old", "new", "compatible"),
    [
        ("string", "enumeration", True),
        ("email", "string", True),
        ("date", "datetime", True),
        ("string", "number", False),
        ("number", "boolean", False),
        ("datetime", "string", False),
        ("json", "string", False),
    ],
)
def test_type_families_decide_which_changes_are_compatible(old: str, new: str, compatible: bool) -> None:
    assert types_compatible(old, new) is compatible
