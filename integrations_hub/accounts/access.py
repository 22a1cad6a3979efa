"""Team scoping for views: who is asking, which team they act for, what their role allows."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from integrations_hub.accounts.models import Membership, Team

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])


def membership_of(request: HttpRequest) -> Membership:
    """The caller's membership; a signed-in user with no team sees nothing (404), never another team's data."""
    user = request.user
    membership = getattr(user, "membership", None) if user.is_authenticated else None
    if membership is None:
        raise Http404("You are not a member of any team.")
    return membership


def team_of(request: HttpRequest) -> Team:
    return membership_of(request).team


def team_required(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership_of(request)
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_required(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not membership_of(request).is_admin:
            raise PermissionDenied("Only team admins can do this.")
        return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
