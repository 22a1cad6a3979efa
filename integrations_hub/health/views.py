from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from integrations_hub.health.checks import health_report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    ok = all(check.ok for check in report.values())
    body = {
        "status": "ok" if ok else "degraded",
        "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in report.items()},
    }
    return JsonResponse(body, status=200 if ok else 503)
