"""What the workflows and runs API accepts and returns. Inputs are validated here and then handed to
the services; nothing here saves a model."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from rest_framework import serializers

from connectors.models import Connection
from connectors.selectors import connection_list
from integrations_hub.api.serializers import RejectUnknownFields
from workflows.engine.mapping import MappingSpecError, compile_mapping
from workflows.models import Run, RunRecord, Workflow, WorkflowVersion
from workflows.services.export import EXPORT_FORMAT, EXPORT_FORMAT_VERSION
from workflows.services.versions import has_unpublished_changes

WORKFLOW_ORDERINGS = ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]
RUN_ORDERINGS = ["created_at", "-created_at", "finished_at", "-finished_at"]
MIN_POLL_SECONDS = 5


def _check_mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise serializers.ValidationError('A mapping is an object such as {"fields": [...]}.')
    try:
        compile_mapping(value)
    except MappingSpecError as exc:
        raise serializers.ValidationError(list(exc.messages)) from None
    return value


class WorkflowSerializer(serializers.ModelSerializer[Workflow]):
    """The draft of a workflow, with what is published and how it is doing."""

    published_version = serializers.SerializerMethodField(help_text="Number of the version runs use.")
    has_unpublished_changes = serializers.SerializerMethodField()
    timing_label = serializers.CharField(read_only=True)

    class Meta:
        model = Workflow
        fields = [
            "id",
            "name",
            "description",
            "trigger",
            "timing_label",
            "enabled",
            "paused_reason",
            "source_connection",
            "source_object",
            "target_connection",
            "target_object",
            "match_field",
            "mapping",
            "poll_interval_seconds",
            "schedule_cron",
            "start_from",
            "start_from_date",
            "flood_threshold",
            "webhook_signature",
            "webhook_id_path",
            "webhook_record_path",
            "webhook_updated_at_path",
            "webhook_rate_per_minute",
            "published_version",
            "has_unpublished_changes",
            "last_checked_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_published_version(self, workflow: Workflow) -> int | None:
        version = workflow.published_version
        return version.number if version is not None else None

    def get_has_unpublished_changes(self, workflow: Workflow) -> bool:
        return has_unpublished_changes(workflow)


class _TeamConnectionField(serializers.PrimaryKeyRelatedField):
    """A connection id; only the caller's team's connections are found (others: "does not exist")."""

    def get_queryset(self) -> QuerySet[Connection]:
        return connection_list(team=self.context["team"])


class WorkflowCreateSerializer(RejectUnknownFields, serializers.ModelSerializer[Workflow]):
    source_connection = _TeamConnectionField(
        required=False, allow_null=True, default=None, help_text="Id of the connection records come from."
    )
    target_connection = _TeamConnectionField(help_text="Id of the connection records are written to.")
    mapping = serializers.JSONField(
        help_text='Field mapping spec: {"fields": [{"target", "source", "transforms"}]}.'
    )
    poll_interval_seconds = serializers.IntegerField(min_value=MIN_POLL_SECONDS, default=60)
    publish = serializers.BooleanField(
        default=False, help_text="Publish the first version at once (else POST .../publish later)."
    )

    class Meta:
        model = Workflow
        fields = [
            "name",
            "description",
            "trigger",
            "source_connection",
            "source_object",
            "target_connection",
            "target_object",
            "match_field",
            "mapping",
            "poll_interval_seconds",
            "schedule_cron",
            "publish",
        ]

    def validate_mapping(self, value: Any) -> dict[str, Any]:
        return _check_mapping(value)

    def validate_name(self, value: str) -> str:
        if Workflow.objects.filter(team=self.context["team"], name=value).exists():
            raise serializers.ValidationError("Your team already has a workflow with this name.")
        return value


class WorkflowUpdateSerializer(RejectUnknownFields, serializers.ModelSerializer[Workflow]):
    """Changes to the draft. Connections cannot be changed; create a new workflow for other systems."""

    mapping = serializers.JSONField(required=False)
    poll_interval_seconds = serializers.IntegerField(min_value=MIN_POLL_SECONDS, required=False)
    publish = serializers.BooleanField(default=False, help_text="Publish the changed draft at once.")

    class Meta:
        model = Workflow
        fields = [
            "name",
            "description",
            "trigger",
            "source_object",
            "target_object",
            "match_field",
            "mapping",
            "poll_interval_seconds",
            "schedule_cron",
            "start_from",
            "start_from_date",
            "flood_threshold",
            "webhook_signature",
            "webhook_id_path",
            "webhook_record_path",
            "webhook_updated_at_path",
            "webhook_rate_per_minute",
            "publish",
        ]
        extra_kwargs = {name: {"required": False} for name in fields}

    def validate_mapping(self, value: Any) -> dict[str, Any]:
        return _check_mapping(value)

    def validate_webhook_updated_at_path(self, value: str) -> str:
        import jmespath
        from jmespath.exceptions import JMESPathError

        try:
            jmespath.compile(value) if value else None
        except JMESPathError as exc:
            raise serializers.ValidationError(f"Not a JMESPath expression: {exc}") from None
        return value

    def validate_name(self, value: str) -> str:
        workflow: Workflow = self.context["workflow"]
        if Workflow.objects.filter(team_id=workflow.team_id, name=value).exclude(pk=workflow.pk).exists():
            raise serializers.ValidationError("Your team already has a workflow with this name.")
        return value


class WorkflowFilterSerializer(serializers.Serializer[Any]):
    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)
    trigger = serializers.ChoiceField(choices=Workflow.Trigger.choices, required=False)
    connection = serializers.IntegerField(
        required=False, help_text="Reads from or writes to this connection."
    )
    name = serializers.CharField(required=False, help_text="Part of the name, any case.")
    ordering = serializers.ChoiceField(choices=WORKFLOW_ORDERINGS, required=False, default="name")

    def apply(self, workflows: QuerySet[Workflow]) -> QuerySet[Workflow]:
        data = self.validated_data
        if data.get("enabled") is not None:
            workflows = workflows.filter(enabled=data["enabled"])
        if data.get("trigger"):
            workflows = workflows.filter(trigger=data["trigger"])
        if data.get("connection"):
            workflows = workflows.filter(
                Q(source_connection_id=data["connection"]) | Q(target_connection_id=data["connection"])
            )
        if data.get("name"):
            workflows = workflows.filter(name__icontains=data["name"])
        return workflows.order_by(data["ordering"], "id")


class WorkflowVersionSerializer(serializers.ModelSerializer[WorkflowVersion]):
    created_by = serializers.SerializerMethodField()
    is_published = serializers.SerializerMethodField()

    class Meta:
        model = WorkflowVersion
        fields = ["number", "created_at", "created_by", "is_published", "definition"]
        read_only_fields = fields

    def get_created_by(self, version: WorkflowVersion) -> str | None:
        return version.created_by.get_username() if version.created_by is not None else None

    def get_is_published(self, version: WorkflowVersion) -> bool:
        return version.workflow.published_version_id == version.pk


class WebhookSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(help_text="Where the sending system posts its events.")
    active = serializers.BooleanField(help_text="Whether the workflow's trigger is a webhook.")
    signature = serializers.CharField(help_text="How deliveries must be signed: none, standard, hmac_sha256.")
    has_secret = serializers.BooleanField(
        help_text="Whether a signing secret is set. It is never shown here."
    )


class WebhookSecretSerializer(serializers.Serializer[Any]):
    secret = serializers.CharField(help_text="The new signing secret. Shown in this response only.")
    signature = serializers.CharField()
    url = serializers.URLField()


class _TriggerDocumentSerializer(RejectUnknownFields, serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=Workflow.Trigger.choices)
    connection = serializers.CharField(allow_null=True, required=False, default=None)
    object = serializers.CharField(allow_blank=True, required=False, default="", max_length=80)
    interval_seconds = serializers.IntegerField(min_value=MIN_POLL_SECONDS, required=False, default=60)
    schedule_cron = serializers.CharField(allow_blank=True, required=False, default="", max_length=100)
    start_from = serializers.ChoiceField(choices=Workflow.StartFrom.choices, required=False)
    start_from_date = serializers.DateTimeField(allow_null=True, required=False)
    flood_threshold = serializers.IntegerField(min_value=0, required=False)
    webhook_signature = serializers.ChoiceField(
        choices=Workflow._meta.get_field("webhook_signature").choices or [], required=False
    )
    webhook_id_path = serializers.CharField(allow_blank=True, required=False, max_length=200)
    webhook_record_path = serializers.CharField(allow_blank=True, required=False, max_length=200)


class _TargetDocumentSerializer(RejectUnknownFields, serializers.Serializer[Any]):
    connection = serializers.CharField()
    object = serializers.CharField(max_length=80)


class WorkflowDocumentSerializer(RejectUnknownFields, serializers.Serializer[Any]):
    """The portable form of a workflow's draft: what export returns and import takes."""

    format = serializers.ChoiceField(choices=[EXPORT_FORMAT])
    format_version = serializers.ChoiceField(choices=[EXPORT_FORMAT_VERSION])
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    trigger = _TriggerDocumentSerializer()
    target = _TargetDocumentSerializer()
    match_field = serializers.CharField(max_length=120, required=False, default="email")
    mapping = serializers.JSONField()
    steps = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        default=list,
        help_text="Multi-step definition, if any.",
    )

    def validate_mapping(self, value: Any) -> dict[str, Any]:
        return _check_mapping(value)


class RunSerializer(serializers.ModelSerializer[Run]):
    workflow_name = serializers.CharField(source="workflow.name", read_only=True)
    version = serializers.SerializerMethodField(help_text="Number of the workflow version this run uses.")
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "workflow",
            "workflow_name",
            "version",
            "status",
            "trigger",
            "replay_of",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "records_read",
            "created_count",
            "updated_count",
            "unchanged_count",
            "skipped_count",
            "failed_count",
            "api_requests",
            "retries",
            "throttle_wait_seconds",
            "error",
        ]
        read_only_fields = fields

    def get_version(self, run: Run) -> int | None:
        return run.version.number if run.version is not None else None


class RunRecordSerializer(serializers.ModelSerializer[RunRecord]):
    class Meta:
        model = RunRecord
        fields = [
            "id",
            "source_id",
            "target_id",
            "record_key",
            "outcome",
            "diff",
            "dropped",
            "error",
            "source_updated_at",
            "replayed_at",
        ]
        read_only_fields = fields


class RunFilterSerializer(serializers.Serializer[Any]):
    workflow = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(choices=Run.Status.choices, required=False)
    trigger = serializers.ChoiceField(choices=Run.Trigger.choices, required=False)
    created_after = serializers.DateTimeField(required=False, help_text="ISO 8601; inclusive.")
    created_before = serializers.DateTimeField(required=False, help_text="ISO 8601; exclusive.")
    record_key = serializers.CharField(required=False, help_text="Runs that handled a record with this key.")
    ordering = serializers.ChoiceField(choices=RUN_ORDERINGS, required=False, default="-created_at")

    def apply(self, runs: QuerySet[Run]) -> QuerySet[Run]:
        data = self.validated_data
        if data.get("workflow"):
            runs = runs.filter(workflow_id=data["workflow"])
        if data.get("status"):
            runs = runs.filter(status=data["status"])
        if data.get("trigger"):
            runs = runs.filter(trigger=data["trigger"])
        if data.get("created_after"):
            runs = runs.filter(created_at__gte=data["created_after"])
        if data.get("created_before"):
            runs = runs.filter(created_at__lt=data["created_before"])
        if data.get("record_key"):
            runs = runs.filter(
                pk__in=RunRecord.objects.filter(record_key=data["record_key"]).values("run_id")
            )
        return runs.select_related("workflow", "version").order_by(data["ordering"], "-id")


class RecordFilterSerializer(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=RunRecord.Outcome.choices, required=False)
    q = serializers.CharField(
        required=False, help_text="The start of the record key (as typed or lower-cased), or a source id."
    )


class ReplaySerializer(RejectUnknownFields, serializers.Serializer[Any]):
    record_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=True,
        max_length=1000,
        help_text="Failed records of this run to write again; leave out for all of them.",
    )
    version = serializers.ChoiceField(
        choices=[("ran", "The version this run used"), ("current", "The published version")],
        default="ran",
    )

    def validate_record_ids(self, value: list[int]) -> list[int]:
        run: Run = self.context["run"]
        found = set(
            RunRecord.objects.filter(run=run, pk__in=value, outcome=RunRecord.Outcome.FAILED).values_list(
                "pk", flat=True
            )
        )
        missing = sorted(set(value) - found)
        if missing:
            raise serializers.ValidationError(
                f"Not failed records of this run: {', '.join(str(i) for i in missing)}."
            )
        return value
