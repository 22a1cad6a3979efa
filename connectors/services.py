"""Writes on connections: create, change credentials, test, record success and failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from connectors.base import ConnectorClient, ConnectorError, ReconnectRequired
from connectors.models import Connection
from connectors.registry import get_provider
from integrations_hub.accounts.models import Team


class ConnectionInputError(ValueError):
    """The connection's settings are not valid for its connector; `errors` maps field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def _validate(kind: str, config: dict[str, Any], credentials: dict[str, str]) -> None:
    provider = get_provider(kind)
    errors: dict[str, str] = {}
    try:
        provider.config_model.model_validate(config)
    except ValidationError as exc:
        for error in exc.errors():
            errors[".".join(str(part) for part in error["loc"]) or "config"] = error["msg"]
    for name in provider.credential_fields:
        if not credentials.get(name):
            errors[name] = "This credential is required."
    if errors:
        raise ConnectionInputError(errors)


@transaction.atomic
def connection_create(
    *, team: Team, name: str, kind: str, config: dict[str, Any], credentials: dict[str, str]
) -> Connection:
    _validate(kind, config, credentials)
    connection = Connection(team=team, name=name, kind=kind, config=config)
    connection.set_credentials(credentials)
    connection.save()
    return connection


@transaction.atomic
def connection_update(
    *, connection: Connection, config: dict[str, Any] | None = None, credentials: dict[str, str] | None = None
) -> Connection:
    """Change settings; credentials left out (or blank) keep their stored value (they are write-only)."""
    merged = connection.get_credentials()
    merged.update({key: value for key, value in (credentials or {}).items() if value})
    new_config = dict(config) if config is not None else dict(connection.config)
    _validate(connection.kind, new_config, merged)
    connection.config = new_config
    connection.set_credentials(merged)
    connection.status = Connection.Status.UNTESTED
    connection.save()
    return connection


def client_for(connection: Connection) -> ConnectorClient:
    return get_provider(connection.kind).client(connection.client_settings())


def connection_record_success(*, connection: Connection, account_label: str | None = None) -> None:
    fields: dict[str, Any] = {"status": Connection.Status.OK, "last_success_at": timezone.now()}
    if account_label is not None:
        fields["account_label"] = account_label[:200]
    Connection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)


def connection_record_error(*, connection: Connection, error: ConnectorError) -> None:
    # A refused grant is not fixed by retrying or editing settings; the page must ask for a sign-in.
    status = (
        Connection.Status.NEEDS_RECONNECT if isinstance(error, ReconnectRequired) else Connection.Status.ERROR
    )
    fields: dict[str, Any] = {
        "status": status,
        "last_error": error.message,
        "last_error_at": timezone.now(),
    }
    Connection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    message: str


def connection_test(*, connection: Connection) -> ConnectionTestResult:
    """Ask the system who we are; on failure show the system's own message."""
    try:
        label = client_for(connection).test()
    except ConnectorError as exc:
        connection_record_error(connection=connection, error=exc)
        return ConnectionTestResult(False, exc.message)
    connection_record_success(connection=connection, account_label=label)
    return ConnectionTestResult(True, label)
