"""Connections: one configured, authenticated instance of a connector, owned by a team."""

from __future__ import annotations

from typing import Any

from django.db import models

from connectors.base import ConnectionSettings
from connectors.crypto import decrypt_secrets, encrypt_secrets
from integrations_hub.accounts.models import Team


class Connection(models.Model):
    class Status(models.TextChoices):
        UNTESTED = "untested", "Not tested yet"
        OK = "ok", "Working"
        ERROR = "error", "Failing"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="connections")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=40)
    config = models.JSONField(default=dict, blank=True, help_text="Non-secret settings such as the base URL.")
    # Fernet token of a JSON object of secrets; never shown, never logged.
    credentials_encrypted = models.TextField(blank=True, default="", editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNTESTED)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    account_label = models.CharField(max_length=200, blank=True, default="")
    schema_cache = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="connection_unique_name_per_team")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def set_credentials(self, secrets: dict[str, str]) -> None:
        self.credentials_encrypted = encrypt_secrets(secrets)

    def get_credentials(self) -> dict[str, str]:
        return decrypt_secrets(self.credentials_encrypted)

    def client_settings(self) -> ConnectionSettings:
        config: dict[str, Any] = dict(self.config)
        return ConnectionSettings(connection_id=self.pk, config=config, credentials=self.get_credentials())
