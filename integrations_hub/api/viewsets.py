"""The base of every /api/v1/ view: team and role permissions, and Idempotency-Key handling on POST."""

from __future__ import annotations

from typing import Any, cast

from django.http import HttpResponse, HttpResponseBase
from django.http.request import RawPostDataException
from rest_framework import exceptions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from integrations_hub.accounts.models import Membership, Team
from integrations_hub.api.idempotency import (
    Claim,
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotencyNotReplayable,
    StoredResponse,
    idempotency_begin,
    idempotency_complete,
    idempotency_release,
    request_fingerprint,
)
from integrations_hub.api.permissions import TeamRole, caller_team
from integrations_hub.api.problems import Conflict

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class _Replay(Exception):
    """Raised from `initial` to answer with the stored response instead of running the view."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.stored = stored


class TeamViewSet(viewsets.GenericViewSet):
    """A viewset scoped to the caller's team.

    `required_role`: the least role that may call it. `secret_actions`: POST actions whose response
    shows a secret once, so an Idempotency-Key retry must not get it again (it gets a 409 instead).
    """

    permission_classes = [TeamRole]
    required_role: str = Membership.Role.EDITOR
    secret_actions: frozenset[str] = frozenset()
    _idempotency_claim: Claim | None = None

    @property
    def team(self) -> Team:
        return caller_team(self.request)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles first
        self._idempotency_claim = None
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method != "POST" or key is None:
            return
        try:
            body = request._request.body
        except RawPostDataException:
            # A multipart body was already streamed; the parsers refuse it anyway (JSON only).
            body = request.content_type.encode()
        fingerprint = request_fingerprint(method=request.method, path=request.get_full_path(), body=body)
        try:
            outcome = idempotency_begin(
                user=request.user,  # type: ignore[arg-type]
                key=key,
                fingerprint=fingerprint,
                method=request.method,
                path=request.get_full_path(),
            )
        except IdempotencyError as exc:
            raise _as_api_error(exc) from None
        if isinstance(outcome, StoredResponse):
            raise _Replay(outcome)
        self._idempotency_claim = outcome

    # A replay is a plain HttpResponse holding the stored bytes, not a DRF Response to re-render.
    def handle_exception(self, exc: Exception) -> HttpResponseBase:  # type: ignore[override]
        if isinstance(exc, _Replay):
            response = HttpResponse(
                exc.stored.body, status=exc.stored.status, content_type=exc.stored.content_type
            )
            for name, value in exc.stored.headers.items():
                response[name] = value
            response[REPLAYED_HEADER] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(  # type: ignore[override]
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, cast(Response, response), *args, **kwargs)
        claim, self._idempotency_claim = self._idempotency_claim, None
        if claim is None:
            return response
        if response.status_code >= 500:
            idempotency_release(claim=claim)
            return response
        if hasattr(response, "render"):
            response.render()
        secret = getattr(self, "action", None) in self.secret_actions and response.status_code < 400
        idempotency_complete(
            claim=claim,
            status=response.status_code,
            content_type=response.get("Content-Type", ""),
            headers={name: value for name, value in response.items()},
            body=None if secret else response.content.decode("utf-8"),
        )
        return response


def _as_api_error(exc: IdempotencyError) -> exceptions.APIException:
    if isinstance(exc, IdempotencyKeyInvalid):
        return exceptions.ValidationError({IDEMPOTENCY_HEADER: [str(exc)]})
    if isinstance(exc, IdempotencyKeyReused):
        return Conflict(str(exc), code="idempotency_key_reused")
    if isinstance(exc, IdempotencyNotReplayable):
        return Conflict(str(exc), code="idempotency_response_withheld")
    if isinstance(exc, IdempotencyInProgress):
        return Conflict(str(exc), code="idempotency_request_in_progress", retry_after=1)
    return Conflict(str(exc))
