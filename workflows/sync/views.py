"""Pages for two-way syncs and the review queue. Thin: parse, authorise, call a service or a selector.

The review queue is for team admins: editors get 403, and another team's items are 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from integrations_hub.accounts.access import admin_required, team_of, team_required
from workflows.sync.forms import BulkConflictDecisionForm, ConflictDecisionForm, HoldDecisionForm
from workflows.sync.models import Sync, SyncRun
from workflows.sync.selectors import (
    conflict_get,
    hold_get,
    match_consistency,
    open_conflicts,
    open_holds,
    run_outcomes,
    sync_get,
    sync_list,
    sync_runs,
)
from workflows.sync.services.review import ReviewError, conflicts_resolve, hold_resolve
from workflows.sync.services.runs import sync_run_request


@team_required
def sync_index(request: HttpRequest) -> HttpResponse:
    syncs = list(sync_list(team=team_of(request)))
    runs = SyncRun.objects.in_bulk([s.last_run_id for s in syncs if s.last_run_id])  # type: ignore[attr-defined]
    rows = [(s, runs.get(s.last_run_id)) for s in syncs]  # type: ignore[attr-defined]
    return render(request, "sync/sync_list.html", {"rows": rows})


@team_required
def sync_detail(request: HttpRequest, sync_id: int) -> HttpResponse:
    sync = sync_get(team=team_of(request), sync_id=sync_id)
    context = {"sync": sync, "consistency": match_consistency(sync=sync), "runs": sync_runs(sync=sync)}
    return render(request, "sync/sync_detail.html", context)


@require_POST
@team_required
def sync_run_now(request: HttpRequest, sync_id: int) -> HttpResponse:
    sync = sync_get(team=team_of(request), sync_id=sync_id)
    if sync_run_request(sync=sync, trigger=SyncRun.Trigger.MANUAL) is None:
        messages.info(request, "A run of this sync is already in progress.")
    else:
        messages.success(request, "The sync will run in a moment.")
    return redirect("sync:sync_detail", sync_id=sync.pk)


@team_required
def sync_run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(SyncRun.objects.select_related("sync"), sync__team=team_of(request), pk=run_id)
    return render(request, "sync/run_detail.html", {"run": run, "outcomes": run_outcomes(run=run)[:500]})


REVIEW_PAGE = 50


def _queue_context(request: HttpRequest) -> dict[str, object]:
    team = team_of(request)
    sync_id = request.GET.get("sync")
    selected = int(sync_id) if sync_id and sync_id.isdigit() else None
    conflicts = open_conflicts(team=team, sync_id=selected)
    holds = open_holds(team=team, sync_id=selected)
    return {
        # The oldest first, a page at a time: each row carries its own decision form, and rendering 200 of
        # each took a quarter of a second on two cores. Decided rows leave, and the next ones come up.
        "conflicts": list(conflicts[:REVIEW_PAGE]),
        "holds": list(holds[:REVIEW_PAGE]),
        "conflicts_total": conflicts.count(),
        "holds_total": holds.count(),
        "page_size": REVIEW_PAGE,
        "syncs": Sync.objects.filter(team=team).only("id", "name").order_by("name"),
        "selected_sync": selected,
    }


@admin_required
def review_queue(request: HttpRequest) -> HttpResponse:
    return render(request, "sync/review_queue.html", _queue_context(request))


@require_POST
@admin_required
def conflict_resolve(request: HttpRequest, conflict_id: int) -> HttpResponse:
    conflict = conflict_get(team=team_of(request), conflict_id=conflict_id)
    form = ConflictDecisionForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            conflicts_resolve(
                conflicts=[conflict],
                choice=form.cleaned_data["choice"],
                value=form.typed_value(),
                actor=request.user,
            )
        except ReviewError as exc:
            error = str(exc)
    else:
        error = "Choose A's value, B's value or type a value."
    conflict.refresh_from_db()
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "sync/partials/conflict_row.html", {"conflict": conflict, "error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Decision recorded; it is being written to both systems.")
    return redirect("sync:review_queue")


@require_POST
@admin_required
def conflicts_resolve_bulk(request: HttpRequest) -> HttpResponse:
    team = team_of(request)
    ids = [int(pk) for pk in request.POST.getlist("conflicts") if pk.isdigit()]
    conflicts = list(open_conflicts(team=team).filter(pk__in=ids))
    form = BulkConflictDecisionForm(request.POST, conflict_ids=[c.pk for c in conflicts])
    if not form.is_valid() or not conflicts:
        messages.error(request, "Tick the conflicts to decide, and choose how.")
        return redirect("sync:review_queue")
    decided = conflicts_resolve(
        conflicts=conflicts, choice=form.cleaned_data["choice"], value=form.typed_value(), actor=request.user
    )
    messages.success(
        request, f"{decided} conflict{'s' if decided != 1 else ''} decided; writing to both systems."
    )
    return redirect("sync:review_queue")


@require_POST
@admin_required
def hold_resolve_view(request: HttpRequest, hold_id: int) -> HttpResponse:
    hold = hold_get(team=team_of(request), hold_id=hold_id)
    form = HoldDecisionForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            hold_resolve(
                hold=hold,
                choice=form.cleaned_data["choice"],
                candidate_id=form.cleaned_data.get("candidate") or "",
                actor=request.user,
            )
        except ReviewError as exc:
            error = str(exc)
    else:
        error = "Link to a candidate or create a new record."
    hold.refresh_from_db()
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "sync/partials/hold_row.html", {"hold": hold, "error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Decision recorded; it is being applied.")
    return redirect("sync:review_queue")
