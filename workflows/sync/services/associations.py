"""Related records a system keeps as associations rather than as a field of the record.

HubSpot links a contact to its company, or a ticket to its contact, with an association (API v4), not a
property. A sync reads it as the field `associations.<object>` (the linked record's id; a list when there are
several; empty when none), and writes it the same way: the HubSpot client turns a written
`associations.<object>` into the association. With a `reference` through the sync that links those objects,
the contact's company travels to the helpdesk user's `organization_id`, the ticket's contact to the helpdesk
ticket's `requester_id`, and back.

The associations are read for each page the change feed returns, in one batch call per linked object. A
system that reports no change of the record when only its associations change (HubSpot) shows a new
association with the record's next change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from connectors.base import ConnectorClient, SourceRecord

PREFIX = "associations."

Reader = Callable[[str, str, Iterable[str]], Mapping[str, list[str]]]


def association_fields(names: Iterable[str]) -> dict[str, str]:
    """{field: linked object} for the fields that name associations (`associations.companies`)."""
    return {
        name: name[len(PREFIX) :] for name in names if name.startswith(PREFIX) and len(name) > len(PREFIX)
    }


def reader_of(client: ConnectorClient) -> Reader | None:
    """The client's batch read of associations (`client.associations.read(from, to, ids)`), if it has one."""
    read = getattr(getattr(client, "associations", None), "read", None)
    return read if callable(read) else None


def with_associations(
    client: ConnectorClient, object_name: str, records: list[SourceRecord], names: Iterable[str]
) -> list[SourceRecord]:
    """`records` with each association field the sync needs filled in from the system."""
    wanted = association_fields(names)
    read = reader_of(client)
    if not wanted or not records or read is None:
        return records
    ids = [record.id for record in records]
    linked = {name: read(object_name, to_object, ids) for name, to_object in wanted.items()}
    return [
        SourceRecord(
            record.id,
            record.updated_at,
            {**record.fields, **{name: _value(linked[name].get(record.id, [])) for name in wanted}},
        )
        for record in records
    ]


def _value(ids: list[str]) -> Any:
    if not ids:
        return None
    return ids[0] if len(ids) == 1 else sorted(ids)
