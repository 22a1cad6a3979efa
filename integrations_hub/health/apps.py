from __future__ import annotations

from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "integrations_hub.health"
    label = "health"
    verbose_name = "Service health"
