"""Webhook intake: thin. Store the delivery, then acknowledge; processing happens from the database."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from workflows.models import Workflow
from workflows.services.webhooks import MAX_BODY_BYTES, WebhookRejected, webhook_receive


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
@require_POST
def webhook_intake(request: HttpRequest, token: str) -> JsonResponse:
    workflow = get_object_or_404(Workflow, webhook_token=token, trigger=Workflow.Trigger.WEBHOOK)
    try:
        body = _read_body(request)
        event, created = webhook_receive(
            workflow=workflow,
            headers=dict(request.headers),
            body=body,
            content_type=request.content_type or "",
        )
    except WebhookRejected as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    if not created:
        return JsonResponse({"id": event.pk, "status": "duplicate", "event_id": event.event_id}, status=200)
    return JsonResponse({"id": event.pk, "status": "stored", "event_id": event.event_id}, status=202)
