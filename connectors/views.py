from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from connectors.deletion import ConnectionInUse, connection_delete
from connectors.forms import ConnectionForm, initial_from_config
from connectors.providers.csv_file.uploads import CsvUploadRejected, csv_upload
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
    checked: dict[str, str] | None = None
    discovered: dict[str, Any] | None = None
    if request.method == "POST" and request.POST.get("check"):
        checked = form.check()
    elif request.method == "POST" and request.POST.get("discover"):
        discovered = form.discover()
    elif request.method == "POST" and form.is_valid():
        try:
            connection = connection_create(
                team=team_of(request),
                name=form.cleaned_data["name"],
                kind=kind,
                config=form.config(),
                credentials=form.credentials(),
                actor=request.user,
            )
        except ConnectionInputError as exc:
            _place_errors(form, exc)
        except IntegrityError:
            form.add_error("name", "Your team already has a connection with this name.")
        else:
            result = connection_test(connection=connection)
            level = messages.SUCCESS if result.ok else messages.WARNING
            messages.add_message(request, level, f"Connection saved. Test: {result.message}")
            return redirect("connection_detail", connection_id=connection.pk)
    return render(
        request,
        "connectors/connection_form.html",
        {"form": form, "kind": kind, "provider": provider, "checked": checked, "discovered": discovered},
    )


def _place_errors(form: ConnectionForm, exc: ConnectionInputError) -> None:
    for key, message in exc.errors.items():
        form.add_error(form.field_for(key), message)


@team_required
def connection_edit(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    provider = get_provider(connection.kind)
    initial = {"name": connection.name, **initial_from_config(connection.config)}
    stored = [name for name, value in connection.get_credentials().items() if value]
    form = ConnectionForm(
        provider, request.POST or None, initial=initial, editing=True, stored_secrets=stored
    )
    checked: dict[str, str] | None = None
    discovered: dict[str, Any] | None = None
    if request.method == "POST" and request.POST.get("check"):
        checked = form.check()
    elif request.method == "POST" and request.POST.get("discover"):
        discovered = form.discover(connection.get_credentials())
    elif request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                connection_update(
                    connection=connection,
                    name=form.cleaned_data["name"],
                    config=form.config(),
                    credentials=form.credentials(),
                    actor=request.user,
                )
        except ConnectionInputError as exc:
            _place_errors(form, exc)
        except IntegrityError:
            connection.refresh_from_db()
            form.add_error("name", "Your team already has a connection with this name.")
        else:
            messages.success(request, "Connection updated.")
            return redirect("connection_detail", connection_id=connection.pk)
    return render(
        request,
        "connectors/connection_form.html",
        {
            "form": form,
            "kind": connection.kind,
            "provider": provider,
            "connection": connection,
            "checked": checked,
            "discovered": discovered,
        },
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


@require_POST
@team_required
def connection_upload(request: HttpRequest, connection_id: int) -> HttpResponse:
    """Upload the import file of a CSV connection (the next read of the connection reads it)."""
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a CSV file to upload.")
        return redirect("connection_detail", connection_id=connection.pk)
    try:
        receipt = csv_upload(
            connection=connection, upload=upload, filename=upload.name or "", actor=request.user
        )
    except CsvUploadRejected as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"{receipt.name} uploaded: {receipt.rows} row{'s' if receipt.rows != 1 else ''}, "
            f"columns {', '.join(receipt.columns)}.",
        )
    return redirect("connection_detail", connection_id=connection.pk)


@team_required
def connection_delete_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    """Ask first (GET), delete on POST; refused while workflows or syncs still use the connection."""
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    if request.method == "POST":
        try:
            connection_delete(connection=connection, user=request.user)
        except ConnectionInUse as exc:
            messages.error(request, str(exc))
            return redirect("connection_detail", connection_id=connection.pk)
        messages.success(request, f"Deleted connection {connection.name}.")
        return redirect("connection_list")
    return render(request, "connectors/connection_delete.html", {"connection": connection})
