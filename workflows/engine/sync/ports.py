"""What a two-way sync may ask of a connector beyond the ConnectorClient contract, and of its links.

Deleting goes through the contract's `ConnectorClient.delete`, offered where the connector's Capabilities say
`delete`. The rest is optional: a client offers it by having the method (checked with `isinstance`), and the
sync does without it otherwise: a batch delete (one call for many records), the recycle bin of a system whose
change feed leaves deleted records out (HubSpot), and per-field change times.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connectors.base import SourceRecord, WriteResult
from workflows.engine.sync.spec import Reference, Side


@runtime_checkable
class DeletesInBatches(Protocol):
    def delete_batch(self, object_name: str, ids: list[str]) -> list[WriteResult]:
        """Delete (or archive, as the system calls it) each record; one result per id, in order."""
        ...


@runtime_checkable
class ReportsArchived(Protocol):
    def archived(self, object_name: str, *, page_size: int = 100) -> Iterator[SourceRecord]:
        """The records deleted (archived) and still in the recycle bin, each marked as such."""
        ...


@runtime_checkable
class ReportsFieldTimes(Protocol):
    def field_times(self, object_name: str, record: SourceRecord) -> Mapping[str, datetime]:
        """When each field of `record` last changed, for systems that keep property history."""
        ...


@dataclass(frozen=True)
class Translation:
    """A reference value carried to the other side; `found` is False when no link exists yet."""

    found: bool
    value: Any = None


class ReferencePort(Protocol):
    def translate(self, reference: Reference, source: Side, value: Any) -> Translation:
        """The other side's reference for the related record `value` names on `source`."""
        ...
