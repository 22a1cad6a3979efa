"""The workflow builder pages: new and edit, the HTMX fragments they swap, templates, export and import.

Views only parse, authorise and render: the Draft comes from workflows.builder_forms, what the page shows
from workflows.builder_context, and every write goes through workflows.services.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from connectors.models import Connection
from connectors.selectors import connection_list
from integrations_hub.accounts.access import team_of, team_required
from integrations_hub.accounts.models import Team
from workflows.builder_context import (
    Builder,
    add_transform,
    builder_for,
    check,
    check_mapping,
    check_row,
    check_step_list,
    context,
    fetch_sample,
    preview,
    row_view,
    suggest_rows,
)
from workflows.builder_forms import (
    ConditionDraft,
    Draft,
    RowDraft,
    convert_to_steps,
    draft_from_post,
    draft_from_workflow,
    new_key,
)
from workflows.builder_steps import ConditionDraft as StepCondition
from workflows.builder_steps import LineDraft, add_step, move_step, remove_step, steps_from_drafts
from workflows.health import measured_latency
from workflows.models import Workflow
from workflows.selectors import workflow_get
from workflows.serializers import WorkflowDocumentSerializer
from workflows.services.builder import BuilderValues, workflow_save_from_builder
from workflows.services.export import workflow_export, workflow_import
from workflows.services.versions import has_unpublished_changes
from workflows.services.workflow import WorkflowInputError
from workflows.sync.sync_templates import sync_template_choices
from workflows.workflow_templates import TEMPLATES_BY_KEY, template_choices, template_draft

PAGE = "workflows/builder/builder.html"
# Service error keys that belong to another field of the form.
_FIELD_OF = {
    "steps": "conditions",
    "trigger.connection": "source_connection",
    "target.connection": "target_connection",
}


def _connections(team: Team) -> list[Connection]:
    return list(connection_list(team=team))


def _posted_builder(request: HttpRequest, *, fetch: bool = False) -> Builder:
    """The builder as the fragment's form posted it; an edited workflow's connections stay its own.

    Only the fragments that change which objects are used (`fetch`) may ask a system for a schema.
    """
    team = team_of(request)
    workflow_id = request.POST.get("workflow", "")
    workflow = workflow_get(team=team, workflow_id=int(workflow_id)) if workflow_id.isdigit() else None
    return builder_for(
        draft=draft_from_post(request.POST), connections=_connections(team), workflow=workflow, fetch=fetch
    )


def _render(
    request: HttpRequest, builder: Builder, extra: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    return render(request, PAGE, {**context(builder), **(extra or {})}, status=status)


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


@team_required
def builder_new(request: HttpRequest) -> HttpResponse:
    team = team_of(request)
    connections = _connections(team)
    if request.method == "POST":
        return _save(request, team, connections, workflow=None)
    extra: dict[str, Any] = {}
    draft = Draft()
    template = TEMPLATES_BY_KEY.get(request.GET.get("template", ""))
    if template is not None:
        choice = next(c for c in template_choices(connections) if c.template.key == template.key)
        draft = template_draft(choice)
        extra = {"template": template, "template_missing": choice.missing}
    builder = builder_for(draft=draft, connections=connections)
    if template is not None:
        check_mapping(builder)
    return _render(request, builder, extra)


@team_required
def builder_edit(request: HttpRequest, workflow_id: int) -> HttpResponse:
    team = team_of(request)
    workflow = workflow_get(team=team, workflow_id=workflow_id)
    connections = _connections(team)
    if request.method == "POST":
        return _save(request, team, connections, workflow=workflow)
    builder = builder_for(draft=draft_from_workflow(workflow), connections=connections, workflow=workflow)
    check_mapping(builder)
    extra = {
        "unpublished": has_unpublished_changes(workflow),
        "measured": measured_latency(workflow=workflow),
    }
    return _render(request, builder, extra)


def _save(
    request: HttpRequest, team: Team, connections: list[Connection], workflow: Workflow | None
) -> HttpResponse:
    draft = draft_from_post(request.POST)
    builder = builder_for(draft=draft, connections=connections, workflow=workflow)
    same_name = Workflow.objects.filter(team=team, name=draft.name)
    if workflow is not None:
        same_name = same_name.exclude(pk=workflow.pk)
    check(builder, name_taken=bool(draft.name) and same_name.exists())
    publish = request.POST.get("action") == "publish"
    blockers = "; ".join(builder.publish_blockers[:3])
    if workflow is not None and workflow.published_version_id is not None and builder.moved:
        # Runs use the published version: a move is saved only together with its publication.
        if not publish:
            problem = (
                "Runs use the published version: a new connection takes effect when it is published."
                " Use “Save and publish”."
            )
        elif blockers:
            problem = f"A new connection takes effect when it is published, and this can't be published yet: {blockers}"
        else:
            problem = ""
        for side in builder.moved if problem else ():
            draft.add_error(f"{side}_connection", problem)
    if draft.errors or builder.input_errors or builder.target.connection is None:
        return _render(request, builder, {"save_failed": True}, status=400)
    values = BuilderValues(
        name=draft.name,
        description=draft.description,
        trigger=draft.trigger,
        source_object=draft.source_object,
        target_object=draft.target_object,
        mapping=draft.mapping_spec(builder.target_types),
        steps=draft.steps_json(draft.mapping_spec(builder.target_types)),
        match_field=draft.match_field,
        poll_interval_seconds=draft.poll_interval_seconds,
        schedule_cron=draft.schedule_cron,
        start_from=draft.start_from,
    )
    try:
        saved = workflow_save_from_builder(
            team=team,
            workflow=workflow,
            values=values,
            source_connection=builder.source.connection,
            target_connection=builder.target.connection,
            publish=publish and not builder.publish_blockers,
            user=request.user,
        )
    except WorkflowInputError as exc:
        for name, problems in exc.errors.items():
            draft.errors.setdefault(_FIELD_OF.get(name, name), []).extend(problems)
        return _render(request, builder, {"save_failed": True}, status=400)
    except IntegrityError:
        draft.add_error("name", "Your team already has a workflow with this name.")
        return _render(request, builder, {"save_failed": True}, status=400)
    if publish and builder.publish_blockers:
        messages.warning(
            request, "Saved as a draft, not published: " + "; ".join(builder.publish_blockers[:3])
        )
    elif publish and saved.published_version is not None:
        messages.success(request, f"Saved and published version {saved.published_version.number}.")
    else:
        messages.success(request, "Draft saved. Runs keep using the published version until you publish.")
    return redirect("workflow_edit", workflow_id=saved.pk)


# ---------------------------------------------------------------------------------------------
# Fragments (HTMX): each re-renders one part of the page from the posted form
# ---------------------------------------------------------------------------------------------


@require_POST
@team_required
def builder_refresh(request: HttpRequest) -> HttpResponse:
    """Everything below the name, after a connection, object or trigger changed."""
    builder = _posted_builder(request, fetch=True)
    check_mapping(builder)
    extra = {"measured": measured_latency(workflow=builder.workflow)} if builder.workflow else {}
    # The sample panel is swapped too (out of band): its "Fetch a record" button names the source.
    return render(request, "workflows/builder/_refresh.html", {**context(builder), **extra})


@require_POST
@team_required
def builder_suggest(request: HttpRequest) -> HttpResponse:
    builder = _posted_builder(request, fetch=True)
    added = suggest_rows(builder)
    check_mapping(builder)
    return render(request, "workflows/builder/_mapping.html", {**context(builder), "suggested": added})


@require_POST
@team_required
def builder_row_add(request: HttpRequest) -> HttpResponse:
    builder = _posted_builder(request)
    row = RowDraft(key=new_key())
    return render(request, "workflows/builder/_row.html", {**context(builder), "rv": row_view(builder, row)})


@require_POST
@team_required
def builder_row_refresh(request: HttpRequest) -> HttpResponse:
    """One row again, after its source or target changed, or with a source or transform added."""
    builder = _posted_builder(request)
    key = request.POST.get("key", "")
    row = next((r for r in builder.draft.rows if r.key == key), None)
    if row is None:
        return HttpResponse(status=400)
    add_transform(builder, row, request.POST.get(f"r-{key}-add", ""))
    check_row(builder, row)
    view = row_view(builder, row)
    if request.POST.get("add_source") == key and row.sources:
        # An empty picker for the next source; it becomes part of the row once a field is chosen.
        view.sources.append(("", None))
    # The mapping's summary ("required and not mapped yet") changes with the row: swapped out of band.
    return render(request, "workflows/builder/_row.html", {**context(builder), "rv": view, "summary": True})


@require_POST
@team_required
def builder_remove(request: HttpRequest) -> HttpResponse:
    """Removing a row, a transform, a value or a condition is a swap with nothing: the post is the list."""
    return HttpResponse("")


@require_POST
@team_required
def builder_value_row(request: HttpRequest) -> HttpResponse:
    row, transform = request.POST.get("row", ""), request.POST.get("t", "")
    if not (row.isalnum() and transform.isalnum()):
        return HttpResponse(status=400)
    return render(
        request,
        "workflows/builder/_vm_row.html",
        {"t_id": f"r-{row}-t-{transform}", "pid": new_key(), "source": "", "value": ""},
    )


@require_POST
@team_required
def builder_condition_add(request: HttpRequest) -> HttpResponse:
    builder = _posted_builder(request)
    return render(
        request, "workflows/builder/_condition.html", {**context(builder), "c": ConditionDraft(key=new_key())}
    )


@require_POST
@team_required
def builder_preview(request: HttpRequest) -> HttpResponse:
    """Map the sample (fetched from the source when asked) and show every warning. Writes nothing."""
    builder = _posted_builder(request)
    fetch_error = ""
    if request.POST.get("fetch") and builder.source.connection is not None and builder.draft.source_object:
        sample, fetch_error = fetch_sample(builder.source.connection, builder.draft.source_object)
        if sample:
            builder.draft.sample = sample
    result = preview(builder) if not fetch_error else None
    return render(
        request,
        "workflows/builder/_sample.html",
        {**context(builder), "preview": result, "fetch_error": fetch_error},
    )


@require_POST
@team_required
def builder_steps(request: HttpRequest) -> HttpResponse:
    """The step list after one change: add, remove or move a step, add a mapping line or a condition,
    or a step's connection or object changed; "check" also compiles the steps and marks the problems.

    Returns the step section, with the id of the control to give the focus back to (the page is swapped
    under the keyboard, so the person must not lose their place).
    """
    builder = _posted_builder(request)
    draft = builder.draft
    op, key = request.POST.get("op", ""), request.POST.get("key", "")
    if op == "convert":
        convert_to_steps(draft, draft.mapping_spec(builder.target_types))
        builder = builder_for(draft=draft, connections=builder.connections, workflow=builder.workflow)
        return render(
            request, "workflows/builder/_refresh.html", {**context(builder), "focus": "s-steps-title"}
        )
    if not draft.multi_step:
        return HttpResponse(status=400)
    drafts = draft.step_drafts
    step = next((d for d in drafts if d.key == key), None)
    focus = request.headers.get("HX-Trigger", "")
    if op == "add":
        parent, arm = request.POST.get("parent", ""), request.POST.get("arm", "")
        kind = request.POST.get(f"add-kind-{parent or 'top'}-{arm or 'main'}", "")
        added = add_step(drafts, kind, parent, arm)
        focus = f"s-{added.key}-title" if added else focus
    elif op == "remove" and step is not None:
        remove_step(drafts, key)
        focus = "s-steps-title"
    elif op in ("up", "down") and step is not None:
        move_step(drafts, key, op)
        focus = f"s-{key}-title"
    elif op == "line" and step is not None:
        step.lines.append(LineDraft(new_key()))
        focus = f"s-{key}-l-{step.lines[-1].key}-target"
    elif op == "condition" and step is not None:
        step.conditions.append(StepCondition(new_key()))
        focus = f"s-{key}-c-{step.conditions[-1].key}-field"
    draft.steps = steps_from_drafts(drafts)
    if op == "check":
        check_step_list(builder)
    return render(request, "workflows/builder/_steps.html", {**context(builder), "focus": focus})


# ---------------------------------------------------------------------------------------------
# Templates, export and import
# ---------------------------------------------------------------------------------------------


@team_required
def template_gallery(request: HttpRequest) -> HttpResponse:
    connections = _connections(team_of(request))
    context = {"choices": template_choices(connections), "sync_choices": sync_template_choices(connections)}
    return render(request, "workflows/builder/templates.html", context)


@team_required
def workflow_export_view(request: HttpRequest, workflow_id: int) -> HttpResponse:
    workflow = workflow_get(team=team_of(request), workflow_id=workflow_id)
    document = WorkflowDocumentSerializer(workflow_export(workflow=workflow)).data
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{slugify(workflow.name) or "workflow"}.json"'
    return response


@team_required
def workflow_import_view(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    text = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = upload.read().decode("utf-8", "replace") if upload else request.POST.get("document", "")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            errors["document"] = [f"This is not valid JSON: {exc.msg} (line {exc.lineno})."]
        else:
            document = WorkflowDocumentSerializer(data=data)
            if not document.is_valid():
                errors["document"] = _flatten(document.errors)
            else:
                try:
                    workflow = workflow_import(
                        team=team_of(request), document=document.validated_data, user=request.user
                    )
                except WorkflowInputError as exc:
                    errors = {"document": [f"{name}: {' '.join(m)}" for name, m in exc.errors.items()]}
                else:
                    messages.success(request, f"Imported {workflow.name!r} as a draft: check it and publish.")
                    return redirect("workflow_edit", workflow_id=workflow.pk)
    status = 400 if errors else 200
    return render(request, "workflows/builder/import.html", {"errors": errors, "text": text}, status=status)


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [m for key, value in errors.items() for m in _flatten(value, f"{prefix}{key}.")]
    if isinstance(errors, list):
        return [m for item in errors for m in _flatten(item, prefix)]
    return [f"{prefix.rstrip('.')}: {errors}" if prefix else str(errors)]
