"""Ready-made two-way syncs for the common pairs: one or more sync definitions over two connections.

A sync template is a set of parts, each a sync between an object of side A and an object of side B. A part
may refer to an earlier part (a contact's company is the user's organization, through the companies sync's
links), so the parts are created in order: a part's fields are built with the ids of the syncs created
before it. Creating from a template is `workflows.sync.services.templates.sync_template_apply`; the syncs
are created switched off, for a person to review in the sync editor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.models import Connection
from workflows.sync.models import Sync
from workflows.workflow_templates import Need

# The ids of the parts created so far, by part key.
Created = dict[str, int]


@dataclass(frozen=True)
class SyncPart:
    """One sync of a template: objects on each side, field pairs, match rules and where records are created."""

    key: str
    name: str
    a_object: str
    b_object: str
    fields: Callable[[Created], list[dict[str, Any]]]
    match: tuple[dict[str, Any], ...]
    create: str = Sync.Create.BOTH
    first_sync: str = Sync.FirstSync.MATCH_AND_CREATE


@dataclass(frozen=True)
class SyncTemplate:
    key: str
    title: str
    description: str
    a: Need
    b: Need
    parts: tuple[SyncPart, ...] = field(default=())

    @property
    def needs(self) -> tuple[Need, Need]:
        return (self.a, self.b)


def _pair(key: str, a: str, b: str, direction: str, policy: str = "a_wins", **options: Any) -> dict[str, Any]:
    """One field pair: `a` and `b`, the direction values travel in and, for ↔, who wins a clash.

    Spelled out as the sync editor saves a pair (policy and "empty erases" always present), so saving the
    editor unchanged leaves the definition as the template made it.
    """
    return {
        "key": key,
        "a": a,
        "b": b,
        "direction": direction,
        "policy": policy,
        "allow_empty": False,
        **options,
    }


def _sync_template(
    key: str, title: str, description: str, *, a: str, b: str, parts: tuple[SyncPart, ...]
) -> SyncTemplate:
    """A template from the connector kinds of its two sides, e.g. a="hubspot", and its parts in order."""
    return SyncTemplate(key, title, description, Need("a", a), Need("b", b), parts)


def _company_fields(created: Created) -> list[dict[str, Any]]:
    return [
        # The CRM owns the company's name; its domain and id let the helpdesk find it again.
        _pair("name", "name", "name", "both", "a_wins"),
        _pair("domain", "domain", "domain_names", "a_to_b"),
        _pair("crm_id", "hs_object_id", "external_id", "a_to_b"),
    ]


def _contact_fields(created: Created) -> list[dict[str, Any]]:
    return [
        _pair("email", "email", "email", "both", "a_wins"),
        # The CRM owns the name, the owner (as job title) and the lifecycle stage: they travel only to the
        # helpdesk, the last two as the user's tags ("Head of Sales" + "customer" → head_of_sales, customer).
        _pair(
            "name",
            "firstname",
            "name",
            "a_to_b",
            a_to_b={
                "source": ["firstname", "lastname"],
                "transforms": [{"name": "join", "args": {"separator": " "}}],
            },
        ),
        _pair(
            "owner_and_stage",
            "jobtitle",
            "tags",
            "a_to_b",
            a_to_b={
                "source": ["jobtitle", "lifecyclestage"],
                "transforms": [
                    {"name": "join", "args": {"separator": ","}},
                    {"name": "replace", "args": {"find": " ", "replacement": "_"}},
                ],
            },
        ),
        # The helpdesk owns phone and address: both ways, and it wins concurrent edits.
        _pair("phone", "phone", "phone", "both", "b_wins"),
        _pair("address", "city", "details", "both", "b_wins"),
        # Notes edited on both sides go to a person in the review queue.
        _pair("notes", "notes_internal", "notes", "both", "manual"),
        # The contact's company (a name) is the user's organization (an id), through the companies sync.
        _pair(
            "company",
            "company",
            "organization_id",
            "both",
            "a_wins",
            reference={"sync": created["companies"], "a_key": "name", "b_key": "$id"},
        ),
    ]


SYNC_TEMPLATES: tuple[SyncTemplate, ...] = (
    _sync_template(
        "hubspot-zendesk-companies-contacts",
        "HubSpot ↔ Zendesk: companies and contacts",
        "Two syncs. Companies ↔ organizations, matched by the CRM id or the domain, new companies created "
        "in the helpdesk. Contacts ↔ users, matched by email and created on both sides: the CRM owns name, "
        "owner and lifecycle stage, the helpdesk owns phone and address, notes changed on both sides go "
        "to review, and the contact's company follows the user's organization.",
        a="hubspot",
        b="zendesk",
        parts=(
            SyncPart(
                key="companies",
                name="HubSpot companies ↔ Zendesk organizations",
                a_object="companies",
                b_object="organizations",
                fields=_company_fields,
                match=(
                    {"rule": "external_id", "a": "$id", "b": "external_id"},
                    {"rule": "domain", "a": "domain", "b": "domain_names"},
                ),
                create=Sync.Create.A_TO_B,
            ),
            SyncPart(
                key="contacts",
                name="HubSpot contacts ↔ Zendesk users",
                a_object="contacts",
                b_object="users",
                fields=_contact_fields,
                match=({"rule": "email", "a": "email", "b": "email"},),
            ),
        ),
    ),
)
SYNC_TEMPLATES_BY_KEY = {template.key: template for template in SYNC_TEMPLATES}


@dataclass(frozen=True)
class SyncTemplateChoice:
    """A template with the team's connections of each kind it needs (first by name is the default)."""

    template: SyncTemplate
    options: dict[str, list[Connection]]

    @property
    def chosen(self) -> dict[str, Connection]:
        return {side: found[0] for side, found in self.options.items() if found}

    @property
    def missing(self) -> list[Need]:
        return [need for need in self.template.needs if not self.options[need.side]]

    @property
    def ready(self) -> bool:
        return not self.missing


def sync_template_choice(template: SyncTemplate, connections: list[Connection]) -> SyncTemplateChoice:
    ordered = sorted(connections, key=lambda c: c.name)
    return SyncTemplateChoice(
        template, {need.side: [c for c in ordered if c.kind == need.kind] for need in template.needs}
    )


def sync_template_choices(connections: list[Connection]) -> list[SyncTemplateChoice]:
    """Every sync template against the team's connections (already loaded: no query per template)."""
    return [sync_template_choice(template, connections) for template in SYNC_TEMPLATES]


def part_preview(part: SyncPart) -> list[dict[str, Any]]:
    """The part's field pairs as the template page lists them, before any sync (so any reference) exists."""
    return part.fields(defaultdict(int))
