"""One error format for the whole API: RFC 9457 problem details (`application/problem+json`).

Every error under /api/ goes through `exception_handler` (DRF views) or `not_found` (paths that
match no endpoint): `type`, `title`, `status`, `detail`, and `errors` (field → messages) for
validation errors. Unexpected exceptions become a 500 problem and are logged with their traceback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.urls import Resolver404, resolve
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView, set_rollback

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Problem types are URNs: stable identifiers a client can switch on, listed in docs/api.md.
TYPE_PREFIX = "urn:integrations-hub:problem:"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"

    def __init__(self, detail: str, *, code: str = "conflict", retry_after: int | None = None) -> None:
        super().__init__(detail, code)
        self.retry_after = retry_after


class UpstreamError(exceptions.APIException):
    """The external system failed or refused; the detail is its own message, already made readable."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The external system did not answer as expected."
    default_code = "upstream_error"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def problem_type(code: str) -> str:
    return TYPE_PREFIX + code.replace("_", "-")


def problem_body(
    *, status_code: int, code: str, detail: str, errors: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = dict(errors)
    return body


def problem_response(
    *,
    status_code: int,
    code: str,
    detail: str,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        problem_body(status_code=status_code, code=code, detail=detail, errors=errors),
        status=status_code,
        headers=dict(headers or {}),
        content_type=PROBLEM_CONTENT_TYPE,
    )


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"config.base_url": ["..."], "record_ids.2": ["..."]}."""
    found: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_errors(value, name).items():
                found.setdefault(field, []).extend(messages)
    elif isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            found.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).extend(str(i) for i in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    for field, messages in flatten_errors(
                        item, f"{prefix}.{index}" if prefix else str(index)
                    ).items():
                        found.setdefault(field, []).extend(messages)
    else:
        found.setdefault(prefix or api_settings.NON_FIELD_ERRORS_KEY, []).append(str(detail))
    return found


def _code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else str(exc.default_code)


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception a view raises, as a problem response."""
    if isinstance(exc, Http404):
        # The message of get_object_or_404 names the model; "not found" is all a client needs.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("The request was refused as malformed.")
    set_rollback()
    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.exception("Unhandled error in API view %s", type(view).__name__ if view else "?", exc_info=exc)
        return problem_response(
            status_code=500,
            code="server_error",
            detail="Something went wrong on our side. It has been logged; please try again later.",
        )
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = str(exc.auth_header)  # type: ignore[attr-defined]
    wait = getattr(exc, "wait", None) or getattr(exc, "retry_after", None)
    if wait:
        # Whole seconds, rounded up: a client that waits exactly this long is not refused again.
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        general = errors.get(api_settings.NON_FIELD_ERRORS_KEY, [])
        if general and len(errors) == 1:
            detail = " ".join(general)
        else:
            detail = "Some values are not valid; `errors` lists the problem of each field."
        return problem_response(
            status_code=exc.status_code,
            code="validation_error",
            detail=detail,
            errors=errors,
            headers=headers,
        )
    detail_value = exc.detail
    detail = str(detail_value) if not isinstance(detail_value, dict | list) else str(exc.default_detail)
    return problem_response(status_code=exc.status_code, code=_code(exc), detail=detail, headers=headers)


class NotFoundView(APIView):
    """Answers every /api/ path that matches no endpoint, so even that 404 is a problem document."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Any method, any path: there is nothing here. (Raised before method dispatch, so no 405.)
        path = request.path
        hint = ""
        if path.endswith("/") and _is_endpoint(path.rstrip("/")):
            hint = f" API paths have no trailing slash: {path.rstrip('/')}"
        raise exceptions.NotFound(f"There is no API endpoint at {path}.{hint}")


def _is_endpoint(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "cls", None) is not NotFoundView
