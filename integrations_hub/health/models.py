from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """The last time a background process proved it was alive (a worker ran a task, beat ticked)."""

    class Role(models.TextChoices):
        WORKER = "worker", "Worker"
        BEAT = "beat", "Beat"

    role = models.CharField(max_length=16, choices=Role.choices)
    hostname = models.CharField(max_length=255)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "hostname"], name="heartbeat_unique_process")]

    def __str__(self) -> str:
        return f"{self.role}@{self.hostname}"


class BeatLease(models.Model):
    """Which beat process may dispatch schedules. Two beats never both dispatch: only the lease holder does."""

    name = models.CharField(max_length=32, unique=True, default="beat")
    holder = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at:%H:%M:%S}"
