"""Creating and changing a sync definition; every change is compiled and checked against the connectors."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.models import Connection
from integrations_hub.accounts.models import Team
from workflows.engine.sync.spec import SIDES, CompiledSync, SyncSpecError, compile_sync
from workflows.sync.models import Sync
from workflows.sync.services.associations import association_fields
from workflows.sync.services.deletions import connector_can_delete, effective_deleted_when

# Fields of Sync a definition change may set (besides the connections, which never change after creation:
# the links and cursors belong to them).
EDITABLE = (
    "name",
    "create",
    "first_sync",
    "deletion",
    "archive",
    "fields",
    "match",
    "filters",
    "deleted_when",
    "poll_interval_seconds",
    "review_alert_threshold",
)


def sync_check(sync: Sync) -> CompiledSync:
    """Compile the definition and check what the connectors and related syncs must offer for it."""
    definition = sync.definition()
    definition["deleted_when"] = effective_deleted_when(sync)
    spec = compile_sync(definition)
    problems: list[str] = []
    if sync.a_connection.team_id != sync.team_id or sync.b_connection.team_id != sync.team_id:
        problems.append("both connections must belong to the sync's team")
    if sync.deletion == Sync.Deletion.PROPAGATE:
        for side in SIDES:
            if not connector_can_delete(sync.connection(side), sync.object_name(side)):
                problems.append(
                    f"deletion: {sync.connection(side).name} can't delete {sync.object_name(side)} through "
                    "its connector; choose 'archive' (set a field) or 'ignore'"
                )
    problems.extend(_reference_problems(sync, spec))
    if sync.poll_interval_seconds < 5:
        problems.append("poll_interval_seconds: poll at most every 5 seconds")
    if problems:
        raise SyncSpecError(problems)
    return spec


def _reference_problems(sync: Sync, spec: CompiledSync) -> list[str]:
    """A reference pair is carried through another sync between the same systems: its side A links the
    records this sync's side A points at, its side B those of side B. An association field names the related
    sync's object on that side (`associations.contacts` through a contacts sync)."""
    problems: list[str] = []
    related = {
        other.pk: other
        for other in Sync.objects.filter(pk__in=spec.related_sync_ids(), team_id=sync.team_id).select_related(
            "a_connection", "b_connection"
        )
    }
    for pair in spec.pairs:
        reference = pair.reference
        if reference is None:
            continue
        place = f"{pair.key}.reference"
        if reference.sync_id == sync.pk:
            problems.append(f"{place}: a reference can't point at the sync itself")
            continue
        other = related.get(reference.sync_id)
        if other is None:
            problems.append(f"{place}: names sync {reference.sync_id}, which this team doesn't have")
            continue
        for side in SIDES:
            # The same kind of system on the same side (usually the same connection; a second connection to
            # the same account is allowed). A related sync with its sides the other way round is refused.
            if other.connection(side).kind != sync.connection(side).kind:
                problems.append(
                    f"{place}: side {side.upper()} of '{other.name}' is {other.connection(side).name}, not a "
                    f"{sync.connection(side).kind} connection like {sync.connection(side).name}; its links "
                    "can't translate this side's references"
                )
                continue
            linked = association_fields([pair.field(side)]).get(pair.field(side))
            if linked is not None and linked != other.object_name(side):
                problems.append(
                    f"{place}: {pair.field(side)} names {linked}, but '{other.name}' links "
                    f"{other.object_name(side)} on side {side.upper()}"
                )
    return problems


@transaction.atomic
def sync_create(
    *,
    team: Team,
    name: str,
    a_connection: Connection,
    a_object: str,
    b_connection: Connection,
    b_object: str,
    fields: list[dict[str, Any]],
    enabled: bool = False,
    **options: Any,
) -> Sync:
    unknown = set(options) - set(EDITABLE)
    if unknown:
        raise TypeError(f"unknown sync settings: {', '.join(sorted(unknown))}")
    sync = Sync(
        team=team,
        name=name,
        a_connection=a_connection,
        a_object=a_object,
        b_connection=b_connection,
        b_object=b_object,
        fields=fields,
        **options,
    )
    sync_check(sync)
    sync.save()
    if enabled:
        sync_set_enabled(sync=sync, enabled=True)
    return sync


@transaction.atomic
def sync_update(*, sync: Sync, **changes: Any) -> Sync:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise TypeError(f"these sync settings can't be changed: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(sync, name, value)
    sync_check(sync)
    sync.save()
    from workflows.sync.services.schedules import sync_schedule

    sync_schedule(sync=sync)
    return sync


@transaction.atomic
def sync_set_enabled(*, sync: Sync, enabled: bool) -> Sync:
    from workflows.sync.services.schedules import sync_schedule

    sync.enabled = enabled
    fields = ["enabled", "updated_at"]
    if enabled and sync.started_at is None:
        # "Start from now" means from the moment the sync was first switched on.
        sync.started_at = timezone.now()
        fields.append("started_at")
    sync.save(update_fields=fields)
    sync_schedule(sync=sync)
    return sync


@transaction.atomic
def sync_delete(*, sync: Sync) -> None:
    """Delete a sync with its links, runs and review items, and its beat schedule (nothing else's)."""
    task = sync.periodic_task
    sync.delete()
    if task is not None:
        task.delete()
