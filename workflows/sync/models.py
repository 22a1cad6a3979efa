"""Two-way syncs: the definition, both sides' cursors and records, the identity map, runs and the review queue.

The tables, in the order data moves through them:

* `Sync`: two connections' objects, the field pairs and policies (compiled by workflows.engine.sync.spec).
* `SyncCursor`: where each side's change feed has been read to, advanced with what it read.
* `SyncRecord` (+ `SyncRecordKey`): every record the sync has seen on each side, with the fields it needs
  and when each of them last changed; `pending` marks a record read but not yet reconciled. The keys
  table is the match index for first-sight identity.
* `SyncLink`: record A is record B, with the last synced values on each side and what we wrote and have not
  read back yet (the no-loop fingerprint).
* `SyncConflict`, `DuplicateHold`: the review queue.
* `SyncRun`, `SyncOutcome`: what each run did, record by record. `SyncIncident`: the team was told once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_celery_beat.models import PeriodicTask

from connectors.models import Connection
from integrations_hub.accounts.models import Team


class Side(models.TextChoices):
    A = "a", "A"
    B = "b", "B"


class Sync(models.Model):
    """Keeps the records of two connections' objects aligned in both directions."""

    class Create(models.TextChoices):
        A_TO_B = "a_to_b", "Create in B what is new in A"
        B_TO_A = "b_to_a", "Create in A what is new in B"
        BOTH = "both", "Create on both sides"
        NONE = "none", "Never create (link and update only)"

    class FirstSync(models.TextChoices):
        MATCH_ONLY = "match_only", "Match existing records only"
        MATCH_AND_CREATE = "match_and_create", "Match, and create what has no match"
        START_FROM_NOW = "start_from_now", "Start from now (older records are only matched later)"

    class Deletion(models.TextChoices):
        IGNORE = "ignore", "Ignore (keep the other record)"
        PROPAGATE = "propagate", "Delete the other record too"
        ARCHIVE = "archive", "Archive the other record (set a field)"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="syncs")
    name = models.CharField(max_length=120)
    a_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+")
    a_object = models.CharField(max_length=80)
    b_connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+")
    b_object = models.CharField(max_length=80)
    create = models.CharField(max_length=16, choices=Create.choices, default=Create.BOTH)
    first_sync = models.CharField(
        max_length=20, choices=FirstSync.choices, default=FirstSync.MATCH_AND_CREATE
    )
    deletion = models.CharField(max_length=16, choices=Deletion.choices, default=Deletion.IGNORE)
    # {"a": {"field": "lifecyclestage", "value": "other"}, "b": {...}}: what "archive" sets on each side.
    archive = models.JSONField(default=dict, blank=True)
    # Field pairs, match rules and per-side conditions, as workflows.engine.sync.spec documents them.
    fields = models.JSONField(default=list)
    match = models.JSONField(default=list, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    deleted_when = models.JSONField(default=dict, blank=True)
    poll_interval_seconds = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=False)
    # The one beat schedule of this sync; kept in step by workflows.sync.services.schedules.
    periodic_task = models.OneToOneField(
        PeriodicTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="sync"
    )
    # When the sync was first enabled: "start from now" leaves records changed before it alone.
    started_at = models.DateTimeField(null=True, blank=True)
    # Set by the first run that read both sides to the end; "match only" applies until then.
    first_sync_done_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # The team hears once when this sync's open review items grow past this many.
    review_alert_threshold = models.PositiveIntegerField(default=25)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="sync_unique_name_per_team")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def definition(self) -> dict[str, object]:
        """The JSON the engine compiles (workflows.engine.sync.spec.compile_sync)."""
        return {
            "create": self.create,
            "first_sync": self.first_sync,
            "deletion": {"policy": self.deletion, "archive": self.archive or {}},
            "deleted_when": self.deleted_when or {},
            "filters": self.filters or {},
            "match": self.match or [],
            "fields": self.fields,
        }

    def connection(self, side: str) -> Connection:
        return self.a_connection if side == Side.A else self.b_connection

    def object_name(self, side: str) -> str:
        return self.a_object if side == Side.A else self.b_object

    @property
    def timing_label(self) -> str:
        minutes, seconds = divmod(self.poll_interval_seconds, 60)
        every = f"{minutes} min" if minutes and not seconds else f"{self.poll_interval_seconds} s"
        return f"near-real-time (every {every}, both sides)"


class SyncCursor(models.Model):
    """Where one side's change feed has been read to. Advanced only with the records it read."""

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="cursors")
    side = models.CharField(max_length=1, choices=Side.choices)
    # NULL means "from the beginning", which is not the same as an empty cursor string.
    value = models.TextField(null=True, blank=True)  # noqa: DJ001
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sync", "side"], name="sync_cursor_unique_side")]

    def __str__(self) -> str:
        return f"cursor {self.side} of sync {self.sync_id}: {self.value}"


class SyncRecord(models.Model):
    """A record the sync has seen on one side: the fields it needs, as last read, and when each changed."""

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="records")
    side = models.CharField(max_length=1, choices=Side.choices)
    record_id = models.CharField(max_length=120)
    values = models.JSONField(default=dict)
    # {field: ISO time} of each field's last change, as the system reports it or as first seen changed.
    field_times = models.JSONField(default=dict)
    updated_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    # Read but not reconciled yet. The reconciling transaction clears it.
    pending = models.BooleanField(default=False)
    seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sync", "side", "record_id"], name="sync_record_unique_id")
        ]
        indexes = [
            models.Index(
                fields=["sync", "id"], name="sync_record_pending_idx", condition=models.Q(pending=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.side}:{self.record_id}"


class SyncRecordKey(models.Model):
    """The match index: a normalised key (email, domain, ...) of a live record under one rule."""

    record = models.ForeignKey(SyncRecord, on_delete=models.CASCADE, related_name="keys")
    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="+")
    side = models.CharField(max_length=1, choices=Side.choices)
    rule = models.PositiveSmallIntegerField()
    value = models.CharField(max_length=255)

    class Meta:
        indexes = [models.Index(fields=["sync", "rule", "value"], name="sync_key_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.side} rule {self.rule}: {self.value}"


class SyncLink(models.Model):
    """Record A is record B, with what was last synced on each side and what we wrote not yet read back."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Linked"
        ENDED = "ended", "Ended (a record was deleted)"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="links")
    a_id = models.CharField(max_length=120)
    b_id = models.CharField(max_length=120)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    # How the two were first linked: "email", "created in B", "person: linked from the review queue", ...
    matched_by = models.CharField(max_length=120, blank=True, default="")
    a_values = models.JSONField(default=dict)
    b_values = models.JSONField(default=dict)
    # Values we wrote and have not read back; a read-back that matches is our echo, not a person's edit.
    a_expect = models.JSONField(default=dict)
    b_expect = models.JSONField(default=dict)
    # The record's modification time as last read before we wrote it: the first newer read is the read-back.
    a_expect_since = models.DateTimeField(null=True, blank=True)
    b_expect_since = models.DateTimeField(null=True, blank=True)
    # {field: ISO time} of when each synced value changed on its side, where known.
    a_times = models.JSONField(default=dict)
    b_times = models.JSONField(default=dict)
    ended_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sync", "a_id"], condition=models.Q(status="active"), name="sync_link_unique_a"
            ),
            models.UniqueConstraint(
                fields=["sync", "b_id"], condition=models.Q(status="active"), name="sync_link_unique_b"
            ),
        ]

    def __str__(self) -> str:
        return f"A {self.a_id} ↔ B {self.b_id}"

    def record_id(self, side: str) -> str:
        return self.a_id if side == Side.A else self.b_id


class SyncConflict(models.Model):
    """Both sides changed one field pair of a link and its policy is manual review."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for review"
        RESOLVING = "resolving", "Resolved; being written"
        RESOLVED = "resolved", "Resolved"
        CONVERGED = "converged", "Both sides came to agree"
        CLOSED = "closed", "Closed (the link ended)"

    class Choice(models.TextChoices):
        A = "a", "Keep A's value"
        B = "b", "Keep B's value"
        VALUE = "value", "Use a typed value"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="conflicts")
    link = models.ForeignKey(SyncLink, on_delete=models.CASCADE, related_name="conflicts")
    pair_key = models.CharField(max_length=120)
    a_field = models.CharField(max_length=120)
    b_field = models.CharField(max_length=120)
    a_value = models.JSONField(null=True, blank=True)
    b_value = models.JSONField(null=True, blank=True)
    a_changed_at = models.DateTimeField(null=True, blank=True)
    b_changed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    choice = models.CharField(max_length=8, choices=Choice.choices, blank=True, default="")
    resolved_value = models.JSONField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["link", "pair_key"],
                condition=models.Q(status__in=["open", "resolving"]),
                name="sync_conflict_one_open_per_pair",
            )
        ]
        indexes = [models.Index(fields=["sync", "status"], name="sync_conflict_status_idx")]
        ordering = ["opened_at", "id"]

    def __str__(self) -> str:
        return f"{self.pair_key} of {self.link}"


class DuplicateHold(models.Model):
    """A record that matched ambiguously (or has a look-alike in its own system): no merge until a person says."""

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for review"
        RESOLVING = "resolving", "Resolved; being applied"
        LINKED = "linked", "Linked to a candidate"
        CREATED = "created", "Created as a new record"
        DISMISSED = "dismissed", "No longer ambiguous"

    class Choice(models.TextChoices):
        LINK = "link", "Link to this candidate"
        CREATE = "create", "Create a new record"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="holds")
    side = models.CharField(max_length=1, choices=Side.choices)
    record_id = models.CharField(max_length=120)
    label = models.CharField(max_length=255, blank=True, default="")
    rule = models.CharField(max_length=20, blank=True, default="")
    key = models.CharField(max_length=255, blank=True, default="")
    reason = models.CharField(max_length=300, blank=True, default="")
    # Ids of the possible counterparts on the other side.
    candidates = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    choice = models.CharField(max_length=8, choices=Choice.choices, blank=True, default="")
    chosen_id = models.CharField(max_length=120, blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    opened_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sync", "side", "record_id"],
                condition=models.Q(status__in=["open", "resolving"]),
                name="sync_hold_one_open_per_record",
            )
        ]
        indexes = [models.Index(fields=["sync", "status"], name="sync_hold_status_idx")]
        ordering = ["opened_at", "id"]

    def __str__(self) -> str:
        return f"hold {self.side}:{self.record_id}"


# A sync run's per-run counters (created/updated per side): one list for the API, /metrics and the pages.
SYNC_RUN_COUNTERS = (
    "read_a",
    "read_b",
    "created_a",
    "created_b",
    "updated_a",
    "updated_b",
    "deleted",
    "linked",
    "unchanged",
    "conflicts",
    "held",
    "skipped",
    "failed",
)


class SyncRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Finished with failed records"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        POLL = "poll", "Scheduled poll"
        MANUAL = "manual", "Run now"
        REVIEW = "review", "Apply review decisions"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.POLL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    read_a = models.PositiveIntegerField(default=0)
    read_b = models.PositiveIntegerField(default=0)
    created_a = models.PositiveIntegerField(default=0)
    created_b = models.PositiveIntegerField(default=0)
    updated_a = models.PositiveIntegerField(default=0)
    updated_b = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    linked = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["sync", "-created_at"], name="sync_run_recent_idx")]

    def __str__(self) -> str:
        return f"Sync run {self.pk} of {self.sync_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING}

    @property
    def writes(self) -> int:
        return self.created_a + self.created_b + self.updated_a + self.updated_b


class SyncOutcome(models.Model):
    """What one run did to one record (pair). Unchanged records are counted on the run, not stored."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        LINKED = "linked", "Linked"
        CONFLICT = "conflict", "Held: conflict"
        HELD = "held", "Held: possible duplicate"
        DELETED = "deleted", "Deletion handled"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        RESOLVED = "resolved", "Review decision written"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="outcomes")
    a_id = models.CharField(max_length=120, blank=True, default="")
    b_id = models.CharField(max_length=120, blank=True, default="")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    # {"a": {field: [old, new]}, "b": {...}} of what was written; notes of what was left alone and why.
    changes = models.JSONField(default=dict, blank=True)
    notes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.a_id or '-'} ↔ {self.b_id or '-'}: {self.outcome}"


class SyncIncident(models.Model):
    """One stretch of trouble for a sync; the team is told once when it opens. Workflow incidents need a
    workflow, so syncs keep their own, delivered the same way (workflows.services.alerts)."""

    class Kind(models.TextChoices):
        REVIEW_QUEUE = "review_queue", "The review queue is growing"
        FAILING = "failing", "Runs are failing"

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.TextField()
    opened_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sync", "kind"],
                condition=models.Q(resolved_at__isnull=True),
                name="sync_incident_one_open_per_kind",
            )
        ]
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.sync}"
