from __future__ import annotations

from django.contrib import admin

from integrations_hub.health.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("role", "hostname", "last_seen")
