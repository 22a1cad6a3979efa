"""Transforms that need the outside world, reached only through ports given at apply time.

`lookup_link` turns a record id of the source system into the id of the record it is
linked to in another connection ("company c-17 in the CRM is account 0015 in billing").
The engine never reads the link table itself: the caller passes an `ApplyContext` whose
`lookups` port answers, so the mapping stays plain Python and tests use a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from connectors.base import ConnectorError
from workflows.engine.values import DropValue, TransformError, as_text, show

# A connection is named by its primary key; the JSON of a definition may carry it as text.
ConnectionRef = int | str


class LookupPort(Protocol):
    def linked_id(self, connection: ConnectionRef, object_name: str, source_id: str) -> str | None:
        """The id of the `object_name` record in `connection` linked to `source_id`, or None."""
        ...


@dataclass(frozen=True, slots=True)
class ApplyContext:
    """What a mapping may reach beyond the record while it is applied."""

    lookups: LookupPort | None = None


# A bound transform that also receives the record and the apply context.
ContextStep = Callable[[Any, Mapping[str, Any], ApplyContext | None], Any]

MISSING_LINK_POLICIES = ("fail", "empty", "drop")


def check_connection(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return "choose a connection"
    return None


def _resolve(value: Any, connection: ConnectionRef, object_name: str, missing: str, context: Any) -> Any:
    if value is None:
        return None
    source_id = as_text(value, "lookup_link").strip()
    if not source_id:
        return None
    port = context.lookups if isinstance(context, ApplyContext) else None
    if port is None:
        raise TransformError(
            f"can't find the linked {object_name} record here: record links are only available"
            " when the mapping runs in a workflow"
        )
    try:
        linked = port.linked_id(connection, object_name, source_id)
    except ConnectorError as error:
        raise TransformError(
            f"couldn't look up the linked {object_name} record of {show(source_id)}: {error.message}"
        ) from None
    if linked is not None and linked != "":
        return linked
    if missing == "empty":
        return None
    reason = f"{show(source_id)} has no linked {object_name} record in connection {connection}"
    if missing == "drop":
        raise DropValue(reason)
    raise TransformError(reason)


def lookup_link(
    value: Any,
    /,
    connection: ConnectionRef = "",
    object: str = "",  # the argument's name in mapping specs
    missing: str = "fail",
    *,
    context: ApplyContext | None = None,
) -> Any:
    return _resolve(value, connection, object, missing, context)


def prepare_lookup_link(args: Mapping[str, Any]) -> ContextStep:
    connection, object_name, missing = args["connection"], args["object"], args["missing"]
    return lambda value, record, context: _resolve(value, connection, object_name, missing, context)


def check_lookup_link(args: Mapping[str, Any]) -> list[str]:
    problems = []
    if (problem := check_connection(args["connection"])) is not None:
        problems.append(problem)
    if not args["object"].strip():
        problems.append("choose the object whose records are linked")
    return problems
