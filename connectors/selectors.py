from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from connectors.models import Connection
from integrations_hub.accounts.models import Team


def connection_list(*, team: Team) -> QuerySet[Connection]:
    return Connection.objects.filter(team=team).order_by("name")


def connection_get(*, team: Team, connection_id: int) -> Connection:
    return get_object_or_404(Connection, team=team, pk=connection_id)
