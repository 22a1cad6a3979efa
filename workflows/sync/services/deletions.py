"""How each side's change feed shows a deletion.

A sync's `deleted_when` names the condition per side. Where it is left empty, the connector's own way of
reporting a deleted record applies: HubSpot keeps archived records in its recycle bin, read with
`archived: true` (workflows.sync.services.ingest reads the bin, as the search feed leaves them out);
Zendesk's incremental export shows deleted users with `active: false`, tickets with `status: deleted` and
organizations with a `deleted_at`; Stripe sends the `deleted: true` object, Pipedrive `active_flag: false`,
Mailchimp members `status: archived`. A connector not listed reports no deletions, and a sync over it only
notices one through its own `deleted_when`.
"""

from __future__ import annotations

from typing import Any

from connectors.models import Connection
from connectors.registry import UnknownConnector, get_provider
from workflows.engine.sync.spec import SIDES
from workflows.sync.models import Sync

_ARCHIVED = {"field": "archived", "op": "equals", "value": True}
_INACTIVE = {"field": "active", "op": "equals", "value": False}
# {connector kind: {object: condition}}; "*" is every object of that connector.
REPORTED_DELETIONS: dict[str, dict[str, dict[str, Any]]] = {
    "hubspot": {"*": _ARCHIVED},
    "zendesk": {
        "users": _INACTIVE,
        "tickets": {"field": "status", "op": "equals", "value": "deleted"},
        "organizations": {"field": "deleted_at", "op": "is_not_empty"},
    },
    "stripe": {"*": {"field": "deleted", "op": "equals", "value": True}},
    "pipedrive": {"*": {"field": "active_flag", "op": "equals", "value": False}},
    "mailchimp": {"*": {"field": "status", "op": "equals", "value": "archived"}},
}


def reported_deletion(kind: str, object_name: str) -> dict[str, Any] | None:
    """The condition under which `kind`'s change feed reports a record of `object_name` as deleted."""
    per_object = REPORTED_DELETIONS.get(kind, {})
    return per_object.get(object_name) or per_object.get("*")


def connector_can_delete(connection: Connection | None, object_name: str) -> bool:
    """Whether the connection's connector says (in its Capabilities) that it can delete these records."""
    if connection is None or not object_name:
        return False
    try:
        capabilities = get_provider(connection.kind).capabilities.get(object_name)
    except UnknownConnector:
        return False
    return bool(capabilities and capabilities.delete)


def effective_deleted_when(sync: Sync) -> dict[str, Any]:
    """The sync's own `deleted_when`, with each side it leaves empty taken from the connector."""
    configured = dict(sync.deleted_when or {})
    for side in SIDES:
        if configured.get(side) is None:
            default = reported_deletion(sync.connection(side).kind, sync.object_name(side))
            if default is not None:
                configured[side] = default
    return configured


def describe(condition: Any) -> str:
    if not isinstance(condition, dict) or "field" not in condition:
        return "a condition" if condition else "not reported"
    value = condition.get("value")
    shown = "true" if value is True else "false" if value is False else repr(value)
    return f"{condition['field']} {condition.get('op', 'equals').replace('_', ' ')} {shown}"
