from __future__ import annotations

from django.http import HttpRequest

from integrations_hub.accounts.models import Membership


def team(request: HttpRequest) -> dict[str, Membership | None]:
    user = getattr(request, "user", None)
    membership = getattr(user, "membership", None) if user is not None and user.is_authenticated else None
    return {"membership": membership}
