from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from workflows.system_schedules import ensure_system_schedules

        post_migrate.connect(ensure_system_schedules, sender=self)
