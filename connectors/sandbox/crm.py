"""The CRM dialect: HubSpot CRM v3 shapes for contacts and companies (see docs/sandbox.md), and for the
records of custom objects, whose definitions come from the schemas API (crm_schemas.py).

Where the contract is silent we follow what HubSpot does (default property sets, 409 on a duplicate
email, 207 from batch/read for missing ids), so a connector written against the sandbox also works
against the real API.
"""

from __future__ import annotations

import argparse
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

from connectors.sandbox import oauth as sandbox_oauth
from connectors.sandbox import seed as demo
from connectors.sandbox.crm_links import (
    DEAL_PIPELINES,
    TICKET_PIPELINES,
    CrmLinks,
    owner_options,
    pipeline_options,
    stage_options,
)
from connectors.sandbox.crm_schemas import CrmSchemas
from connectors.sandbox.crm_webhooks import DEFAULT_DEVELOPER_KEY, CrmWebhooks
from connectors.sandbox.engine import (
    Change,
    Dialect,
    HttpError,
    Request,
    Response,
    Router,
    Row,
    Tx,
    bearer_token,
    iso_ms,
    json_field,
    json_response,
    parse_timestamp,
    same_secret,
    wall_ms,
)

MAX_BATCH = 100
MAX_PAGE = 100
DEFAULT_TOKEN = "demo-crm-token"  # noqa: S105 - a demo credential, printed in the docs
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
DOMAIN_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$")
# HubSpot's own limits for one search request.
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


@dataclass(frozen=True)
class Prop:
    name: str
    label: str
    type: str  # string, number, date, datetime, enumeration, bool
    field_type: str  # text, textarea, number, date, select, radio, booleancheckbox, phonenumber
    group: str
    description: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    custom: bool = False
    read_only: bool = False
    unique: bool = False
    kind: str = ""  # extra value check: "email" or "domain"

    def definition(self, order: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group,
            "options": [
                {"label": label, "value": value, "displayOrder": i, "hidden": False}
                for i, (value, label) in enumerate(self.options)
            ],
            "displayOrder": order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.unique,
            "hidden": False,
            "hubspotDefined": not self.custom,
            "formField": not self.read_only,
            "modificationMetadata": {
                "archivable": self.custom,
                "readOnlyDefinition": not self.custom,
                "readOnlyValue": self.read_only,
            },
            "archived": False,
        }


@dataclass(frozen=True)
class ObjectType:
    name: str
    singular: str
    type_label: str  # as HubSpot names the type in messages: CONTACT
    first_id: int
    props: tuple[Prop, ...]
    defaults: tuple[str, ...]  # what list/get/search return when no properties are asked for
    modified: tuple[str, ...]  # names of the modification time property
    searchable: tuple[str, ...]  # what the free-text `query` of a search looks at
    required: tuple[str, ...] = ()  # properties a create must set (HubSpot refuses a task without a time)
    created: str = "createdate"  # the creation time property (custom objects: hs_createdate)

    @property
    def archive(self) -> str:
        """Where archived records of this type are kept: out of every read but `?archived=true`."""
        return f"{self.name}:archived"

    def prop(self, name: str) -> Prop | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Prop]:
        return {p.name: p for p in self.props}

    @cached_property
    def unique_props(self) -> tuple[Prop, ...]:
        return tuple(p for p in self.props if p.unique)

    @cached_property
    def always(self) -> tuple[str, ...]:
        return (self.created, *self.modified, "hs_object_id")


def _opts(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v.replace("_", " ").title()) for v in values)


_LIFECYCLE = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)
_LEAD_STATUS = _opts(
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
_TIERS = (("bronze", "Bronze"), ("silver", "Silver"), ("gold", "Gold"), ("platinum", "Platinum"))
_BOOL = (("true", "Yes"), ("false", "No"))
_INDUSTRIES = _opts(*sorted(set(demo.INDUSTRY_BY_KIND.values()) | {"ACCOUNTING", "EDUCATION_MANAGEMENT"}))
_HEALTH = (("green", "Green"), ("amber", "Amber"), ("red", "Red"))


def _system_props(group: str, modified: tuple[str, ...]) -> tuple[Prop, ...]:
    stamps = tuple(
        Prop(
            name,
            "Last Modified Date",
            "datetime",
            "date",
            group,
            "Most recent change to the record",
            read_only=True,
        )
        for name in modified
    )
    return (
        Prop("createdate", "Create Date", "datetime", "date", group, "When the record was created"),
        *stamps,
        Prop(
            "hs_object_id",
            "Record ID",
            "number",
            "number",
            group,
            "The unique ID of this record",
            read_only=True,
        ),
    )


CONTACTS = ObjectType(
    name="contacts",
    singular="Contact",
    type_label="CONTACT",
    first_id=101,
    props=(
        Prop(
            "email",
            "Email",
            "string",
            "text",
            "contactinformation",
            "A contact's email address",
            unique=True,
            kind="email",
        ),
        Prop("firstname", "First Name", "string", "text", "contactinformation", "A contact's first name"),
        Prop("lastname", "Last Name", "string", "text", "contactinformation", "A contact's last name"),
        Prop(
            "phone",
            "Phone Number",
            "string",
            "phonenumber",
            "contactinformation",
            "A contact's primary phone number",
        ),
        Prop(
            "company", "Company Name", "string", "text", "contactinformation", "Name of the contact's company"
        ),
        Prop("jobtitle", "Job Title", "string", "text", "contactinformation", "A contact's job title"),
        Prop(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            "contactinformation",
            "The qualification of contacts to sales readiness",
            options=_LIFECYCLE,
        ),
        Prop(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "radio",
            "sales_properties",
            "The contact's sales, prospecting or outreach status",
            options=_LEAD_STATUS,
        ),
        Prop(
            "hubspot_owner_id",
            "Contact owner",
            "enumeration",
            "select",
            "sales_properties",
            "The owner of a contact: a user of the account",
            options=owner_options(),
        ),
        Prop("city", "City", "string", "text", "contactinformation", "A contact's city of residence"),
        Prop(
            "country",
            "Country/Region",
            "string",
            "text",
            "contactinformation",
            "The contact's country/region",
        ),
        *_system_props("contactinformation", ("lastmodifieddate",)),
        Prop(
            "customer_tier",
            "Customer tier",
            "enumeration",
            "select",
            "contactinformation",
            "Commercial tier of the customer",
            options=_TIERS,
            custom=True,
        ),
        Prop(
            "nps_score",
            "NPS score",
            "number",
            "number",
            "contactinformation",
            "Latest Net Promoter Score answer (0-10)",
            custom=True,
        ),
        Prop(
            "newsletter_opt_in",
            "Newsletter opt-in",
            "bool",
            "booleancheckbox",
            "contactinformation",
            "Has agreed to receive the newsletter",
            options=_BOOL,
            custom=True,
        ),
        Prop(
            "notes_internal",
            "Internal notes",
            "string",
            "textarea",
            "contactinformation",
            "Notes for the account team",
            custom=True,
        ),
    ),
    defaults=("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    modified=("lastmodifieddate",),
    searchable=("email", "firstname", "lastname", "phone", "company"),
)

COMPANIES = ObjectType(
    name="companies",
    singular="Company",
    type_label="COMPANY",
    first_id=500_001,
    props=(
        Prop("name", "Company name", "string", "text", "companyinformation", "The name of the company"),
        Prop(
            "domain",
            "Company Domain Name",
            "string",
            "text",
            "companyinformation",
            "The domain name of the company",
            # Not unique in HubSpot: two companies may share a domain, and it is no idProperty.
            kind="domain",
        ),
        Prop(
            "industry",
            "Industry",
            "enumeration",
            "select",
            "companyinformation",
            "The type of business the company performs",
            options=_INDUSTRIES,
        ),
        Prop("city", "City", "string", "text", "companyinformation", "City where the company is located"),
        Prop("country", "Country/Region", "string", "text", "companyinformation", "Country of the company"),
        Prop(
            "numberofemployees",
            "Number of Employees",
            "number",
            "number",
            "companyinformation",
            "The total number of employees who work for the company",
        ),
        # Real HubSpot companies call the modification time hs_lastmodifieddate; the contract says
        # lastmodifieddate. Both are served so connectors written for either work.
        *_system_props("companyinformation", ("lastmodifieddate", "hs_lastmodifieddate")),
        Prop(
            "account_health",
            "Account health",
            "enumeration",
            "select",
            "companyinformation",
            "How the account team rates the relationship",
            options=_HEALTH,
            custom=True,
        ),
    ),
    defaults=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "lastmodifieddate", "name"),
    modified=("lastmodifieddate", "hs_lastmodifieddate"),
    searchable=("name", "domain", "city"),
)

# Deals and tickets: stages and pipelines are enumerations whose options come from the pipelines
# (crm_links.py), so `dealstage` lists every stage of every deal pipeline, as in HubSpot.
DEALS = ObjectType(
    name="deals",
    singular="Deal",
    type_label="DEAL",
    first_id=9_000_001,
    props=(
        Prop("dealname", "Deal Name", "string", "text", "dealinformation", "The name given to this deal"),
        Prop("amount", "Amount", "number", "number", "dealinformation", "The total amount of the deal"),
        Prop(
            "pipeline",
            "Pipeline",
            "enumeration",
            "select",
            "dealinformation",
            "The pipeline the deal is in",
            options=pipeline_options(DEAL_PIPELINES),
        ),
        Prop(
            "dealstage",
            "Deal Stage",
            "enumeration",
            "radio",
            "dealinformation",
            "The stage of the deal in its pipeline",
            options=stage_options(DEAL_PIPELINES),
        ),
        Prop(
            "closedate", "Close Date", "datetime", "date", "dealinformation", "When the deal closed or will"
        ),
        Prop(
            "dealtype",
            "Deal Type",
            "enumeration",
            "radio",
            "dealinformation",
            "New or existing business",
            options=(("newbusiness", "New Business"), ("existingbusiness", "Existing Business")),
        ),
        Prop(
            "hs_priority",
            "Priority",
            "enumeration",
            "select",
            "dealinformation",
            options=_opts("low", "medium", "high"),
        ),
        Prop("description", "Deal Description", "string", "textarea", "dealinformation", "Notes on the deal"),
        *_system_props("dealinformation", ("hs_lastmodifieddate",)),
        Prop(
            "deal_source",
            "Deal source",
            "enumeration",
            "select",
            "dealinformation",
            "Where the deal came from",
            options=_opts("inbound", "outbound", "partner", "event"),
            custom=True,
        ),
    ),
    defaults=(
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    modified=("hs_lastmodifieddate",),
    searchable=("dealname", "description"),
)

TICKETS = ObjectType(
    name="tickets",
    singular="Ticket",
    type_label="TICKET",
    first_id=7_000_001,
    props=(
        Prop("subject", "Ticket name", "string", "text", "ticketinformation", "Short summary of the ticket"),
        Prop(
            "content",
            "Ticket description",
            "string",
            "textarea",
            "ticketinformation",
            "What the ticket is about",
        ),
        Prop(
            "hs_pipeline",
            "Pipeline",
            "enumeration",
            "select",
            "ticketinformation",
            "The pipeline the ticket is in",
            options=pipeline_options(TICKET_PIPELINES),
        ),
        Prop(
            "hs_pipeline_stage",
            "Ticket status",
            "enumeration",
            "radio",
            "ticketinformation",
            "The stage of the ticket in its pipeline",
            options=stage_options(TICKET_PIPELINES),
        ),
        Prop(
            "hs_ticket_priority",
            "Priority",
            "enumeration",
            "select",
            "ticketinformation",
            options=(("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High"), ("URGENT", "Urgent")),
        ),
        Prop(
            "hs_ticket_category",
            "Category",
            "enumeration",
            "select",
            "ticketinformation",
            options=_opts("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"),
        ),
        Prop(
            "source_type",
            "Source",
            "enumeration",
            "select",
            "ticketinformation",
            options=_opts("EMAIL", "CHAT", "PHONE", "FORM"),
        ),
        *_system_props("ticketinformation", ("hs_lastmodifieddate",)),
        Prop(
            "product_area",
            "Product area",
            "enumeration",
            "select",
            "ticketinformation",
            "The part of the product the ticket concerns",
            options=_opts("reporting", "integrations", "billing", "mobile"),
            custom=True,
        ),
    ),
    defaults=(
        "content",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_category",
        "hs_ticket_priority",
        "subject",
    ),
    modified=("hs_lastmodifieddate",),
    searchable=("subject", "content"),
)

TASKS = ObjectType(
    name="tasks",
    singular="Task",
    type_label="TASK",
    first_id=11_000_001,
    props=(
        Prop("hs_task_subject", "Task Title", "string", "text", "task", "The title of the task"),
        Prop("hs_task_body", "Task notes", "string", "textarea", "task", "What the task is about"),
        Prop("hs_timestamp", "Due date", "datetime", "date", "task", "When the task is due"),
        Prop(
            "hubspot_owner_id",
            "Assigned to",
            "enumeration",
            "select",
            "task",
            "The user the task is assigned to",
            options=owner_options(),
        ),
        Prop(
            "hs_task_status",
            "Task Status",
            "enumeration",
            "select",
            "task",
            "Whether the task is done",
            options=_opts("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
        ),
        Prop(
            "hs_task_priority",
            "Priority",
            "enumeration",
            "select",
            "task",
            options=(("NONE", "None"), ("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High")),
        ),
        Prop(
            "hs_task_type",
            "Task Type",
            "enumeration",
            "select",
            "task",
            options=(("TODO", "To-do"), ("CALL", "Call"), ("EMAIL", "Email")),
        ),
        *_system_props("task", ("hs_lastmodifieddate",)),
    ),
    defaults=("createdate", "hs_lastmodifieddate", "hs_object_id", "hs_task_subject", "hs_timestamp"),
    modified=("hs_lastmodifieddate",),
    searchable=("hs_task_subject", "hs_task_body"),
    required=("hs_timestamp",),
)

OBJECT_TYPES = {t.name: t for t in (CONTACTS, COMPANIES, DEALS, TICKETS, TASKS)}
# Singular names and HubSpot's object type ids are accepted in URLs as HubSpot does.
_ALIASES = {
    "contact": "contacts",
    "0-1": "contacts",
    "company": "companies",
    "0-2": "companies",
    "deal": "deals",
    "0-3": "deals",
    "ticket": "tickets",
    "0-5": "tickets",
    "task": "tasks",
    "0-27": "tasks",
}


@dataclass(frozen=True)
class PropError:
    name: str
    code: str
    message: str
    index: int | None = None


class SearchError(ValueError):
    pass


Cleaned = dict[str, str | None]


class CrmDialect(Dialect):
    system = "crm"
    objects: ClassVar[Mapping[str, int]] = {t.name: t.first_id for t in OBJECT_TYPES.values()}
    default_port = 8101

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--token", default=DEFAULT_TOKEN, help="the accepted bearer token")
        parser.add_argument(
            "--seed-style",
            choices=("demo", "contacts"),
            default="demo",
            help="what --seed N makes: demo companies, contacts, deals and tickets (default), or only"
            " contacts, written in bulk (a million in seconds, for load tests)",
        )
        parser.add_argument(
            "--developer-api-key",
            default=DEFAULT_DEVELOPER_KEY,
            help="the app developer's API key the webhooks API takes (?hapikey=)",
        )
        parser.add_argument(
            "--oauth-client-id", default=sandbox_oauth.DEFAULT_CLIENT_ID, help="the OAuth app's client id"
        )
        parser.add_argument(
            "--oauth-client-secret",
            default=sandbox_oauth.DEFAULT_CLIENT_SECRET,
            help="the OAuth app's client secret",
        )
        parser.add_argument(
            "--oauth-token-ttl",
            type=int,
            default=sandbox_oauth.DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
            metavar="SECONDS",
            help="lifetime of OAuth access tokens (HubSpot: 1800)",
        )

    @property
    def token(self) -> str:
        return str(self.options.get("token") or DEFAULT_TOKEN)

    @cached_property
    def links(self) -> CrmLinks:
        """Pipelines, v4 associations and signed webhook deliveries (crm_links.py)."""
        return CrmLinks(self, _ALIASES)

    @cached_property
    def oauth(self) -> sandbox_oauth.OAuthServer:
        """HubSpot's OAuth endpoints; their access tokens work on the API besides the static token."""
        return sandbox_oauth.OAuthServer(
            self.store,
            client_id=str(self.options.get("oauth_client_id") or sandbox_oauth.DEFAULT_CLIENT_ID),
            client_secret=str(self.options.get("oauth_client_secret") or sandbox_oauth.DEFAULT_CLIENT_SECRET),
            access_token_ttl_seconds=int(
                self.options.get("oauth_token_ttl") or sandbox_oauth.DEFAULT_ACCESS_TOKEN_TTL_SECONDS
            ),
        )

    def register(self, router: Router) -> None:
        base = "/crm/v3/objects/{object}"
        router.add("GET", base, self.list_records)
        router.add("POST", base, self.create_one)
        router.add("POST", f"{base}/search", self.search)
        router.add("POST", f"{base}/batch/create", self.batch_create)
        router.add("POST", f"{base}/batch/update", self.batch_update)
        router.add("POST", f"{base}/batch/upsert", self.batch_upsert)
        router.add("POST", f"{base}/batch/read", self.batch_read)
        router.add("GET", f"{base}/{{id}}", self.get_one)
        router.add("PATCH", f"{base}/{{id}}", self.update_one)
        router.add("DELETE", f"{base}/{{id}}", self.archive_one)
        router.add("POST", f"{base}/batch/archive", self.batch_archive)
        router.add("GET", "/crm/v3/properties/{object}", self.list_properties)
        router.add("GET", "/crm/v3/properties/{object}/{name}", self.get_property)
        self.oauth.register(router)
        self._register_property_admin(router)
        self.links.register(router)
        self.schemas.register(router)
        self.webhooks.register(router)

    @cached_property
    def schemas(self) -> CrmSchemas:
        """Custom objects: the schemas API and the object types it defines (crm_schemas.py)."""
        return CrmSchemas(self)

    @cached_property
    def webhooks(self) -> CrmWebhooks:
        """App webhook settings and subscriptions, and their signed deliveries (crm_webhooks.py)."""
        return CrmWebhooks(self)

    def changes_committed(self, changes: list[Change]) -> None:
        self.webhooks.changes_committed(changes)

    def reset_hook(self) -> None:
        self.webhooks.dispatcher.clear()

    # -- errors

    def _error(self, status: int, category: str, message: str, **extra: Any) -> Response:
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        }
        body.update(extra)
        return json_response(status, body)

    def error(self, status: int, kind: str, message: str) -> Response:
        if kind == "fault" and status == 429:
            return self._error(
                429,
                "RATE_LIMITS",
                "You have reached your secondly limit.",
                errorType="RATE_LIMIT",
                policyName="SECONDLY",
            )
        if kind == "fault":
            return self._error(
                status, "INTERNAL_ERROR", f"The service is temporarily unavailable ({message})."
            )
        if kind == "not_found":
            return self._error(status, "OBJECT_NOT_FOUND", "resource not found")
        if kind == "internal":
            return self._error(status, "INTERNAL_ERROR", message)
        return self._error(status, "VALIDATION_ERROR", message)

    def _bad(self, message: str) -> HttpError:
        return HttpError(self._error(400, "VALIDATION_ERROR", message))

    def _not_found(self) -> HttpError:
        return HttpError(self._error(404, "OBJECT_NOT_FOUND", "resource not found"))

    def _invalid(self, errors: Sequence[PropError]) -> HttpError:
        # HubSpot embeds the per-property results as JSON text inside the message; clients grep it.
        detail = json.dumps(
            [{"isValid": False, "message": e.message, "error": e.code, "name": e.name} for e in errors],
            separators=(",", ":"),
        )
        listed = []
        for e in errors:
            context: dict[str, list[str]] = {"propertyName": [e.name]}
            if e.index is not None:
                context["index"] = [str(e.index)]
            listed.append({"message": e.message, "code": e.code, "context": context})
        return HttpError(
            self._error(400, "VALIDATION_ERROR", f"Property values were not valid: {detail}", errors=listed)
        )

    # -- auth

    def authenticate(self, req: Request) -> Response | None:
        token = bearer_token(req)
        if same_secret(token, self.token):
            return None
        check = self.oauth.check(token)
        if check.state == "valid":
            return None
        if check.state == "expired":
            return self._error(
                401,
                "EXPIRED_AUTHENTICATION",
                f"The OAuth token used to make this call expired {sandbox_oauth.ago(check.expired_ms_ago)} ago.",
            )
        return self._error(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)

    # -- helpers

    def _type(self, req: Request) -> ObjectType:
        name = req.params["object"]
        found = self.resolve(name)
        if found is None:
            raise self._bad(f"Unable to infer object type from: {name}")
        return found

    def resolve(self, raw: str) -> ObjectType | None:
        """The object type a URL names: a standard object (by name, singular or id) or a custom object
        (by objectTypeId or fullyQualifiedName), as HubSpot accepts them; None when there is none."""
        name = _ALIASES.get(raw, raw)
        if name in OBJECT_TYPES:
            return self.object_type(name)
        return self.schemas.object_type(raw)

    @staticmethod
    def _requested(values: Sequence[str]) -> list[str] | None:
        """`properties=a,b&properties=c` -> [a, b, c]; None when the client asked for nothing."""
        names = [n.strip() for v in values for n in v.split(",") if n.strip()]
        return names or None

    def render(
        self,
        ot: ObjectType,
        row: Row,
        wanted: Sequence[str] | None,
        *,
        everything: bool = False,
        archived: bool = False,
    ) -> dict:
        if everything:
            names: Sequence[str] = [p.name for p in ot.props]
        elif wanted is None:
            names = ot.defaults
        else:
            names = wanted
        props: dict[str, str | None] = {}
        for name in (*names, *ot.always):
            if name in props:
                continue
            if name in ot.modified:
                props[name] = iso_ms(row.updated_ms)
            elif name == ot.created:
                props[name] = iso_ms(row.created_ms)
            elif name == "hs_object_id":
                props[name] = str(row.id)
            elif ot.prop(name) is not None:
                # HubSpot silently skips unknown names that were asked for.
                props[name] = row.data.get(name)
        rendered: dict[str, Any] = {
            "id": str(row.id),
            "properties": props,
            "createdAt": iso_ms(row.created_ms),
            "updatedAt": iso_ms(row.updated_ms),
            "archived": archived,
        }
        if archived:
            rendered["archivedAt"] = iso_ms(row.updated_ms)
        return rendered

    def clean(
        self, ot: ObjectType, properties: Any, index: int | None = None
    ) -> tuple[Cleaned, list[PropError]]:
        """Check and normalise property values as HubSpot stores them: strings, or None to clear."""
        if not isinstance(properties, dict):
            return {}, [PropError("properties", "INVALID_INPUT", "properties must be an object", index)]
        cleaned: Cleaned = {}
        errors: list[PropError] = []
        for name, raw in properties.items():
            prop = ot.prop(name)
            if prop is None:
                errors.append(
                    PropError(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist', index)
                )
                continue
            if prop.read_only:
                message = f'"{name}" is a read only property; its value cannot be set.'
                errors.append(PropError(name, "READ_ONLY_VALUE", message, index))
                continue
            try:
                cleaned[name] = self._value(prop, raw)
            except ValueError as exc:
                code, _, message = str(exc).partition(":")
                errors.append(PropError(name, code, message.strip(), index))
        return cleaned, errors

    @staticmethod
    def _value(prop: Prop, raw: Any) -> str | None:
        if raw is None or raw == "":
            return None
        if isinstance(raw, dict | list):
            raise ValueError(f"INVALID_INPUT: {json.dumps(raw)} is not a valid value for {prop.name}")
        text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw).strip()
        if prop.type == "number":
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"INVALID_NUMBER: {text!r} is not a valid number") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError(f"INVALID_NUMBER: {text!r} is not a valid number")
            return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
        if prop.type == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError(f"INVALID_BOOLEAN: {text!r} is not a valid boolean (true or false)")
            return text.lower()
        if prop.type == "enumeration":
            allowed = [v for v, _ in prop.options]
            if text not in allowed:
                raise ValueError(
                    f"INVALID_OPTION: {text!r} was not one of the allowed options: [{', '.join(allowed)}]"
                )
            return text
        if prop.type == "datetime":
            ms = parse_timestamp(text)
            if ms is None:
                raise ValueError(f"INVALID_DATE: {text!r} is not a valid date-time (ISO 8601 or epoch ms)")
            return iso_ms(ms)
        if prop.kind == "email":
            text = text.lower()
            if not EMAIL_RE.match(text):
                raise ValueError(f"INVALID_EMAIL: Email address {text} is invalid")
        if prop.kind == "domain":
            text = re.sub(r"^https?://", "", text.lower()).removeprefix("www.").rstrip("/")
            if not DOMAIN_RE.match(text):
                raise ValueError(f"INVALID_DOMAIN: {text!r} is not a valid domain name")
        if len(text) > 65_536:
            raise ValueError("INVALID_LENGTH: values are limited to 65536 characters")
        return text

    @staticmethod
    def apply(data: Mapping[str, Any], cleaned: Cleaned) -> tuple[dict[str, Any], int | None]:
        """New stored data after a write, and the new create time if `createdate` was set."""
        new = dict(data)
        created: int | None = None
        for name, value in cleaned.items():
            if name == "createdate":
                created = parse_timestamp(value) if value is not None else None
            elif value is None:
                new.pop(name, None)
            else:
                new[name] = value
        return new, created

    @staticmethod
    def _unique_values(ot: ObjectType, data: Mapping[str, Any]) -> dict[str, str | None]:
        return {p.name: data.get(p.name) for p in ot.unique_props}

    def _check_unique(
        self, tx: Tx, ot: ObjectType, planned: Sequence[tuple[int | None, Mapping[str, Any]]]
    ) -> None:
        """Refuse the whole batch if a unique value is taken or appears twice in it."""
        seen: dict[tuple[str, str], int] = {}
        for index, (row_id, data) in enumerate(planned):
            for prop in ot.unique_props:
                value = data.get(prop.name)
                if not value:
                    continue
                key = (prop.name, str(value).lower())
                if key in seen:
                    raise HttpError(
                        self._error(
                            400,
                            "VALIDATION_ERROR",
                            f"Duplicate {prop.name} values in batch input: {value}",
                            errors=[
                                {
                                    "message": f"{value} appears more than once",
                                    "context": {"propertyName": [prop.name], "index": [str(index)]},
                                }
                            ],
                        )
                    )
                seen[key] = index
                existing = tx.find_unique(ot.name, prop.name, str(value))
                if existing is not None and existing != row_id:
                    raise HttpError(
                        self._error(409, "CONFLICT", f"{ot.singular} already exists. Existing ID: {existing}")
                    )

    def _inputs(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise self._bad("Invalid input: inputs must be a list")
        if len(inputs) > MAX_BATCH:
            raise self._bad(f"Batch input must contain at most {MAX_BATCH} inputs; got {len(inputs)}")
        for item in inputs:
            if not isinstance(item, dict):
                raise self._bad("Invalid input: each input must be an object")
        return inputs

    def _batch_body(self, results: list[dict[str, Any]], started: int, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        body.update(extra)
        body["startedAt"] = iso_ms(started)
        body["completedAt"] = iso_ms(wall_ms())
        return body

    def _lookup(self, tx: Tx, ot: ObjectType, value: str, id_property: str | None) -> int | None:
        if id_property in (None, "", "hs_object_id"):
            return int(value) if value.isdigit() and tx.get(ot.name, int(value)) else None
        prop = ot.prop(str(id_property))
        if prop is None or not prop.unique:
            raise self._bad(f"idProperty {id_property} is not a unique property of {ot.name}")
        return tx.find_unique(ot.name, prop.name, value.strip())

    # -- single records

    def list_records(self, req: Request) -> Response:
        ot = self._type(req)
        limit = req.int_arg("limit", 10, maximum=MAX_PAGE)
        wanted = self._requested(req.args("properties"))
        after_raw = req.arg("after") or "0"
        if not after_raw.isdigit():
            raise self._bad(f"after must be a cursor from paging.next.after, got {after_raw!r}")
        # `archived=true` lists only the archived ("deleted") records, as HubSpot does.
        archived = (req.arg("archived") or "").lower() == "true"
        with self.store.read() as tx:
            rows = tx.page_by_id(
                ot.archive if archived else ot.name, after=int(after_raw) - 1, limit=limit + 1
            )
        body: dict[str, Any] = {
            "results": [self.render(ot, r, wanted, archived=archived) for r in rows[:limit]]
        }
        if len(rows) > limit:
            # As HubSpot does, the cursor is the id where the next page starts.
            after = str(rows[limit - 1].id + 1)
            link = f"{req.base_url}/crm/v3/objects/{ot.name}?limit={limit}&after={after}"
            if archived:
                link += "&archived=true"
            body["paging"] = {"next": {"after": after, "link": link}}
        return json_response(200, body)

    def get_one(self, req: Request) -> Response:
        ot = self._type(req)
        wanted = self._requested(req.args("properties"))
        if (req.arg("archived") or "").lower() == "true":
            raw = req.params["id"]
            with self.store.read() as tx:
                gone = tx.get(ot.archive, int(raw)) if raw.isdigit() else None
            if gone is None:
                raise self._not_found()
            return json_response(200, self.render(ot, gone, wanted, archived=True))
        with self.store.read() as tx:
            id_ = self._lookup(tx, ot, req.params["id"], req.arg("idProperty"))
            row = tx.get(ot.name, id_) if id_ is not None else None
        if row is None:
            raise self._not_found()
        return json_response(200, self.render(ot, row, wanted))

    @staticmethod
    def _missing_required(ot: ObjectType, cleaned: Cleaned, index: int | None = None) -> list[PropError]:
        return [
            PropError(name, "REQUIRED_FIELD", f"{name} is required to create a {ot.singular.lower()}", index)
            for name in ot.required
            if cleaned.get(name) is None
        ]

    def _create(self, ot: ObjectType, body: Mapping[str, Any]) -> Row:
        cleaned, errors = self.clean(ot, body.get("properties"))
        errors.extend(self._missing_required(ot, cleaned) if not errors else [])
        if errors:
            raise self._invalid(errors)
        data, created = self.apply({}, cleaned)
        with self.store.write() as tx:
            self._check_unique(tx, ot, [(None, data)])
            row = tx.insert(
                ot.name, data, first_id=ot.first_id, unique=self._unique_values(ot, data), created_ms=created
            )
            # In the same transaction: a create whose associations are invalid creates nothing.
            self.links.create_associations(tx, ot.name, row.id, body.get("associations"))
            return row

    def create_one(self, req: Request) -> Response:
        ot = self._type(req)
        row = self._create(ot, req.json_object())
        return json_response(201, self.render(ot, row, list(row.data)))

    def _update(self, ot: ObjectType, raw_id: str, id_property: str | None, body: Mapping[str, Any]) -> Row:
        cleaned, errors = self.clean(ot, body.get("properties"))
        if errors:
            raise self._invalid(errors)
        with self.store.write() as tx:
            id_ = self._lookup(tx, ot, raw_id, id_property)
            row = tx.get(ot.name, id_) if id_ is not None else None
            if row is None:
                raise self._not_found()
            data, created = self.apply(row.data, cleaned)
            self._check_unique(tx, ot, [(row.id, data)])
            return tx.update(ot.name, row.id, data, unique=self._unique_values(ot, data), created_ms=created)

    def update_one(self, req: Request) -> Response:
        ot = self._type(req)
        row = self._update(ot, req.params["id"], req.arg("idProperty"), req.json_object())
        return json_response(200, self.render(ot, row, list(row.data)))

    def archive_one(self, req: Request) -> Response:
        """DELETE moves the record to the recycle bin: gone from reads, listed with `archived=true`."""
        ot = self._type(req)
        raw = req.params["id"]
        with self.store.write() as tx:
            if not raw.isdigit() or tx.get(ot.name, int(raw)) is None:
                raise self._not_found()
            tx.move(ot.name, int(raw), ot.archive)
        return Response(204)

    def batch_archive(self, req: Request) -> Response:
        """Archive up to 100 records by id; like HubSpot, ids that are not (or no longer) there are ignored."""
        ot = self._type(req)
        inputs = self._inputs(req.json_object())
        with self.store.write() as tx:
            for item in inputs:
                raw = str(item.get("id", ""))
                if raw.isdigit() and tx.get(ot.name, int(raw)) is not None:
                    tx.move(ot.name, int(raw), ot.archive)
        return Response(204)

    # -- search

    def _column(self, ot: ObjectType, name: Any) -> tuple[str, str]:
        """SQL expression for a property and how to compare it: ms, int, number, bool or text."""
        if not isinstance(name, str):
            raise SearchError("propertyName must be a string")
        if name in ot.modified:
            return "updated_ms", "ms"
        if name == ot.created:
            return "created_ms", "ms"
        if name == "hs_object_id":
            return "id", "int"
        prop = ot.prop(name)
        if prop is None:
            raise SearchError(f'Property "{name}" does not exist')
        if prop.type == "number":
            return f"CAST({json_field(name)} AS REAL)", "number"
        if prop.type == "bool":
            return json_field(name), "bool"
        return f"lower({json_field(name)})", "text"

    @staticmethod
    def _operand(kind: str, value: Any) -> Any:
        if value is None or isinstance(value, dict | list):
            raise SearchError(f"{value!r} is not a valid filter value")
        if kind == "ms":
            ms = parse_timestamp(value)
            if ms is None:
                raise SearchError(f"{value!r} is not a valid date-time (epoch milliseconds or ISO 8601)")
            return ms
        if kind in ("int", "number"):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise SearchError(f"{value!r} is not a valid number") from None
            return int(number) if kind == "int" else number
        if kind == "bool":
            return ("true" if value else "false") if isinstance(value, bool) else str(value).lower()
        return str(value).lower()

    def _filter(self, ot: ObjectType, spec: Any) -> tuple[str, list[Any]]:
        if not isinstance(spec, dict):
            raise SearchError("each filter must be an object")
        column, kind = self._column(ot, spec.get("propertyName"))
        op = str(spec.get("operator", "")).upper()
        if op == "HAS_PROPERTY":
            return f"{column} IS NOT NULL", []
        if op == "NOT_HAS_PROPERTY":
            return f"{column} IS NULL", []
        comparisons = {"EQ": "=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}
        if op in comparisons:
            return f"{column} {comparisons[op]} ?", [self._operand(kind, spec.get("value"))]
        if op == "NEQ":
            return f"({column} IS NULL OR {column} != ?)", [self._operand(kind, spec.get("value"))]
        if op == "BETWEEN":
            low = self._operand(kind, spec.get("value"))
            high = self._operand(kind, spec.get("highValue"))
            return f"{column} BETWEEN ? AND ?", [low, high]
        if op in ("IN", "NOT_IN"):
            values = spec.get("values")
            if not isinstance(values, list) or not values:
                raise SearchError(f"{op} needs a non-empty list of values")
            marks = ",".join("?" * len(values))
            operands = [self._operand(kind, v) for v in values]
            if op == "IN":
                return f"{column} IN ({marks})", operands
            return f"({column} IS NULL OR {column} NOT IN ({marks}))", operands
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(self._operand("text", spec.get("value")))
            escaped = token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = escaped.replace("*", "%") if "*" in token else f"%{escaped}%"
            if op == "CONTAINS_TOKEN":
                return f"{column} LIKE ? ESCAPE '\\'", [pattern]
            return f"({column} IS NULL OR {column} NOT LIKE ? ESCAPE '\\')", [pattern]
        raise SearchError(f"Unknown operator {spec.get('operator')!r}")

    def _where(self, ot: ObjectType, body: Mapping[str, Any]) -> tuple[str, list[Any]]:
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list):
            raise SearchError("filterGroups must be a list")
        if len(groups) > MAX_FILTER_GROUPS:
            raise SearchError(f"at most {MAX_FILTER_GROUPS} filterGroups are allowed")
        clauses: list[str] = []
        params: list[Any] = []
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list):
                raise SearchError("each filter group needs a list of filters")
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise SearchError(f"at most {MAX_FILTERS_PER_GROUP} filters per group are allowed")
            parts = []
            for spec in filters:
                sql, values = self._filter(ot, spec)
                parts.append(sql)
                params.extend(values)
            clauses.append("(" + " AND ".join(parts or ["1=1"]) + ")")
        where = " OR ".join(clauses) if clauses else "1=1"
        query = body.get("query")
        if query:
            needle = (
                "%" + str(query).lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            text = " OR ".join(f"lower({json_field(n)}) LIKE ? ESCAPE '\\'" for n in ot.searchable)
            where = f"({where}) AND ({text})"
            params.extend([needle] * len(ot.searchable))
        return where, params

    def _order(self, ot: ObjectType, body: Mapping[str, Any]) -> str:
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise SearchError("sorts must be a list")
        if len(sorts) > 1:
            raise SearchError("only one sort is supported")
        if not sorts:
            return "id ASC"
        spec = sorts[0]
        name: Any
        if isinstance(spec, str):
            # HubSpot also takes "createdate" / "-createdate".
            name, direction = spec.lstrip("-"), "DESCENDING" if spec.startswith("-") else "ASCENDING"
        elif isinstance(spec, dict):
            name, direction = spec.get("propertyName"), str(spec.get("direction", "ASCENDING")).upper()
        else:
            raise SearchError("each sort must be an object")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise SearchError(f"direction must be ASCENDING or DESCENDING, got {direction!r}")
        column, _ = self._column(ot, name)
        sql_dir = "ASC" if direction == "ASCENDING" else "DESC"
        # The id tie-break keeps offset paging stable when values repeat.
        return f"{column} {sql_dir}, id {sql_dir}"

    def search(self, req: Request) -> Response:
        ot = self._type(req)
        body = req.json_object()
        try:
            where, params = self._where(ot, body)
            order = self._order(ot, body)
        except SearchError as exc:
            raise HttpError(
                self._error(
                    400,
                    "VALIDATION_ERROR",
                    f"There was a problem with the request: {exc}",
                    errors=[{"message": str(exc), "code": "INVALID_SEARCH"}],
                )
            ) from None
        try:
            limit = max(1, min(int(body.get("limit") or 10), MAX_PAGE))
            offset = int(body.get("after") or 0)
        except (TypeError, ValueError):
            raise self._bad("limit and after must be whole numbers") from None
        if offset < 0:
            raise self._bad("after must not be negative")
        properties = body.get("properties")
        wanted = [str(p) for p in properties] if isinstance(properties, list) and properties else None
        with self.store.read() as tx:
            total = tx.count(ot.name, where, params)
            rows = tx.select(ot.name, where, params, order_by=order, limit=limit, offset=offset)
        result: dict[str, Any] = {"total": total, "results": [self.render(ot, r, wanted) for r in rows]}
        if offset + len(rows) < total:
            result["paging"] = {"next": {"after": str(offset + len(rows))}}
        return json_response(200, result)

    # -- batches

    def batch_create(self, req: Request) -> Response:
        ot = self._type(req)
        started = wall_ms()
        inputs = self._inputs(req.json_object())
        planned: list[tuple[dict[str, Any], int | None]] = []
        errors: list[PropError] = []
        for index, item in enumerate(inputs):
            cleaned, problems = self.clean(ot, item.get("properties"), index)
            errors.extend(problems or self._missing_required(ot, cleaned, index))
            planned.append(self.apply({}, cleaned))
        if errors:
            raise self._invalid(errors)
        with self.store.write() as tx:
            self._check_unique(tx, ot, [(None, data) for data, _ in planned])
            rows = [
                tx.insert(
                    ot.name, data, first_id=ot.first_id, unique=self._unique_values(ot, data), created_ms=c
                )
                for data, c in planned
            ]
        results = [self.render(ot, r, list(r.data)) for r in rows]
        return json_response(201, self._batch_body(results, started))

    def batch_update(self, req: Request) -> Response:
        ot = self._type(req)
        started = wall_ms()
        inputs = self._inputs(req.json_object())
        changes: list[Cleaned] = []
        errors: list[PropError] = []
        for index, item in enumerate(inputs):
            if not isinstance(item.get("id"), str | int) or isinstance(item.get("id"), bool):
                errors.append(PropError("id", "INVALID_INPUT", "each input needs an id", index))
            cleaned, problems = self.clean(ot, item.get("properties"), index)
            errors.extend(problems)
            changes.append(cleaned)
        if errors:
            raise self._invalid(errors)
        with self.store.write() as tx:
            ids: list[int] = []
            missing: list[str] = []
            for item in inputs:
                found = self._lookup(tx, ot, str(item["id"]), item.get("idProperty"))
                if found is None:
                    missing.append(str(item["id"]))
                ids.append(found or 0)
            if missing:
                raise HttpError(self._missing(ot, missing, 404))
            duplicates = sorted({str(i) for i in ids if ids.count(i) > 1})
            if duplicates:
                raise self._bad(f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]")
            current = tx.get_many(ot.name, ids)
            planned = [
                (id_, *self.apply(current[id_].data, cleaned))
                for id_, cleaned in zip(ids, changes, strict=True)
            ]
            self._check_unique(tx, ot, [(id_, data) for id_, data, _ in planned])
            rows = [
                tx.update(ot.name, id_, data, unique=self._unique_values(ot, data), created_ms=c)
                for id_, data, c in planned
            ]
        results = [self.render(ot, r, list(r.data)) for r in rows]
        return json_response(200, self._batch_body(results, started))

    def _missing(self, ot: ObjectType, ids: list[str], status: int) -> Response:
        message = f"Could not get some {ot.type_label} objects, they may be deleted or not exist. Check that ids are valid."
        return self._error(status, "OBJECT_NOT_FOUND", message, context={"ids": ids})

    def batch_upsert(self, req: Request) -> Response:
        ot = self._type(req)
        started = wall_ms()
        inputs = self._inputs(req.json_object())
        keyed: list[tuple[Prop, str, Cleaned]] = []
        errors: list[PropError] = []
        for index, item in enumerate(inputs):
            prop = ot.prop(str(item.get("idProperty") or ""))
            if prop is None or not prop.unique:
                allowed = ", ".join(p.name for p in ot.unique_props)
                message = f"idProperty must be a unique property ({allowed}), got {item.get('idProperty')!r}"
                errors.append(PropError("idProperty", "INVALID_ID_PROPERTY", message, index))
                continue
            cleaned, problems = self.clean(ot, item.get("properties"), index)
            errors.extend(problems)
            try:
                key = self._value(prop, item.get("id"))
            except ValueError as exc:
                code, _, message = str(exc).partition(":")
                errors.append(PropError(prop.name, code, message.strip(), index))
                continue
            if key is None:
                errors.append(PropError("id", "INVALID_INPUT", "each input needs an id", index))
                continue
            keyed.append((prop, key, cleaned))
        if errors:
            raise self._invalid(errors)
        seen = [key.lower() for _, key, _ in keyed]
        duplicates = sorted({k for k in seen if seen.count(k) > 1})
        if duplicates:
            raise self._bad(f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]")
        with self.store.write() as tx:
            planned: list[tuple[int | None, dict[str, Any], int | None]] = []
            for prop, key, cleaned in keyed:
                existing_id = tx.find_unique(ot.name, prop.name, key)
                existing = tx.get(ot.name, existing_id) if existing_id is not None else None
                data, created = self.apply(existing.data if existing else {}, cleaned)
                if existing is None:
                    data[prop.name] = key
                planned.append((existing_id, data, created))
            self._check_unique(tx, ot, [(id_, data) for id_, data, _ in planned])
            results = []
            for id_, data, created in planned:
                unique = self._unique_values(ot, data)
                if id_ is None:
                    row = tx.insert(ot.name, data, first_id=ot.first_id, unique=unique, created_ms=created)
                else:
                    row = tx.update(ot.name, id_, data, unique=unique, created_ms=created)
                results.append({**self.render(ot, row, list(row.data)), "new": id_ is None})
        return json_response(200, self._batch_body(results, started))

    def batch_read(self, req: Request) -> Response:
        ot = self._type(req)
        started = wall_ms()
        body = req.json_object()
        inputs = self._inputs(body)
        properties = body.get("properties")
        wanted = [str(p) for p in properties] if isinstance(properties, list) and properties else None
        id_property = body.get("idProperty")
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        with self.store.read() as tx:
            for item in inputs:
                raw = str(item.get("id", ""))
                id_ = self._lookup(tx, ot, raw, id_property)
                row = tx.get(ot.name, id_) if id_ is not None else None
                if row is None:
                    missing.append(raw)
                elif all(r["id"] != str(row.id) for r in results):
                    results.append(self.render(ot, row, wanted))
        if missing:
            # Like HubSpot: the found records plus a 207 multi-status listing the missing ids.
            error = self._missing(ot, missing, 207).body
            error.pop("correlationId", None)
            return json_response(207, self._batch_body(results, started, numErrors=1, errors=[error]))
        return json_response(200, self._batch_body(results, started))

    # -- properties

    def list_properties(self, req: Request) -> Response:
        ot = self._type(req)
        return json_response(200, {"results": [p.definition(i) for i, p in enumerate(ot.props)]})

    def get_property(self, req: Request) -> Response:
        ot = self._type(req)
        name = req.params["name"]
        for i, prop in enumerate(ot.props):
            if prop.name == name:
                return json_response(200, prop.definition(i))
        return self._error(404, "OBJECT_NOT_FOUND", f"Unable to find property {name} of {ot.name}")

    # -- seed and admin

    def seed(self, tx: Tx, count: int) -> dict[str, int]:
        # Seeding follows a wipe, which also dropped the admin's property edits.
        self._edited_types = None
        if self.options.get("seed_style") == "contacts":
            return {CONTACTS.name: self._seed_contacts(tx, count)}
        data = demo.generate(count, "crm")
        for company in data.companies:
            values = {
                "name": company.name,
                "domain": company.domain,
                "industry": company.industry,
                "city": company.place.city,
                "country": company.place.country,
                "numberofemployees": str(company.employees),
                "account_health": company.health,
            }
            tx.insert(
                COMPANIES.name,
                values,
                first_id=COMPANIES.first_id,
                unique=self._unique_values(COMPANIES, values),
                created_ms=company.created_ms,
                updated_ms=company.updated_ms,
            )
        for person in data.people:
            optional = {
                "phone": person.phone,
                "company": person.company.name if person.company else None,
                "jobtitle": person.job_title,
                "hs_lead_status": person.lead_status,
                "nps_score": None if person.nps is None else str(person.nps),
                "notes_internal": person.notes,
            }
            values = {
                "email": person.email,
                "firstname": person.first_name,
                "lastname": person.last_name,
                "lifecyclestage": person.lifecycle_stage,
                "city": person.place.city,
                "country": person.place.country,
                "customer_tier": person.tier,
                "newsletter_opt_in": "true" if person.newsletter else "false",
                **{k: v for k, v in optional.items() if v is not None},
            }
            tx.insert(
                CONTACTS.name,
                values,
                first_id=CONTACTS.first_id,
                unique=self._unique_values(CONTACTS, values),
                created_ms=person.created_ms,
                updated_ms=person.updated_ms,
            )
        return {
            CONTACTS.name: len(data.people),
            COMPANIES.name: len(data.companies),
            **self.links.seed(tx, count, DEALS.first_id, TICKETS.first_id),
        }

    def _seed_contacts(self, tx: Tx, count: int) -> int:
        """`--seed-style contacts`: only contacts, made from the demo word lists by arithmetic rather than
        at random and written in bulk, so a million take seconds, not minutes (for load tests). Each has
        a unique email and its own modification time, in id order, all before the demo anchor."""
        firsts, lasts, places = demo.FIRST_NAMES, demo.LAST_NAMES, demo.PLACES
        stages = ("subscriber", "lead", "marketingqualifiedlead", "opportunity", "customer")
        for start in range(0, count, 10_000):
            items = []
            for i in range(start, min(count, start + 10_000)):
                first, last = firsts[i % len(firsts)], lasts[(i // len(firsts)) % len(lasts)]
                place = places[i % len(places)]
                email = f"{demo.ascii_slug(first)}.{demo.ascii_slug(last)}.{i}@example.com"
                values = {
                    "email": email,
                    "firstname": first,
                    "lastname": last,
                    "phone": f"+{place.calling_code} 555 {i % 10_000:04d}",
                    "lifecyclestage": stages[i % len(stages)],
                    "city": place.city,
                    "country": place.country,
                    "newsletter_opt_in": "true" if i % 2 else "false",
                }
                updated_ms = demo.SEED_ANCHOR_MS - (count - i) * 1_000
                items.append((values, self._unique_values(CONTACTS, values), updated_ms))
            tx.insert_many(CONTACTS.name, items, first_id=CONTACTS.first_id)
        return count

    def admin_list(self, req: Request, object_: str) -> list[Any]:
        ot = self.object_type(object_)
        with self.store.read() as tx:
            rows = tx.all(ot.name)
        return [self.render(ot, r, None, everything=True) for r in rows]

    def admin_create(self, req: Request, object_: str, payload: dict[str, Any]) -> Response:
        ot = self.object_type(object_)
        row = self._create(ot, payload)
        return json_response(201, self.render(ot, row, None, everything=True))

    def admin_update(self, req: Request, object_: str, id_: int, payload: dict[str, Any]) -> Response:
        ot = self.object_type(object_)
        row = self._update(ot, str(id_), None, payload)
        return json_response(200, self.render(ot, row, None, everything=True))

    # -- property edits (admin): archive, add or retype a custom property, as a HubSpot admin can

    # The object types with the admin's edits applied; None: load them again from the store.
    _edited_types: dict[str, ObjectType] | None = None

    def object_type(self, name: str) -> ObjectType:
        types = self._edited_types
        if types is None:
            with self.store.read() as tx:
                types = {n: self._with_edits(tx, ot) for n, ot in OBJECT_TYPES.items()}
            self._edited_types = types
        return types[name]

    @staticmethod
    def _with_edits(tx: Tx, ot: ObjectType) -> ObjectType:
        # Kept in the store (not in memory) so edits survive a restart on a file and vanish with a reset.
        stored = tx.get_blob(_PROPERTY_EDITS, ot.name)
        if stored is None:
            return ot
        return replace(
            ot, props=tuple(Prop(**{**p, "options": tuple(tuple(o) for o in p["options"])}) for p in stored)
        )

    def _register_property_admin(self, router: Router) -> None:
        add = router.add
        add("POST", "/_admin/properties/{object}", self._admin_add_property, auth=False, admin=True)
        add("PATCH", "/_admin/properties/{object}/{name}", self._admin_edit_property, auth=False, admin=True)
        add(
            "DELETE",
            "/_admin/properties/{object}/{name}",
            self._admin_delete_property,
            auth=False,
            admin=True,
        )

    def _save_props(self, ot: ObjectType, props: Sequence[Prop]) -> None:
        with self.store.write() as tx:
            tx.put_blob(_PROPERTY_EDITS, ot.name, [asdict(p) for p in props])
        self._edited_types = None

    def _admin_object(self, req: Request) -> ObjectType:
        name = req.params["object"]
        if name not in OBJECT_TYPES:
            raise HttpError(json_response(404, {"ok": False, "error": f"unknown object {name!r}"}))
        return self.object_type(name)

    def _admin_custom_prop(self, req: Request) -> tuple[ObjectType, Prop]:
        ot = self._admin_object(req)
        prop = ot.prop(req.params["name"])
        if prop is None:
            raise HttpError(
                json_response(
                    404, {"ok": False, "error": f"{ot.name} has no property {req.params['name']!r}"}
                )
            )
        if not prop.custom:
            # HubSpot's own properties have a read-only definition; only custom ones can change.
            raise HttpError(
                json_response(400, {"ok": False, "error": f"{prop.name} is a HubSpot-defined property"})
            )
        return ot, prop

    def _admin_add_property(self, req: Request) -> Response:
        ot = self._admin_object(req)
        payload = req.json_object()
        name = payload.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            return json_response(400, {"ok": False, "error": "name must be lower case letters, digits and _"})
        if ot.prop(name) is not None:
            return json_response(409, {"ok": False, "error": f"{ot.name} already has a property {name!r}"})
        # As in HubSpot, a custom property is made unique when it is created (hasUniqueValue), never later;
        # its values are then refused twice and it can be read by (idProperty=<name>).
        unique = payload.pop("hasUniqueValue", False)
        if not isinstance(unique, bool):
            return json_response(400, {"ok": False, "error": "hasUniqueValue must be true or false"})
        prop = _edited_prop(Prop(name, name, "string", "text", ot.props[0].group, custom=True), payload)
        prop = replace(prop, unique=unique)
        self._save_props(ot, (*ot.props, prop))
        return json_response(201, prop.definition(len(ot.props)))

    def _admin_edit_property(self, req: Request) -> Response:
        ot, prop = self._admin_custom_prop(req)
        edited = _edited_prop(prop, req.json_object())
        self._save_props(ot, tuple(edited if p.name == prop.name else p for p in ot.props))
        return json_response(200, edited.definition(ot.props.index(prop)))

    def _admin_delete_property(self, req: Request) -> Response:
        ot, prop = self._admin_custom_prop(req)
        # As HubSpot archives a property: it leaves the schema and every response; stored values stay.
        self._save_props(ot, tuple(p for p in ot.props if p.name != prop.name))
        return json_response(200, {"ok": True, "deleted": prop.name})


_PROPERTY_EDITS = "crm_property_edits"
_FIELD_TYPE_OF = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
}


def _edited_prop(prop: Prop, payload: Mapping[str, Any]) -> Prop:
    """`prop` with the admin's `label`, `type`, `fieldType` and `options` applied; raises HttpError."""

    def bad(message: str) -> HttpError:
        return HttpError(json_response(400, {"ok": False, "error": message}))

    unknown = set(payload) - {"name", "label", "type", "fieldType", "options"}
    if unknown:
        raise bad(f"unknown keys: {', '.join(sorted(unknown))}")
    kind = payload.get("type", prop.type)
    if kind not in _FIELD_TYPE_OF:
        raise bad(f"type must be one of {', '.join(_FIELD_TYPE_OF)}")
    field_type = payload.get("fieldType", prop.field_type if kind == prop.type else _FIELD_TYPE_OF[kind])
    if not isinstance(field_type, str):
        raise bad("fieldType must be a string")
    raw_options = payload.get("options")
    if raw_options is None:
        options = prop.options if kind == prop.type else (_BOOL if kind == "bool" else ())
    elif isinstance(raw_options, list) and all(isinstance(o, str | dict) for o in raw_options):
        options = tuple(
            (o, o.replace("_", " ").title())
            if isinstance(o, str)
            else (str(o["value"]), str(o.get("label", o["value"])))
            for o in raw_options
            if isinstance(o, str) or "value" in o
        )
    else:
        raise bad("options must be a list of values or of {value, label}")
    if kind == "enumeration" and not options:
        raise bad("an enumeration needs options")
    label = payload.get("label", prop.label)
    return replace(prop, label=str(label), type=kind, field_type=field_type, options=options)
