"""HubSpot associations (API v4): link records across objects and read the links back.

The default association is HubSpot's unlabelled type for the pair (deal to contact, ticket to
company, ...): what a person gets by linking records in the HubSpot app, and what workflows need
("attach the new deal to this contact"). Labelled associations are not offered here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from connectors.base import ConnectorError
from connectors.http import HttpClient

MAX_BATCH = 100


class Associations:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def associate(self, from_object: str, from_id: str, to_object: str, to_id: str) -> None:
        """Create the default association; associating twice is harmless (HubSpot keeps one)."""
        self.http.put(f"/crm/v4/objects/{from_object}/{from_id}/associations/default/{to_object}/{to_id}")

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
