from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from workflows.engine.sync.spec import SyncSpecError
from workflows.sync.models import (
    DuplicateHold,
    Sync,
    SyncConflict,
    SyncIncident,
    SyncLink,
    SyncOutcome,
    SyncRun,
)
from workflows.sync.services.definition import sync_check, sync_delete, sync_set_enabled


class SyncAdminForm(forms.ModelForm):
    class Meta:
        model = Sync
        fields = (
            "team",
            "name",
            "a_connection",
            "a_object",
            "b_connection",
            "b_object",
            "create",
            "first_sync",
            "deletion",
            "archive",
            "fields",
            "match",
            "filters",
            "deleted_when",
            "poll_interval_seconds",
            "review_alert_threshold",
            "enabled",
        )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        # The same checks as the service: the definition compiles and the connectors can do what it asks.
        candidate = Sync(
            pk=self.instance.pk, **{name: cleaned[name] for name in self.fields if name in cleaned}
        )
        try:
            sync_check(candidate)
        except SyncSpecError as exc:
            raise ValidationError(exc.messages) from None
        return cleaned


@admin.register(Sync)
class SyncAdmin(admin.ModelAdmin):
    form = SyncAdminForm
    list_display = ("name", "team", "a_connection", "a_object", "b_connection", "b_object", "enabled")
    list_filter = ("enabled", "team")
    search_fields = ("name",)

    def save_model(self, request: HttpRequest, obj: Sync, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Through the service, so the beat schedule and "start from now" follow the enabled switch.
        sync_set_enabled(sync=obj, enabled=obj.enabled)

    def delete_model(self, request: HttpRequest, obj: Sync) -> None:
        sync_delete(sync=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Sync]) -> None:
        for sync in queryset:
            sync_delete(sync=sync)


@admin.register(SyncLink)
class SyncLinkAdmin(admin.ModelAdmin):
    list_display = ("sync", "a_id", "b_id", "status", "matched_by", "updated_at")
    list_filter = ("status", "sync")
    search_fields = ("a_id", "b_id")


@admin.register(SyncConflict)
class SyncConflictAdmin(admin.ModelAdmin):
    list_display = ("sync", "link", "pair_key", "status", "choice", "resolved_by", "resolved_at")
    list_filter = ("status", "sync")
    readonly_fields = ("resolved_by", "resolved_at", "applied_at")


@admin.register(DuplicateHold)
class DuplicateHoldAdmin(admin.ModelAdmin):
    list_display = ("sync", "side", "record_id", "key", "status", "choice", "resolved_by")
    list_filter = ("status", "sync")


class SyncOutcomeInline(admin.TabularInline):
    model = SyncOutcome
    extra = 0
    can_delete = False
    readonly_fields = ("a_id", "b_id", "outcome", "changes", "notes", "error")


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("sync", "trigger", "status", "created_at", "read_a", "read_b", "failed")
    list_filter = ("status", "trigger", "sync")
    inlines = [SyncOutcomeInline]


@admin.register(SyncIncident)
class SyncIncidentAdmin(admin.ModelAdmin):
    list_display = ("sync", "kind", "opened_at", "resolved_at", "notified_at")
    list_filter = ("kind",)
