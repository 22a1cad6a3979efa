"""Key rotation re-encrypts every connection with the newest key; a database dump holds no secret."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from connectors.crypto import SecretDecryptionError
from connectors.models import Connection
from connectors.sandbox.testing import SandboxProcess
from connectors.services import connection_create
from tests.connectors.oauth_helpers import app_settings
from tests.connectors.test_oauth_connect import connect

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def make_connections(team: Any, count: int) -> list[Connection]:
    return [
        connection_create(
            team=team,
            name=f"CRM {n}",
            kind="hubspot",
            config={"base_url": "https://api.hubapi.com"},
            credentials={"access_token": f"pat-na1-secret-{n}"},
        )
        for n in range(count)
    ]


def rotate(**options: Any) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out, **options)
    return out.getvalue()


def test_after_rotation_every_row_decrypts_with_the_new_key_alone(team: Any, settings: Any) -> None:
    settings.HUB_ENCRYPTION_KEYS = [OLD_KEY]
    connections = make_connections(team, 5)
    Connection.objects.create(team=team, name="No secrets", kind="hubspot", config={})
    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    report = rotate(batch_size=2)  # three batches: the paging must not skip or repeat rows

    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY]
    assert "6 connection(s): 5 re-encrypted, 0 already on the newest key, 1 without credentials" in report
    for n, connection in enumerate(connections):
        connection.refresh_from_db()
        assert connection.get_credentials() == {"access_token": f"pat-na1-secret-{n}"}
    # And the old key alone no longer opens them: they really were rewritten.
    settings.HUB_ENCRYPTION_KEYS = [OLD_KEY]
    with pytest.raises(SecretDecryptionError):
        Connection.objects.get(pk=connections[0].pk).get_credentials()


def test_rotating_twice_rewrites_nothing_the_second_time(team: Any, settings: Any) -> None:
    settings.HUB_ENCRYPTION_KEYS = [OLD_KEY]
    make_connections(team, 2)
    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    rotate()
    before = list(Connection.objects.order_by("pk").values_list("credentials_encrypted", flat=True))

    report = rotate()

    assert "0 re-encrypted, 2 already on the newest key" in report
    assert list(Connection.objects.order_by("pk").values_list("credentials_encrypted", flat=True)) == before


def test_rows_no_configured_key_opens_are_left_alone_and_reported(team: Any, settings: Any) -> None:
    lost_key = Fernet.generate_key().decode()
    settings.HUB_ENCRYPTION_KEYS = [lost_key]
    (orphan,) = make_connections(team, 1)
    settings.HUB_ENCRYPTION_KEYS = [OLD_KEY]
    fine = connection_create(
        team=team,
        name="Fine",
        kind="hubspot",
        config={"base_url": "https://api.hubapi.com"},
        credentials={"access_token": "x-1"},
    )
    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    untouched = Connection.objects.get(pk=orphan.pk).credentials_encrypted

    with pytest.raises(CommandError, match=f"could not be decrypted.*{orphan.pk}"):
        rotate()

    assert Connection.objects.get(pk=orphan.pk).credentials_encrypted == untouched
    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY]
    assert Connection.objects.get(pk=fine.pk).get_credentials() == {"access_token": "x-1"}


def test_rotation_needs_configured_keys(db: None, settings: Any) -> None:
    settings.HUB_ENCRYPTION_KEYS = []

    with pytest.raises(CommandError, match="HUB_ENCRYPTION_KEYS is not set"):
        rotate()


def test_a_database_dump_holds_no_plaintext_secret(
    editor_client: Client, crm_sandbox: SandboxProcess, team: Any, settings: Any
) -> None:
    settings.HUB_OAUTH_APPS = app_settings(crm_sandbox)
    (typed,) = make_connections(team, 1)
    oauth_connection = connect(editor_client, crm_sandbox)  # tokens, a session, a test run: everything
    secrets = [
        *typed.get_credentials().values(),
        *oauth_connection.get_credentials().values(),
        settings.HUB_OAUTH_APPS["hubspot"]["client_secret"],
    ]

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)

    text = dump.getvalue()
    assert '"model": "connectors.connection"' in text and "sessions.session" in text
    for secret in secrets:
        assert secret not in text


def test_webhook_signing_secrets_rotate_with_the_credentials(team: Any, settings: Any) -> None:
    from workflows.models import Workflow
    from workflows.services.webhooks import webhook_secret, webhook_secret_set
    from workflows.services.workflow import workflow_create

    settings.HUB_ENCRYPTION_KEYS = [OLD_KEY]
    crm = make_connections(team, 1)[0]
    workflow = workflow_create(
        team=team,
        name="Signed hook",
        source_connection=None,
        source_object="",
        target_connection=crm,
        target_object="contacts",
        mapping={"fields": [{"target": "email", "source": "email"}]},
        trigger=Workflow.Trigger.WEBHOOK,
    )
    webhook_secret_set(workflow=workflow, secret="whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz")
    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    report = rotate()

    assert "1 webhook signing secret(s) re-encrypted" in report
    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY]
    workflow.refresh_from_db()
    assert webhook_secret(workflow) == "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz"
