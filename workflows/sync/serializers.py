"""What the syncs and review-queue API accepts and returns. Inputs are validated here and handed to the
services (workflows.sync.services); nothing here saves a model.

Some input fields are named like attributes of DRF's Serializer (`fields`, `create`); DRF's metaclass
moves declared fields off the class, so at run time they shadow nothing (hence the assignment ignores).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from connectors.models import Connection
from connectors.registry import PROVIDERS, get_provider
from connectors.selectors import connection_list
from integrations_hub.api.serializers import RejectUnknownFields
from workflows.sync.models import (
    SYNC_RUN_COUNTERS,
    DuplicateHold,
    Side,
    Sync,
    SyncConflict,
    SyncOutcome,
    SyncRun,
)
from workflows.sync.selectors import MatchConsistency, match_consistency, sync_runs

MIN_POLL_SECONDS = 5
MAX_BULK = 500
SYNC_ORDERINGS = ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]
ANY_STATUS = "any"
# Where each problem of workflows.engine.sync.spec is reported: its message starts with its place.
_SPEC_PLACES = (
    ("field pair", "fields"),
    ("fields", "fields"),
    ("a reference", "fields"),
    ("match", "match"),
    ("deletion.archive", "archive"),
    ("deletion", "deletion"),
    ("filters", "filters"),
    ("deleted_when", "deleted_when"),
    ("create", "create"),
    ("first_sync", "first_sync"),
    ("poll_interval_seconds", "poll_interval_seconds"),
)


def spec_errors(messages: list[str]) -> dict[str, list[str]]:
    """A SyncSpecError's messages as field errors, each under the input field it is about."""
    errors: dict[str, list[str]] = {}
    for message in messages:
        field = next(
            (name for prefix, name in _SPEC_PLACES if message.startswith(prefix)),
            api_settings.NON_FIELD_ERRORS_KEY,
        )
        errors.setdefault(field, []).append(message)
    return errors


def _no_nul(value: Any, place: str = "") -> None:
    """JSON stored as-is must not hold NUL characters: PostgreSQL's jsonb refuses them."""
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError(f"{place or 'A value'} contains a NUL character.")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _no_nul(str(key), place)
            _no_nul(item, place)
    elif isinstance(value, list | tuple):
        for item in value:
            _no_nul(item, place)


@extend_schema_field(OpenApiTypes.INT)
class _TeamConnectionField(serializers.PrimaryKeyRelatedField):
    """A connection id; only the caller's team's connections are found (others: "does not exist")."""

    def get_queryset(self) -> QuerySet[Connection]:
        return connection_list(team=self.context["team"])


def _check_object(connection: Connection, object_name: str) -> str | None:
    objects = (
        get_provider(connection.kind).objects_for(connection.config) if connection.kind in PROVIDERS else {}
    )
    if objects and object_name not in objects:
        return f"{connection.name} has no object {object_name!r}; choose one of: {', '.join(objects)}."
    return None


# ---------------------------------------------------------------------------------------------
# Syncs
# ---------------------------------------------------------------------------------------------


class MatchConsistencySerializer(serializers.Serializer[MatchConsistency]):
    linked = serializers.IntegerField(help_text="Linked pairs.")
    held = serializers.IntegerField(help_text="Records held as possible duplicates.")
    duplicates_a = serializers.IntegerField(help_text="Match keys two live records share on side A.")
    duplicates_b = serializers.IntegerField(help_text="Match keys two live records share on side B.")
    open_conflicts = serializers.IntegerField()


class SyncRunSerializer(serializers.ModelSerializer[SyncRun]):
    sync_name = serializers.CharField(source="sync.name", read_only=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "sync",
            "sync_name",
            "status",
            "trigger",
            "created_at",
            "started_at",
            "finished_at",
            *SYNC_RUN_COUNTERS,
            "error",
        ]
        read_only_fields = fields


class SyncOutcomeSerializer(serializers.ModelSerializer[SyncOutcome]):
    class Meta:
        model = SyncOutcome
        fields = ["id", "a_id", "b_id", "outcome", "changes", "notes", "error"]
        read_only_fields = fields


class SyncSerializer(serializers.ModelSerializer[Sync]):
    """A sync definition as the API shows it (what the engine compiles, and when it runs)."""

    timing_label = serializers.CharField(read_only=True)

    class Meta:
        model = Sync
        fields = [
            "id",
            "name",
            "a_connection",
            "a_object",
            "b_connection",
            "b_object",
            "create",
            "first_sync",
            "deletion",
            "archive",
            "fields",
            "match",
            "filters",
            "deleted_when",
            "poll_interval_seconds",
            "timing_label",
            "enabled",
            "review_alert_threshold",
            "started_at",
            "first_sync_done_at",
            "last_checked_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SyncDetailSerializer(SyncSerializer):
    """One sync, with how well its two sides line up and its latest run."""

    consistency = serializers.SerializerMethodField()
    last_run = serializers.SerializerMethodField()

    class Meta(SyncSerializer.Meta):
        fields = [*SyncSerializer.Meta.fields, "consistency", "last_run"]
        read_only_fields = fields

    @extend_schema_field(MatchConsistencySerializer)
    def get_consistency(self, sync: Sync) -> dict[str, Any]:
        return MatchConsistencySerializer(match_consistency(sync=sync)).data

    @extend_schema_field(SyncRunSerializer(allow_null=True))
    def get_last_run(self, sync: Sync) -> dict[str, Any] | None:
        runs = sync_runs(sync=sync, limit=1)
        return SyncRunSerializer(runs[0]).data if runs else None


def _json_list(help_text: str, required: bool = True) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.DictField(), max_length=200, required=required, help_text=help_text
    )


def _json_object(help_text: str) -> serializers.DictField:
    return serializers.DictField(required=False, help_text=help_text)


class _SyncInput(RejectUnknownFields, serializers.Serializer[Any]):
    """The settings a sync definition is made of; docs/api.md and workflows.engine.sync.spec explain them."""

    name = serializers.CharField(max_length=120)
    create = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Sync.Create.choices, required=False, help_text="Where new records are created."
    )
    first_sync = serializers.ChoiceField(choices=Sync.FirstSync.choices, required=False)
    deletion = serializers.ChoiceField(choices=Sync.Deletion.choices, required=False)
    archive = _json_object('What "archive" sets on each side: {"a": {"field", "value"}, "b": {...}}.')
    fields = _json_list(  # type: ignore[assignment]
        'Field pairs: [{"key", "a", "b", "direction", "policy", "allow_empty", "a_to_b", "b_to_a"}].'
    )
    match = _json_list('Match rules in order: [{"rule": "email", "a": "email", "b": "email"}].', False)
    filters = _json_object("Conditions per side: only matching records take part.")
    deleted_when = _json_object("Conditions per side that mean the record counts as deleted.")
    poll_interval_seconds = serializers.IntegerField(
        min_value=MIN_POLL_SECONDS, max_value=86_400, required=False
    )
    review_alert_threshold = serializers.IntegerField(
        min_value=1,
        max_value=1_000_000,
        required=False,
        help_text="The team is alerted once when this sync's open review items grow past this many.",
    )
    enabled = serializers.BooleanField(required=False, help_text="Poll both sides on the sync's schedule.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("archive", "fields", "match", "filters", "deleted_when"):
            if name in attrs:
                try:
                    _no_nul(attrs[name], name)
                except serializers.ValidationError as exc:
                    raise serializers.ValidationError({name: exc.detail}) from None
        return attrs

    def _check_name(self, value: str, *, exclude: int | None = None) -> str:
        taken = Sync.objects.filter(team=self.context["team"], name=value)
        if exclude is not None:
            taken = taken.exclude(pk=exclude)
        if taken.exists():
            raise serializers.ValidationError("Your team already has a sync with this name.")
        return value


class SyncCreateSerializer(_SyncInput):
    a_connection = _TeamConnectionField(help_text="Id of the connection on side A.")
    a_object = serializers.CharField(max_length=80, help_text="The object on side A, e.g. contacts.")
    b_connection = _TeamConnectionField(help_text="Id of the connection on side B.")
    b_object = serializers.CharField(max_length=80, help_text="The object on side B, e.g. users.")

    def validate_name(self, value: str) -> str:
        return self._check_name(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        errors = {}
        for side in Side.values:
            problem = _check_object(attrs[f"{side}_connection"], attrs[f"{side}_object"])
            if problem:
                errors[f"{side}_object"] = [problem]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class SyncUpdateSerializer(_SyncInput):
    """Changes to a sync. Its connections and objects never change: its links and cursors belong to them."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields

    def validate_name(self, value: str) -> str:
        sync: Sync = self.context["sync"]
        return self._check_name(value, exclude=sync.pk)


class SyncFilterSerializer(serializers.Serializer[Any]):
    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)
    connection = serializers.IntegerField(required=False, help_text="Syncs with this connection on a side.")
    name = serializers.CharField(required=False, help_text="Part of the name, any case.")
    ordering = serializers.ChoiceField(choices=SYNC_ORDERINGS, required=False, default="name")

    def apply(self, syncs: QuerySet[Sync]) -> QuerySet[Sync]:
        data = self.validated_data
        if data.get("enabled") is not None:
            syncs = syncs.filter(enabled=data["enabled"])
        if data.get("connection"):
            syncs = syncs.filter(
                Q(a_connection_id=data["connection"]) | Q(b_connection_id=data["connection"])
            )
        if data.get("name"):
            syncs = syncs.filter(name__icontains=data["name"])
        return syncs.order_by(data["ordering"], "id")


class SyncRunFilterSerializer(serializers.Serializer[Any]):
    sync = serializers.IntegerField(required=False)
    status = serializers.ChoiceField(choices=SyncRun.Status.choices, required=False)
    trigger = serializers.ChoiceField(choices=SyncRun.Trigger.choices, required=False)

    def apply(self, runs: QuerySet[SyncRun]) -> QuerySet[SyncRun]:
        data = self.validated_data
        for name in ("status", "trigger"):
            if data.get(name):
                runs = runs.filter(**{name: data[name]})
        if data.get("sync"):
            runs = runs.filter(sync_id=data["sync"])
        return runs.order_by("-created_at", "-id")


class OutcomeFilterSerializer(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=SyncOutcome.Outcome.choices, required=False)


# ---------------------------------------------------------------------------------------------
# The review queue
# ---------------------------------------------------------------------------------------------


class LinkSerializer(serializers.Serializer[Any]):
    a_id = serializers.CharField(help_text="The record's id on side A.")
    b_id = serializers.CharField(help_text="The record's id on side B.")


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


class ConflictSerializer(serializers.ModelSerializer[SyncConflict]):
    """A field both sides changed, with both values and when each side changed it."""

    sync_name = serializers.CharField(source="sync.name", read_only=True)
    link = LinkSerializer(read_only=True)
    choice = serializers.CharField(read_only=True, help_text="a, b or value once decided; empty while open.")
    resolved_by = serializers.SerializerMethodField()

    class Meta:
        model = SyncConflict
        fields = [
            "id",
            "sync",
            "sync_name",
            "link",
            "pair_key",
            "a_field",
            "b_field",
            "a_value",
            "b_value",
            "a_changed_at",
            "b_changed_at",
            "status",
            "choice",
            "resolved_value",
            "resolved_by",
            "resolved_at",
            "applied_at",
            "error",
            "opened_at",
        ]
        read_only_fields = fields

    def get_resolved_by(self, conflict: SyncConflict) -> str | None:
        return _username(conflict.resolved_by)


class DuplicateHoldSerializer(serializers.ModelSerializer[DuplicateHold]):
    """A record that matched more than one counterpart: nothing is merged until a person decides."""

    sync_name = serializers.CharField(source="sync.name", read_only=True)
    candidates = serializers.ListField(child=serializers.CharField(), read_only=True)
    choice = serializers.CharField(read_only=True, help_text="link or create once decided; empty while open.")
    resolved_by = serializers.SerializerMethodField()

    class Meta:
        model = DuplicateHold
        fields = [
            "id",
            "sync",
            "sync_name",
            "side",
            "record_id",
            "label",
            "rule",
            "key",
            "reason",
            "candidates",
            "status",
            "choice",
            "chosen_id",
            "resolved_by",
            "resolved_at",
            "error",
            "opened_at",
        ]
        read_only_fields = fields

    def get_resolved_by(self, hold: DuplicateHold) -> str | None:
        return _username(hold.resolved_by)


class ConflictFilterSerializer(serializers.Serializer[Any]):
    sync = serializers.IntegerField(required=False)
    field = serializers.CharField(
        required=False, max_length=120, help_text="The field pair's key, or the field's name on either side."
    )
    status = serializers.ChoiceField(
        choices=[*SyncConflict.Status.choices, (ANY_STATUS, "Any status")],
        required=False,
        default=SyncConflict.Status.OPEN,
        help_text="Default: open (waiting for review).",
    )

    def apply(self, conflicts: QuerySet[SyncConflict]) -> QuerySet[SyncConflict]:
        data = self.validated_data
        if data.get("sync"):
            conflicts = conflicts.filter(sync_id=data["sync"])
        if data.get("field"):
            name = data["field"]
            conflicts = conflicts.filter(Q(pair_key=name) | Q(a_field=name) | Q(b_field=name))
        if data["status"] != ANY_STATUS:
            conflicts = conflicts.filter(status=data["status"])
        return conflicts.order_by("opened_at", "id")


class HoldFilterSerializer(serializers.Serializer[Any]):
    sync = serializers.IntegerField(required=False)
    side = serializers.ChoiceField(choices=Side.choices, required=False)
    status = serializers.ChoiceField(
        choices=[*DuplicateHold.Status.choices, (ANY_STATUS, "Any status")],
        required=False,
        default=DuplicateHold.Status.OPEN,
        help_text="Default: open (waiting for review).",
    )

    def apply(self, holds: QuerySet[DuplicateHold]) -> QuerySet[DuplicateHold]:
        data = self.validated_data
        if data.get("sync"):
            holds = holds.filter(sync_id=data["sync"])
        if data.get("side"):
            holds = holds.filter(side=data["side"])
        if data["status"] != ANY_STATUS:
            holds = holds.filter(status=data["status"])
        return holds.order_by("opened_at", "id")


class ConflictDecisionSerializer(RejectUnknownFields, serializers.Serializer[Any]):
    choice = serializers.ChoiceField(
        choices=SyncConflict.Choice.choices, help_text="Keep A's value, B's value, or use `value`."
    )
    value = serializers.JSONField(
        required=False,
        help_text='With choice "value": the value written to both sides (null empties the field).',
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["choice"] == SyncConflict.Choice.VALUE:
            if "value" not in attrs:
                raise serializers.ValidationError(
                    {"value": ["Type the value to use (null empties the field)."]}
                )
            try:
                _no_nul(attrs["value"], "value")
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"value": exc.detail}) from None
        elif attrs.get("value") is not None:
            raise serializers.ValidationError({"value": ['Only with choice "value".']})
        return attrs


class BulkConflictDecisionSerializer(ConflictDecisionSerializer):
    conflicts = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=MAX_BULK,
        help_text="Ids of the conflicts to decide the same way.",
    )

    def validate_conflicts(self, value: list[int]) -> list[int]:
        known = set(
            SyncConflict.objects.filter(sync__team=self.context["team"], pk__in=value).values_list(
                "pk", flat=True
            )
        )
        missing = sorted(set(value) - known)
        if missing:
            raise serializers.ValidationError(
                f"Not conflicts of your team: {', '.join(str(pk) for pk in missing)}."
            )
        return list(dict.fromkeys(value))


class BulkDecisionResultSerializer(serializers.Serializer[Any]):
    decided = serializers.IntegerField(help_text="How many were open and are now decided.")
    conflicts = ConflictSerializer(many=True, help_text="The conflicts sent, as they are now.")


class HoldDecisionSerializer(RejectUnknownFields, serializers.Serializer[Any]):
    choice = serializers.ChoiceField(choices=DuplicateHold.Choice.choices)
    candidate = serializers.CharField(
        required=False, max_length=120, help_text='With choice "link": one of the hold\'s candidates.'
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        hold: DuplicateHold = self.context["hold"]
        candidate = attrs.get("candidate", "")
        if attrs["choice"] == DuplicateHold.Choice.LINK:
            if candidate not in [str(c) for c in hold.candidates]:
                raise serializers.ValidationError(
                    {"candidate": [f"Choose one of: {', '.join(str(c) for c in hold.candidates) or 'none'}."]}
                )
        elif candidate:
            raise serializers.ValidationError({"candidate": ['Only with choice "link".']})
        return attrs
