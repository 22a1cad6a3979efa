from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from integrations_hub.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "team", "actor", "action", "summary")
    list_filter = ("action", "team")
    search_fields = ("summary", "object_id")
    readonly_fields = ("team", "actor", "action", "object_type", "object_id", "summary", "changes", "at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False
