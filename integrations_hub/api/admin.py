from __future__ import annotations

from django.contrib import admin

from integrations_hub.api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Never the hash: it is useless to a person and one less thing to leak.
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    fields = readonly_fields

    def has_add_permission(self, request: object) -> bool:
        # A key is shown once to the person who creates it: on the token page or by `manage.py api_token`.
        return False
