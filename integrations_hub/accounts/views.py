from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from integrations_hub.accounts.access import admin_required, membership_of, team_required
from integrations_hub.accounts.forms import MemberAddForm, RoleForm
from integrations_hub.accounts.models import Membership
from integrations_hub.accounts.services import LastAdminError, member_create, member_set_role


@team_required
def team_detail(request: HttpRequest) -> HttpResponse:
    me = membership_of(request)
    members = Membership.objects.filter(team=me.team).select_related("user").order_by("user__username")
    form = MemberAddForm() if me.is_admin else None
    return render(request, "accounts/team.html", {"team": me.team, "members": members, "form": form})


@require_POST
@admin_required
def member_add(request: HttpRequest) -> HttpResponse:
    me = membership_of(request)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        member_create(
            team=me.team,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
            role=form.cleaned_data["role"],
            email=form.cleaned_data["email"],
            actor=request.user,
        )
        messages.success(request, f"{form.cleaned_data['username']} was added to {me.team}.")
        return redirect("team")
    members = Membership.objects.filter(team=me.team).select_related("user").order_by("user__username")
    return render(
        request, "accounts/team.html", {"team": me.team, "members": members, "form": form}, status=400
    )


@require_POST
@admin_required
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    me = membership_of(request)
    membership = get_object_or_404(Membership, team=me.team, pk=membership_id)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            member_set_role(membership=membership, role=form.cleaned_data["role"], actor=request.user)
        except LastAdminError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{membership.user} is now {membership.get_role_display().lower()}.")
    return redirect("team")
