from __future__ import annotations

from django.contrib import admin

from workflows.models import RecordLink, Run, RunRecord, TriggerCursor, Workflow


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "team",
        "source_connection",
        "target_connection",
        "enabled",
        "poll_interval_seconds",
    )
    list_filter = ("enabled", "team")
    search_fields = ("name",)
    raw_id_fields = ("periodic_task",)


@admin.register(TriggerCursor)
class TriggerCursorAdmin(admin.ModelAdmin):
    list_display = ("workflow", "value", "updated_at")


@admin.register(RecordLink)
class RecordLinkAdmin(admin.ModelAdmin):
    list_display = ("workflow", "source_id", "target_id", "match_value", "updated_at")
    search_fields = ("source_id", "target_id", "match_value")
    list_filter = ("workflow",)


class RunRecordInline(admin.TabularInline):
    model = RunRecord
    extra = 0
    readonly_fields = ("source_id", "target_id", "record_key", "outcome", "diff", "dropped", "error")
    can_delete = False
    show_change_link = True


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow", "status", "trigger", "created_at", "records_read", "failed_count")
    list_filter = ("status", "trigger", "workflow")
    date_hierarchy = "created_at"


@admin.register(RunRecord)
class RunRecordAdmin(admin.ModelAdmin):
    list_display = ("run", "source_id", "target_id", "record_key", "outcome")
    list_filter = ("outcome",)
    search_fields = ("record_key", "source_id", "target_id")
    raw_id_fields = ("run",)
