"""What the connections API accepts and returns. Credentials are write-only: accepted, never shown."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors.base import Capabilities, Provider, RateLimit
from connectors.models import Connection
from connectors.registry import PROVIDERS, get_provider
from integrations_hub.api.serializers import RejectUnknownFields

# Output field names follow the shapes of connectors.base and connectors.schemas. Some equal attributes of
# DRF's Field (label, required, ...) for mypy; DRF's metaclass moves declared fields off the class, so at
# run time they shadow nothing (hence the assignment ignores).


class CapabilitiesSerializer(serializers.Serializer[Capabilities]):
    read = serializers.BooleanField()
    incremental = serializers.BooleanField()
    create = serializers.BooleanField()  # type: ignore[assignment]
    update = serializers.BooleanField()  # type: ignore[assignment]
    upsert_key = serializers.CharField(allow_null=True)
    batch_size = serializers.IntegerField()
    webhooks = serializers.BooleanField()
    delete = serializers.BooleanField()
    find = serializers.BooleanField(help_text="Records can be looked up by a field value (lookup steps).")


class ConnectorObjectSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    capabilities = CapabilitiesSerializer()


class RateLimitSerializer(serializers.Serializer[Any]):
    requests = serializers.IntegerField()
    interval_seconds = serializers.FloatField()
    burst = serializers.IntegerField()


class ConnectorTypeSerializer(serializers.Serializer[type[Provider]]):
    """A kind of system the hub can connect to, described from its provider class."""

    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    auth_scheme = serializers.CharField()
    oauth = serializers.SerializerMethodField(help_text='Whether "Connect with ..." (OAuth 2.0) is offered.')
    config_schema = serializers.SerializerMethodField(
        help_text="JSON Schema of the connection's non-secret `config`."
    )
    credential_fields = serializers.ListField(child=serializers.CharField())
    objects = serializers.SerializerMethodField()
    rate_limit = serializers.SerializerMethodField()

    def get_oauth(self, provider: type[Provider]) -> bool:
        return getattr(provider, "oauth", None) is not None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_config_schema(self, provider: type[Provider]) -> dict[str, Any]:
        return provider.config_model.model_json_schema()

    @extend_schema_field(ConnectorObjectSerializer(many=True))
    def get_objects(self, provider: type[Provider]) -> list[dict[str, Any]]:
        objects = []
        for name, label in provider.objects.items():
            capabilities = provider.capabilities.get(name, Capabilities())
            objects.append(
                {"name": name, "label": label, "capabilities": CapabilitiesSerializer(capabilities).data}
            )
        return ConnectorObjectSerializer(objects, many=True).data  # type: ignore[return-value]

    @extend_schema_field(RateLimitSerializer(allow_null=True))
    def get_rate_limit(self, provider: type[Provider]) -> dict[str, Any] | None:
        limit = getattr(provider, "rate_limit", None)
        return RateLimitSerializer(limit).data if limit is not None else None


class ConnectionSerializer(serializers.ModelSerializer[Connection]):
    """A connection as the API shows it: its settings and health, never a credential."""

    kind_label = serializers.SerializerMethodField()
    has_credentials = serializers.SerializerMethodField(
        help_text="Whether credentials are stored. They are never returned, not even masked."
    )

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "kind",
            "kind_label",
            "config",
            "auth_method",
            "has_credentials",
            "status",
            "account_label",
            "last_success_at",
            "last_error",
            "last_error_at",
            "rate_limit_override",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_kind_label(self, connection: Connection) -> str:
        return get_provider(connection.kind).label if connection.kind in PROVIDERS else connection.kind

    def get_has_credentials(self, connection: Connection) -> bool:
        return bool(connection.credentials_encrypted)


class ConnectionHealthSerializer(serializers.ModelSerializer[Connection]):
    needs_reconnect = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id",
            "status",
            "needs_reconnect",
            "account_label",
            "last_success_at",
            "last_error",
            "last_error_at",
            "auth_method",
            "token_expires_at",
        ]
        read_only_fields = fields

    def get_needs_reconnect(self, connection: Connection) -> bool:
        return connection.status == Connection.Status.NEEDS_RECONNECT


def _check_credential_names(kind: str, credentials: dict[str, str]) -> None:
    allowed = get_provider(kind).credential_fields
    unknown = sorted(set(credentials) - set(allowed))
    if unknown:
        raise serializers.ValidationError(
            {
                "credentials": {
                    name: [f"Unknown credential; this connector takes: {', '.join(allowed) or 'none'}."]
                    for name in unknown
                }
            }
        )


class ConnectionCreateSerializer(RejectUnknownFields, serializers.Serializer[Any]):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=sorted(PROVIDERS))
    config = serializers.DictField(
        required=False, default=dict, help_text="Non-secret settings, as the connector type's config_schema."
    )
    credentials = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        write_only=True,
        required=False,
        default=dict,
        help_text="Secrets, as named by the connector type's credential_fields. Write-only.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        _check_credential_names(attrs["kind"], attrs["credentials"])
        return attrs


class RateLimitOverrideSerializer(RejectUnknownFields, serializers.Serializer[Any]):
    """A request budget for this account instead of the connector's documented one."""

    requests = serializers.IntegerField(
        min_value=2, max_value=1_000_000, help_text="At most this many requests per interval."
    )
    interval_seconds = serializers.FloatField(max_value=86_400, help_text="The interval, in seconds (> 0).")
    burst = serializers.IntegerField(
        min_value=1, max_value=1_000_000, default=1, help_text="Requests allowed at once (< requests)."
    )

    def validate_interval_seconds(self, value: float) -> float:
        if not value > 0:
            raise serializers.ValidationError("Must be more than 0 seconds.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            RateLimit.from_dict(attrs)
        except ValueError as exc:
            raise serializers.ValidationError({"burst": [str(exc)]}) from None
        return attrs


class ConnectionUpdateSerializer(RejectUnknownFields, serializers.Serializer[Any]):
    """Only what is sent changes. Settings and credentials are checked with the connector; a rename or a
    new request budget alone leaves the connection's tested status as it is."""

    name = serializers.CharField(max_length=120, required=False)
    rate_limit_override = RateLimitOverrideSerializer(
        required=False,
        allow_null=True,
        help_text="Replaces the connector's request budget for this account; null restores the default.",
    )
    config = serializers.DictField(
        required=False, help_text="Replaces the stored config as a whole (send every setting)."
    )
    credentials = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        write_only=True,
        required=False,
        help_text="Only the credentials sent change; blank values keep the stored one. Write-only.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        connection: Connection = self.context["connection"]
        _check_credential_names(connection.kind, attrs.get("credentials") or {})
        name = attrs.get("name")
        if (
            name is not None
            and Connection.objects.filter(team_id=connection.team_id, name=name)
            .exclude(pk=connection.pk)
            .exists()
        ):
            raise serializers.ValidationError(
                {"name": ["Your team already has a connection with this name."]}
            )
        return attrs


class ConnectionTestResultSerializer(serializers.Serializer[Any]):
    ok = serializers.BooleanField()
    message = serializers.CharField(help_text="The account label, or the system's own error message.")
    connection = ConnectionHealthSerializer()


class SchemaQuerySerializer(serializers.Serializer[Any]):
    object = serializers.CharField(help_text="An object of the connector type, e.g. contacts.")
    refresh = serializers.BooleanField(
        required=False, default=False, help_text="Ask the system now instead of using the cached schema."
    )

    def validate_object(self, value: str) -> str:
        connection: Connection = self.context["connection"]
        # A manifest's or table's objects come from its config, not from the provider class.
        objects = get_provider(connection.kind).objects_for(connection.config)
        if objects and value not in objects:
            raise serializers.ValidationError(f"Choose one of: {', '.join(objects)}.")
        return value


class PicklistOptionSerializer(serializers.Serializer[Any]):
    value = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class FieldSchemaSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    type = serializers.CharField()
    required = serializers.BooleanField()  # type: ignore[assignment]
    read_only = serializers.BooleanField()  # type: ignore[assignment]
    custom = serializers.BooleanField()
    options = PicklistOptionSerializer(many=True)


class ObjectSchemaSerializer(serializers.Serializer[Any]):
    object = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    fields = FieldSchemaSerializer(many=True)  # type: ignore[assignment]
    fetched_at = serializers.DateTimeField()
    changed_at = serializers.DateTimeField()
    last_change = serializers.DictField(help_text="What the refresh that last found a change found.")


class ConnectionFilterSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=sorted(PROVIDERS), required=False)
    status = serializers.ChoiceField(choices=Connection.Status.choices, required=False)
    name = serializers.CharField(required=False, help_text="Part of the name, any case.")
    ordering = serializers.ChoiceField(
        choices=["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"],
        required=False,
        default="name",
    )

    def apply(self, connections: Any) -> Any:
        data = self.validated_data
        if data.get("kind"):
            connections = connections.filter(kind=data["kind"])
        if data.get("status"):
            connections = connections.filter(status=data["status"])
        if data.get("name"):
            connections = connections.filter(name__icontains=data["name"])
        return connections.order_by(data["ordering"], "id")
