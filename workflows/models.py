"""Workflows, their durable trigger state, the identity map, runs and per-record outcomes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_celery_beat.models import PeriodicTask

from connectors.models import Connection
from integrations_hub.accounts.models import Team


class Workflow(models.Model):
    """The editable draft of a workflow. Runs use a published WorkflowVersion, never the draft."""

    class Trigger(models.TextChoices):
        POLL = "poll", "Poll for changes"
        SCHEDULE = "schedule", "On a schedule (batched)"
        WEBHOOK = "webhook", "Webhook (real-time)"
        FILE = "file", "File upload (CSV)"
        MANUAL = "manual", "Manual only"

    class StartFrom(models.TextChoices):
        EVERYTHING = "everything", "Everything (backfill)"
        NOW = "now", "Changes from now on"
        DATE = "date", "Changes since a date"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, default="")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.POLL)
    # A webhook workflow may have no source connection: whoever calls its URL is the source.
    source_connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source_object = models.CharField(max_length=80, blank=True, default="")
    target_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+")
    target_object = models.CharField(max_length=80)
    # The target field records are matched on when they have no link yet (e.g. email).
    match_field = models.CharField(max_length=120, default="email")
    mapping = models.JSONField(default=dict, help_text="Field mapping spec, see workflows.engine.mapping.")
    # Multi-step workflows (filters, branches, lookups, several actions, delays): see
    # workflows.engine.definition. Empty: the workflow is the single mapping above into the target.
    steps = models.JSONField(default=list, blank=True)
    poll_interval_seconds = models.PositiveIntegerField(default=60)
    # For the schedule trigger: a five-field cron expression in UTC; empty means every poll interval.
    schedule_cron = models.CharField(max_length=100, blank=True, default="")
    enabled = models.BooleanField(default=False)
    # The one beat schedule of this workflow; kept in step by workflows.schedules.
    periodic_task = models.OneToOneField(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="workflow"
    )
    # When the trigger last looked for changes, whether or not it found any.
    last_checked_at = models.DateTimeField(null=True, blank=True)
    start_from = models.CharField(max_length=16, choices=StartFrom.choices, default=StartFrom.EVERYTHING)
    start_from_date = models.DateTimeField(null=True, blank=True)
    # A poll that finds more records than this is held for confirmation (0: never hold).
    flood_threshold = models.PositiveIntegerField(default=0)
    published_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set when the hub stops the workflow by itself (schema drift, a flood to confirm); cleared on resume.
    paused_reason = models.TextField(blank=True, default="")
    # Inbound webhook: the secret part of its URL and the signing secret (encrypted).
    webhook_token = models.CharField(max_length=64, blank=True, default="", db_index=True)
    webhook_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    webhook_signature = models.CharField(
        max_length=32,
        default="none",
        choices=[
            ("none", "No signature"),
            ("standard", "Standard Webhooks"),
            ("hmac-sha256-hex", "HMAC-SHA256 of the body, hex, in X-Signature-256"),
            ("hmac-sha256-base64", "HMAC-SHA256 of the body, base64, in X-Signature-256"),
        ],
    )
    # JMESPath to the record id inside an event body, and to the record's fields (default: the body).
    webhook_id_path = models.CharField(max_length=200, blank=True, default="id")
    webhook_record_path = models.CharField(max_length=200, blank=True, default="")
    # JMESPath to when the source changed the record (e.g. `occurredAt`, `data.object.updated`); empty:
    # the well-known keys senders use (see workflows.services.webhooks.UPDATED_AT_KEYS). A change older
    # than the one already applied to the same record is skipped instead of written.
    webhook_updated_at_path = models.CharField(max_length=200, blank=True, default="")
    # Deliveries accepted per minute on this workflow's URL; empty: HUB_WEBHOOK_RATE_PER_MINUTE.
    webhook_rate_per_minute = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="workflow_unique_name_per_team")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def timing_label(self) -> str:
        if self.trigger == self.Trigger.WEBHOOK:
            return "real-time (webhook)"
        if self.trigger == self.Trigger.MANUAL:
            return "manual (run now)"
        if self.trigger == self.Trigger.FILE:
            return "on upload (CSV file)"
        if self.trigger == self.Trigger.SCHEDULE and self.schedule_cron:
            return f"batched (cron {self.schedule_cron} UTC)"
        if self.trigger == self.Trigger.SCHEDULE:
            return f"batched (every {self.poll_interval_seconds // 60 or 1} min)"
        minutes, seconds = divmod(self.poll_interval_seconds, 60)
        every = f"{minutes} min" if minutes and not seconds else f"{self.poll_interval_seconds} s"
        return f"near-real-time (every {every})"


class WorkflowVersion(models.Model):
    """An immutable snapshot of a workflow's definition, made by every publish."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workflow", "number"], name="version_unique_number")]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"


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

    # No index of its own: the unique (workflow, source_id) one starts with it. A second index on the
    # column alone tempts the planner, while the table grows faster than it is analysed, into reading
    # all of a workflow's links for a lookup by source id.
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="links", db_index=False)
    source_id = models.CharField(max_length=120)
    target_id = models.CharField(max_length=120)
    match_value = models.CharField(max_length=255, blank=True, default="")
    last_fingerprint = models.CharField(max_length=64)
    last_values = models.JSONField(default=dict)
    # When the source changed the record in the change last applied (webhook events that carry it):
    # an older change arriving later is skipped, so the newest change wins whatever the arrival order.
    source_updated_at = models.DateTimeField(null=True, blank=True)
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
        HELD = "held", "Held for confirmation"

    class Trigger(models.TextChoices):
        POLL = "poll", "Scheduled poll"
        MANUAL = "manual", "Run now"
        WEBHOOK = "webhook", "Webhook events"
        REPLAY = "replay", "Replay"
        RESUME = "resume", "Continue after a delay"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(
        WorkflowVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    # A replay run re-processes the failed records of this run (or one record of it).
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.POLL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # For a replay of chosen records only (RunRecord ids of `replay_of`); empty: all its failed records.
    replay_record_ids = models.JSONField(default=list, blank=True)
    # Set when a person confirmed a run the flood guard held: this run may write any number of records.
    flood_confirmed = models.BooleanField(default=False)
    # Touched after every page; a running run whose heartbeat is old was lost with its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    records_read = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    waiting_count = models.PositiveIntegerField(default=0)
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
        WAITING = "waiting", "Waiting at a delay"

    # No index of its own: the (run, id) page index below starts with the run.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="records", db_index=False)
    source_id = models.CharField(max_length=120)
    target_id = models.CharField(max_length=120, blank=True, default="")
    record_key = models.CharField(max_length=255, blank=True, default="", help_text="e.g. the email")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # {field: [old, new]} for what was written; the dropped fields with their reasons.
    diff = models.JSONField(default=dict, blank=True)
    dropped = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    # For multi-step workflows: what each step did (workflows.engine.steps.StepOutcome.to_dict()).
    steps = models.JSONField(null=True, blank=True)
    # Kept only for failed records, so they can be replayed without reading the source again.
    source_fields = models.JSONField(null=True, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    # Set when a later replay wrote (or re-failed) this record: it leaves the dead-letter list.
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The per-record log reads a run's records in id order, a page at a time after the last id
            # shown (keyset pagination): these make the first page and the ten-thousandth cost the same.
            models.Index(fields=["run", "id"], name="runrecord_run_page_idx"),
            models.Index(fields=["run", "outcome", "id"], name="runrecord_outcome_page_idx"),
            # Exact keys (the run list's filter) and key prefixes (the per-record log's search).
            models.Index(fields=["record_key"], name="runrecord_key_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["run", "source_id"], name="runrecord_source_idx"),
            # Coverage on the health page reads only the records that dropped fields.
            models.Index(fields=["run", "id"], name="runrecord_dropped_idx", condition=~models.Q(dropped=[])),
            models.Index(
                fields=["run"],
                name="runrecord_dead_letter_idx",
                condition=models.Q(outcome="failed", replayed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}: {self.outcome}"


class InboundEvent(models.Model):
    """A webhook delivery, stored before it is acknowledged and processed from here."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="inbound_events")
    event_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)
    content_type = models.CharField(max_length=100, blank=True, default="")
    body = models.BinaryField()
    # When the source changed the record, read from the body at intake (the workflow's
    # webhook_updated_at_path); NULL when the body does not say, and the event is applied in arrival order.
    source_updated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    error = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            # The same delivery twice (a retry by the sender) is one event: it has one effect.
            models.UniqueConstraint(fields=["workflow", "event_id"], name="inbound_event_unique_delivery")
        ]
        indexes = [models.Index(fields=["workflow", "status", "id"], name="inbound_pending_idx")]

    def __str__(self) -> str:
        return f"event {self.event_id} ({self.status})"


class Incident(models.Model):
    """One stretch of trouble for a workflow; the team is told once when it opens, not once per record."""

    class Kind(models.TextChoices):
        FAILING = "failing", "Runs are failing"
        PAUSED = "paused", "Paused by the hub"
        RECONNECT = "reconnect", "A connection needs reconnecting"

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.TextField()
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "kind"],
                condition=models.Q(resolved_at__isnull=True),
                name="incident_one_open_per_kind",
            )
        ]
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.workflow}"


class StepLink(models.Model):
    """What one action step of a multi-step workflow last wrote for one source record."""

    # Indexed by the unique (workflow, source_id, step_id) index, which starts with it.
    workflow = models.ForeignKey(
        Workflow, on_delete=models.CASCADE, related_name="step_links", db_index=False
    )
    step_id = models.CharField(max_length=64)
    source_id = models.CharField(max_length=120)
    target_id = models.CharField(max_length=120, blank=True, default="")
    last_fingerprint = models.CharField(max_length=64, blank=True, default="")
    last_values = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Source id before step: a page looks up every step's link of its source records at once.
            models.UniqueConstraint(
                fields=["workflow", "source_id", "step_id"], name="steplink_unique_record"
            )
        ]

    def __str__(self) -> str:
        return f"{self.step_id}: {self.source_id} → {self.target_id}"


class DelayedRecord(models.Model):
    """A record waiting at a delay step; resumed from its saved state when it is due."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="delayed_records")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.CASCADE, related_name="+")
    source_id = models.CharField(max_length=120)
    resume_at = models.DateTimeField(db_index=True)
    state = models.JSONField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.source_id} waits until {self.resume_at:%Y-%m-%d %H:%M}"
