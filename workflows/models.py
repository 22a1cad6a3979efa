"""Workflows, their durable trigger state, the identity map, runs and per-record outcomes."""

from __future__ import annotations

from django.db import models
from django_celery_beat.models import PeriodicTask

from connectors.models import Connection
from integrations_hub.accounts.models import Team


class Workflow(models.Model):
    class Trigger(models.TextChoices):
        POLL = "poll", "Poll for changes"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.POLL)
    source_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+")
    source_object = models.CharField(max_length=80)
    target_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+")
    target_object = models.CharField(max_length=80)
    # The target field records are matched on when they have no link yet (e.g. email).
    match_field = models.CharField(max_length=120, default="email")
    mapping = models.JSONField(default=dict, help_text="Field mapping spec, see workflows.engine.mapping.")
    poll_interval_seconds = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=False)
    # The one beat schedule of this workflow; kept in step by workflows.schedules.
    periodic_task = models.OneToOneField(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflow"
    )
    # When the trigger last looked for changes, whether or not it found any.
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="workflow_unique_name_per_team")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def timing_label(self) -> str:
        minutes, seconds = divmod(self.poll_interval_seconds, 60)
        every = f"{minutes} min" if minutes and not seconds else f"{self.poll_interval_seconds} s"
        return f"near-real-time (every {every})"


class TriggerCursor(models.Model):
    """Where the trigger has read up to. Advanced only in the transaction that records what was read."""

    workflow = models.OneToOneField(Workflow, on_delete=models.CASCADE, related_name="cursor")
    # NULL means "from the beginning", which is not the same as an empty cursor string.
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"cursor of {self.workflow_id}: {self.value}"


class RecordLink(models.Model):
    """Identity map: source record X of this workflow is target record Y, with the values last written."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="links")
    source_id = models.CharField(max_length=120)
    target_id = models.CharField(max_length=120)
    match_value = models.CharField(max_length=255, blank=True, default="")
    last_fingerprint = models.CharField(max_length=64)
    last_values = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workflow", "source_id"], name="link_unique_source")]
        indexes = [models.Index(fields=["workflow", "target_id"], name="link_target_idx")]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.target_id}"


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Finished with failed records"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        POLL = "poll", "Scheduled poll"
        MANUAL = "manual", "Run now"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.POLL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched after every page; a running run whose heartbeat is old was lost with its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    records_read = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    api_requests = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    throttle_wait_seconds = models.FloatField(default=0.0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workflow", "-created_at"], name="run_workflow_recent_idx")]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.workflow_id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def is_active(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING}


class RunRecord(models.Model):
    """The outcome for one source record in one run."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        UNCHANGED = "unchanged", "Unchanged"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="records")
    source_id = models.CharField(max_length=120)
    target_id = models.CharField(max_length=120, blank=True, default="")
    record_key = models.CharField(max_length=255, blank=True, default="", help_text="e.g. the email")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # {field: [old, new]} for what was written; the dropped fields with their reasons.
    diff = models.JSONField(default=dict, blank=True)
    dropped = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["run", "outcome"], name="runrecord_outcome_idx"),
            models.Index(fields=["record_key"], name="runrecord_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}: {self.outcome}"
