from __future__ import annotations

from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "workflows.sync"
    label = "sync"
    verbose_name = "Two-way syncs"
    default_auto_field = "django.db.models.BigAutoField"
