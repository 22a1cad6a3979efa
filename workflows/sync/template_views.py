"""Starting two-way syncs from a sync template: pick the two connections, create the syncs switched off.

The page shows what the template will create (each sync's pairs, directions and policies) and the team's
connections of each kind it needs, or which connection to add first. Creating goes through
workflows.sync.services.templates and opens the last sync of the template in the editor for review.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from connectors.selectors import connection_list
from integrations_hub.accounts.access import team_of, team_required
from workflows.engine.sync.spec import SyncSpecError
from workflows.sync.forms import SyncTemplateForm
from workflows.sync.services.templates import sync_template_apply
from workflows.sync.sync_templates import SYNC_TEMPLATES_BY_KEY, part_preview, sync_template_choice


@team_required
def sync_template_start(request: HttpRequest, key: str) -> HttpResponse:
    template = SYNC_TEMPLATES_BY_KEY.get(key)
    if template is None:
        raise Http404("No such sync template.")
    team = team_of(request)
    choice = sync_template_choice(template, list(connection_list(team=team)))
    form = SyncTemplateForm(request.POST if request.method == "POST" else None, options=choice.options)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                syncs = sync_template_apply(
                    team=team,
                    template=template,
                    a_connection=form.connection("a"),
                    b_connection=form.connection("b"),
                )
            except SyncSpecError as exc:
                for problem in exc.messages:
                    form.add_error(None, problem)
            else:
                names = " and ".join(f"“{sync.name}”" for sync in syncs)
                messages.success(
                    request,
                    f"Created {names}, switched off. Review each one and switch it on from its page.",
                )
                return redirect("sync:sync_edit", sync_id=syncs[-1].pk)
        status = 400
    parts = [(part, part_preview(part)) for part in template.parts]
    context = {"template": template, "choice": choice, "form": form, "parts": parts}
    return render(request, "sync/template.html", context, status=status)
