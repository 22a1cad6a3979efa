"""Who changed what: connections, workflows, conflict resolutions, team membership."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from integrations_hub.accounts.models import Team


class AuditEntry(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # e.g. "connection.created", "workflow.published", "conflict.resolved"
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    summary = models.CharField(max_length=300)
    # Field names with old and new values; secrets are never put here (only "changed").
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["team", "-at"], name="audit_team_recent_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.summary}"
