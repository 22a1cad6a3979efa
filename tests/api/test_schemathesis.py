"""Property-based tests of the whole API against its own OpenAPI schema (schemathesis, in-process WSGI).

Each documented operation gets generated requests, valid and invalid, as an authenticated team admin.
No response may be a 5xx, and every response must match the schema: a documented status code,
content type, headers and body. Path ids are drawn from real objects half of the time so the
success paths are exercised, not only 404s.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from integrations_hub.api.tokens import token_create
from tests.api.conftest import World

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def _keep_the_test_transaction_open() -> Iterator[None]:
    """The real WSGI handler closes the database connection after each request, which would end the
    test's transaction (on PostgreSQL); Django's test client avoids that the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(admin_user: Any) -> dict[str, str]:
    # An admin: every operation, the admin-only review queue included, is exercised past its permission check.
    return {"Authorization": f"Token {token_create(user=admin_user, name='schemathesis').key}"}


# Loaded at collection, through the app itself: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_every_response_is_documented_and_no_request_breaks_the_server(
    case: Any, world: World, auth_headers: dict[str, str]
) -> None:
    ids = {
        "connections": world.crm.pk,
        "workflows": world.workflow.pk,
        "runs": world.run.pk,
        "syncs": world.sync.pk,
        "sync-runs": world.sync_run.pk,
        "conflicts": world.conflict.pk,
        "duplicate-holds": world.hold.pk,
    }
    if case.path_parameters and "id" in case.path_parameters:
        resource = case.path.split("/")[3]
        # Half the cases on a real object of the caller's team, the rest on whatever was generated.
        if resource in ids and zlib.crc32(str(case.path_parameters["id"]).encode()) % 2 == 0:
            case.path_parameters["id"] = ids[resource]
    case.call_and_validate(headers=auth_headers, checks=CHECKS)
