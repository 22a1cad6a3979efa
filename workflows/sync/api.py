"""REST endpoints for two-way syncs, their runs, and the review queue. Thin: validate, call a service,
serialize.

Syncs and their runs are for every team member; the review queue (conflicts and duplicate holds) is for
team admins, as on its page: editors get 403, and another team's items are 404.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from integrations_hub.accounts.models import Membership
from integrations_hub.api.problems import Conflict
from integrations_hub.api.viewsets import TeamViewSet
from workflows.engine.sync.spec import SyncSpecError
from workflows.sync.models import DuplicateHold, Sync, SyncConflict, SyncRun
from workflows.sync.selectors import run_outcomes, sync_get, sync_list
from workflows.sync.serializers import (
    BulkConflictDecisionSerializer,
    BulkDecisionResultSerializer,
    ConflictDecisionSerializer,
    ConflictFilterSerializer,
    ConflictSerializer,
    DuplicateHoldSerializer,
    HoldDecisionSerializer,
    HoldFilterSerializer,
    OutcomeFilterSerializer,
    SyncCreateSerializer,
    SyncDetailSerializer,
    SyncFilterSerializer,
    SyncOutcomeSerializer,
    SyncRunFilterSerializer,
    SyncRunSerializer,
    SyncSerializer,
    SyncUpdateSerializer,
    spec_errors,
)
from workflows.sync.services.definition import sync_create, sync_delete, sync_set_enabled, sync_update
from workflows.sync.services.review import ReviewError, conflicts_resolve, hold_resolve
from workflows.sync.services.runs import sync_run_request

NAME_TAKEN = "Your team already has a sync with this name."
IN_PROGRESS = "A run of this sync is already queued or running; try again when it has finished."
ALREADY_DECIDED = "This conflict was already decided."
ACTIVE_RUN = [SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]


def _spec_refused(exc: SyncSpecError) -> serializers.ValidationError:
    return serializers.ValidationError(spec_errors(exc.messages))


class SyncViewSet(TeamViewSet):
    """Two-way syncs of the caller's team: the definition, switching it on and off, and running it now."""

    queryset = Sync.objects.none()  # for the schema's path parameter types; reads use selectors
    serializer_class = SyncSerializer
    lookup_value_regex = r"\d+"

    def _sync(self) -> Sync:
        return sync_get(team=self.team, sync_id=int(self.kwargs["pk"]))

    def _context(self, **extra: Any) -> dict[str, Any]:
        return {"team": self.team, "request": self.request, **extra}

    @extend_schema(parameters=[SyncFilterSerializer], responses=SyncSerializer(many=True))
    def list(self, request: Request) -> Response:
        filters = SyncFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(filters.apply(sync_list(team=self.team)))
        return self.get_paginated_response(SyncSerializer(page, many=True).data)

    @extend_schema(request=SyncCreateSerializer, responses={201: SyncDetailSerializer})
    def create(self, request: Request) -> Response:
        """Create a sync; its definition is compiled and checked against both connectors first."""
        payload = SyncCreateSerializer(data=request.data, context=self._context())
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        try:
            sync = sync_create(team=self.team, **data)
        except SyncSpecError as exc:
            raise _spec_refused(exc) from None
        except IntegrityError:
            raise serializers.ValidationError({"name": [NAME_TAKEN]}) from None
        location = reverse("api:sync-detail", kwargs={"pk": sync.pk})
        return Response(SyncDetailSerializer(sync).data, status=201, headers={"Location": location})

    @extend_schema(responses=SyncDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(SyncDetailSerializer(self._sync()).data)

    @extend_schema(request=SyncUpdateSerializer, responses=SyncDetailSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Change the definition (checked as on create) and/or switch the sync on or off."""
        sync = self._sync()
        payload = SyncUpdateSerializer(data=request.data, context=self._context(sync=sync))
        payload.is_valid(raise_exception=True)
        changes = dict(payload.validated_data)
        enabled = changes.pop("enabled", None)
        try:
            with transaction.atomic():
                if changes:
                    sync = sync_update(sync=sync, **changes)
                if enabled is not None and enabled != sync.enabled:
                    sync = sync_set_enabled(sync=sync, enabled=enabled)
        except SyncSpecError as exc:
            raise _spec_refused(exc) from None
        except IntegrityError:
            raise serializers.ValidationError({"name": [NAME_TAKEN]}) from None
        return Response(SyncDetailSerializer(sync).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="A run is in progress.")})
    def destroy(self, request: Request, pk: str) -> Response:
        """Delete the sync with its links, runs and review items. The records in both systems stay."""
        sync = self._sync()
        with transaction.atomic():
            # Locked, so a run can't be queued between the check and the delete.
            Sync.objects.select_for_update().filter(pk=sync.pk).first()
            if SyncRun.objects.filter(sync=sync, status__in=ACTIVE_RUN).exists():
                raise Conflict(IN_PROGRESS, code="run_in_progress", retry_after=5)
            sync_delete(sync=sync)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={202: SyncRunSerializer, 409: OpenApiResponse(description="A run is in progress.")},
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str) -> Response:
        """Run the sync now (both sides are read and reconciled). Poll GET /sync-runs/{id} for the outcome."""
        run = sync_run_request(sync=self._sync(), trigger=SyncRun.Trigger.MANUAL)
        if run is None:
            raise Conflict(IN_PROGRESS, code="run_in_progress", retry_after=5)
        location = reverse("api:sync-run-detail", kwargs={"pk": run.pk})
        return Response(
            SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )


class SyncRunViewSet(TeamViewSet):
    """Runs of the caller's team's syncs, with what each did record by record."""

    queryset = SyncRun.objects.none()
    serializer_class = SyncRunSerializer
    lookup_value_regex = r"\d+"

    def _runs(self) -> QuerySet[SyncRun]:
        return SyncRun.objects.filter(sync__team=self.team).select_related("sync")

    def _run(self) -> SyncRun:
        return get_object_or_404(self._runs(), pk=int(self.kwargs["pk"]))

    @extend_schema(parameters=[SyncRunFilterSerializer], responses=SyncRunSerializer(many=True))
    def list(self, request: Request) -> Response:
        filters = SyncRunFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(filters.apply(self._runs()))
        return self.get_paginated_response(SyncRunSerializer(page, many=True).data)

    @extend_schema(responses=SyncRunSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(SyncRunSerializer(self._run()).data)

    @extend_schema(parameters=[OutcomeFilterSerializer], responses=SyncOutcomeSerializer(many=True))
    @action(detail=True, methods=["get"])
    def outcomes(self, request: Request, pk: str) -> Response:
        """What the run did to each record pair (unchanged pairs are only counted on the run)."""
        filters = OutcomeFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        outcomes = run_outcomes(run=self._run())
        if filters.validated_data.get("outcome"):
            outcomes = outcomes.filter(outcome=filters.validated_data["outcome"])
        page = self.paginate_queryset(outcomes)
        return self.get_paginated_response(SyncOutcomeSerializer(page, many=True).data)


class ConflictViewSet(TeamViewSet):
    """The review queue's conflicts: a field both sides changed whose policy is manual review.

    A decision is recorded at once (status `resolving`) and written to both systems by a background run of
    the sync; the conflict is `resolved` when both writes succeeded (or shows the `error`).
    """

    queryset = SyncConflict.objects.none()
    serializer_class = ConflictSerializer
    lookup_value_regex = r"\d+"
    required_role = Membership.Role.ADMIN

    def _conflicts(self) -> QuerySet[SyncConflict]:
        return SyncConflict.objects.filter(sync__team=self.team).select_related("sync", "link", "resolved_by")

    @extend_schema(parameters=[ConflictFilterSerializer], responses=ConflictSerializer(many=True))
    def list(self, request: Request) -> Response:
        filters = ConflictFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(filters.apply(self._conflicts()))
        return self.get_paginated_response(ConflictSerializer(page, many=True).data)

    @extend_schema(responses=ConflictSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ConflictSerializer(self._get()).data)

    def _get(self) -> SyncConflict:
        # Another team's conflict is a 404, never a 403: its existence is not theirs to know.
        return get_object_or_404(self._conflicts(), pk=int(self.kwargs["pk"]))

    @extend_schema(
        request=ConflictDecisionSerializer,
        responses={
            202: ConflictSerializer,
            409: OpenApiResponse(description="The conflict was already decided."),
        },
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        """Keep A's value, B's value, or a typed value; it is then written to both systems."""
        conflict = self._get()
        payload = ConflictDecisionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        decided = conflicts_resolve(
            conflicts=[conflict],
            choice=payload.validated_data["choice"],
            value=payload.validated_data.get("value"),
            actor=request.user,
        )
        if not decided:
            raise Conflict(ALREADY_DECIDED, code="already_decided")
        return Response(
            ConflictSerializer(self._conflicts().get(pk=conflict.pk)).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(
        operation_id="v1_conflicts_resolve_bulk",
        request=BulkConflictDecisionSerializer,
        responses={202: BulkDecisionResultSerializer},
    )
    @action(detail=False, methods=["post"], url_path="resolve", url_name="resolve-bulk")
    def resolve_bulk(self, request: Request) -> Response:
        """Decide many conflicts the same way. Those already decided are left as they are (see `decided`)."""
        payload = BulkConflictDecisionSerializer(data=request.data, context={"team": self.team})
        payload.is_valid(raise_exception=True)
        ids = payload.validated_data["conflicts"]
        chosen = list(self._conflicts().filter(pk__in=ids))
        decided = conflicts_resolve(
            conflicts=chosen,
            choice=payload.validated_data["choice"],
            value=payload.validated_data.get("value"),
            actor=request.user,
        )
        now = {conflict.pk: conflict for conflict in self._conflicts().filter(pk__in=ids)}
        body = {"decided": decided, "conflicts": [now[pk] for pk in ids if pk in now]}
        return Response(BulkDecisionResultSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class DuplicateHoldViewSet(TeamViewSet):
    """The review queue's duplicate-risk holds: a record that matched more than one counterpart.

    Link it to one candidate, or create it new on the other side; the decision is applied by a background
    run of the sync (status `resolving`, then `linked` or `created`, or the `error`).
    """

    queryset = DuplicateHold.objects.none()
    serializer_class = DuplicateHoldSerializer
    lookup_value_regex = r"\d+"
    required_role = Membership.Role.ADMIN

    def _holds(self) -> QuerySet[DuplicateHold]:
        return DuplicateHold.objects.filter(sync__team=self.team).select_related("sync", "resolved_by")

    def _get(self) -> DuplicateHold:
        return get_object_or_404(self._holds(), pk=int(self.kwargs["pk"]))

    @extend_schema(parameters=[HoldFilterSerializer], responses=DuplicateHoldSerializer(many=True))
    def list(self, request: Request) -> Response:
        filters = HoldFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(filters.apply(self._holds()))
        return self.get_paginated_response(DuplicateHoldSerializer(page, many=True).data)

    @extend_schema(responses=DuplicateHoldSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(DuplicateHoldSerializer(self._get()).data)

    @extend_schema(
        request=HoldDecisionSerializer,
        responses={
            202: DuplicateHoldSerializer,
            409: OpenApiResponse(description="Already decided, or the decision can't be taken now."),
        },
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        """Link to one of the candidates, or create the record new on the other side."""
        hold = self._get()
        payload = HoldDecisionSerializer(data=request.data, context={"hold": hold})
        payload.is_valid(raise_exception=True)
        try:
            hold_resolve(
                hold=hold,
                choice=payload.validated_data["choice"],
                candidate_id=payload.validated_data.get("candidate", ""),
                actor=request.user,
            )
        except ReviewError as exc:
            raise Conflict(str(exc), code="review_refused") from None
        return Response(
            DuplicateHoldSerializer(self._holds().get(pk=hold.pk)).data, status=status.HTTP_202_ACCEPTED
        )
