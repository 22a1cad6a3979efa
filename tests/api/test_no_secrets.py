"""No API response ever contains a stored secret.

Known secrets are stored (connection credentials, a webhook signing secret, the caller's own token),
a real run fills the history, and then every endpoint from the URL resolver is called (lists,
details, actions, writes) and every response body and header is searched for each secret, in plain
text and in the encoded forms an HTTP client would send it (base64 of basic auth, the ciphertexts).
"""

from __future__ import annotations

import base64
from typing import Any

from rest_framework.test import APIClient

from connectors.sandbox.testing import HELPDESK_EMAIL
from integrations_hub.api.tokens import token_create
from tests.api.conftest import World
from tests.api.endpoints import api_operations, call, url_for
from tests.workflows.helpers import run_now
from workflows.models import Workflow

SPARE_SECRET = "spare-connection-secret-never-shown"


def _secrets(world: World, api_key: str) -> set[str]:
    found = {api_key, world.webhook_secret, SPARE_SECRET}
    for connection in (world.crm, world.helpdesk, world.spare):
        connection.refresh_from_db()
        found.add(connection.credentials_encrypted)
        found.update(connection.get_credentials().values())
    workflow = Workflow.objects.get(pk=world.workflow.pk)
    found.add(workflow.webhook_secret_encrypted)
    helpdesk_token = world.helpdesk.get_credentials()["api_token"]
    found.add(base64.b64encode(f"{HELPDESK_EMAIL}/token:{helpdesk_token}".encode()).decode())
    return {secret for secret in found if secret}


def _leaks(response: Any, secrets: set[str]) -> list[str]:
    text = (
        response.content.decode("utf-8", "replace")
        + "\n"
        + "\n".join(f"{k}: {v}" for k, v in response.items())
    )
    return sorted(secret[:12] + "…" for secret in secrets if secret in text)


def test_no_response_of_any_endpoint_contains_a_stored_secret(
    world: World, admin_user: Any, crm_sandbox: Any, helpdesk_sandbox: Any
) -> None:
    # An admin, so the admin-only review queue is crawled too.
    key = token_create(user=admin_user, name="crawler").key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    run_now(world.workflow)  # a real run: records with diffs, counts, http stats
    client.patch(
        f"/api/v1/connections/{world.spare.pk}",
        {"credentials": {"access_token": SPARE_SECRET}},
        format="json",
    )
    client.post(f"/api/v1/connections/{world.spare.pk}/test")  # fails: the system's error is stored
    secrets = _secrets(world, key)
    operations = api_operations()
    # Reads first, then writes and actions, deletes last, then every read again.
    ordered = (
        [op for op in operations if op.method == "get"]
        + [op for op in operations if op.method in {"post", "patch"}]
        + [op for op in operations if op.method == "delete"]
        + [op for op in operations if op.method == "get"]
    )
    checked = 0
    for operation in ordered:
        response = call(client, operation, world)
        assert response.status_code < 500, (operation.id, response.content)
        if operation.name == "workflow-rotate-webhook-secret":
            # The one response that shows a secret: the new one, once. It is a stored secret from now on.
            new_secret = response.json()["secret"]
            assert _leaks(response, secrets) == [], operation.id
            secrets = _secrets(world, key) | {new_secret}
            continue
        assert _leaks(response, secrets) == [], f"{operation.id} {url_for(operation, world)} shows a secret"
        checked += 1

    assert checked >= len(operations)
    assert "demo-crm-token" in secrets and "demo-helpdesk-token" in secrets
