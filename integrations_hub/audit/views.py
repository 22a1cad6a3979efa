from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from integrations_hub.accounts.access import admin_required, team_of
from integrations_hub.audit.models import AuditEntry


@admin_required
def audit_log(request: HttpRequest) -> HttpResponse:
    entries = AuditEntry.objects.filter(team=team_of(request)).select_related("actor")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "audit/log.html", {"page": page})
