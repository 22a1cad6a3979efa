"""Schema drift: a field the published mapping reads or writes was deleted or changed type in its system.

Left alone, drift fails every record of every run with the same error (or, on the source side, silently
drops a value). Instead, the run checks the two objects' schemas first; on drift the hub pauses the
workflow with the reason, opens one "paused" incident and the run fails with that reason and no
per-record noise. A person fixes the mapping, publishes and enables the workflow again.

What counts as drift:
- a plain field the mapping reads (source) or writes (target) is not in the object's schema;
- a target field it writes is read-only;
- a mapped field's type changed, after the version was published, into an incompatible family
  (text, number, yes/no, date, JSON): text to picklist is fine, text to number is not.
Fields reached by a JSONPath (`$.a.b`) are not checked: a path may reach into data no schema describes;
nor are association fields (`associations.contacts`), which link records rather than name a property.

A schema that cannot be fetched (ConnectorError) is not drift: the check is skipped for that side and
the run goes on to meet the same error where it is handled today (the connection is marked failing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings

from connectors.base import ConnectorError, FieldType
from connectors.models import Connection
from connectors.schemas import CachedSchema, schema_entry
from workflows.definition import Definition
from workflows.engine.mapping import CompiledMapping, compile_mapping, path_root
from workflows.engine.paths import PATH_PREFIX
from workflows.models import Incident, Workflow
from workflows.services.alerts import incident_open, incident_resolve
from workflows.services.workflow import workflow_pause

logger = logging.getLogger(__name__)

ASSOCIATION_PREFIX = "associations."
# Every drift reason starts with this, so a clean check can tell its own incident from a flood hold's.
DRIFT_PREFIX = "Schema drift: "

# Values of one family convert into each other without loss (all text-like values are strings; a date
# and a date-time differ only in precision), so a change within a family keeps the mapping working.
_TYPE_FAMILY: dict[str, str] = {
    "string": "text",
    "email": "text",
    "phone": "text",
    "enumeration": "text",
    "number": "number",
    "boolean": "yes/no",
    "date": "date",
    "datetime": "date",
    "json": "JSON",
}

Side = Literal["source", "target"]


class SchemaDrift(Exception):
    """The drift check paused the workflow; the run stops with this reason."""


@dataclass(frozen=True)
class DriftProblem:
    side: Side
    connection_id: int
    object_name: str
    field: str
    message: str


@dataclass(frozen=True)
class DriftReport:
    problems: tuple[DriftProblem, ...]

    @property
    def reason(self) -> str:
        listed = "; ".join(problem.message for problem in self.problems)
        return f"{DRIFT_PREFIX}{listed}. Fix the mapping and publish it, then enable the workflow again."


def schema_max_age() -> timedelta:
    return timedelta(seconds=settings.HUB_SCHEMA_MAX_AGE_SECONDS)


def types_compatible(old: str, new: str) -> bool:
    return old == new or _TYPE_FAMILY.get(old, old) == _TYPE_FAMILY.get(new, new)


def read_fields(mapping: CompiledMapping) -> frozenset[str]:
    """The source fields the mapping reads by name (not those only reached through a JSONPath)."""
    path_roots = set()
    plain = set()
    for row in mapping.rows:
        for source in row.sources:
            if source.startswith(PATH_PREFIX):
                root = path_root(source)
                if root:
                    path_roots.add(root)
            else:
                plain.add(source)
    return frozenset(mapping.source_fields - (path_roots - plain))


def workflow_check_drift(
    *,
    workflow: Workflow,
    definition: Definition,
    mapping: CompiledMapping | None = None,
    published_at: datetime | None = None,
    run_id: int | None = None,
) -> DriftReport | None:
    """Check the published definition's objects for drift; on drift pause the workflow and say why.

    `published_at`: when the version being run was published (type changes before it were seen by the
    person who published); default: the workflow's published version. Raises MappingSpecError when the
    definition's mapping does not compile (pass `mapping` to reuse a compiled one).
    """
    compiled = mapping if mapping is not None else compile_mapping(definition.mapping)
    if published_at is None and workflow.published_version is not None:
        published_at = workflow.published_version.created_at
    ids = [i for i in (definition.source_connection_id, definition.target_connection_id) if i]
    connections = Connection.objects.in_bulk(ids)
    sides: list[tuple[Side, Connection | None, str, frozenset[str]]] = []
    # A webhook's records are shaped by its sender, not by the source connection's schema.
    if definition.source_connection_id and definition.trigger_type != Workflow.Trigger.WEBHOOK:
        sides.append(
            (
                "source",
                connections.get(definition.source_connection_id),
                definition.source_object,
                read_fields(compiled),
            )
        )
    sides.append(
        (
            "target",
            connections.get(definition.target_connection_id),
            definition.target_object,
            frozenset(compiled.targets),
        )
    )
    problems: list[DriftProblem] = []
    for side, connection, object_name, names in sides:
        if connection is not None and object_name and names:
            problems.extend(_side_problems(side, connection, object_name, names, published_at))
    if not problems:
        _resolve_drift_incident(workflow)
        return None
    report = DriftReport(tuple(problems))
    workflow_pause(workflow=workflow, reason=report.reason)
    incident_open(workflow_id=workflow.pk, kind=Incident.Kind.PAUSED, message=report.reason, run_id=run_id)
    logger.warning("workflow %s paused: %s", workflow.pk, report.reason)
    return report


def _side_problems(
    side: Side, connection: Connection, object_name: str, names: frozenset[str], published_at: datetime | None
) -> list[DriftProblem]:
    try:
        cached = schema_entry(connection=connection, object_name=object_name, max_age=schema_max_age())
        problems = drift_problems(side, connection, cached, names, published_at)
        if problems and not cached.refreshed:
            # Stopping a workflow is costly: confirm on a fresh copy that the cached one is still true
            # (the field may have been restored since).
            cached = schema_entry(connection=connection, object_name=object_name, refresh=True)
            problems = drift_problems(side, connection, cached, names, published_at)
    except ConnectorError as exc:
        logger.warning(
            "schema drift check skipped for %s %s: %s", connection, object_name, exc.message, exc_info=False
        )
        return []
    return problems


def drift_problems(
    side: Side,
    connection: Connection,
    cached: CachedSchema,
    names: frozenset[str],
    published_at: datetime | None,
) -> list[DriftProblem]:
    """The mapped fields `names` of one side that no longer fit the schema."""
    schema = cached.schema
    where = f"{connection.name} · {schema.label}"
    use = "read by the mapping" if side == "source" else "written by the mapping"
    problems = []
    for name in sorted(names):
        if name.startswith(ASSOCIATION_PREFIX):
            continue  # a link to another record (HubSpot associations), not a property the schema lists
        found = schema.field(name)
        message = None
        if found is None:
            message = f"{where} has no field '{name}' any more ({use})"
        elif side == "target" and found.read_only:
            message = f"{where}: '{found.label}' ({name}) is read-only ({use})"
        elif published_at is not None:
            old: FieldType | None = cached.type_at(name, published_at)
            if old is not None and not types_compatible(old, found.type):
                message = f"{where}: '{found.label}' ({name}) changed type from {old} to {found.type} ({use})"
        if message is not None:
            problems.append(DriftProblem(side, connection.pk, schema.name, name, message))
    return problems


def _resolve_drift_incident(workflow: Workflow) -> None:
    """A clean check ends an open drift incident (but not a flood hold, which shares the kind)."""
    open_incident = Incident.objects.filter(
        workflow=workflow, kind=Incident.Kind.PAUSED, resolved_at__isnull=True
    ).first()
    if open_incident is not None and open_incident.message.startswith(DRIFT_PREFIX):
        incident_resolve(workflow_id=workflow.pk, kind=Incident.Kind.PAUSED)
