"""Ready-made workflows for the common pairs the connectors support today.

A template is a builder Draft with the connection kinds it needs; starting one picks the team's
connections of those kinds (the first by name when there are several; the builder lets the person change
it) or says which connection to add first. Nothing is saved until the person saves the builder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.models import Connection
from connectors.registry import UnknownConnector, get_provider
from workflows.builder_forms import Draft, apply_steps, rows_from_mapping
from workflows.demo import DEMO_MAPPING
from workflows.models import Workflow


@dataclass(frozen=True)
class Need:
    """A connection the template needs: the side it is on, and its connector kind."""

    side: str
    kind: str

    @property
    def label(self) -> str:
        try:
            return get_provider(self.kind).label
        except UnknownConnector:
            return self.kind


@dataclass(frozen=True)
class WorkflowTemplate:
    key: str
    title: str
    description: str
    source: Need
    source_object: str
    target: Need
    target_object: str
    trigger: str = Workflow.Trigger.POLL
    match_field: str = "email"
    start_from: str = Workflow.StartFrom.EVERYTHING
    mapping: dict[str, Any] = field(default_factory=lambda: {"fields": []})
    # Steps that need the chosen target connection's id (a notify step names its connection).
    steps: Callable[[int], list[dict[str, Any]]] | None = None

    @property
    def needs(self) -> tuple[Need, Need]:
        return (self.source, self.target)


def _slack_steps(connection_id: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "notify",
            "id": "tell_sales",
            "connection": connection_id,
            "channel": "#sales",
            "format": "New deal: {dealname} ({amount}), stage {dealstage}",
        }
    ]


TEMPLATES: tuple[WorkflowTemplate, ...] = (
    WorkflowTemplate(
        key="hubspot-contacts-zendesk-users",
        title="HubSpot contacts → Zendesk users",
        description="Every CRM contact becomes a helpdesk user, matched by email: names joined, the tier "
        "picklist translated, scores and opt-ins converted.",
        source=Need("source", "hubspot"),
        source_object="contacts",
        target=Need("target", "zendesk"),
        target_object="users",
        mapping=DEMO_MAPPING,
    ),
    WorkflowTemplate(
        key="hubspot-contacts-mailchimp-members",
        title="HubSpot contacts → Mailchimp audience members",
        description="Keeps the marketing audience in step with the CRM: email, first and last name and "
        "phone, new members subscribed.",
        source=Need("source", "hubspot"),
        source_object="contacts",
        target=Need("target", "mailchimp"),
        target_object="members",
        match_field="email_address",
        mapping={
            "fields": [
                {
                    "target": "email_address",
                    "source": ["email"],
                    "transforms": [{"name": "trim"}, {"name": "lower"}],
                },
                {"target": "merge_fields.FNAME", "source": ["firstname"]},
                {"target": "merge_fields.LNAME", "source": ["lastname"]},
                {"target": "merge_fields.PHONE", "source": ["phone"]},
                {
                    "target": "status",
                    "source": [],
                    "transforms": [{"name": "default", "args": {"value": "subscribed"}}],
                },
            ]
        },
    ),
    WorkflowTemplate(
        key="stripe-invoices-hubspot-deals",
        title="Stripe invoices → HubSpot deals",
        description="A deal per invoice, named after its number and customer, its stage following the "
        "invoice status. Deals have no natural key, so each invoice is linked to the deal it created.",
        source=Need("source", "stripe"),
        source_object="invoices",
        target=Need("target", "hubspot"),
        target_object="deals",
        match_field="",
        mapping={
            "fields": [
                {
                    "target": "dealname",
                    "source": ["number", "customer_name"],
                    "transforms": [
                        {"name": "format", "args": {"template": "Invoice {number} ({customer_name})"}}
                    ],
                },
                {
                    "target": "dealstage",
                    "source": ["status"],
                    "transforms": [
                        {
                            "name": "value_map",
                            "args": {
                                "map": {
                                    "draft": "appointmentscheduled",
                                    "open": "contractsent",
                                    "paid": "closedwon",
                                    "uncollectible": "closedlost",
                                    "void": "closedlost",
                                },
                                "unmapped": "drop",
                            },
                        }
                    ],
                },
                {"target": "closedate", "source": ["due_date"], "transforms": [{"name": "to_datetime"}]},
                {
                    "target": "description",
                    "source": ["id", "currency", "total"],
                    "transforms": [
                        {
                            "name": "format",
                            "args": {"template": "Stripe invoice {id}: {total} {currency} (minor units)"},
                        }
                    ],
                },
            ]
        },
    ),
    WorkflowTemplate(
        key="hubspot-deal-slack-message",
        title="New HubSpot deal → Slack message",
        description="Posts to #sales for every deal created or changed from now on (older deals are left "
        "alone), with its name, amount and stage.",
        source=Need("source", "hubspot"),
        source_object="deals",
        target=Need("target", "slack"),
        target_object="messages",
        match_field="",
        start_from=Workflow.StartFrom.NOW,
        steps=_slack_steps,
    ),
)
TEMPLATES_BY_KEY = {template.key: template for template in TEMPLATES}


@dataclass(frozen=True)
class TemplateChoice:
    """A template with the team's connections it would use, or the kinds still to add."""

    template: WorkflowTemplate
    chosen: dict[str, Connection]
    missing: list[Need]

    @property
    def ready(self) -> bool:
        return not self.missing


def template_choices(connections: list[Connection]) -> list[TemplateChoice]:
    """Every template against the team's connections (already loaded: no query per template)."""
    first_of_kind: dict[str, Connection] = {}
    for connection in sorted(connections, key=lambda c: c.name):
        first_of_kind.setdefault(connection.kind, connection)
    choices = []
    for template in TEMPLATES:
        chosen = {
            need.side: first_of_kind[need.kind] for need in template.needs if need.kind in first_of_kind
        }
        missing = [need for need in template.needs if need.kind not in first_of_kind]
        choices.append(TemplateChoice(template, chosen, missing))
    return choices


def template_draft(choice: TemplateChoice) -> Draft:
    """The builder state a template starts from, with the chosen connections filled in."""
    template = choice.template
    source = choice.chosen.get("source")
    target = choice.chosen.get("target")
    draft = Draft(
        name=template.title,
        description=template.description,
        trigger=template.trigger,
        source_connection_id=source.pk if source else None,
        source_object=template.source_object,
        target_connection_id=target.pk if target else None,
        target_object=template.target_object,
        match_field=template.match_field,
        start_from=template.start_from,
        rows=rows_from_mapping(template.mapping),
    )
    if template.steps is not None and target is not None:
        apply_steps(draft, template.steps(target.pk))
    return draft
