from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from connectors.forms import ConnectionForm
from connectors.registry import UnknownConnector, choices, get_provider
from connectors.selectors import connection_get, connection_list
from connectors.services import ConnectionInputError, connection_create, connection_test, connection_update
from integrations_hub.accounts.access import team_of, team_required


@team_required
def connection_index(request: HttpRequest) -> HttpResponse:
    return render(
        request, "connectors/connection_list.html", {"connections": connection_list(team=team_of(request))}
    )


@team_required
def connection_detail(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    return render(request, "connectors/connection_detail.html", {"connection": connection})


@team_required
def connection_new(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind") or request.POST.get("kind")
    if not kind:
        return render(request, "connectors/connection_kind.html", {"kinds": choices()})
    try:
        provider = get_provider(kind)
    except UnknownConnector:
        return render(
            request,
            "connectors/connection_kind.html",
            {"kinds": choices(), "error": f"Unknown connector {kind!r}."},
            status=400,
        )
    form = ConnectionForm(provider, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            connection = connection_create(
                team=team_of(request),
                name=form.cleaned_data["name"],
                kind=kind,
                config=form.config(),
                credentials=form.credentials(),
            )
        except ConnectionInputError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        except IntegrityError:
            form.add_error("name", "Your team already has a connection with this name.")
        else:
            result = connection_test(connection=connection)
            level = messages.SUCCESS if result.ok else messages.WARNING
            messages.add_message(request, level, f"Connection saved. Test: {result.message}")
            return redirect("connection_detail", connection_id=connection.pk)
    return render(
        request, "connectors/connection_form.html", {"form": form, "kind": kind, "provider": provider}
    )


@team_required
def connection_edit(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    provider = get_provider(connection.kind)
    initial = {"name": connection.name, **connection.config}
    form = ConnectionForm(provider, request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            connection_update(connection=connection, config=form.config(), credentials=form.credentials())
        except ConnectionInputError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        else:
            messages.success(request, "Connection updated.")
            return redirect("connection_detail", connection_id=connection.pk)
    return render(
        request,
        "connectors/connection_form.html",
        {"form": form, "kind": connection.kind, "provider": provider, "connection": connection},
    )


@require_POST
@team_required
def connection_test_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    result = connection_test(connection=connection)
    context = {"connection": connection, "result": result}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "connectors/partials/connection_status.html", context)
    level = messages.SUCCESS if result.ok else messages.ERROR
    messages.add_message(request, level, result.message)
    return redirect("connection_detail", connection_id=connection.pk)
