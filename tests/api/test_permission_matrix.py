"""Every /api/v1/ endpoint, for each of {anonymous, team-less user, editor, admin, another team's admin}.

The list of endpoints comes from the URL resolver, so an endpoint added later is in this matrix
without anyone remembering to add it (and fails here until it has a sample in endpoints.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from integrations_hub.accounts.models import Membership
from integrations_hub.api.problems import PROBLEM_CONTENT_TYPE
from tests.api.conftest import World, token_client
from tests.api.endpoints import Operation, api_operations, call

OPERATIONS = api_operations()
DENIED = {401, 403, 404}
# List endpoints of team-owned objects, and the ids of the world's objects each would show.
TEAM_LISTS: dict[str, Callable[[World], set[int]]] = {
    "connection-list": lambda w: {w.crm.pk, w.helpdesk.pk, w.spare.pk},
    "workflow-list": lambda w: {w.workflow.pk},
    "run-list": lambda w: {w.run.pk},
    "sync-list": lambda w: {w.sync.pk},
    "sync-run-list": lambda w: {w.sync_run.pk},
    "conflict-list": lambda w: {w.conflict.pk},
    "duplicate-hold-list": lambda w: {w.hold.pk},
}


def test_the_matrix_sees_every_documented_operation(client: Any, db: None) -> None:
    """The resolver-built list and the OpenAPI schema name the same operations (none hidden from either)."""
    schema = client.get("/api/schema/?format=json").json()
    documented = {(method, path) for path, item in schema["paths"].items() for method in item}

    assert {(op.method, op.openapi_path) for op in OPERATIONS} == documented


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.id)
def test_anonymous_callers_get_a_401_problem(operation: Operation, world: World) -> None:
    response = call(APIClient(), operation, world)

    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.id)
def test_users_outside_any_team_are_refused(operation: Operation, world: World, loner: Any) -> None:
    response = call(token_client(loner), operation, world)

    assert response.status_code == 403
    assert response.json()["detail"] == "You are not a member of any team."


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.id)
def test_another_teams_objects_are_not_found(
    operation: Operation, world: World, other_world: World, outsider: Any
) -> None:
    response = call(token_client(outsider), operation, world)

    if operation.is_object:
        assert response.status_code == 404, response.content
        assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    else:
        # Lists, creates and the connector catalogue work, on the outsider's own team only.
        assert response.status_code not in DENIED, response.content
        assert response.status_code < 500
        if operation.method == "get" and operation.name in TEAM_LISTS:
            ids = {item["id"] for item in response.json()["results"]}
            assert ids, "the outsider's own objects are listed"
            assert ids.isdisjoint(TEAM_LISTS[operation.name](world))


@pytest.mark.parametrize("role", [Membership.Role.EDITOR, Membership.Role.ADMIN])
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.id)
def test_team_members_may_call_what_their_role_allows(
    operation: Operation, role: str, world: World, editor: Any, admin_user: Any
) -> None:
    user = editor if role == Membership.Role.EDITOR else admin_user
    required = getattr(operation.view, "required_role", Membership.Role.EDITOR)

    response = call(token_client(user), operation, world)

    if required == Membership.Role.ADMIN and role == Membership.Role.EDITOR:
        assert response.status_code == 403
    else:
        assert response.status_code not in DENIED, response.content
        assert 200 <= response.status_code < 300, response.content
