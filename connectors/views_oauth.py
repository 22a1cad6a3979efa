"""The "Connect with ..." pages: start an OAuth sign-in, come back from it, reconnect a connection."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from connectors.base import ConnectorError, Provider
from connectors.forms import ConnectionForm
from connectors.models import Connection
from connectors.oauth import (
    OAuthApp,
    OAuthError,
    OAuthNotAvailable,
    authorization_complete,
    authorization_start,
    oauth_app,
)
from connectors.registry import get_provider
from connectors.selectors import connection_get
from connectors.services import connection_test
from integrations_hub.accounts.access import team_of, team_required


class OAuthConnectForm(ConnectionForm):
    """The connection form without the secret fields: signing in replaces typing a token."""

    def __init__(self, provider: type[Provider], *args: Any, **kwargs: Any) -> None:
        super().__init__(provider, *args, **kwargs)
        for name in provider.credential_fields:
            self.fields.pop(name, None)


def _callback_uri(request: HttpRequest, kind: str) -> str:
    # Must match what the OAuth app has registered; behind a proxy set SECURE_PROXY_SSL_HEADER and
    # ALLOWED_HOSTS so this comes out as the public URL.
    return request.build_absolute_uri(reverse("oauth_callback", args=[kind]))


def _unavailable(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "connectors/oauth_error.html", {"message": message}, status=404)


@team_required
def oauth_connect(request: HttpRequest, kind: str) -> HttpResponse:
    try:
        app = oauth_app(kind)
    except OAuthNotAvailable as exc:
        return _unavailable(request, exc.message)
    provider = get_provider(kind)
    form = OAuthConnectForm(provider, request.POST or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        if Connection.objects.filter(team=team_of(request), name=name).exists():
            form.add_error("name", "Your team already has a connection with this name.")
        else:
            url = authorization_start(
                session=request.session,
                app=app,
                team=team_of(request),
                redirect_uri=_callback_uri(request, kind),
                name=name,
                config=form.config(),
            )
            return redirect(url)
    return render(request, "connectors/oauth_connect.html", {"form": form, "app": app, "kind": kind})


@require_POST
@team_required
def oauth_reconnect(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = connection_get(team=team_of(request), connection_id=connection_id)
    try:
        app: OAuthApp = oauth_app(connection.kind)
    except OAuthNotAvailable as exc:
        return _unavailable(request, exc.message)
    url = authorization_start(
        session=request.session,
        app=app,
        team=team_of(request),
        redirect_uri=_callback_uri(request, connection.kind),
        connection=connection,
    )
    return redirect(url)


@team_required
def oauth_callback(request: HttpRequest, kind: str) -> HttpResponse:
    try:
        connection = authorization_complete(
            session=request.session,
            team=team_of(request),
            kind=kind,
            params=request.GET.dict(),
            actor=request.user,
        )
    except OAuthError as exc:
        return render(request, "connectors/oauth_error.html", {"message": exc.message}, status=400)
    except ConnectorError as exc:
        # The token endpoint refused the code or could not be reached; its message is redacted.
        return render(request, "connectors/oauth_error.html", {"message": exc.message}, status=502)
    result = connection_test(connection=connection)
    level = messages.SUCCESS if result.ok else messages.WARNING
    messages.add_message(request, level, f"Connected with {get_provider(kind).label}. Test: {result.message}")
    return redirect("connection_detail", connection_id=connection.pk)
