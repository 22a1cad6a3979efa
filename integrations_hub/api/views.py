"""The token page: a team member creates and revokes their own API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from integrations_hub.accounts.access import team_required
from integrations_hub.api.forms import TokenCreateForm
from integrations_hub.api.tokens import token_create, token_list, token_revoke


@team_required
def token_page(request: HttpRequest) -> HttpResponse:
    """GET lists the tokens; POST creates one and shows its key on this response only."""
    new_key = ""
    form = TokenCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            created = token_create(user=request.user, name=form.cleaned_data["name"])  # type: ignore[arg-type]
            new_key = created.key
            form = TokenCreateForm()
        else:
            status = 400
    context = {"tokens": token_list(user=request.user), "form": form, "new_key": new_key}  # type: ignore[arg-type]
    response = render(request, "api/tokens.html", context, status=status)
    # The page may hold a key shown once: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@team_required
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    if token_revoke(user=request.user, token_id=token_id):  # type: ignore[arg-type]
        messages.success(request, "The token was revoked; requests with it are refused from now on.")
    else:
        messages.info(request, "That token was already revoked.")
    return redirect("api:tokens")
