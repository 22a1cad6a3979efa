from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from connectors.models import Connection
from integrations_hub.accounts.models import Membership, Team


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Team {n}")


def member(*, team: Team, username: str, role: str) -> Any:
    user = get_user_model().objects.create_user(username=username, password="pw-for-tests")
    Membership.objects.create(user=user, team=team, role=role)
    return user


def hubspot_connection(
    *, team: Team, base_url: str, token: str = "demo-crm-token", name: str = "CRM"
) -> Connection:
    from connectors.services import connection_create

    return connection_create(
        team=team,
        name=name,
        kind="hubspot",
        config={"base_url": base_url},
        credentials={"access_token": token},
    )


def zendesk_connection(
    *, team: Team, base_url: str, token: str = "demo-helpdesk-token", name: str = "Helpdesk"
) -> Connection:
    from connectors.services import connection_create

    return connection_create(
        team=team,
        name=name,
        kind="zendesk",
        config={"base_url": base_url, "email": "agent@demo.example"},
        credentials={"api_token": token},
    )
