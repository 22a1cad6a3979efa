from __future__ import annotations

from django.contrib import admin

from connectors.models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    # credentials_encrypted is left out on purpose: secrets never show in the admin.
    list_display = ("name", "kind", "team", "status", "last_success_at", "last_error_at")
    list_filter = ("kind", "status", "team")
    search_fields = ("name",)
    readonly_fields = (
        "status",
        "last_success_at",
        "last_error",
        "last_error_at",
        "account_label",
        "auth_method",
        "token_expires_at",
    )
    fields = ("team", "name", "kind", "config", "rate_limit_override", *readonly_fields)
