"""Teams and the roles people have in them. Every object in the hub belongs to one team."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Team(models.Model):
    name = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Where incidents are announced: the admins' email, a chat incoming-webhook URL, a webhook URL.
    alert_email = models.BooleanField(default=True)
    alert_chat_url = models.URLField(blank=True, default="")
    alert_webhook_url = models.URLField(blank=True, default="")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        EDITOR = "editor", "Editor"
        ADMIN = "admin", "Admin"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.EDITOR)

    def __str__(self) -> str:
        return f"{self.user} ({self.role} of {self.team})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN
