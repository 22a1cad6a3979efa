from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from integrations_hub.accounts.models import Membership, Team
from integrations_hub.audit.services import audit_record


@transaction.atomic
def member_create(
    *, team: Team, username: str, password: str, role: str, email: str = "", actor: Any = None
) -> AbstractBaseUser:
    """Create a user in a team, or reset the password and role of an existing one (safe to repeat)."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.save()
    Membership.objects.update_or_create(user=user, defaults={"team": team, "role": role})
    audit_record(
        team=team,
        actor=actor,
        action="team.member_added",
        obj=user,
        summary=f"{username} is now {role} of {team}",
    )
    return user


class LastAdminError(ValueError):
    pass


@transaction.atomic
def member_set_role(*, membership: Membership, role: str, actor: Any = None) -> Membership:
    """Change a member's role; a team always keeps at least one admin."""
    if membership.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN:
        admins = Membership.objects.select_for_update().filter(
            team=membership.team, role=Membership.Role.ADMIN
        )
        if admins.count() <= 1:
            raise LastAdminError("A team needs at least one admin; make someone else admin first.")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        team=membership.team,
        actor=actor,
        action="team.role_changed",
        obj=membership.user,
        summary=f"{membership.user} is now {role}",
        changes={"role": [before, role]},
    )
    return membership
