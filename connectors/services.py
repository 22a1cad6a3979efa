"""Writes on connections: create, change settings and credentials, test, record success and failure.

Every change a person makes is written to the audit log: which settings changed (with their old and
new values) and which secrets were replaced (by name only: a secret's value never leaves its
encrypted column).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from connectors.base import ConnectorClient, ConnectorError, ReconnectRequired
from connectors.models import Connection
from connectors.registry import get_provider
from integrations_hub.accounts.models import Team
from integrations_hub.audit.services import audit_record, field_changes

# Settings longer than this (a pasted manifest) are logged by size and checksum rather than in full.
AUDIT_VALUE_CHARS = 200


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
    for name in provider.secret_names(config):
        if not credentials.get(name):
            errors[name] = "This credential is required."
    if errors:
        raise ConnectionInputError(errors)


def _audit_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > AUDIT_VALUE_CHARS:
        digest = hashlib.sha256(value.encode()).hexdigest()[:12]
        return f"<{len(value)} characters, sha256 {digest}>"
    return value


def _config_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        key: [_audit_value(old), _audit_value(new)]
        for key, (old, new) in field_changes(before, after).items()
    }


def _secret_changes(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """{name: "set" | "changed" | "removed"} for the secrets that differ; never their values."""
    changes: dict[str, str] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ""), after.get(name, "")
        if old != new:
            changes[name] = "removed" if not new else ("changed" if old else "set")
    return changes


@transaction.atomic
def connection_create(
    *,
    team: Team,
    name: str,
    kind: str,
    config: dict[str, Any],
    credentials: dict[str, str],
    actor: Any = None,
) -> Connection:
    _validate(kind, config, credentials)
    connection = Connection(team=team, name=name, kind=kind, config=config)
    connection.set_credentials(credentials)
    connection.save()
    audit_record(
        team=team,
        actor=actor,
        action="connection.created",
        obj=connection,
        summary=f"Created {get_provider(kind).label} connection {name!r}",
        changes={
            "kind": kind,
            "config": {key: _audit_value(value) for key, value in sorted(config.items())},
            "secrets": sorted(name for name, value in credentials.items() if value),
        },
    )
    return connection


@transaction.atomic
def connection_update(
    *,
    connection: Connection,
    config: dict[str, Any] | None = None,
    credentials: dict[str, str] | None = None,
    name: str | None = None,
    actor: Any = None,
) -> Connection:
    """Change settings; credentials left out (or blank) keep their stored value (they are write-only).

    Raises IntegrityError when `name` is taken by another connection of the team.
    """
    stored = connection.get_credentials()
    merged = dict(stored)
    merged.update({key: value for key, value in (credentials or {}).items() if value})
    old_config = dict(connection.config)
    new_config = dict(config) if config is not None else dict(old_config)
    _validate(connection.kind, new_config, merged)
    old_name = connection.name
    if name is not None and name.strip():
        connection.name = name.strip()
    connection.config = new_config
    connection.set_credentials(merged)
    connection.status = Connection.Status.UNTESTED
    connection.save()
    changes = _config_changes(old_config, new_config)
    if connection.name != old_name:
        changes["name"] = [old_name, connection.name]
    if changes:
        audit_record(
            team=connection.team_id,
            actor=actor,
            action="connection.updated",
            obj=connection,
            summary=f"Changed {', '.join(sorted(changes))} of connection {connection.name!r}",
            changes=changes,
        )
    secrets = _secret_changes(stored, merged)
    if secrets:
        audit_record(
            team=connection.team_id,
            actor=actor,
            action="connection.credentials_changed",
            obj=connection,
            summary=f"Replaced the credentials {', '.join(secrets)} of connection {connection.name!r}",
            changes=secrets,
        )
    return connection


def connection_audit_oauth(*, connection: Connection, actor: Any, reconnect: bool) -> None:
    """Record a completed "Connect with ..." sign-in: a new grant replaced the stored tokens."""
    provider = get_provider(connection.kind)
    audit_record(
        team=connection.team_id,
        actor=actor,
        action="connection.oauth_reconnected" if reconnect else "connection.oauth_connected",
        obj=connection,
        summary=f"{'Reconnected' if reconnect else 'Connected'} {connection.name!r} by signing in to "
        f"{provider.label}",
        changes={"secrets": sorted(connection.get_credentials())},
    )


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
