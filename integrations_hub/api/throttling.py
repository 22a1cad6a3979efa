"""Request budgets of the API: one per signed-in user (shared by all their tokens and sessions), one per
client address for requests without credentials.

Rates come from the settings (`HUB_API_THROTTLE_USER`, `HUB_API_THROTTLE_ANON`) and are read on every
request, so a changed setting applies without re-importing anything. A request over budget is a 429
problem with `Retry-After` (integrations_hub.api.problems). The counts live in Django's cache: with
several web processes, configure a shared cache or each process keeps its own budget.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class _SettingsRate:
    scope: str | None

    def get_rate(self) -> str | None:
        # DRF copies the rates into the class when it is imported; read the current settings instead.
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES or {}
        rate = rates.get(str(self.scope))
        return str(rate) if rate else None


class UserThrottle(_SettingsRate, UserRateThrottle):
    """Per user, whichever way they authenticate: several tokens don't multiply the budget."""

    scope = "user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None  # AnonThrottle's
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class AnonThrottle(_SettingsRate, AnonRateThrottle):
    """Requests without credentials (the schema, the docs, unknown paths), per client address."""

    scope = "anon"
