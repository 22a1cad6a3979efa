"""The demo: a team, two people, the two sandbox connections and one enabled workflow. Safe to repeat."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from connectors.models import Connection
from connectors.services import connection_create, connection_update
from integrations_hub.accounts.models import Membership, Team
from integrations_hub.accounts.services import member_create
from workflows.models import Workflow
from workflows.services.workflow import workflow_create, workflow_set_enabled, workflow_update

DEMO_TEAM = "Demo team"
DEMO_ADMIN = ("admin", "demo-admin-pass")
DEMO_EDITOR = ("editor", "demo-editor-pass")
DEMO_WORKFLOW = "CRM contacts → Helpdesk users"

# CRM contact → helpdesk user. Names are joined, emails normalised, the tier picklist mapped
# value by value, numbers and yes/no values coerced, and a location line built from city and country.
DEMO_MAPPING: dict[str, object] = {
    "fields": [
        {
            "target": "name",
            "source": ["firstname", "lastname"],
            "transforms": [{"name": "join", "args": {"separator": " "}}],
        },
        {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
        {"target": "phone", "source": ["phone"], "transforms": [{"name": "trim"}]},
        {
            "target": "external_id",
            "source": ["hs_object_id"],
            "transforms": [{"name": "format", "args": {"template": "crm-{hs_object_id}"}}],
        },
        {
            "target": "details",
            "source": ["city", "country"],
            "transforms": [{"name": "join", "args": {"separator": ", "}}],
        },
        {
            "target": "user_fields.customer_tier",
            "source": ["customer_tier"],
            "transforms": [
                {
                    "name": "value_map",
                    "args": {
                        "map": {
                            "bronze": "bronze",
                            "silver": "silver",
                            "gold": "gold",
                            "platinum": "platinum",
                        },
                        "unmapped": "drop",
                        "case_insensitive": True,
                    },
                }
            ],
        },
        {"target": "user_fields.nps_score", "source": ["nps_score"], "transforms": [{"name": "to_integer"}]},
        {
            "target": "user_fields.newsletter_opt_in",
            "source": ["newsletter_opt_in"],
            "transforms": [{"name": "to_boolean"}],
        },
    ]
}


@dataclass(frozen=True)
class DemoSetup:
    team: Team
    workflow: Workflow


@transaction.atomic
def demo_seed(*, crm_url: str, helpdesk_url: str, poll_interval_seconds: int = 30) -> DemoSetup:
    team, _ = Team.objects.get_or_create(name=DEMO_TEAM)
    admin = member_create(
        team=team, username=DEMO_ADMIN[0], password=DEMO_ADMIN[1], role=Membership.Role.ADMIN
    )
    # The demo admin also operates the instance, so it may open Django's admin.
    get_user_model().objects.filter(pk=admin.pk).update(is_staff=True, is_superuser=True)
    member_create(team=team, username=DEMO_EDITOR[0], password=DEMO_EDITOR[1], role=Membership.Role.EDITOR)

    crm = _connection(team, "Demo CRM", "hubspot", {"base_url": crm_url}, {"access_token": "demo-crm-token"})
    helpdesk = _connection(
        team,
        "Demo Helpdesk",
        "zendesk",
        {"base_url": helpdesk_url, "email": "agent@demo.example"},
        {"api_token": "demo-helpdesk-token"},
    )
    workflow = Workflow.objects.filter(team=team, name=DEMO_WORKFLOW).first()
    if workflow is None:
        workflow = workflow_create(
            team=team,
            name=DEMO_WORKFLOW,
            description="Copies every CRM contact to the helpdesk as a user, matched by email, and keeps them updated.",
            source_connection=crm,
            source_object="contacts",
            target_connection=helpdesk,
            target_object="users",
            mapping=DEMO_MAPPING,
            match_field="email",
            poll_interval_seconds=poll_interval_seconds,
            enabled=True,
        )
    else:
        workflow_update(workflow=workflow, poll_interval_seconds=poll_interval_seconds, publish=True)
        workflow_set_enabled(workflow=workflow, enabled=True)
    return DemoSetup(team=team, workflow=workflow)


def _connection(
    team: Team, name: str, kind: str, config: dict[str, object], secrets: dict[str, str]
) -> Connection:
    existing = Connection.objects.filter(team=team, name=name).first()
    if existing is None:
        return connection_create(team=team, name=name, kind=kind, config=config, credentials=secrets)
    # Keep the demo pointed at the sandboxes even if their ports changed between runs.
    return connection_update(connection=existing, config={**existing.config, **config}, credentials=secrets)
