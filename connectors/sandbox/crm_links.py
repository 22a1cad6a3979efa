"""The CRM dialect's pipelines, associations (v4) and signed webhook deliveries.

Kept apart from crm.py (records and properties) because these are HubSpot features *between* records:
deal and ticket pipelines whose stages are the options of `dealstage` / `hs_pipeline_stage`, the v4
associations API that links a deal to its contacts and company, and app webhooks signed with
`X-HubSpot-Signature-v3` (base64 HMAC-SHA256 of method + URI + body + timestamp, keyed with the app's
client secret). See docs/sandbox.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.sandbox import seed as demo
from connectors.sandbox.delivery import deliver, target_url
from connectors.sandbox.engine import HttpError, Request, Response, Router, Tx, iso_ms, json_response, wall_ms

if TYPE_CHECKING:
    from connectors.sandbox.crm import CrmDialect

PORTAL_ID = 7_300_001
APP_ID = 3_300_001
MAX_BATCH = 100
_ASSOCIATIONS = "crm_associations"
_PIPELINE_CREATED_MS = demo.SEED_ANCHOR_MS - 900 * 86_400_000


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    probability: float | None = None  # deals
    state: str | None = None  # tickets: OPEN or CLOSED
    closed: bool = False


@dataclass(frozen=True)
class Pipeline:
    id: str
    label: str
    stages: tuple[Stage, ...]

    def describe(self, order: int) -> dict[str, Any]:
        stamp = iso_ms(_PIPELINE_CREATED_MS)
        stages = []
        for index, stage in enumerate(self.stages):
            metadata: dict[str, str] = {}
            if stage.probability is not None:
                metadata = {"isClosed": str(stage.closed).lower(), "probability": str(stage.probability)}
            if stage.state is not None:
                metadata = {"ticketState": stage.state}
            stages.append(
                {
                    "id": stage.id,
                    "label": stage.label,
                    "displayOrder": index,
                    "metadata": metadata,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "archived": False,
                    "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                }
            )
        return {
            "id": self.id,
            "label": self.label,
            "displayOrder": order,
            "stages": stages,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }


DEAL_PIPELINES = (
    Pipeline(
        "default",
        "Sales Pipeline",
        (
            Stage("appointmentscheduled", "Appointment Scheduled", 0.2),
            Stage("qualifiedtobuy", "Qualified To Buy", 0.4),
            Stage("presentationscheduled", "Presentation Scheduled", 0.6),
            Stage("decisionmakerboughtin", "Decision Maker Bought-In", 0.8),
            Stage("contractsent", "Contract Sent", 0.9),
            Stage("closedwon", "Closed Won", 1.0, closed=True),
            Stage("closedlost", "Closed Lost", 0.0, closed=True),
        ),
    ),
    # Custom pipelines and stages get numeric ids in HubSpot.
    Pipeline(
        "75318642",
        "Renewals",
        (
            Stage("75318643", "Renewal Due", 0.5),
            Stage("75318644", "Renewal Negotiation", 0.7),
            Stage("75318645", "Renewed", 1.0, closed=True),
            Stage("75318646", "Churned", 0.0, closed=True),
        ),
    ),
)
TICKET_PIPELINES = (
    Pipeline(
        "0",
        "Support Pipeline",
        (
            Stage("1", "New", state="OPEN"),
            Stage("2", "Waiting on contact", state="OPEN"),
            Stage("3", "Waiting on us", state="OPEN"),
            Stage("4", "Closed", state="CLOSED", closed=True),
        ),
    ),
)
PIPELINES = {"deals": DEAL_PIPELINES, "tickets": TICKET_PIPELINES}

# HubSpot's ids of the default (unlabelled) association type for each pair of objects.
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("tickets", "contacts"): 16,
    ("contacts", "tickets"): 15,
    ("tickets", "companies"): 339,
    ("companies", "tickets"): 340,
    ("deals", "tickets"): 27,
    ("tickets", "deals"): 28,
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
    ("tasks", "companies"): 192,
    ("companies", "tasks"): 191,
    ("tasks", "deals"): 216,
    ("deals", "tasks"): 215,
    ("tasks", "tickets"): 230,
    ("tickets", "tasks"): 229,
}
LINKABLE = frozenset(name for pair in ASSOCIATION_TYPES for name in pair)

# The account's users who can own records (`hubspot_owner_id`), as GET /crm/v3/owners lists them.
OWNERS: tuple[dict[str, Any], ...] = (
    {"id": "52550153", "email": "dana.owner@demo.example", "firstName": "Dana", "lastName": "Reyes"},
    {"id": "52550154", "email": "sam.owner@demo.example", "firstName": "Sam", "lastName": "Okafor"},
    {"id": "52550155", "email": "lee.owner@demo.example", "firstName": "Lee", "lastName": "Novak"},
)


def owner_options() -> tuple[tuple[str, str], ...]:
    """The options of `hubspot_owner_id`: one per owner, labelled with the owner's name."""
    return tuple((o["id"], f"{o['firstName']} {o['lastName']}") for o in OWNERS)


# Webhook subscription types name objects in the singular.
_SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "tickets": "ticket"}


def stage_options(pipelines: tuple[Pipeline, ...]) -> tuple[tuple[str, str], ...]:
    """The options of `dealstage` / `hs_pipeline_stage`: every stage of every pipeline."""
    return tuple((stage.id, stage.label) for pipeline in pipelines for stage in pipeline.stages)


def pipeline_options(pipelines: tuple[Pipeline, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((pipeline.id, pipeline.label) for pipeline in pipelines)


# HubSpot signs the URI with these characters decoded, and asks receivers to decode them too.
_DECODED_IN_URI = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    """HubSpot's v3 request signature: base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    for encoded, plain in _DECODED_IN_URI.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    source = method.encode() + uri.encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode("utf-8"), source, hashlib.sha256).digest()).decode()


class CrmLinks:
    def __init__(self, dialect: CrmDialect, aliases: Mapping[str, str]) -> None:
        self.dialect = dialect
        self.aliases = aliases

    def register(self, router: Router) -> None:
        router.add("GET", "/crm/v3/pipelines/{object}", self.list_pipelines)
        router.add("GET", "/crm/v3/pipelines/{object}/{pipeline}", self.get_pipeline)
        router.add("GET", "/crm/v3/pipelines/{object}/{pipeline}/stages", self.get_stages)
        base = "/crm/v4/objects/{from_type}/{from_id}/associations"
        router.add("PUT", f"{base}/default/{{to_type}}/{{to_id}}", self.associate_default)
        router.add("GET", f"{base}/{{to_type}}", self.list_associations)
        router.add("DELETE", f"{base}/{{to_type}}/{{to_id}}", self.remove_association)
        router.add("POST", "/crm/v4/associations/{from_type}/{to_type}/batch/read", self.batch_read)
        router.add(
            "POST", "/crm/v4/associations/{from_type}/{to_type}/batch/associate/default", self.batch_associate
        )
        router.add("POST", "/_admin/webhooks/deliver", self.admin_deliver, auth=False, admin=True)
        router.add("GET", "/crm/v3/owners", self.list_owners)
        router.add("GET", "/crm/v3/owners/{owner_id}", self.get_owner)

    # -- helpers

    def _bad(self, message: str, status: int = 400, category: str = "VALIDATION_ERROR") -> HttpError:
        # Errors in the CRM dialect's own shape.
        return HttpError(self.dialect._error(status, category, message))

    def _object(self, raw: str) -> str:
        name = self.aliases.get(raw, raw)
        if name not in LINKABLE:
            # A custom object, by its objectTypeId or fullyQualifiedName (stored under the former).
            custom = self.dialect.schemas.canonical(raw)
            if custom is None:
                raise self._bad(f"Unable to infer object type from: {raw}")
            return custom
        return name

    def _types(self, *pairs: tuple[str, str]) -> Mapping[tuple[str, str], int]:
        """Every association type: the standard ones and those custom objects' schemas defined (read only
        when `pairs` is empty or names a pair between other objects than the standard ones)."""
        if pairs and all(pair in ASSOCIATION_TYPES for pair in pairs):
            return ASSOCIATION_TYPES
        return {**ASSOCIATION_TYPES, **self.dialect.schemas.association_types()}

    def _pair(self, req: Request) -> tuple[str, str, int]:
        from_type, to_type = self._object(req.params["from_type"]), self._object(req.params["to_type"])
        type_id = self._types((from_type, to_type)).get((from_type, to_type))
        if type_id is None:
            raise self._bad(f"There is no default association between {from_type} and {to_type}.")
        return from_type, to_type, type_id

    def _exists(self, tx: Tx, object_: str, raw: str) -> int:
        if not raw.isdigit() or tx.get(object_, int(raw)) is None:
            raise self._bad(f"No {object_} with id {raw} exists.", 404, "OBJECT_NOT_FOUND")
        return int(raw)

    @staticmethod
    def _links(tx: Tx, object_: str, id_: int) -> list[dict[str, Any]]:
        return list(tx.get_blob(_ASSOCIATIONS, f"{object_}:{id_}") or [])

    def _link(self, tx: Tx, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Store the association both ways, as HubSpot shows it from either side."""
        types = self._types((from_type, to_type), (to_type, from_type))
        for (a_type, a_id), (b_type, b_id) in (
            ((from_type, from_id), (to_type, to_id)),
            ((to_type, to_id), (from_type, from_id)),
        ):
            links = [
                link
                for link in self._links(tx, a_type, a_id)
                if not (link["to"] == b_type and link["id"] == b_id)
            ]
            links.append({"to": b_type, "id": b_id, "type": types[(a_type, b_type)]})
            tx.put_blob(_ASSOCIATIONS, f"{a_type}:{a_id}", links)

    @staticmethod
    def _spec(from_id: int, to_id: int, type_id: int) -> dict[str, Any]:
        return {
            "from": {"id": str(from_id)},
            "to": {"id": str(to_id)},
            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
        }

    @staticmethod
    def _targets(links: list[dict[str, Any]], to_type: str) -> list[dict[str, Any]]:
        return [
            {
                "toObjectId": link["id"],
                "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": link["type"], "label": None}],
            }
            for link in sorted(links, key=lambda link: link["id"])
            if link["to"] == to_type
        ]

    # -- pipelines

    def _pipelines(self, req: Request) -> tuple[Pipeline, ...]:
        name = self.aliases.get(req.params["object"], req.params["object"])
        if name not in PIPELINES:
            raise self._bad(f"Unable to infer object type from: {req.params['object']}")
        return PIPELINES[name]

    def _pipeline(self, req: Request) -> tuple[int, Pipeline]:
        for order, pipeline in enumerate(self._pipelines(req)):
            if pipeline.id == req.params["pipeline"]:
                return order, pipeline
        raise self._bad(f"Unable to find pipeline {req.params['pipeline']}", 404, "OBJECT_NOT_FOUND")

    def list_pipelines(self, req: Request) -> Response:
        return json_response(200, {"results": [p.describe(i) for i, p in enumerate(self._pipelines(req))]})

    def get_pipeline(self, req: Request) -> Response:
        order, pipeline = self._pipeline(req)
        return json_response(200, pipeline.describe(order))

    def get_stages(self, req: Request) -> Response:
        order, pipeline = self._pipeline(req)
        return json_response(200, {"results": pipeline.describe(order)["stages"]})

    # -- owners

    @staticmethod
    def _owner(owner: Mapping[str, Any], user_id: int) -> dict[str, Any]:
        stamp = iso_ms(_PIPELINE_CREATED_MS)
        return {
            **owner,
            "userId": user_id,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "teams": [{"id": "4100001", "name": "Sales", "primary": True}],
        }

    def list_owners(self, req: Request) -> Response:
        email = (req.arg("email") or "").strip().lower()
        limit = req.int_arg("limit", 100, maximum=500)
        after = req.int_arg("after", 0, minimum=0)
        if (req.arg("archived") or "").lower() == "true":
            return json_response(200, {"results": []})
        owners = [
            self._owner(o, 9_100_001 + i) for i, o in enumerate(OWNERS) if not email or o["email"] == email
        ]
        body: dict[str, Any] = {"results": owners[after : after + limit]}
        if after + limit < len(owners):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return json_response(200, body)

    def get_owner(self, req: Request) -> Response:
        for i, owner in enumerate(OWNERS):
            if owner["id"] == req.params["owner_id"]:
                return json_response(200, self._owner(owner, 9_100_001 + i))
        raise self._bad(f"Unable to find owner {req.params['owner_id']}", 404, "OBJECT_NOT_FOUND")

    def create_associations(self, tx: Tx, from_type: str, from_id: int, specs: Any) -> None:
        """The `associations` of a v3 create: `[{"to": {"id"}, "types": [{"associationTypeId"}]}]`."""
        if specs is None:
            return
        if not isinstance(specs, list):
            raise self._bad("associations must be a list")
        known_types = self._types()
        for spec in specs:
            to_raw = str(((spec or {}).get("to") or {}).get("id", "")) if isinstance(spec, dict) else ""
            types = spec.get("types") if isinstance(spec, dict) else None
            if not to_raw or not isinstance(types, list) or not types:
                raise self._bad("each association needs to.id and a list of types")
            for kind in types:
                type_id = kind.get("associationTypeId") if isinstance(kind, dict) else None
                to_type = next(
                    (b for (a, b), known in known_types.items() if a == from_type and known == type_id),
                    None,
                )
                if to_type is None:
                    raise self._bad(
                        f"{type_id!r} is not a valid association type id from {from_type}",
                        400,
                        "INVALID_ASSOCIATION",
                    )
                if not to_raw.isdigit() or tx.get(to_type, int(to_raw)) is None:
                    raise self._bad(
                        f"One or more associations are invalid: no {to_type} with id {to_raw} exists.",
                        400,
                        "VALIDATION_ERROR",
                    )
                self._link(tx, from_type, from_id, to_type, int(to_raw))

    # -- associations

    def associate_default(self, req: Request) -> Response:
        from_type, to_type, type_id = self._pair(req)
        started = wall_ms()
        with self.dialect.store.write() as tx:
            from_id = self._exists(tx, from_type, req.params["from_id"])
            to_id = self._exists(tx, to_type, req.params["to_id"])
            self._link(tx, from_type, from_id, to_type, to_id)
        results = [
            self._spec(from_id, to_id, type_id),
            self._spec(to_id, from_id, self._types((to_type, from_type))[(to_type, from_type)]),
        ]
        return json_response(
            200,
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": iso_ms(started),
                "completedAt": iso_ms(wall_ms()),
            },
        )

    def list_associations(self, req: Request) -> Response:
        from_type = self._object(req.params["from_type"])
        to_type = self._object(req.params["to_type"])
        limit = req.int_arg("limit", 500, maximum=500)
        after = req.int_arg("after", 0, minimum=0)
        with self.dialect.store.read() as tx:
            from_id = self._exists(tx, from_type, req.params["from_id"])
            targets = self._targets(self._links(tx, from_type, from_id), to_type)
        page = targets[after : after + limit]
        body: dict[str, Any] = {"results": page}
        if after + limit < len(targets):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return json_response(200, body)

    def remove_association(self, req: Request) -> Response:
        from_type, to_type, _ = self._pair(req)
        with self.dialect.store.write() as tx:
            from_id = self._exists(tx, from_type, req.params["from_id"])
            to_id = self._exists(tx, to_type, req.params["to_id"])
            for (a_type, a_id), (b_type, b_id) in (
                ((from_type, from_id), (to_type, to_id)),
                ((to_type, to_id), (from_type, from_id)),
            ):
                kept = [
                    link
                    for link in self._links(tx, a_type, a_id)
                    if not (link["to"] == b_type and link["id"] == b_id)
                ]
                tx.put_blob(_ASSOCIATIONS, f"{a_type}:{a_id}", kept)
        return Response(204)

    def _inputs(self, req: Request) -> list[dict[str, Any]]:
        inputs = req.json_object().get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise self._bad("Invalid input: inputs must be a list of objects")
        if len(inputs) > MAX_BATCH:
            raise self._bad(f"Batch input must contain at most {MAX_BATCH} inputs; got {len(inputs)}")
        return inputs

    def batch_read(self, req: Request) -> Response:
        from_type, to_type, _ = self._pair(req)
        started = wall_ms()
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        with self.dialect.store.read() as tx:
            for item in self._inputs(req):
                raw = str(item.get("id", ""))
                if not raw.isdigit() or tx.get(from_type, int(raw)) is None:
                    missing.append(raw)
                    continue
                targets = self._targets(self._links(tx, from_type, int(raw)), to_type)
                if targets:
                    results.append({"from": {"id": raw}, "to": targets})
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        status = 200
        if missing:
            # As HubSpot: 207 with the found results and one error naming the ids it could not read.
            status = 207
            body["numErrors"] = 1
            body["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"No {from_type} is associated with these ids, or they do not exist.",
                    "context": {"ids": missing},
                }
            ]
        body["startedAt"] = iso_ms(started)
        body["completedAt"] = iso_ms(wall_ms())
        return json_response(status, body)

    def batch_associate(self, req: Request) -> Response:
        from_type, to_type, type_id = self._pair(req)
        started = wall_ms()
        results: list[dict[str, Any]] = []
        with self.dialect.store.write() as tx:
            pairs = []
            for item in self._inputs(req):
                from_raw = str((item.get("from") or {}).get("id", ""))
                to_raw = str((item.get("to") or {}).get("id", ""))
                pairs.append((self._exists(tx, from_type, from_raw), self._exists(tx, to_type, to_raw)))
            for from_id, to_id in pairs:
                self._link(tx, from_type, from_id, to_type, to_id)
                results.append(self._spec(from_id, to_id, type_id))
        return json_response(
            200,
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": iso_ms(started),
                "completedAt": iso_ms(wall_ms()),
            },
        )

    # -- webhooks

    def admin_deliver(self, req: Request) -> Response:
        """POST events to `url` the way a HubSpot app subscription does, signed with v3.

        Body: `{"url": ..., "events": [{"subscriptionType": "contact.propertyChange", "objectId": 101,
        "propertyName": "firstname", ...}], "secret": (override), "timestamp": (override, epoch ms)}`.
        Missing event fields are filled in (ids, times, and `propertyValue` from the stored record).
        """
        url = target_url(req)
        payload = req.json_object()
        raw_events = payload.get("events")
        if (
            not isinstance(raw_events, list)
            or not raw_events
            or not all(isinstance(e, dict) for e in raw_events)
        ):
            return json_response(400, {"ok": False, "error": "events must be a non-empty list of objects"})
        now = int(time.time() * 1000)
        events = [self._event(event, index, now) for index, event in enumerate(raw_events)]
        body = json.dumps(events, separators=(",", ":")).encode("utf-8")
        timestamp = int(payload.get("timestamp") or now)
        secret = str(payload.get("secret") or self.dialect.oauth.client_secret)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon",
            "X-HubSpot-Signature-v3": signature_v3(secret, "POST", url, body, timestamp),
            "X-HubSpot-Request-Timestamp": str(timestamp),
        }
        delivery = deliver(url, body, headers)
        return json_response(200, delivery.as_json(body, headers, events=len(events)))

    def _event(self, event: Mapping[str, Any], index: int, now: int) -> dict[str, Any]:
        subscription = str(event.get("subscriptionType") or "contact.propertyChange")
        singular = subscription.split(".", 1)[0]
        object_ = next((plural for plural, one in _SINGULAR.items() if one == singular), None)
        filled: dict[str, Any] = {
            "eventId": int(event.get("eventId") or now * 100 + index),
            "subscriptionId": int(event.get("subscriptionId") or 2_100_001),
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "occurredAt": int(event.get("occurredAt") or now),
            "subscriptionType": subscription,
            "attemptNumber": int(event.get("attemptNumber") or 0),
            "objectId": event.get("objectId"),
            "changeSource": str(event.get("changeSource") or "CRM_UI"),
        }
        name = event.get("propertyName")
        if name:
            filled["propertyName"] = name
            value = event.get("propertyValue")
            if value is None and object_ is not None and str(event.get("objectId", "")).isdigit():
                with self.dialect.store.read() as tx:
                    row = tx.get(object_, int(event["objectId"]))
                value = row.data.get(str(name)) if row else None
            filled["propertyValue"] = value
        return filled

    # -- seed

    def seed(self, tx: Tx, count: int, deals_first_id: int, tickets_first_id: int) -> dict[str, int]:
        """Deals and tickets for the seeded contacts, linked to them and their companies.

        Its own generator, so adding these left the contacts and companies of every seed unchanged.
        """
        rng = random.Random(f"integrations-hub-sandbox:crm-pipelines:{count}")
        contacts = tx.all("contacts")
        companies = {row.data.get("name"): row.id for row in tx.all("companies")}
        deals = tickets = 0
        sources = ("inbound", "outbound", "partner", "event")
        for contact in contacts:
            company_id = companies.get(contact.data.get("company"))
            if rng.random() < 0.25:
                pipeline = DEAL_PIPELINES[0] if rng.random() < 0.8 else DEAL_PIPELINES[1]
                stage = rng.choice(pipeline.stages)
                created = contact.created_ms + rng.randrange(
                    0, max(1, demo.SEED_ANCHOR_MS - contact.created_ms)
                )
                values = {
                    "dealname": f"{contact.data.get('company') or contact.data.get('lastname')} - {pipeline.label}",
                    "amount": str(rng.choice((1200, 4800, 9900, 24000, 60000))),
                    "pipeline": pipeline.id,
                    "dealstage": stage.id,
                    "dealtype": rng.choice(("newbusiness", "existingbusiness")),
                    "hs_priority": rng.choice(("low", "medium", "high")),
                    "deal_source": rng.choice(sources),
                    "closedate": iso_ms(created + 30 * 86_400_000),
                }
                row = tx.insert(
                    "deals", values, first_id=deals_first_id, created_ms=created, updated_ms=created
                )
                self._link(tx, "deals", row.id, "contacts", contact.id)
                if company_id:
                    self._link(tx, "deals", row.id, "companies", company_id)
                deals += 1
            if rng.random() < 0.2:
                stage = rng.choice(TICKET_PIPELINES[0].stages)
                created = contact.created_ms + rng.randrange(
                    0, max(1, demo.SEED_ANCHOR_MS - contact.created_ms)
                )
                values = {
                    "subject": rng.choice(
                        (
                            "Cannot export report",
                            "Invoice question",
                            "SSO setup",
                            "Sync is slow",
                            "Feature request",
                        )
                    ),
                    "content": f"Reported by {contact.data.get('firstname')} {contact.data.get('lastname')}.",
                    "hs_pipeline": TICKET_PIPELINES[0].id,
                    "hs_pipeline_stage": stage.id,
                    "hs_ticket_priority": rng.choice(("LOW", "MEDIUM", "HIGH", "URGENT")),
                    "hs_ticket_category": rng.choice(
                        ("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY")
                    ),
                    "source_type": rng.choice(("EMAIL", "CHAT", "PHONE", "FORM")),
                    "product_area": rng.choice(("reporting", "integrations", "billing", "mobile")),
                }
                row = tx.insert(
                    "tickets", values, first_id=tickets_first_id, created_ms=created, updated_ms=created
                )
                self._link(tx, "tickets", row.id, "contacts", contact.id)
                tickets += 1
        return {"deals": deals, "tickets": tickets}
