"""Related records through another sync's identity map: a contact's company becomes the user's organization,
a ticket's contact the helpdesk ticket's requester.

A reference pair says how each side names the related record: by id ("$id", an association or a lookup
field such as Zendesk's `organization_id` or `requester_id`) or by one of its synced fields (HubSpot contacts
carry the company's *name*). The related sync's links translate one into the other, whatever the objects.
Answers are cached for the run.
"""

from __future__ import annotations

from typing import Any

from workflows.engine.sync.matching import normalise_text
from workflows.engine.sync.ports import Translation
from workflows.engine.sync.spec import RECORD_ID, Reference, Side, other
from workflows.sync.models import SyncLink, SyncRecord


def _id_value(record_id: str) -> Any:
    # Lookup fields hold ids as numbers where the system's ids are numbers (Zendesk organization_id).
    return int(record_id) if record_id.isdigit() else record_id


class LinkReferences:
    def __init__(self, team_id: int) -> None:
        self.team_id = team_id
        self._cache: dict[tuple[int, Side, str], Translation] = {}

    def translate(self, reference: Reference, source: Side, value: Any) -> Translation:
        text = normalise_text(value)
        if text is None:
            return Translation(True, None)
        key = (reference.sync_id, source, text)
        if key not in self._cache:
            self._cache[key] = self._lookup(reference, source, value, text)
        return self._cache[key]

    def _lookup(self, reference: Reference, source: Side, value: Any, text: str) -> Translation:
        target = other(source)
        source_key = reference.a_key if source == "a" else reference.b_key
        target_key = reference.a_key if target == "a" else reference.b_key
        links = SyncLink.objects.filter(
            sync_id=reference.sync_id, sync__team_id=self.team_id, status=SyncLink.Status.ACTIVE
        )
        if source_key == RECORD_ID:
            link = links.filter(**{f"{source}_id": str(value).strip()}).first()
        else:
            # Named by a field (a company's name): find the related record by it, ignoring case.
            ids = list(
                SyncRecord.objects.filter(
                    sync_id=reference.sync_id,
                    side=source,
                    deleted=False,
                    **{f"values__{source_key}__iexact": str(value).strip()},
                ).values_list("record_id", flat=True)[:2]
            )
            # Two related records with the same name: which one is meant can't be told, so none is.
            link = links.filter(**{f"{source}_id": ids[0]}).first() if len(ids) == 1 else None
        if link is None:
            return Translation(False)
        target_id = link.a_id if target == "a" else link.b_id
        if target_key == RECORD_ID:
            return Translation(True, _id_value(target_id))
        record = SyncRecord.objects.filter(
            sync_id=reference.sync_id, side=target, record_id=target_id
        ).first()
        if record is None or target_key not in record.values:
            return Translation(False)
        return Translation(True, record.values[target_key])
