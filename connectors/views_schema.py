"""The schema browser of a connection: its objects, their fields as last discovered, what each supports."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from connectors.base import ConnectorError
from connectors.feasibility import ObjectFeasibility, connection_object_feasibility, connection_objects
from connectors.models import Connection
from connectors.registry import get_provider
from connectors.schemas import CachedSchema, SchemaChange, schema_cached, schema_entry, schema_refresh
from connectors.selectors import connection_get
from connectors.services import connection_record_error
from integrations_hub.accounts.access import team_of, team_required


@dataclass(frozen=True)
class SchemaPanel:
    """One object's section of the page (and the fragment a refresh swaps in)."""

    object_name: str
    label: str
    feasibility: ObjectFeasibility
    cached: CachedSchema | None
    change: SchemaChange | None = None
    error: str = ""


def _objects(connection: Connection) -> dict[str, str]:
    return connection_objects(connection=connection)


def _panel(
    connection: Connection,
    object_name: str,
    label: str,
    *,
    change: SchemaChange | None = None,
    error: str = "",
) -> SchemaPanel:
    return SchemaPanel(
        object_name=object_name,
        label=label,
        feasibility=connection_object_feasibility(connection=connection, object_name=object_name),
        cached=schema_cached(connection=connection, object_name=object_name),
        change=change,
        error=error,
    )


def _load(connection: Connection, object_name: str, label: str) -> SchemaPanel:
    """The cached fields, fetched first when missing or older than the cache's default age."""
    try:
        schema_entry(connection=connection, object_name=object_name)
    except ConnectorError as exc:
        # The same failure a run would meet: the connection shows it too. An older copy is still shown.
        connection_record_error(connection=connection, error=exc)
        return _panel(connection, object_name, label, error=exc.message)
    return _panel(connection, object_name, label)


@require_GET
@team_required
def connection_schema(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    panels = [_load(connection, name, label) for name, label in _objects(connection).items()]
    return render(
        request,
        "connectors/schema.html",
        {"connection": connection, "provider": get_provider(connection.kind), "panels": panels},
    )


@require_POST
@team_required
def connection_schema_refresh(request: HttpRequest, connection_id: int, object_name: str) -> HttpResponse:
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    objects = _objects(connection)
    if object_name not in objects:
        raise Http404(f"{connection.name} has no object {object_name!r}.")
    change: SchemaChange | None = None
    error = ""
    try:
        change = schema_refresh(connection=connection, object_name=object_name)
    except ConnectorError as exc:
        connection_record_error(connection=connection, error=exc)
        error = exc.message
    if request.htmx:  # type: ignore[attr-defined]
        panel = _panel(connection, object_name, objects[object_name], change=change, error=error)
        return render(
            request, "connectors/partials/schema_fields.html", {"connection": connection, "panel": panel}
        )
    if error:
        messages.error(request, f"{objects[object_name]}: {error}")
    elif change is not None:
        messages.success(request, f"{objects[object_name]}: {change.summary()}")
    return redirect("connection_schema", connection_id=connection.pk)
