"""The CRM dialect's custom objects: HubSpot's schemas API and the object types it defines.

`POST /crm/v3/schemas` defines an object (its properties, which of them are required, searchable and shown
first, and the standard objects it can be associated with); HubSpot answers with an `objectTypeId`
("2-<n>") and a `fullyQualifiedName` ("p<portal>_<name>"). Either addresses the object's records at
`/crm/v3/objects/{objectType}`, which crm.py serves with the same machinery as the standard objects: the
definitions here are turned into its `ObjectType`s. See docs/sandbox.md.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors.sandbox import seed as demo
from connectors.sandbox.crm_links import PORTAL_ID
from connectors.sandbox.engine import HttpError, Request, Response, Router, Tx, iso_ms, json_response, wall_ms

if TYPE_CHECKING:
    from connectors.sandbox.crm import CrmDialect, ObjectType, Prop

SCHEMAS = "crm_schemas"
# HubSpot numbers custom object types per portal ("2-" + a number) and their records from large ids.
FIRST_TYPE_NUMBER = 7_400_001
FIRST_RECORD_ID = 40_000_001
# Ids of the association types a schema's `associatedObjects` creates (one per direction).
FIRST_ASSOCIATION_TYPE_ID = 1001
# The standard objects a custom object can be associated with, by the names and ids HubSpot accepts.
STANDARD_TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5"}
_ASSOCIABLE = {
    **{name: name for name in STANDARD_TYPE_IDS},
    "CONTACT": "contacts",
    "COMPANY": "companies",
    "DEAL": "deals",
    "TICKET": "tickets",
    **{type_id: name for name, type_id in STANDARD_TYPE_IDS.items()},
}
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PROPERTY_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELD_TYPES = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
}
_SYSTEM = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
_SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "tickets": "ticket"}
CARS_COLORS = (("black", "Black"), ("white", "White"), ("silver", "Silver"), ("red", "Red"), ("blue", "Blue"))

# The demo custom object the admin API can create (`{"example": "cars"}`): cars a dealer keeps per contact.
CARS: dict[str, Any] = {
    "name": "cars",
    "description": "Cars a customer owns or is interested in",
    "labels": {"singular": "Car", "plural": "Cars"},
    "primaryDisplayProperty": "model",
    "secondaryDisplayProperties": ["make"],
    "requiredProperties": ["vin"],
    "searchableProperties": ["vin", "make", "model"],
    "associatedObjects": ["CONTACT", "COMPANY"],
    "properties": [
        {"name": "vin", "label": "VIN", "type": "string", "fieldType": "text", "hasUniqueValue": True},
        {"name": "make", "label": "Make", "type": "string", "fieldType": "text"},
        {"name": "model", "label": "Model", "type": "string", "fieldType": "text"},
        {"name": "year", "label": "Year", "type": "number", "fieldType": "number"},
        {"name": "mileage", "label": "Mileage", "type": "number", "fieldType": "number"},
        {
            "name": "color",
            "label": "Color",
            "type": "enumeration",
            "fieldType": "select",
            "options": [{"label": label, "value": value} for value, label in CARS_COLORS],
        },
    ],
}
_MODELS = (
    ("Toyota", "Corolla"),
    ("Toyota", "RAV4"),
    ("Honda", "Civic"),
    ("Ford", "Focus"),
    ("Volkswagen", "Golf"),
    ("Tesla", "Model 3"),
    ("Volvo", "XC60"),
    ("Kia", "Niro"),
)


class CrmSchemas:
    def __init__(self, dialect: CrmDialect) -> None:
        self.dialect = dialect

    def register(self, router: Router) -> None:
        # HubSpot serves the schemas API under both prefixes (the newer one is what its clients call).
        for prefix in ("/crm/v3/schemas", "/crm-object-schemas/v3/schemas"):
            router.add("GET", prefix, self.list_schemas)
            router.add("POST", prefix, self.create_schema)
            router.add("GET", f"{prefix}/{{object_type}}", self.get_schema)
        add = router.add
        add("POST", "/_admin/schemas", self.admin_create, auth=False, admin=True)
        add("GET", "/_admin/custom-objects/{object}/records", self.admin_records, auth=False, admin=True)
        add("PATCH", "/_admin/custom-objects/{object}/records/{id}", self.admin_edit, auth=False, admin=True)

    # -- lookups used by crm.py and crm_links.py

    @staticmethod
    def _stored(tx: Tx) -> list[dict[str, Any]]:
        return [data for _, data in tx.blobs(SCHEMAS)]

    def _find(self, tx: Tx, raw: str) -> dict[str, Any] | None:
        """The stored definition addressed by its objectTypeId or fullyQualifiedName."""
        wanted = raw.strip().lower()
        return next(
            (s for s in self._stored(tx) if wanted in (s["objectTypeId"], s["fullyQualifiedName"].lower())),
            None,
        )

    def canonical(self, raw: str) -> str | None:
        """The objectTypeId of the custom object `raw` names (its id or fully qualified name), or None."""
        with self.dialect.store.read() as tx:
            found = self._find(tx, raw)
        return str(found["objectTypeId"]) if found else None

    def object_type(self, raw: str) -> ObjectType | None:
        with self.dialect.store.read() as tx:
            found = self._find(tx, raw)
        return _object_type(found) if found else None

    def association_types(self) -> dict[tuple[str, str], int]:
        """(from object, to object) -> association type id, for every custom object's associations."""
        with self.dialect.store.read() as tx:
            stored = self._stored(tx)
        types: dict[tuple[str, str], int] = {}
        for schema in stored:
            for link in schema["associations"]:
                types[(_object_name(link["fromObjectTypeId"]), _object_name(link["toObjectTypeId"]))] = int(
                    link["id"]
                )
        return types

    # -- the API

    def list_schemas(self, req: Request) -> Response:
        with self.dialect.store.read() as tx:
            stored = self._stored(tx)
        return json_response(200, {"results": [_render(s) for s in stored]})

    def get_schema(self, req: Request) -> Response:
        with self.dialect.store.read() as tx:
            found = self._find(tx, req.params["object_type"])
        if found is None:
            raise HttpError(
                self.dialect._error(
                    404, "OBJECT_NOT_FOUND", f"Unable to find object type {req.params['object_type']}"
                )
            )
        return json_response(200, _render(found))

    def create_schema(self, req: Request) -> Response:
        return json_response(201, _render(self.create(req.json_object())))

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Check and store a definition as HubSpot does; raises HttpError in the CRM's error shape."""
        definition = self._checked(body)
        with self.dialect.store.write() as tx:
            if any(s["name"] == definition["name"] for s in self._stored(tx)):
                raise HttpError(
                    self.dialect._error(
                        409, "CONFLICT", f"Object type with name {definition['name']} already exists"
                    )
                )
            number = FIRST_TYPE_NUMBER + len(self._stored(tx))
            type_id = f"2-{number}"
            first_link = FIRST_ASSOCIATION_TYPE_ID + 100 * (number - FIRST_TYPE_NUMBER)
            associations = []
            for offset, to_name in enumerate(definition.pop("associated")):
                to_id = STANDARD_TYPE_IDS[to_name]
                for step, (a, b) in enumerate(((type_id, to_id), (to_id, type_id))):
                    associations.append(
                        {
                            "id": str(first_link + 2 * offset + step),
                            "fromObjectTypeId": a,
                            "toObjectTypeId": b,
                            "name": f"{_label_name(a, definition['name'])}_to_{_label_name(b, definition['name'])}",
                        }
                    )
            now = iso_ms(wall_ms())
            stored = {
                **definition,
                "id": str(number),
                "objectTypeId": type_id,
                "fullyQualifiedName": f"p{PORTAL_ID}_{definition['name']}",
                "associations": associations,
                "createdAt": now,
                "updatedAt": now,
            }
            tx.put_blob(SCHEMAS, type_id, stored)
        return stored

    def _bad(self, message: str) -> HttpError:
        return HttpError(self.dialect._error(400, "VALIDATION_ERROR", message))

    def _checked(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise self._bad("name must start with a letter and hold only letters, digits and underscores")
        labels = body.get("labels")
        if not isinstance(labels, dict) or not all(
            isinstance(labels.get(k), str) for k in ("singular", "plural")
        ):
            raise self._bad("labels must have a singular and a plural")
        raw_props = body.get("properties")
        if not isinstance(raw_props, list) or not raw_props:
            raise self._bad("properties must be a non-empty list")
        props = [self._prop(name, raw) for raw in raw_props]
        names = [p["name"] for p in props]
        if len(set(names)) != len(names):
            raise self._bad("property names must be unique")
        primary = body.get("primaryDisplayProperty") or names[0]
        lists: dict[str, list[str]] = {}
        for key in ("requiredProperties", "searchableProperties", "secondaryDisplayProperties"):
            value = body.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self._bad(f"{key} must be a list of property names")
            lists[key] = value
        for key, value in (("primaryDisplayProperty", [primary]), *lists.items()):
            unknown = [v for v in value if v not in names]
            if unknown:
                raise self._bad(f"{key} names properties that are not defined: {', '.join(unknown)}")
        associated_raw = body.get("associatedObjects") or []
        if not isinstance(associated_raw, list):
            raise self._bad("associatedObjects must be a list")
        associated = []
        for item in associated_raw:
            target = _ASSOCIABLE.get(str(item))
            if target is None:
                raise self._bad(f"{item!r} is not an object a custom object can be associated with")
            if target not in associated:
                associated.append(target)
        return {
            "name": name,
            "description": str(body.get("description") or ""),
            "labels": {"singular": labels["singular"], "plural": labels["plural"]},
            "primaryDisplayProperty": primary,
            **lists,
            "properties": props,
            "associated": associated,
            "archived": False,
        }

    def _prop(self, object_name: str, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self._bad("each property must be an object")
        name = raw.get("name")
        if not isinstance(name, str) or not _PROPERTY_NAME_RE.match(name) or name in _SYSTEM:
            raise self._bad(f"{name!r} is not a valid property name (lower case letters, digits and _)")
        kind = raw.get("type", "string")
        if kind not in _FIELD_TYPES:
            raise self._bad(f"type of {name} must be one of {', '.join(_FIELD_TYPES)}")
        options = raw.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, dict) and "value" in o for o in options):
            raise self._bad(f"options of {name} must be a list of {{label, value}}")
        if kind == "enumeration" and not options:
            raise self._bad(f"{name} is an enumeration and needs options")
        unique = raw.get("hasUniqueValue", False)
        if not isinstance(unique, bool):
            raise self._bad(f"hasUniqueValue of {name} must be true or false")
        return {
            "name": name,
            "label": str(raw.get("label") or name),
            "type": kind,
            "field_type": str(raw.get("fieldType") or _FIELD_TYPES[kind]),
            "group": f"{object_name.lower()}_information",
            "description": str(raw.get("description") or ""),
            "options": [[str(o["value"]), str(o.get("label") or o["value"])] for o in options],
            "custom": True,
            "unique": unique,
        }

    # -- admin: the demo object, its records, and edits as a person makes them in HubSpot

    def admin_create(self, req: Request) -> Response:
        """`{"example": "cars", "records": 30}` or a definition as POST /crm/v3/schemas takes it; records
        (deterministic demo cars, each linked to a contact) only for the example."""
        payload = req.json_object()
        count = payload.pop("records", 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            return json_response(400, {"ok": False, "error": "records must be a whole number >= 0"})
        example = payload.pop("example", None)
        if example not in (None, "cars"):
            return json_response(400, {"ok": False, "error": "the only example is 'cars'"})
        stored = self.create(CARS if example == "cars" else payload)
        if example == "cars" and count:
            self._seed_cars(stored, count)
        return json_response(201, _render(stored))

    def _seed_cars(self, stored: Mapping[str, Any], count: int) -> None:
        ot = _object_type(stored)
        rng = random.Random(f"integrations-hub-sandbox:cars:{count}")
        colors = [value for value, _ in CARS_COLORS]
        with self.dialect.store.write(notify=False) as tx:
            for index in range(count):
                make, model = rng.choice(_MODELS)
                created = demo.SEED_ANCHOR_MS - rng.randrange(30, 700) * 86_400_000
                updated = created + rng.randrange(0, demo.SEED_ANCHOR_MS - created)
                values = {
                    "vin": f"SBX{count:04d}{index:010d}",
                    "make": make,
                    "model": model,
                    "year": str(rng.randrange(2012, 2026)),
                    "mileage": str(rng.randrange(0, 180_000)),
                    "color": rng.choice(colors),
                }
                row = tx.insert(
                    ot.name,
                    values,
                    first_id=ot.first_id,
                    unique={"vin": values["vin"]},
                    created_ms=created,
                    updated_ms=updated,
                )
                contact = 101 + index
                if tx.get("contacts", contact) is not None:
                    self.dialect.links._link(tx, ot.name, row.id, "contacts", contact)

    def _admin_type(self, req: Request) -> ObjectType:
        ot = self.object_type(req.params["object"])
        if ot is None:
            raise HttpError(
                json_response(404, {"ok": False, "error": f"unknown custom object {req.params['object']!r}"})
            )
        return ot

    def admin_records(self, req: Request) -> Response:
        ot = self._admin_type(req)
        with self.dialect.store.read() as tx:
            rows = tx.all(ot.name)
        return json_response(
            200, {"results": [self.dialect.render(ot, r, None, everything=True) for r in rows]}
        )

    def admin_edit(self, req: Request) -> Response:
        ot = self._admin_type(req)
        row = self.dialect._update(ot, req.params["id"], None, req.json_object())
        return json_response(200, self.dialect.render(ot, row, None, everything=True))


def _object_name(type_id: str) -> str:
    """Standard objects go by their names in the store and in links; custom ones by their objectTypeId."""
    return next((name for name, known in STANDARD_TYPE_IDS.items() if known == type_id), type_id)


def _label_name(type_id: str, custom_name: str) -> str:
    """How an association's name calls one side: `cars_to_contact`."""
    return _SINGULAR.get(_object_name(type_id), custom_name)


def _props(schema: Mapping[str, Any]) -> tuple[Prop, ...]:
    from connectors.sandbox.crm import Prop

    group = f"{schema['name'].lower()}_information"
    custom = tuple(
        Prop(**{**p, "options": tuple(tuple(o) for o in p["options"])}) for p in schema["properties"]
    )
    system = (
        Prop("hs_createdate", "Object create date/time", "datetime", "date", group, read_only=True),
        Prop(
            "hs_lastmodifieddate", "Object last modified date/time", "datetime", "date", group, read_only=True
        ),
        Prop("hs_object_id", "Record ID", "number", "number", group, read_only=True),
    )
    return (*custom, *system)


def _object_type(schema: Mapping[str, Any]) -> ObjectType:
    from connectors.sandbox.crm import ObjectType

    primary = str(schema["primaryDisplayProperty"])
    return ObjectType(
        name=str(schema["objectTypeId"]),
        singular=str(schema["labels"]["singular"]),
        type_label=str(schema["name"]).upper(),
        first_id=FIRST_RECORD_ID,
        props=_props(schema),
        defaults=(*_SYSTEM, primary),
        modified=("hs_lastmodifieddate",),
        searchable=tuple(schema["searchableProperties"] or [primary]),
        required=tuple(schema["requiredProperties"]),
        created="hs_createdate",
    )


def _render(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A definition as HubSpot's schemas API shows it."""
    return {
        "id": schema["id"],
        "name": schema["name"],
        "description": schema["description"],
        "labels": schema["labels"],
        "objectTypeId": schema["objectTypeId"],
        "fullyQualifiedName": schema["fullyQualifiedName"],
        "primaryDisplayProperty": schema["primaryDisplayProperty"],
        "secondaryDisplayProperties": schema["secondaryDisplayProperties"],
        "requiredProperties": schema["requiredProperties"],
        "searchableProperties": schema["searchableProperties"],
        "properties": [p.definition(i) for i, p in enumerate(_props(schema))],
        "associations": schema["associations"],
        "metaType": "PORTAL_SPECIFIC",
        "portalId": PORTAL_ID,
        "createdAt": schema["createdAt"],
        "updatedAt": schema["updatedAt"],
        "archived": schema["archived"],
    }
