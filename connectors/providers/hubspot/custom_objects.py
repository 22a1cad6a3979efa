"""HubSpot custom objects: how a connection names them, and what the schemas API says about them.

A custom object is addressed by its fully qualified name (`p<portal>_<name>`) or its object type id
(`2-<n>`), in every objects, search, batch, properties and associations URL, exactly where a standard
object's name goes; so the client reads and writes them through the same code as contacts. A connection
lists the custom objects it works with in its settings (filled in by discovery, `discover_custom_objects`),
because the objects a connection exposes are known without calling HubSpot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import ConnectorError
from connectors.http import HttpClient

CUSTOM_OBJECT_RE = re.compile(r"^(2-\d+|p\d+_[A-Za-z][A-Za-z0-9_]*)$")
# HubSpot's ids of the standard objects a custom object's associations name.
STANDARD_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-5": "tickets", "0-27": "tasks"}


def is_custom_object(name: str) -> bool:
    return bool(CUSTOM_OBJECT_RE.match(name))


def custom_label(name: str) -> str:
    """A readable label from the name alone: `p7300001_car_models` -> "Car models"."""
    bare = re.sub(r"^p\d+_", "", name)
    return bare.replace("_", " ").capitalize() if bare != name or not name.startswith("2-") else name


def parse_custom_objects(value: Any) -> Any:
    """The connection form sends text: "p123_cars:vin, p123_pets" (object, then the unique property to
    upsert by, if any). A mapping passes through; each name must be a custom object's."""
    if isinstance(value, str):
        parsed: dict[str, str] = {}
        for part in value.split(","):
            if not part.strip():
                continue
            name, _, key = part.partition(":")
            parsed[name.strip()] = key.strip()
        value = parsed
    if isinstance(value, Mapping):
        for name in value:
            if not is_custom_object(str(name)):
                raise ValueError(
                    f"{name!r} is not a custom object: use its fully qualified name (p<portal>_<name>) "
                    "or its object type id (2-<n>)"
                )
    return value


def configured_custom_objects(config: Mapping[str, Any]) -> dict[str, str]:
    """Custom object -> the unique property to upsert by ("" for none), from a config that may be unchecked."""
    try:
        value = parse_custom_objects(config.get("custom_objects") or {})
    except ValueError:
        return {}
    if not isinstance(value, Mapping):
        return {}
    return {str(name): str(key or "") for name, key in value.items()}


@dataclass(frozen=True)
class CustomObject:
    """One custom object as `GET /crm/v3/schemas` describes it."""

    object_type_id: str
    fully_qualified_name: str
    name: str
    label: str
    unique_properties: tuple[str, ...] = ()
    # (from object, to object, association type id) for each association the schema defines, both ways;
    # standard objects by name (contacts), this one by its object type id.
    associations: tuple[tuple[str, str, int], ...] = field(default=())

    def addressed_by(self, name: str) -> bool:
        return name in (self.object_type_id, self.fully_qualified_name) or (
            name.lower() == self.fully_qualified_name.lower()
        )


def _custom_object(schema: Mapping[str, Any]) -> CustomObject:
    type_id = str(schema.get("objectTypeId") or "")
    labels = schema.get("labels") or {}
    unique = tuple(
        str(p["name"])
        for p in schema.get("properties") or []
        if isinstance(p, dict) and p.get("name") and p.get("hasUniqueValue") and not p.get("hubspotDefined")
    )
    links: list[tuple[str, str, int]] = []
    for link in schema.get("associations") or []:
        if not isinstance(link, dict):
            continue
        from_id, to_id = str(link.get("fromObjectTypeId")), str(link.get("toObjectTypeId"))
        try:
            type_number = int(link["id"])
        except (KeyError, TypeError, ValueError):
            continue
        links.append(
            (STANDARD_TYPE_IDS.get(from_id, from_id), STANDARD_TYPE_IDS.get(to_id, to_id), type_number)
        )
    return CustomObject(
        object_type_id=type_id,
        fully_qualified_name=str(schema.get("fullyQualifiedName") or ""),
        name=str(schema.get("name") or ""),
        label=str(labels.get("plural") or schema.get("name") or type_id),
        unique_properties=unique,
        associations=tuple(links),
    )


def discover_custom_objects(http: HttpClient) -> list[CustomObject]:
    """Every custom object of the account (`GET /crm/v3/schemas`, scope crm.schemas.custom.read)."""
    response = http.get("/crm/v3/schemas")
    data = response.data if isinstance(response.data, dict) else {}
    return [_custom_object(s) for s in data.get("results") or [] if isinstance(s, dict)]


def find_custom_object(objects: list[CustomObject], name: str) -> CustomObject:
    found = next((o for o in objects if o.addressed_by(name)), None)
    if found is None:
        raise ConnectorError(
            f"HubSpot has no custom object {name!r} (was it deleted, or is the name mistyped?).",
            permanent=True,
        )
    return found


def association_types(objects: list[CustomObject]) -> dict[tuple[str, str], int]:
    """(from, to) -> association type id for custom objects, under either of their names.

    HubSpot defines one type per direction (car to contact, contact to car); a write names a custom object
    by its object type id or its fully qualified name, so both are keys.
    """
    types: dict[tuple[str, str], int] = {}
    for custom in objects:
        names = (custom.object_type_id, custom.fully_qualified_name)
        for from_object, to_object, type_id in custom.associations:
            for name in names:
                key = (
                    name if from_object == custom.object_type_id else from_object,
                    name if to_object == custom.object_type_id else to_object,
                )
                types[key] = type_id
    return types
