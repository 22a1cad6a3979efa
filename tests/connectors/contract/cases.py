"""What the contract suite needs to know about one system: how to connect, what to write, how to check.

Each `case_<system>.py` module next to this one defines `CASE = ContractCase(...)`; test_contract.py
collects them, so adding a system to the suite is adding one small module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import ConnectorClient, FieldType, SourceRecord, WriteItem
from connectors.sandbox.testing import SandboxProcess

ClientFactory = Callable[[SandboxProcess, str | None], ConnectorClient]
"""(sandbox, wrong credential or None) -> a client of the system pointed at the sandbox."""


def changes_since(client: Any, object_name: str, cursor: str | None) -> list[SourceRecord]:
    """What an incremental read from `cursor` returns: where most systems report a deletion."""
    return [record for page in client.list_changes(object_name, cursor) for record in page.records]


@dataclass(frozen=True)
class ContractCase:
    name: str
    fixture: str  # the pytest fixture giving the (reset) sandbox
    object_name: str
    connect: ClientFactory
    wrong_credential: str
    # What the system itself says when the credential is wrong (a fragment of its message).
    wrong_credential_says: str
    # Fields the schema must describe, with their types, e.g. {"email": "email"}.
    schema_has: dict[str, FieldType]
    count: Callable[[SandboxProcess], int]
    new_items: Callable[[str], list[WriteItem]]  # (unique prefix) -> items that do not exist yet
    invalid_item: WriteItem
    rejection_says: str  # a fragment of the system's message for `invalid_item`
    match_field: str = ""
    # Reading (the systems that can be read)
    reads: bool = True
    few: int = 30  # records to seed for the other read tests
    many: int = 120  # records to seed for the paging tests
    page_size: int = 25
    record_ids: Callable[[SandboxProcess], set[str]] | None = None
    # Edits one record as a person would; returns the field and the value the read must show.
    admin_edit: Callable[[SandboxProcess, str], tuple[str, Any]] | None = None
    # Writing
    updates: bool = True  # False: every write creates (chat messages)
    change: Callable[[WriteItem], WriteItem] | None = None  # the same record with a changed field
    stored: Callable[[SandboxProcess, str, str], Any] | None = None  # (sandbox, target id, field) -> value
    custom_field: str | None = None  # a custom field the schema must mark as custom
    # Finding and deleting (the systems whose capabilities say they can)
    kind: str = ""  # the provider key, whose declared capabilities the find/delete tests follow
    find_field: str = ""  # a field new_items set, to look records up by
    # (value as written) -> the same value as a person might type it (HubSpot, for one, ignores case)
    find_as_typed: Callable[[Any], Any] = lambda value: value
    # (client, object, cursor from before the delete) -> the records where the system reports changes
    deletions: Callable[[Any, str, str | None], list[SourceRecord]] = changes_since
    # How a record read back after its deletion says it is gone, in the system's own terms.
    is_deleted: Callable[[SourceRecord], bool] = lambda record: False
    # The connection's settings beyond the base URL (those that decide its objects and capabilities).
    config: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name
