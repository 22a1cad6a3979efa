"""The sync editor pages: new and edit, the HTMX refresh they swap, and switching a sync on or off.

Team members (editors and admins) create and edit syncs; another team's sync is a 404. Views parse the form
into a SyncDraft (workflows.sync.editor), ask workflows.sync.editor_context what to show, and save through
the definition services, whose check places every problem next to its field.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from connectors.models import Connection
from connectors.selectors import connection_list
from integrations_hub.accounts.access import team_of, team_required
from integrations_hub.accounts.models import Team
from workflows.builder_steps import ConditionDraft, new_key
from workflows.engine.sync.spec import SyncSpecError
from workflows.sync.editor import MatchDraft, PairDraft, draft_from_post, draft_from_sync, new_draft
from workflows.sync.editor_context import Editor, editor_for, suggest_pairs_for
from workflows.sync.models import Sync
from workflows.sync.selectors import sync_get
from workflows.sync.services.definition import sync_create, sync_set_enabled, sync_update

PAGE = "sync/editor.html"


def _connections(team: Team) -> list[Connection]:
    return list(connection_list(team=team))


def _render(request: HttpRequest, editor: Editor, status: int = 200) -> HttpResponse:
    return render(request, PAGE, editor.context(), status=status)


@team_required
def sync_new(request: HttpRequest) -> HttpResponse:
    team = team_of(request)
    if request.method == "POST":
        return _save(request, team, sync=None)
    return _render(request, editor_for(draft=new_draft(), connections=_connections(team)))


@team_required
def sync_edit(request: HttpRequest, sync_id: int) -> HttpResponse:
    team = team_of(request)
    sync = sync_get(team=team, sync_id=sync_id)
    if request.method == "POST":
        return _save(request, team, sync=sync)
    return _render(
        request, editor_for(draft=draft_from_sync(sync), connections=_connections(team), sync=sync)
    )


def _save(request: HttpRequest, team: Team, *, sync: Sync | None) -> HttpResponse:
    draft = draft_from_post(request.POST)
    editor = editor_for(draft=draft, connections=_connections(team), sync=sync)
    editor.check_choices()
    names = Sync.objects.filter(team=team, name=draft.name)
    if sync is not None:
        names = names.exclude(pk=sync.pk)
    if draft.name and names.exists():
        draft.add_error("name", "Your team already has a sync with this name.")
    if draft.has_errors:
        return _render(request, editor, status=400)
    try:
        if sync is None:
            assert editor.a.connection is not None and editor.b.connection is not None
            saved = sync_create(
                team=team,
                a_connection=editor.a.connection,
                a_object=draft.a_object,
                b_connection=editor.b.connection,
                b_object=draft.b_object,
                enabled=request.POST.get("enabled") == "on",
                **draft.options(),
            )
        else:
            saved = sync_update(sync=sync, **draft.options())
    except SyncSpecError as exc:
        draft.place(exc.messages)
        if sync is not None:
            sync.refresh_from_db()
        return _render(request, editor, status=400)
    except IntegrityError:
        draft.add_error("name", "Your team already has a sync with this name.")
        return _render(request, editor, status=400)
    messages.success(request, f"Saved “{saved.name}”.")
    return redirect("sync:sync_detail", sync_id=saved.pk)


@require_POST
@team_required
def sync_editor_refresh(request: HttpRequest) -> HttpResponse:
    """Re-render the editor's body for the posted form: a connection or object changed, or a row was added.

    `add` names the row to add: "pair", "match", "filter_a", "filter_b", or "suggest" (pairs for the fields
    with the same meaning on both sides that no pair uses yet).
    """
    team = team_of(request)
    sync_id = request.POST.get("sync", "")
    sync = sync_get(team=team, sync_id=int(sync_id)) if sync_id.isdigit() else None
    draft = draft_from_post(request.POST)
    editor = editor_for(draft=draft, connections=_connections(team), sync=sync)
    add = request.POST.get("add", "")
    if add == "pair":
        draft.pairs.append(PairDraft(key=new_key()))
    elif add == "match":
        draft.match.append(MatchDraft(key=new_key()))
    elif add in ("filter_a", "filter_b"):
        side = add[-1]
        draft.filters[side].append(ConditionDraft(key=f"{side}{new_key()}"))
    elif add == "suggest":
        suggested = suggest_pairs_for(editor)
        draft.pairs = [pair for pair in draft.pairs if not pair.blank] + suggested
        if not suggested:
            draft.add_error("pairs", "No more fields with the same meaning on both sides.")
    return render(request, "sync/editor/_body.html", editor.context())


@require_POST
@team_required
def sync_toggle(request: HttpRequest, sync_id: int) -> HttpResponse:
    sync = sync_get(team=team_of(request), sync_id=sync_id)
    enabled = request.POST.get("enabled") == "on"
    try:
        sync_set_enabled(sync=sync, enabled=enabled)
    except SyncSpecError as exc:
        messages.error(request, "Not enabled: " + "; ".join(exc.messages))
        return redirect("sync:sync_detail", sync_id=sync.pk)
    messages.success(request, f"“{sync.name}” is {'enabled' if enabled else 'disabled'}.")
    return redirect("sync:sync_detail", sync_id=sync.pk)
