"""Connections: one configured, authenticated instance of a connector, owned by a team."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from connectors.base import ConnectionSettings, RateLimit
from connectors.crypto import decrypt_secrets, encrypt_secrets
from connectors.registry import get_provider
from integrations_hub.accounts.models import Team


class Connection(models.Model):
    class Status(models.TextChoices):
        UNTESTED = "untested", "Not tested yet"
        OK = "ok", "Working"
        ERROR = "error", "Failing"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"

    class AuthMethod(models.TextChoices):
        CREDENTIALS = "credentials", "Credentials typed in (API key, private app token)"
        OAUTH2 = "oauth2", "OAuth 2.0 (connected through the system's sign-in)"

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
    auth_method = models.CharField(max_length=20, choices=AuthMethod.choices, default=AuthMethod.CREDENTIALS)
    # When the stored OAuth access token stops working; refreshed a little before (connectors/oauth.py).
    token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    rate_limit_override = models.JSONField(
        null=True,
        blank=True,
        help_text=(
            "Replaces the connector's documented request budget for this account, e.g. "
            '{"requests": 190, "interval_seconds": 10, "burst": 10} for a plan with higher limits. '
            "Empty: the connector's default."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="connection_unique_name_per_team")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        # Name and kind only: this string shows up in logs, admin and error messages.
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        super().clean()
        if self.rate_limit_override is not None:
            if not isinstance(self.rate_limit_override, dict):
                raise ValidationError(
                    {"rate_limit_override": 'Expected an object such as {"requests": 100, ...}.'}
                )
            try:
                RateLimit.from_dict(self.rate_limit_override)
            except ValueError as exc:
                raise ValidationError({"rate_limit_override": str(exc)}) from None

    def rate_limit(self) -> RateLimit | None:
        """The budget the governor enforces: this connection's override, else the connector's default."""
        if self.rate_limit_override:
            return RateLimit.from_dict(self.rate_limit_override)
        return get_provider(self.kind).rate_limit

    @property
    def uses_oauth(self) -> bool:
        return self.auth_method == self.AuthMethod.OAUTH2

    def set_credentials(self, secrets: dict[str, str]) -> None:
        self.credentials_encrypted = encrypt_secrets(secrets)

    def get_credentials(self) -> dict[str, str]:
        return decrypt_secrets(self.credentials_encrypted)

    def client_settings(self) -> ConnectionSettings:
        config: dict[str, Any] = dict(self.config)
        token_source = None
        if self.uses_oauth:
            # Imported here: connectors.oauth works on this model, so it cannot be imported at the top.
            from connectors.oauth import ConnectionTokenSource

            token_source = ConnectionTokenSource.for_connection(self)
        return ConnectionSettings(
            connection_id=self.pk,
            config=config,
            credentials=self.get_credentials(),
            rate_limit=self.rate_limit(),
            token_source=token_source,
        )


class ObjectSchemaCache(models.Model):
    """The fields of one object of one connection as last discovered (connectors/schemas.py).

    Pages and the drift check read this instead of asking the system every time. `type_history` keeps,
    per field, the type changes seen by refreshes, so a workflow can tell whether a field it maps changed
    type after its mapping was published (workflows/services/drift.py).
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="schema_caches")
    object_name = models.CharField(max_length=120)
    object_label = models.CharField(max_length=200, blank=True, default="")
    # [{"name", "label", "type", "required", "read_only", "custom", "options": [{"value", "label"}]}]
    fields = models.JSONField(default=list)
    # sha256 of the fields in name order: equal hashes mean nothing changed, whatever order the system used.
    hash = models.CharField(max_length=64)
    fetched_at = models.DateTimeField()
    # When a refresh last found different fields (the first fetch counts).
    changed_at = models.DateTimeField()
    # What that refresh found: {"added": [...], "removed": [...], "type_changed": [[name, old, new]], ...}.
    last_change = models.JSONField(default=dict, blank=True)
    # {field: [{"at": ISO, "from": type, "to": type}, ...]}, oldest first, a few entries per field.
    type_history = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "object_name"], name="schema_cache_unique_object")
        ]

    def __str__(self) -> str:
        return f"schema of {self.object_name} on connection {self.connection_id}"
