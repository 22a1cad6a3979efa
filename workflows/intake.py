"""Webhook intake: thin. Store the delivery, then acknowledge; processing happens from the database.

A delivery costs one SELECT of the workflow's intake columns and one INSERT. Refusals never store the
body: 413/415/401 are final, and 429 (the endpoint's per-minute budget is spent) tells the sender to
deliver the same body again after Retry-After seconds, which every webhook sender does. Size, type and
signature are checked before the budget: only a delivery whose signature holds is counted against it,
so unsigned requests to a known URL cannot spend the real sender's budget.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from workflows.models import Workflow
from workflows.services.webhooks import (
    INTAKE_FIELDS,
    MAX_BODY_BYTES,
    WebhookRejected,
    webhook_receive,
)


def _read_body(request: HttpRequest) -> bytes:
    # Read one byte past the limit from the stream itself, so a missing or understated
    # Content-Length cannot smuggle a larger body in.
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "The body is larger than 1 MiB.")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(413, "The body is larger than 1 MiB.")
    return body


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook_intake(request: HttpRequest, token: str) -> JsonResponse:
    workflow = (
        Workflow.objects.only(*INTAKE_FIELDS)
        .filter(webhook_token=token, trigger=Workflow.Trigger.WEBHOOK)
        .first()
        if token
        else None
    )
    if workflow is None:
        raise Http404("No webhook at this address.")
    if request.method == "GET":
        # Some senders (Mailchimp) check a webhook URL with a GET before they save it: answer, store nothing.
        return JsonResponse({"status": "ok"}, status=200)
    try:
        body = _read_body(request)
        event, created = webhook_receive(
            workflow=workflow,
            headers=dict(request.headers),
            body=body,
            content_type=request.content_type or "",
        )
    except WebhookRejected as exc:
        response = JsonResponse({"error": exc.message}, status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if not created:
        return JsonResponse({"id": event.pk, "status": "duplicate", "event_id": event.event_id}, status=200)
    return JsonResponse({"id": event.pk, "status": "stored", "event_id": event.event_id}, status=202)
