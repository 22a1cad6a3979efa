"""Who may call an endpoint: a member of a team, with at least the role the view asks for."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from integrations_hub.accounts.models import Membership, Team

# Higher includes lower: an admin may do everything an editor may.
ROLE_RANK = {Membership.Role.EDITOR: 1, Membership.Role.ADMIN: 2}


class TeamRole(BasePermission):
    """The caller belongs to a team and has the view's `required_role` (default: editor).

    Objects of other teams are not refused here but never found: every queryset is scoped to the
    caller's team, so they answer 404 and do not reveal that they exist.
    """

    message = "You are not a member of any team."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        membership: Membership | None = getattr(user, "membership", None)
        if membership is None:
            return False
        required = getattr(view, "required_role", Membership.Role.EDITOR)
        if ROLE_RANK.get(Membership.Role(membership.role), 0) < ROLE_RANK[required]:
            self.message = f"This needs the {Membership.Role(required).label.lower()} role in your team."
            return False
        return True


def caller_team(request: Request) -> Team:
    """The caller's team; only called after TeamRole allowed the request."""
    membership: Membership = request.user.membership  # type: ignore[union-attr]
    return membership.team
