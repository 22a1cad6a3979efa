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


def _row(target: str, *sources: str, transforms: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """One mapping row: `target` from `sources` through `transforms`."""
    row: dict[str, Any] = {"target": target, "source": list(sources)}
    if transforms:
        row["transforms"] = list(transforms)
    return row


def _t(name: str, **args: Any) -> dict[str, Any]:
    """One transform of a row, with its settings."""
    return {"name": name, "args": args} if args else {"name": name}


def _template(
    key: str,
    title: str,
    description: str,
    *,
    source: str,
    target: str,
    rows: tuple[dict[str, Any], ...] = (),
    mapping: dict[str, Any] | None = None,
    **options: Any,
) -> WorkflowTemplate:
    """A template from "kind:object" ends, e.g. source="hubspot:contacts", and its mapping rows."""
    source_kind, source_object = source.split(":")
    target_kind, target_object = target.split(":")
    return WorkflowTemplate(
        key=key,
        title=title,
        description=description,
        source=Need("source", source_kind),
        source_object=source_object,
        target=Need("target", target_kind),
        target_object=target_object,
        mapping=mapping if mapping is not None else {"fields": list(rows)},
        **options,
    )


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


_EMAIL = (_t("trim"), _t("lower"))
# Stripe invoice status → a stage of HubSpot's default sales pipeline.
_INVOICE_STAGES = {
    "draft": "appointmentscheduled",
    "open": "contractsent",
    "paid": "closedwon",
    "uncollectible": "closedlost",
    "void": "closedlost",
}

TEMPLATES: tuple[WorkflowTemplate, ...] = (
    _template(
        "hubspot-contacts-zendesk-users",
        "HubSpot contacts → Zendesk users",
        "Every CRM contact becomes a helpdesk user, matched by email: names joined, the tier "
        "picklist translated, scores and opt-ins converted.",
        source="hubspot:contacts",
        target="zendesk:users",
        mapping=DEMO_MAPPING,
    ),
    _template(
        "hubspot-companies-zendesk-organizations",
        "HubSpot companies → Zendesk organizations",
        "Every CRM company becomes a helpdesk organization, matched by its domain (kept as the "
        "organization's external id), with its industry and location as details.",
        source="hubspot:companies",
        target="zendesk:organizations",
        match_field="external_id",
        rows=(
            _row("name", "name", transforms=(_t("trim"),)),
            _row("external_id", "domain", transforms=_EMAIL),
            _row("details", "industry", "city", "country", transforms=(_t("join", separator=", "),)),
        ),
    ),
    _template(
        "hubspot-contacts-mailchimp-members",
        "HubSpot contacts → Mailchimp audience members",
        "Keeps the marketing audience in step with the CRM: email, first and last name and "
        "phone, new members subscribed.",
        source="hubspot:contacts",
        target="mailchimp:members",
        match_field="email_address",
        rows=(
            _row("email_address", "email", transforms=_EMAIL),
            _row("merge_fields.FNAME", "firstname"),
            _row("merge_fields.LNAME", "lastname"),
            _row("merge_fields.PHONE", "phone"),
            _row("status", transforms=(_t("default", value="subscribed"),)),
        ),
    ),
    _template(
        "stripe-invoices-hubspot-deals",
        "Stripe invoices → HubSpot deals",
        "A deal per invoice, named after its number and customer, its amount in the currency's main "
        "unit (cents divided by 100), its stage following the invoice status. Deals have no natural key, "
        "so each invoice is linked to the deal it created.",
        source="stripe:invoices",
        target="hubspot:deals",
        match_field="",
        rows=(
            _row(
                "dealname",
                "number",
                "customer_name",
                transforms=(_t("format", template="Invoice {number} ({customer_name})"),),
            ),
            _row("amount", "amount_due", transforms=(_t("divide", by=100),)),
            _row("dealstage", "status", transforms=(_t("value_map", map=_INVOICE_STAGES, unmapped="drop"),)),
            # Stripe gives times as seconds since 1970.
            _row("closedate", "due_date", transforms=(_t("to_datetime", epoch_unit="s"),)),
            _row(
                "description",
                "id",
                "currency",
                transforms=(_t("format", template="Stripe invoice {id}, in {currency}"),),
            ),
        ),
    ),
    _template(
        "hubspot-deal-slack-message",
        "New HubSpot deal → Slack message",
        "Posts to #sales for every deal created or changed from now on (older deals are left "
        "alone), with its name, amount and stage.",
        source="hubspot:deals",
        target="slack:messages",
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
