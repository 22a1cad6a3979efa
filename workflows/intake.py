"""Webhook intake: thin. Store the delivery, then acknowledge; processing happens from the database.

A delivery costs one INSERT: the workflow's intake columns come from this process's cache, and the
INSERT holds only while the stored row still has them (see workflows.services.webhooks.IntakeCache), so
a rotated secret, a pause or a deleted workflow shows at once. Refusals never store the body:
413/415/401 are final, and 429 (the endpoint's per-minute budget is spent) tells the sender to deliver
the same body again after Retry-After seconds, which every webhook sender does. Size, type and
signature are checked before the budget: only a delivery whose signature holds is counted against it,
so unsigned requests to a known URL cannot spend the real sender's budget.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from workflows.models import InboundEvent
from workflows.services.webhooks import (
    INTAKE_CACHE,
    MAX_BODY_BYTES,
    WebhookRejected,
    WorkflowChanged,
    intake_values,
    intake_workflow_load,
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
    if request.method == "GET":
        # Some senders (Mailchimp) check a webhook URL with a GET before they save it: answer, store nothing.
        if intake_workflow_load(token) is None:
            raise Http404("No webhook at this address.")
        return JsonResponse({"status": "ok"}, status=200)
    try:
        body = _read_body(request)
        event, created = _receive(request, token, body)
    except WebhookRejected as exc:
        response = JsonResponse({"error": exc.message}, status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if not created:
        return JsonResponse({"id": event.pk, "status": "duplicate", "event_id": event.event_id}, status=200)
    return JsonResponse({"id": event.pk, "status": "stored", "event_id": event.event_id}, status=202)


def _receive(request: HttpRequest, token: str, body: bytes) -> tuple[InboundEvent, bool]:
    workflow, cached = INTAKE_CACHE.get(token)
    for _ in range(2):
        if workflow is None:
            raise Http404("No webhook at this address.")
        try:
            return webhook_receive(
                workflow=workflow,
                headers=dict(request.headers),
                body=body,
                content_type=request.content_type or "",
                only_if_current=True,
            )
        except WorkflowChanged:
            # Changed since it was cached: check this delivery again against the row as it is now.
            workflow, cached = INTAKE_CACHE.reload(token), False
        except WebhookRejected as exc:
            # A refusal made with a cached row (a signature, a budget) stands only if the row is current.
            if not cached or exc.status not in (401, 429):
                raise
            current = INTAKE_CACHE.reload(token)
            if current is not None and intake_values(current) == intake_values(workflow):
                raise
            workflow, cached = current, False
    raise WebhookRejected(503, "The workflow is being changed; deliver again shortly.", retry_after=1)
