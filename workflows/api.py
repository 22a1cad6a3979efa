"""REST endpoints for workflows and runs. Thin: validate, call a service, serialize."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from integrations_hub.api.problems import Conflict
from integrations_hub.api.viewsets import TeamViewSet
from workflows.models import Run, Workflow
from workflows.selectors import run_get, run_list, run_records, workflow_get, workflow_list
from workflows.serializers import (
    RecordFilterSerializer,
    ReplaySerializer,
    RunFilterSerializer,
    RunRecordSerializer,
    RunSerializer,
    WebhookSecretSerializer,
    WebhookSerializer,
    WorkflowCreateSerializer,
    WorkflowDocumentSerializer,
    WorkflowFilterSerializer,
    WorkflowSerializer,
    WorkflowUpdateSerializer,
    WorkflowVersionSerializer,
)
from workflows.services.export import workflow_export, workflow_import
from workflows.services.removal import WorkflowBusy, workflow_remove
from workflows.services.replay import run_replay
from workflows.services.runs import run_request
from workflows.services.versions import workflow_publish
from workflows.services.webhook_secret import webhook_secret_rotate
from workflows.services.workflow import (
    WorkflowInputError,
    workflow_create,
    workflow_set_enabled,
    workflow_update,
)

NAME_TAKEN = "Your team already has a workflow with this name."
IN_PROGRESS = "A run of this workflow is already queued or running; try again when it has finished."


def _input_errors(exc: WorkflowInputError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.errors)


def _run_location(run: Run) -> dict[str, str]:
    return {"Location": reverse("api:run-detail", kwargs={"pk": run.pk})}


class WorkflowViewSet(TeamViewSet):
    """Workflows of the caller's team: the editable draft, its published versions, and running it."""

    queryset = Workflow.objects.none()  # for the schema's path parameter types; reads use selectors
    serializer_class = WorkflowSerializer
    lookup_value_regex = r"\d+"
    # The new secret is shown once: a retry with the same Idempotency-Key must not show it again.
    secret_actions = frozenset({"rotate_webhook_secret"})

    def _workflow(self) -> Workflow:
        return workflow_get(team=self.team, workflow_id=int(self.kwargs["pk"]))

    def _context(self) -> dict[str, Any]:
        return {"team": self.team, "request": self.request}

    @extend_schema(parameters=[WorkflowFilterSerializer], responses=WorkflowSerializer(many=True))
    def list(self, request: Request) -> Response:
        filters = WorkflowFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        workflows = filters.apply(workflow_list(team=self.team).select_related("published_version"))
        page = self.paginate_queryset(workflows)
        return self.get_paginated_response(WorkflowSerializer(page, many=True).data)

    @extend_schema(request=WorkflowCreateSerializer, responses={201: WorkflowSerializer})
    def create(self, request: Request) -> Response:
        payload = WorkflowCreateSerializer(data=request.data, context=self._context())
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        try:
            workflow = workflow_create(team=self.team, user=request.user, enabled=False, **data)
        except WorkflowInputError as exc:
            raise _input_errors(exc) from None
        except IntegrityError:
            raise serializers.ValidationError({"name": [NAME_TAKEN]}) from None
        location = reverse("api:workflow-detail", kwargs={"pk": workflow.pk})
        return Response(WorkflowSerializer(workflow).data, status=201, headers={"Location": location})

    @extend_schema(responses=WorkflowSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(WorkflowSerializer(self._workflow()).data)

    @extend_schema(request=WorkflowUpdateSerializer, responses=WorkflowSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        workflow = self._workflow()
        payload = WorkflowUpdateSerializer(
            data=request.data, context={**self._context(), "workflow": workflow}
        )
        payload.is_valid(raise_exception=True)
        changes = dict(payload.validated_data)
        publish = changes.pop("publish", False)
        try:
            workflow = workflow_update(workflow=workflow, publish=publish, user=request.user, **changes)
        except WorkflowInputError as exc:
            raise _input_errors(exc) from None
        except IntegrityError:
            raise serializers.ValidationError({"name": [NAME_TAKEN]}) from None
        return Response(WorkflowSerializer(workflow).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="A run is in progress.")})
    def destroy(self, request: Request, pk: str) -> Response:
        """Delete the workflow with its versions and run history."""
        try:
            workflow_remove(workflow=self._workflow(), user=request.user)
        except WorkflowBusy as exc:
            raise Conflict(str(exc), code="run_in_progress", retry_after=5) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                WorkflowVersionSerializer, description="Nothing changed: the current version."
            ),
            201: OpenApiResponse(WorkflowVersionSerializer, description="A new version was published."),
        },
    )
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        """Publish the draft as a new immutable version; runs use it from their next start."""
        workflow = self._workflow()
        before = workflow.published_version_id
        version = workflow_publish(workflow=workflow, user=request.user)
        created = version.pk != before
        return Response(WorkflowVersionSerializer(version).data, status=201 if created else 200)

    @extend_schema(request=None, responses=WorkflowSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str) -> Response:
        """Start triggering. A never-published workflow publishes its draft first."""
        workflow = workflow_set_enabled(workflow=self._workflow(), enabled=True, user=request.user)
        return Response(WorkflowSerializer(workflow).data)

    @extend_schema(request=None, responses=WorkflowSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str) -> Response:
        workflow = workflow_set_enabled(workflow=self._workflow(), enabled=False, user=request.user)
        return Response(WorkflowSerializer(workflow).data)

    @extend_schema(
        request=None,
        responses={
            202: RunSerializer,
            409: OpenApiResponse(description="Not published yet, or a run is already in progress."),
        },
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str) -> Response:
        """Run the published version now. The run is queued: poll GET /runs/{id} for its outcome."""
        workflow = self._workflow()
        if workflow.published_version_id is None:
            raise Conflict("Publish the workflow before running it.", code="not_published")
        run = run_request(workflow=workflow, trigger=Run.Trigger.MANUAL)
        if run is None:
            raise Conflict(IN_PROGRESS, code="run_in_progress", retry_after=5)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED, headers=_run_location(run))

    @extend_schema(responses=WorkflowVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str) -> Response:
        workflow = self._workflow()
        versions = workflow.versions.select_related("workflow", "created_by").order_by("-number")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(WorkflowVersionSerializer(page, many=True).data)

    @extend_schema(responses=WorkflowDocumentSerializer)
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str) -> Response:
        """The draft as a portable document; connections are referenced by name. Holds no secret."""
        return Response(WorkflowDocumentSerializer(workflow_export(workflow=self._workflow())).data)

    @extend_schema(request=WorkflowDocumentSerializer, responses={201: WorkflowSerializer})
    @action(detail=False, methods=["post"], url_path="import")
    def import_document(self, request: Request) -> Response:
        """Create a disabled, unpublished workflow from an exported document."""
        payload = WorkflowDocumentSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            workflow = workflow_import(team=self.team, document=payload.validated_data, user=request.user)
        except WorkflowInputError as exc:
            raise _input_errors(exc) from None
        except IntegrityError:
            raise serializers.ValidationError({"name": [NAME_TAKEN]}) from None
        location = reverse("api:workflow-detail", kwargs={"pk": workflow.pk})
        return Response(WorkflowSerializer(workflow).data, status=201, headers={"Location": location})

    def _webhook_url(self, workflow: Workflow) -> str:
        return self.request.build_absolute_uri(reverse("webhook_intake", args=[workflow.webhook_token]))

    @extend_schema(responses=WebhookSerializer)
    @action(detail=True, methods=["get"])
    def webhook(self, request: Request, pk: str) -> Response:
        """Where to send events. The signing secret is never shown here; rotate it to get a new one."""
        workflow = self._workflow()
        body = {
            "url": self._webhook_url(workflow),
            "active": workflow.trigger == Workflow.Trigger.WEBHOOK,
            "signature": workflow.webhook_signature,
            "has_secret": bool(workflow.webhook_secret_encrypted),
        }
        return Response(WebhookSerializer(body).data)

    @extend_schema(request=None, responses=WebhookSecretSerializer)
    @action(detail=True, methods=["post"], url_path="webhook/rotate-secret")
    def rotate_webhook_secret(self, request: Request, pk: str) -> Response:
        """A new signing secret, returned in this response only (it is stored encrypted)."""
        workflow = self._workflow()
        secret = webhook_secret_rotate(workflow=workflow, user=request.user)
        body = {"secret": secret, "signature": workflow.webhook_signature, "url": self._webhook_url(workflow)}
        response = Response(WebhookSecretSerializer(body).data)
        response["Cache-Control"] = "no-store"
        return response


class RunViewSet(TeamViewSet):
    """Runs of the caller's team's workflows, with the outcome of every record."""

    queryset = Run.objects.none()  # for the schema's path parameter types; reads use selectors
    serializer_class = RunSerializer
    lookup_value_regex = r"\d+"

    def _run(self) -> Run:
        return run_get(team=self.team, run_id=int(self.kwargs["pk"]))

    @extend_schema(parameters=[RunFilterSerializer], responses=RunSerializer(many=True))
    def list(self, request: Request) -> Response:
        filters = RunFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(filters.apply(run_list(team=self.team)))
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    @extend_schema(responses=RunSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(RunSerializer(self._run()).data)

    @extend_schema(parameters=[RecordFilterSerializer], responses=RunRecordSerializer(many=True))
    @action(detail=True, methods=["get"])
    def records(self, request: Request, pk: str) -> Response:
        """The outcome of each record: created, updated, unchanged, skipped or failed (with the error)."""
        run = self._run()
        filters = RecordFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        records = run_records(
            run=run,
            outcome=filters.validated_data.get("outcome"),
            query=(filters.validated_data.get("q") or "").strip() or None,
        )
        page = self.paginate_queryset(records)
        return self.get_paginated_response(RunRecordSerializer(page, many=True).data)

    @extend_schema(
        request=ReplaySerializer,
        responses={202: RunSerializer, 409: OpenApiResponse(description="A run is in progress.")},
    )
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str) -> Response:
        """Write this run's failed records again, on the version that ran or the published one."""
        run = self._run()
        payload = ReplaySerializer(data=request.data, context={"run": run})
        payload.is_valid(raise_exception=True)
        on_current = payload.validated_data["version"] == "current"
        if on_current and run.workflow.published_version_id is None:
            raise Conflict("The workflow has no published version to replay on.", code="not_published")
        replay = run_replay(
            run=run,
            record_ids=payload.validated_data.get("record_ids") or None,
            on_current_version=on_current,
        )
        if replay is None:
            raise Conflict(IN_PROGRESS, code="run_in_progress", retry_after=5)
        return Response(
            RunSerializer(replay).data, status=status.HTTP_202_ACCEPTED, headers=_run_location(replay)
        )
