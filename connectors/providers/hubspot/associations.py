"""HubSpot associations (API v4): link records across objects and read the links back.

The default association is HubSpot's unlabelled type for the pair (deal to contact, ticket to
company, ...): what a person gets by linking records in the HubSpot app, and what workflows need
("attach the new deal to this contact"). Labelled associations are not offered here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connectors.base import ConnectorError, path_segment
from connectors.http import HttpClient

MAX_BATCH = 100
# HubSpot's ids of the default (unlabelled) association type from one object to another, as a v3
# create's `associations` names them.
DEFAULT_TYPES: dict[tuple[str, str], int] = {
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
# A write's field named `associations.<object>` links the record to that object's record(s) by id.
FIELD_PREFIX = "associations."


def split_fields(
    object_name: str, fields: Mapping[str, Any], custom_types: Mapping[tuple[str, str], int] | None = None
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A write's properties, and the records (object -> ids) its `associations.<object>` fields name.

    `custom_types`: the association types custom objects' schemas define (custom_objects.py).
    Raises ValueError with a message for the record when a field names an object HubSpot cannot link
    this one to.
    """
    properties: dict[str, Any] = {}
    links: dict[str, list[str]] = {}
    for name, value in fields.items():
        if not name.startswith(FIELD_PREFIX):
            properties[name] = value
            continue
        to_object = name[len(FIELD_PREFIX) :]
        if (object_name, to_object) not in DEFAULT_TYPES and (object_name, to_object) not in (
            custom_types or {}
        ):
            raise ValueError(f"HubSpot {object_name} cannot be associated with {to_object}.")
        values = value if isinstance(value, list | tuple) else [value]
        ids = [str(v).strip() for v in values if v is not None and str(v).strip()]
        if ids:
            links[to_object] = ids
    return properties, links


def create_body(
    object_name: str,
    links: Mapping[str, list[str]],
    custom_types: Mapping[tuple[str, str], int] | None = None,
) -> list[dict[str, Any]]:
    """The `associations` of a v3 create (POST /crm/v3/objects/{object}).

    Types a custom object's schema defined are the account's own (USER_DEFINED); the rest HubSpot's.
    """
    body: list[dict[str, Any]] = []
    for to_object, ids in links.items():
        pair = (object_name, to_object)
        if pair in DEFAULT_TYPES:
            kind = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": DEFAULT_TYPES[pair]}
        else:
            kind = {"associationCategory": "USER_DEFINED", "associationTypeId": (custom_types or {})[pair]}
        body.extend({"to": {"id": to_id}, "types": [kind]} for to_id in ids)
    return body


class Associations:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def associate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None:
        """Create the default association; associating twice is harmless (HubSpot keeps one)."""
        self.http.put(
            f"/crm/v4/objects/{from_object}/{path_segment(from_id)}/associations/default/"
            f"{to_object}/{path_segment(to_id)}"
        )

    def associate_many(self, from_object: str, to_object: str, pairs: Sequence[tuple[str, str]]) -> None:
        for start in range(0, len(pairs), MAX_BATCH):
            inputs = [{"from": {"id": a}, "to": {"id": b}} for a, b in pairs[start : start + MAX_BATCH]]
            self.http.post(
                f"/crm/v4/associations/{from_object}/{to_object}/batch/associate/default",
                json={"inputs": inputs},
            )

    def read(self, from_object: str, to_object: str, ids: Iterable[str]) -> dict[str, list[str]]:
        """The ids of `to_object` records linked to each of `ids` (every id is in the answer).

        HubSpot answers 207 with an error for ids that do not exist (or have no links); those map to an
        empty list rather than failing the read of the others.
        """
        wanted = list(dict.fromkeys(str(i) for i in ids))
        links: dict[str, list[str]] = {i: [] for i in wanted}
        for start in range(0, len(wanted), MAX_BATCH):
            chunk = wanted[start : start + MAX_BATCH]
            response = self.http.post(
                f"/crm/v4/associations/{from_object}/{to_object}/batch/read",
                json={"inputs": [{"id": i} for i in chunk]},
                expected=(200, 207),
            )
            data = response.data if isinstance(response.data, dict) else {}
            for result in data.get("results") or []:
                source = str((result.get("from") or {}).get("id"))
                if source not in links:
                    raise ConnectorError(
                        f"HubSpot returned associations for an id we did not ask for: {source}",
                        permanent=False,
                    )
                links[source] = sorted({str(t.get("toObjectId")) for t in result.get("to") or []}, key=int)
        return links
