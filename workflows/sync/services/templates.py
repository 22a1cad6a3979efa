"""Creating the syncs of a sync template (workflows.sync.sync_templates) over two chosen connections."""

from __future__ import annotations

from django.db import transaction

from connectors.models import Connection
from integrations_hub.accounts.models import Team
from workflows.engine.sync.spec import SyncSpecError
from workflows.sync.models import Sync
from workflows.sync.services.definition import sync_create
from workflows.sync.sync_templates import Created, SyncTemplate


def _free_name(team: Team, name: str) -> str:
    """`name`, or `name (2)`, `name (3)`… when the team already has a sync called that."""
    taken = set(Sync.objects.filter(team=team, name__startswith=name).values_list("name", flat=True))
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name} ({number})"
    return candidate


@transaction.atomic
def sync_template_apply(
    *, team: Team, template: SyncTemplate, a_connection: Connection, b_connection: Connection
) -> list[Sync]:
    """Create the template's syncs in order, switched off, each checked like any other definition.

    All or nothing: a part that fails its check leaves none of the template's syncs behind.
    """
    problems = [
        f"{need.side.upper()} must be a {need.label} connection of the team"
        for need, connection in zip(template.needs, (a_connection, b_connection), strict=True)
        if connection.kind != need.kind or connection.team_id != team.pk
    ]
    if problems:
        raise SyncSpecError(problems)
    created: Created = {}
    syncs = []
    for part in template.parts:
        sync = sync_create(
            team=team,
            name=_free_name(team, part.name),
            a_connection=a_connection,
            a_object=part.a_object,
            b_connection=b_connection,
            b_object=part.b_object,
            fields=part.fields(created),
            match=list(part.match),
            create=part.create,
            first_sync=part.first_sync,
            enabled=False,
        )
        created[part.key] = sync.pk
        syncs.append(sync)
    return syncs
