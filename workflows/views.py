from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from integrations_hub.accounts.access import team_of, team_required
from workflows.models import Run, RunRecord, Workflow
from workflows.run_progress import attach_progress
from workflows.selectors import (
    keyset_page,
    run_get,
    run_list,
    run_records,
    run_records_total,
    runs_by_id,
    workflow_get,
    workflow_list,
)
from workflows.services.files import FileRejected, file_receive
from workflows.services.replay import dead_letters, run_replay
from workflows.services.runs import run_confirm_flood, run_request
from workflows.services.versions import has_unpublished_changes, workflow_publish
from workflows.services.workflow import workflow_set_enabled

# Counts of failed records stop here: past it the page says "1,000+" instead of counting them all.
COUNT_CAP = 1000


@team_required
def dashboard(request: HttpRequest) -> HttpResponse:
    workflows = list(workflow_list(team=team_of(request)))
    last_runs = runs_by_id(ids=[w.last_run_id for w in workflows])  # type: ignore[attr-defined]
    rows = [(w, last_runs.get(w.last_run_id)) for w in workflows]  # type: ignore[attr-defined]
    return render(request, "workflows/dashboard.html", {"rows": rows})


@team_required
def workflow_detail(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    runs = run_list(team=team_of(request), workflow_id=workflow.pk)[:20]
    dead_letter_count, dead_letters_more = _capped_count(dead_letters(workflow=workflow))
    context = {
        "workflow": workflow,
        "runs": runs,
        "unpublished": has_unpublished_changes(workflow),
        "dead_letter_count": dead_letter_count,
        "dead_letters_more": dead_letters_more,
        "webhook_url": request.build_absolute_uri(f"/hooks/{workflow.webhook_token}")
        if workflow.trigger == workflow.Trigger.WEBHOOK
        else "",
    }
    return render(request, "workflows/workflow_detail.html", context)


@require_POST
@team_required
def workflow_run_now(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    run = run_request(workflow=workflow, trigger=Run.Trigger.MANUAL)
    if run is None:
        messages.info(request, "A run of this workflow is already in progress.")
        return redirect("workflow_detail", workflow_id=workflow.pk)
    return redirect("run_detail", run_id=run.pk)


@require_POST
@team_required
def workflow_toggle(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    enable = request.POST.get("enabled") == "on"
    workflow_set_enabled(workflow=workflow, enabled=enable, user=request.user)
    messages.success(request, f"{workflow.name} is now {'enabled' if enable else 'disabled'}.")
    return redirect("workflow_detail", workflow_id=workflow.pk)


@team_required
def run_index(request: HttpRequest) -> HttpResponse:
    team = team_of(request)
    workflow_id = _int_or_none(request.GET.get("workflow"))
    status = request.GET.get("status") or None
    record_key = (request.GET.get("q") or "").strip() or None
    runs = run_list(team=team, workflow_id=workflow_id, status=status, record_key=record_key)
    page = Paginator(runs.select_related("workflow__target_connection"), 25).get_page(request.GET.get("page"))
    attach_progress(page.object_list)
    context = {
        "page": page,
        "workflows": Workflow.objects.filter(team=team).only("id", "name").order_by("name"),
        "statuses": Run.Status.choices,
        "selected_workflow": workflow_id,
        "selected_status": status or "",
        "query": record_key or "",
        # The table reloads itself while a run on it is active, so statuses and progress stay live.
        "live": any(run.is_active for run in page.object_list),
    }
    template = "workflows/partials/run_table.html" if request.htmx else "workflows/run_list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@team_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get(team=team_of(request), run_id=run_id)
    context = {"run": run, **_records_context(request, run)}
    return render(request, "workflows/run_detail.html", context)


@team_required
def run_status(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's header (status and counts); the page polls it while the run is active."""
    run = run_get(team=team_of(request), run_id=run_id)
    return render(request, "workflows/partials/run_summary.html", {"run": run})


@team_required
def run_record_log(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get(team=team_of(request), run_id=run_id)
    return render(
        request, "workflows/partials/run_records.html", {"run": run, **_records_context(request, run)}
    )


def _records_context(request: HttpRequest, run: Run) -> dict[str, object]:
    """The per-record log: pages follow the last id shown (keyset), never an OFFSET, and the total comes
    from the run's counters, so the log of a run with a million records answers as fast as a short one."""
    outcome = request.GET.get("outcome") or None
    query = (request.GET.get("q") or "").strip() or None
    page = keyset_page(
        run_records(run=run, outcome=outcome, query=query),
        size=settings.HUB_RUN_RECORDS_PAGE_SIZE,
        after=_int_or_none(request.GET.get("after")),
        before=_int_or_none(request.GET.get("before")),
    )
    filters = {key: value for key, value in (("outcome", outcome), ("q", query)) if value}
    return {
        "records_page": page,
        # A search matches an unknown number of records; the counters know the rest.
        "records_total": ""
        if query
        else _records_label(run_records_total(run=run, outcome=outcome), outcome),
        "records_filters": urlencode(filters),
        "outcomes": RunRecord.Outcome.choices,
        "selected_outcome": outcome or "",
        "query": query or "",
    }


def _records_label(total: int, outcome: str | None) -> str:
    label = f"{total:,} record{'' if total == 1 else 's'}"
    if outcome:
        label += f" {dict(RunRecord.Outcome.choices).get(outcome, outcome).lower()}"
    return f"{label} in this run"


def _capped_count(rows: QuerySet[RunRecord]) -> tuple[int, bool]:
    """COUNT(*) of at most COUNT_CAP + 1 rows, and whether there are more (an exact count of a huge set
    costs a scan of it)."""
    n = rows.order_by().values("pk")[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


def _capped_label(rows: QuerySet[RunRecord]) -> str:
    n, more = _capped_count(rows)
    return f"{n:,}{'+' if more else ''}"


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@require_POST
@team_required
def workflow_publish_view(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    before = workflow.published_version_id
    version = workflow_publish(workflow=workflow, user=request.user)
    if version.pk == before:
        messages.info(request, f"Nothing changed since version {version.number}.")
    else:
        messages.success(request, f"Published version {version.number}.")
    return redirect("workflow_detail", workflow_id=workflow.pk)


@team_required
def workflow_versions(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    versions = list(workflow.versions.select_related("created_by").order_by("-number")[:50])
    rows = []
    for newer, older in zip(versions, [*versions[1:], None], strict=True):
        rows.append((newer, _definition_diff(older.definition if older else {}, newer.definition)))
    return render(request, "workflows/versions.html", {"workflow": workflow, "rows": rows})


def _definition_diff(old: dict[str, object], new: dict[str, object]) -> list[tuple[str, object, object]]:
    changes: list[tuple[str, object, object]] = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            changes.append((key, old.get(key), new.get(key)))
    return changes


@team_required
def workflow_dead_letters(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    records = dead_letters(workflow=workflow)
    page = keyset_page(
        records,
        size=50,
        after=_int_or_none(request.GET.get("after")),
        before=_int_or_none(request.GET.get("before")),
        descending=True,
    )
    context = {"workflow": workflow, "page": page, "total": f"{_capped_label(records)} waiting for replay"}
    return render(request, "workflows/dead_letters.html", context)


@require_POST
@team_required
def run_replay_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get(team=team_of(request), run_id=run_id)
    record_ids = [int(v) for v in request.POST.getlist("record") if v.isdigit()]
    replay = run_replay(
        run=run, record_ids=record_ids or None, on_current_version=request.POST.get("version") == "current"
    )
    if replay is None:
        messages.info(request, "A run of this workflow is in progress; replay when it has finished.")
        return redirect("run_detail", run_id=run.pk)
    return redirect("run_detail", run_id=replay.pk)


@require_POST
@team_required
def run_confirm_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = run_get(team=team_of(request), run_id=run_id)
    confirmed = run_confirm_flood(run=run)
    if confirmed is None:
        messages.info(request, "This run is not waiting for confirmation, or another run is in progress.")
        return redirect("run_detail", run_id=run.pk)
    return redirect("run_detail", run_id=confirmed.pk)


@require_POST
@team_required
def workflow_upload(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a CSV file to upload.")
        return redirect("workflow_detail", workflow_id=workflow.pk)
    try:
        receipt = file_receive(workflow=workflow, upload=upload, name=upload.name or "upload.csv")
    except FileRejected as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"{receipt.rows} rows received: {receipt.new} new, {receipt.duplicates} already uploaded before.",
        )
    return redirect("workflow_detail", workflow_id=workflow.pk)
