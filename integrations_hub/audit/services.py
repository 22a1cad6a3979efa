from __future__ import annotations

from typing import Any

from integrations_hub.accounts.models import Team
from integrations_hub.audit.models import AuditEntry


def audit_record(
    *,
    team: Team | int,
    actor: Any,
    action: str,
    obj: Any,
    summary: str,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit entry. `actor` may be None (the hub itself) or an anonymous user."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        team_id=team if isinstance(team, int) else team.pk,
        actor=user,
        action=action,
        object_type=type(obj).__name__.lower(),
        object_id=str(getattr(obj, "pk", obj)),
        summary=summary[:300],
        changes=changes or {},
    )


def field_changes(
    before: dict[str, Any], after: dict[str, Any], *, secret: set[str] | None = None
) -> dict[str, Any]:
    """{field: [old, new]} for what changed; secret fields only say that they changed."""
    hidden = secret or set()
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes[key] = "changed" if key in hidden else [before.get(key), after.get(key)]
    return changes
