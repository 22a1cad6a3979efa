"""Deleting a connection: refused while a workflow still reads from or writes to it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import ProtectedError, Q

from connectors.models import Connection


class ConnectionInUse(Exception):
    def __init__(self, users: list[str]) -> None:
        super().__init__(
            "This connection is used by "
            + ", ".join(repr(name) for name in users)
            + "; change or delete those first."
        )
        self.users = users


@transaction.atomic
def connection_delete(*, connection: Connection, user: Any = None) -> None:
    """Delete a connection and its cached schemas. Raises ConnectionInUse while workflows use it."""
    # Imported here: workflows depends on connectors, not the other way round.
    from workflows.models import Workflow

    names = list(
        Workflow.objects.filter(Q(source_connection=connection) | Q(target_connection=connection))
        .order_by("name")
        .values_list("name", flat=True)
    )
    if names:
        raise ConnectionInUse(names)
    from integrations_hub.audit.services import audit_record

    audit_record(
        team=connection.team_id,
        actor=user,
        action="connection.deleted",
        obj=connection,
        summary=f"Deleted connection {connection.name!r}",
    )
    try:
        connection.delete()
    except ProtectedError as exc:
        # Something newer than this check (another kind of object) still points at the connection.
        raise ConnectionInUse([str(obj) for obj in exc.protected_objects]) from None
