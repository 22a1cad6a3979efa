"""REST endpoints for connector types and connections. Thin: validate, call a service, serialize."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from connectors.base import ConnectorError, Provider
from connectors.deletion import ConnectionInUse, connection_delete
from connectors.models import Connection
from connectors.registry import PROVIDERS, get_provider
from connectors.schemas import schema_entry
from connectors.selectors import connection_get, connection_list
from connectors.serializers import (
    ConnectionCreateSerializer,
    ConnectionFilterSerializer,
    ConnectionHealthSerializer,
    ConnectionSerializer,
    ConnectionTestResultSerializer,
    ConnectionUpdateSerializer,
    ConnectorTypeSerializer,
    ObjectSchemaSerializer,
    SchemaQuerySerializer,
)
from connectors.services import ConnectionInputError, connection_create, connection_test, connection_update
from integrations_hub.api.problems import Conflict, UpstreamError
from integrations_hub.api.viewsets import TeamViewSet

NAME_TAKEN = "Your team already has a connection with this name."


class ConnectorTypeViewSet(TeamViewSet):
    """The kinds of systems the hub can connect to, and what each needs and offers."""

    serializer_class = ConnectorTypeSerializer
    lookup_field = "kind"
    lookup_value_regex = r"[a-z0-9_]+"

    @extend_schema(responses=ConnectorTypeSerializer(many=True))
    def list(self, request: Request) -> Response:
        providers: list[type[Provider]] = [get_provider(kind) for kind in sorted(PROVIDERS)]
        page: Any = self.paginate_queryset(providers)
        return self.get_paginated_response(ConnectorTypeSerializer(page, many=True).data)

    @extend_schema(responses=ConnectorTypeSerializer)
    def retrieve(self, request: Request, kind: str) -> Response:
        if kind not in PROVIDERS:
            raise exceptions.NotFound(f"No connector type {kind!r}.")
        return Response(ConnectorTypeSerializer(get_provider(kind)).data)


def _service_errors(kind: str, errors: dict[str, str]) -> dict[str, Any]:
    """ConnectionInputError's flat field names, placed under `config` or `credentials` as sent."""
    secret_names = set(get_provider(kind).credential_fields)
    placed: dict[str, dict[str, list[str]]] = {"config": {}, "credentials": {}}
    for field, message in errors.items():
        placed["credentials" if field in secret_names else "config"][field] = [message]
    return {group: fields for group, fields in placed.items() if fields}


def _settings_update(connection: Connection, data: Mapping[str, Any], *, actor: Any) -> None:
    """The name and the request budget: neither needs the system, so the tested status stays."""
    changes: dict[str, list[Any]] = {}
    for name in ("name", "rate_limit_override"):
        if name in data:
            value = dict(data[name]) if isinstance(data[name], Mapping) else data[name]
            if value != getattr(connection, name):
                changes[name] = [getattr(connection, name), value]
                setattr(connection, name, value)
    if not changes:
        return
    connection.save(update_fields=[*changes, "updated_at"])
    from integrations_hub.audit.services import audit_record

    audit_record(
        team=connection.team_id,
        actor=actor,
        action="connection.updated",
        obj=connection,
        summary=f"Changed {', '.join(sorted(changes))} of connection {connection.name!r}",
        changes=changes,
    )


class ConnectionViewSet(TeamViewSet):
    """Connections of the caller's team. Credentials go in, never come out (`has_credentials` only)."""

    queryset = Connection.objects.none()  # for the schema's path parameter types; reads use selectors
    serializer_class = ConnectionSerializer
    lookup_value_regex = r"\d+"

    def _connection(self) -> Connection:
        return connection_get(team=self.team, connection_id=int(self.kwargs["pk"]))

    @extend_schema(parameters=[ConnectionFilterSerializer], responses=ConnectionSerializer(many=True))
    def list(self, request: Request) -> Response:
        filters = ConnectionFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(filters.apply(connection_list(team=self.team)))
        return self.get_paginated_response(ConnectionSerializer(page, many=True).data)

    @extend_schema(request=ConnectionCreateSerializer, responses={201: ConnectionSerializer})
    def create(self, request: Request) -> Response:
        payload = ConnectionCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if connection_list(team=self.team).filter(name=data["name"]).exists():
            raise serializers.ValidationError({"name": [NAME_TAKEN]})
        try:
            connection = connection_create(
                team=self.team,
                name=data["name"],
                kind=data["kind"],
                config=data["config"],
                credentials=data["credentials"],
                actor=request.user,
            )
        except ConnectionInputError as exc:
            raise serializers.ValidationError(_service_errors(data["kind"], exc.errors)) from None
        except IntegrityError:
            raise serializers.ValidationError({"name": [NAME_TAKEN]}) from None
        location = reverse("api:connection-detail", kwargs={"pk": connection.pk})
        return Response(ConnectionSerializer(connection).data, status=201, headers={"Location": location})

    @extend_schema(responses=ConnectionSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ConnectionSerializer(self._connection()).data)

    @extend_schema(request=ConnectionUpdateSerializer, responses=ConnectionSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        connection = self._connection()
        payload = ConnectionUpdateSerializer(data=request.data, context={"connection": connection})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            with transaction.atomic():
                if "config" in data or "credentials" in data:
                    connection = connection_update(
                        connection=connection,
                        config=data.get("config"),
                        credentials=data.get("credentials"),
                        actor=request.user,
                    )
                _settings_update(connection, data, actor=request.user)
        except ConnectionInputError as exc:
            raise serializers.ValidationError(_service_errors(connection.kind, exc.errors)) from None
        except IntegrityError:
            raise serializers.ValidationError({"name": [NAME_TAKEN]}) from None
        return Response(ConnectionSerializer(connection).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="Workflows still use it.")})
    def destroy(self, request: Request, pk: str) -> Response:
        try:
            connection_delete(connection=self._connection(), user=request.user)
        except ConnectionInUse as exc:
            raise Conflict(str(exc), code="connection_in_use") from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ConnectionTestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        """Ask the system who we are. A failed test is a 200 with `ok: false` and the system's message."""
        connection = self._connection()
        result = connection_test(connection=connection)
        body = {"ok": result.ok, "message": result.message, "connection": connection}
        return Response(ConnectionTestResultSerializer(body).data)

    @extend_schema(
        parameters=[SchemaQuerySerializer],
        responses={200: ObjectSchemaSerializer, 502: OpenApiResponse(description="The system failed.")},
    )
    # Not named `schema`: that attribute of a DRF view holds its OpenAPI generator.
    @action(detail=True, methods=["get"], url_path="schema", url_name="schema")
    def object_schema(self, request: Request, pk: str) -> Response:
        """The fields of one object, from the cache (refreshed when older than 6 hours, or on `refresh`)."""
        connection = self._connection()
        query = SchemaQuerySerializer(data=request.query_params.dict(), context={"connection": connection})
        query.is_valid(raise_exception=True)
        try:
            entry = schema_entry(
                connection=connection,
                object_name=query.validated_data["object"],
                refresh=query.validated_data["refresh"],
            )
        except ConnectorError as exc:
            raise UpstreamError(exc.message) from None
        body = {
            "object": entry.schema.name,
            "label": entry.schema.label,
            "fields": entry.schema.fields,
            "fetched_at": entry.fetched_at,
            "changed_at": entry.changed_at,
            "last_change": entry.last_change,
        }
        return Response(ObjectSchemaSerializer(body).data)

    @extend_schema(responses=ConnectionHealthSerializer)
    @action(detail=True, methods=["get"])
    def health(self, request: Request, pk: str) -> Response:
        return Response(ConnectionHealthSerializer(self._connection()).data)
