"""Fixtures of the API tests: token clients for the cast of users, and a small world per team."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from connectors.models import Connection
from connectors.sandbox.testing import SandboxProcess
from integrations_hub.accounts.models import Team
from integrations_hub.api.tokens import token_create
from tests.factories import hubspot_connection, zendesk_connection
from tests.workflows.helpers import CONTACT_MAPPING
from workflows.models import Run, RunRecord, Workflow
from workflows.services.webhooks import webhook_secret_set
from workflows.services.workflow import workflow_create
from workflows.sync.models import DuplicateHold, Sync, SyncConflict, SyncLink, SyncOutcome, SyncRun
from workflows.sync.services.definition import sync_create

ClientFor = Callable[[Any], APIClient]

# A contacts ↔ users sync over the sandbox CRM and helpdesk: email matches, notes go to manual review.
SYNC_FIELDS: list[dict[str, Any]] = [
    {"key": "email", "a": "email", "b": "email", "direction": "both", "policy": "a_wins"},
    {
        "key": "name",
        "a": "firstname",
        "b": "name",
        "direction": "a_to_b",
        "a_to_b": {
            "source": ["firstname", "lastname"],
            "transforms": [{"name": "join", "args": {"separator": " "}}],
        },
    },
    {"key": "phone", "a": "phone", "b": "phone", "direction": "both", "policy": "b_wins"},
    {"key": "notes", "a": "notes_internal", "b": "notes", "direction": "both", "policy": "manual"},
]
SYNC_MATCH: list[dict[str, Any]] = [{"rule": "email", "a": "email", "b": "email"}]


@pytest.fixture(autouse=True)
def _fresh_request_budgets() -> None:
    """API throttles count in the cache, which outlives a test; every test starts with a full budget."""
    from django.core.cache import cache

    cache.clear()


def token_client(user: Any) -> APIClient:
    """An API client that authenticates as `user` with a fresh token (no session, no CSRF)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user=user, name='tests').key}")
    return client


@pytest.fixture
def client_for(db: None) -> ClientFor:
    return token_client


@pytest.fixture
def editor_api(editor: Any) -> APIClient:
    return token_client(editor)


@pytest.fixture
def admin_api(admin_user: Any) -> APIClient:
    return token_client(admin_user)


@pytest.fixture
def outsider_api(outsider: Any) -> APIClient:
    return token_client(outsider)


@pytest.fixture
def loner(db: None) -> Any:
    """A signed-in user who belongs to no team."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username="lou-loner", password="pw-for-tests")


@dataclass
class World:
    """One team's objects: two connections, a published workflow, a finished run with records."""

    team: Team
    crm: Connection
    helpdesk: Connection
    spare: Connection  # used by no workflow, so it can be deleted
    workflow: Workflow
    run: Run
    failed_record: RunRecord
    ok_record: RunRecord
    webhook_secret: str
    sync: Sync
    sync_run: SyncRun
    conflict: SyncConflict
    hold: DuplicateHold


def build_sync(team: Team, crm: Connection, helpdesk: Connection, prefix: str = "") -> dict[str, Any]:
    """A sync with a finished run, an open conflict and an open duplicate hold, made directly."""
    sync = sync_create(
        team=team,
        name=f"{prefix}Contacts ↔ users",
        a_connection=crm,
        a_object="contacts",
        b_connection=helpdesk,
        b_object="users",
        fields=SYNC_FIELDS,
        match=SYNC_MATCH,
    )
    link = SyncLink.objects.create(
        sync=sync,
        a_id="101",
        b_id="10001",
        matched_by="email",
        a_values={"email": "ada@example.com", "notes_internal": "n"},
        b_values={"email": "ada@example.com", "notes": "n"},
    )
    conflict = SyncConflict.objects.create(
        sync=sync,
        link=link,
        pair_key="notes",
        a_field="notes_internal",
        b_field="notes",
        a_value="crm says: renewal in May",
        b_value="desk says: asked for a refund",
    )
    hold = DuplicateHold.objects.create(
        sync=sync,
        side="a",
        record_id="102",
        label="lead@example.com",
        rule="email",
        key="lead@example.com",
        reason="Two users of the helpdesk have this email.",
        candidates=["10002", "10003"],
    )
    run = SyncRun.objects.create(
        sync=sync, status=SyncRun.Status.SUCCEEDED, trigger=SyncRun.Trigger.MANUAL, read_a=2, conflicts=1
    )
    SyncOutcome.objects.create(run=run, a_id="101", b_id="10001", outcome=SyncOutcome.Outcome.CONFLICT)
    return {"sync": sync, "sync_run": run, "conflict": conflict, "hold": hold}


def build_world(team: Team, *, crm_url: str, helpdesk_url: str, prefix: str = "") -> World:
    """Objects made directly (no sandbox run) so building a world per test stays fast."""
    crm = hubspot_connection(team=team, base_url=crm_url, name=f"{prefix}CRM")
    helpdesk = zendesk_connection(team=team, base_url=helpdesk_url, name=f"{prefix}Helpdesk")
    spare = hubspot_connection(team=team, base_url=crm_url, name=f"{prefix}Spare CRM")
    workflow = workflow_create(
        team=team,
        name=f"{prefix}Contacts to users",
        source_connection=crm,
        source_object="contacts",
        target_connection=helpdesk,
        target_object="users",
        mapping=CONTACT_MAPPING,
    )
    secret = f"whsec_{prefix}world-webhook-secret-do-not-leak"
    webhook_secret_set(workflow=workflow, secret=secret)
    run = Run.objects.create(
        workflow=workflow,
        version=workflow.published_version,
        status=Run.Status.PARTIAL,
        trigger=Run.Trigger.MANUAL,
        records_read=2,
        created_count=1,
        failed_count=1,
    )
    ok_record = RunRecord.objects.create(
        run=run,
        source_id="101",
        target_id="10001",
        record_key="ada@example.com",
        outcome=RunRecord.Outcome.CREATED,
        diff={"email": [None, "ada@example.com"]},
    )
    failed_record = RunRecord.objects.create(
        run=run,
        source_id="102",
        record_key="lead@example.com",
        outcome=RunRecord.Outcome.FAILED,
        error="Name: is too short",
        source_fields={"email": "lead@example.com"},
    )
    return World(
        team=team,
        crm=crm,
        helpdesk=helpdesk,
        spare=spare,
        workflow=workflow,
        run=run,
        failed_record=failed_record,
        ok_record=ok_record,
        webhook_secret=secret,
        **build_sync(team, crm, helpdesk, prefix),
    )


@pytest.fixture
def world(team: Team, crm_sandbox_process: SandboxProcess, helpdesk_sandbox_process: SandboxProcess) -> World:
    return build_world(team, crm_url=crm_sandbox_process.url, helpdesk_url=helpdesk_sandbox_process.url)


@pytest.fixture
def other_world(
    other_team: Team, crm_sandbox_process: SandboxProcess, helpdesk_sandbox_process: SandboxProcess
) -> World:
    return build_world(
        other_team,
        crm_url=crm_sandbox_process.url,
        helpdesk_url=helpdesk_sandbox_process.url,
        prefix="Other ",
    )
