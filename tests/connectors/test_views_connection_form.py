"""Every connector kind is created and edited in the browser's connection form, against its real far side.

The form is built from each connector's config model: the right kind of input per setting, a textarea
for a manifest, no input for settings a connector does not use, the secrets a manifest names, and
errors next to the field they concern. Secrets are write-only: never rendered back, blank keeps them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.test import Client
from django.urls import reverse
from psycopg import sql

from connectors.models import Connection
from connectors.sandbox.testing import HELPDESK_TOKEN, SandboxProcess
from connectors.webhooks import generate_secret
from integrations_hub.audit.models import AuditEntry
from tests.connectors.test_postgres_table import scratch_dsn  # noqa: F401 - a fixture
from tests.connectors.webhook_receiver import WebhookReceiver
from tests.saas_sandboxes import (
    BILLING_KEY,
    CHAT_TOKEN,
    MARKETING_KEY,
    MARKETING_LIST_ID,
    SALES_TOKEN,
)

HELPDESK_MANIFEST = (Path(__file__).resolve().parents[2] / "docs" / "manifests" / "helpdesk.json").read_text()
NEW_URL = reverse("connection_new")


def new_form(client: Client, kind: str, data: dict[str, Any]) -> Any:
    return client.post(f"{NEW_URL}?kind={kind}", {"kind": kind, **data})


def saved(response: Any, name: str) -> Connection:
    assert response.status_code == 302, _errors(response)
    connection = Connection.objects.get(name=name)
    assert response["Location"] == reverse("connection_detail", args=[connection.pk])
    return connection


def _errors(response: Any) -> str:
    text = response.content.decode()
    return " | ".join(re.findall(r'<p class="error" role="alert">(.*?)</p>', text)) or text[:2000]


def field_errors(response: Any, field: str) -> list[str]:
    form = response.context["form"]
    return [str(error) for error in form.errors.get(field, [])]


def flash(client: Client, response: Any) -> str:
    page = client.get(response["Location"])
    return " ".join(str(m) for m in page.context["messages"])


def input_names(response: Any) -> set[str]:
    return set(re.findall(r'name="([^"]+)"', response.content.decode()))


# -- the SaaS connectors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "system", "config", "secrets"),
    [
        ("stripe", "billing", {}, {"secret_key": BILLING_KEY}),
        ("pipedrive", "sales", {}, {"api_token": SALES_TOKEN}),
        ("mailchimp", "marketing", {"list_id": MARKETING_LIST_ID}, {"api_key": MARKETING_KEY}),
        ("slack", "chat", {"default_channel": "general"}, {"bot_token_or_webhook_url": CHAT_TOKEN}),
    ],
)
def test_each_saas_connector_is_created_in_the_form_and_tested_against_its_sandbox(
    editor_client: Client, kind: str, system: str, config: dict[str, str], secrets: dict[str, str]
) -> None:
    from tests.saas_sandboxes import fresh

    sandbox = fresh(system)
    page = editor_client.get(f"{NEW_URL}?kind={kind}")
    assert {"name", "base_url", *config, *secrets} <= input_names(page)

    response = new_form(
        editor_client, kind, {"name": f"My {kind}", "base_url": sandbox.url, **config, **secrets}
    )

    connection = saved(response, f"My {kind}")
    assert connection.config == {"base_url": sandbox.url, **config}
    assert connection.get_credentials() == secrets
    assert "Connection saved. Test:" in flash(editor_client, response)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK, connection.last_error


def test_hubspot_and_zendesk_are_created_in_the_form(
    editor_client: Client, crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess
) -> None:
    crm = saved(
        new_form(
            editor_client,
            "hubspot",
            {"name": "CRM", "base_url": crm_sandbox.url, "access_token": "demo-crm-token"},
        ),
        "CRM",
    )
    helpdesk = saved(
        new_form(
            editor_client,
            "zendesk",
            {
                "name": "Helpdesk",
                "base_url": helpdesk_sandbox.url,
                "email": "agent@demo.example",
                "api_token": HELPDESK_TOKEN,
            },
        ),
        "Helpdesk",
    )
    for connection in (crm, helpdesk):
        connection.refresh_from_db()
        assert connection.status == Connection.Status.OK, connection.last_error


def test_a_required_setting_left_blank_is_shown_next_to_its_field(editor_client: Client) -> None:
    response = new_form(editor_client, "zendesk", {"name": "Helpdesk", "base_url": "", "api_token": "t"})

    assert response.status_code == 200
    assert field_errors(response, "email") == ["This field is required."]
    assert not Connection.objects.exists()


# -- secrets are write-only ------------------------------------------------------------------------


def test_editing_never_shows_the_secret_and_a_blank_secret_keeps_the_stored_one(
    editor_client: Client, crm_sandbox: SandboxProcess
) -> None:
    connection = saved(
        new_form(
            editor_client,
            "hubspot",
            {"name": "CRM", "base_url": crm_sandbox.url, "access_token": "demo-crm-token"},
        ),
        "CRM",
    )
    edit_url = reverse("connection_edit", args=[connection.pk])

    page = editor_client.get(edit_url)
    assert "demo-crm-token" not in page.content.decode()
    assert re.search(r'<input type="password" name="access_token"(?![^>]*value=)', page.content.decode())

    response = editor_client.post(
        edit_url, {"name": "CRM renamed", "base_url": crm_sandbox.url, "access_token": ""}
    )
    assert response.status_code == 302, _errors(response)
    connection.refresh_from_db()
    assert connection.name == "CRM renamed"
    assert connection.get_credentials() == {"access_token": "demo-crm-token"}

    response = editor_client.post(
        edit_url, {"name": "CRM renamed", "base_url": crm_sandbox.url, "access_token": "pat-new-token"}
    )
    assert response.status_code == 302, _errors(response)
    connection.refresh_from_db()
    assert connection.get_credentials() == {"access_token": "pat-new-token"}


def test_renaming_onto_another_connections_name_is_refused_next_to_the_name(
    editor_client: Client, crm_sandbox: SandboxProcess
) -> None:
    for name in ("CRM", "CRM 2"):
        saved(
            new_form(
                editor_client,
                "hubspot",
                {"name": name, "base_url": crm_sandbox.url, "access_token": "demo-crm-token"},
            ),
            name,
        )
    second = Connection.objects.get(name="CRM 2")

    response = editor_client.post(
        reverse("connection_edit", args=[second.pk]), {"name": "CRM", "base_url": crm_sandbox.url}
    )

    assert field_errors(response, "name") == ["Your team already has a connection with this name."]
    second.refresh_from_db()
    assert second.name == "CRM 2"


# -- REST API from a manifest ----------------------------------------------------------------------


def test_the_manifest_is_a_textarea_and_its_secrets_are_asked_for_once_it_names_them(
    editor_client: Client, helpdesk_sandbox: SandboxProcess
) -> None:
    page = editor_client.get(f"{NEW_URL}?kind=rest_manifest")
    assert re.search(r'<textarea name="manifest"', page.content.decode())
    assert not re.search(r'<input[^>]+name="manifest"', page.content.decode())

    settings = {"name": "Helpdesk API", "base_url": helpdesk_sandbox.url, "manifest": HELPDESK_MANIFEST}
    first = new_form(editor_client, "rest_manifest", settings)

    # The manifest's auth names the secret api_token: the form now asks for it, with a clear error.
    assert first.status_code == 200
    assert field_errors(first, "secret__api_token") == [
        "The manifest's auth names the secret 'api_token': enter its value."
    ]
    assert 'type="password" name="secret__api_token"' in first.content.decode()
    # What was typed is kept, so the person only adds the secret.
    assert "create_or_update_many" in first.content.decode()
    assert not Connection.objects.exists()

    second = new_form(editor_client, "rest_manifest", {**settings, "secret__api_token": HELPDESK_TOKEN})

    connection = saved(second, "Helpdesk API")
    assert connection.get_credentials() == {"api_token": HELPDESK_TOKEN}
    assert connection.config["manifest"] == HELPDESK_MANIFEST
    connection.refresh_from_db()
    assert connection.status == Connection.Status.OK, connection.last_error

    # Editing: the secret stays hidden and optional; the manifest comes back in its textarea.
    edit = editor_client.get(reverse("connection_edit", args=[connection.pk]))
    text = edit.content.decode()
    assert HELPDESK_TOKEN not in text
    assert "Leave blank to keep the stored value." in text
    assert "create_or_update_many" in text
    kept = editor_client.post(
        reverse("connection_edit", args=[connection.pk]), {**settings, "secret__api_token": ""}
    )
    assert kept.status_code == 302, _errors(kept)
    connection.refresh_from_db()
    assert connection.get_credentials() == {"api_token": HELPDESK_TOKEN}


def test_checking_a_manifest_lists_its_objects_and_asks_for_its_secrets_without_saving(
    editor_client: Client,
) -> None:
    response = new_form(
        editor_client, "rest_manifest", {"name": "Helpdesk API", "manifest": HELPDESK_MANIFEST, "check": "1"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {}
    assert response.context["checked"] == {"users": "Users", "organizations": "Organizations"}
    text = response.content.decode()
    assert (
        "The settings are valid. Objects: Users, Organizations. Enter the secrets below, then save." in text
    )
    assert 'type="password" name="secret__api_token"' in text
    assert not Connection.objects.exists()


def test_checking_a_broken_manifest_shows_its_problems(editor_client: Client) -> None:
    response = new_form(
        editor_client, "rest_manifest", {"name": "Broken", "manifest": "objects: [", "check": "1"}
    )

    assert response.context["checked"] is None
    assert field_errors(response, "manifest")[0].startswith("manifest: is not valid YAML")
    assert "The settings are valid" not in response.content.decode()


def test_a_manifest_that_is_not_json_is_refused_next_to_the_manifest(editor_client: Client) -> None:
    response = new_form(
        editor_client, "rest_manifest", {"name": "Broken", "manifest": '{"name": "Shop", "objects": '}
    )

    errors = field_errors(response, "manifest")
    assert len(errors) == 1
    assert errors[0].startswith("manifest: is not valid JSON")
    assert not Connection.objects.exists()


def test_each_problem_of_a_manifest_is_listed_by_its_key(editor_client: Client) -> None:
    manifest = {
        "name": "Shop",
        "base_url": "ftp://shop.example.com",
        "objects": {"orders": {"list": {"path": "orders", "record_path": "orders[?"}}},
    }

    response = new_form(editor_client, "rest_manifest", {"name": "Shop", "manifest": json.dumps(manifest)})

    errors = field_errors(response, "manifest")
    assert any(e.startswith("base_url: ") for e in errors), errors
    assert any(e.startswith("objects.orders.list.path: ") for e in errors), errors
    assert any(e.startswith("objects.orders.list.record_path: ") for e in errors), errors
    assert not Connection.objects.exists()


# -- PostgreSQL table and CSV file: no base URL --------------------------------------------------------


@pytest.fixture
def people_table(scratch_dsn: str) -> Iterator[str]:  # noqa: F811 - the imported fixture
    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS form_people"))
        conn.execute(
            "CREATE TABLE form_people (id bigint PRIMARY KEY, email text UNIQUE, "
            "updated_at timestamptz NOT NULL DEFAULT now())"
        )
        yield scratch_dsn
        conn.execute("DROP TABLE IF EXISTS form_people")


def test_a_postgres_table_is_created_in_the_form_without_a_base_url(
    editor_client: Client, people_table: str
) -> None:
    page = editor_client.get(f"{NEW_URL}?kind=postgres_table")
    names = input_names(page)
    assert "base_url" not in names
    assert {"table", "key_column", "updated_at_column", "settle_seconds", "dsn"} <= names
    assert 'type="number" name="settle_seconds"' in page.content.decode()

    response = new_form(
        editor_client,
        "postgres_table",
        {
            "name": "People table",
            "schema_name": "public",
            "table": "form_people",
            "key_column": "id",
            "updated_at_column": "updated_at",
            "settle_seconds": "5",
            "statement_timeout_seconds": "30",
            "dsn": people_table,
        },
    )

    connection = saved(response, "People table")
    assert connection.config == {
        "schema_name": "public",
        "table": "form_people",
        "key_column": "id",
        "updated_at_column": "updated_at",
        "settle_seconds": 5,
        "statement_timeout_seconds": 30,
    }
    assert "public.form_people on" in flash(editor_client, response)


def test_a_postgres_table_without_a_way_to_read_changes_says_so(editor_client: Client) -> None:
    response = new_form(
        editor_client,
        "postgres_table",
        {"name": "T", "table": "t", "key_column": "id", "settle_seconds": "0", "dsn": "postgresql://x"},
    )

    errors = response.context["form"].non_field_errors()
    assert any("set updated_at_column, or id_column" in str(e) for e in errors), errors


def test_a_postgres_setting_out_of_range_is_refused_next_to_it(editor_client: Client) -> None:
    response = new_form(
        editor_client,
        "postgres_table",
        {
            "name": "T",
            "table": "t",
            "key_column": "id",
            "id_column": "id",
            "settle_seconds": "99999",
            "dsn": "x",
        },
    )

    assert field_errors(response, "settle_seconds") == ["Ensure this value is less than or equal to 3600."]


def test_a_csv_file_is_created_in_the_form_without_a_base_url(editor_client: Client) -> None:
    page = editor_client.get(f"{NEW_URL}?kind=csv_file")
    assert "base_url" not in input_names(page)
    assert "This connector needs no secrets." in page.content.decode()

    response = new_form(
        editor_client,
        "csv_file",
        {
            "name": "Export",
            "export_file": "form/out.csv",
            "delimiter": ";",
            "encoding": "utf-8",
            "field_types": "age:number, vip:boolean",
        },
    )

    connection = saved(response, "Export")
    assert connection.config["field_types"] == {"age": "number", "vip": "boolean"}
    assert "CSV export form/out.csv" in flash(editor_client, response)
    # The column types come back the way they are typed.
    edit = editor_client.get(reverse("connection_edit", args=[connection.pk]))
    assert 'value="age:number, vip:boolean"' in edit.content.decode()


def test_a_csv_file_name_that_leaves_its_folder_is_refused_next_to_it(editor_client: Client) -> None:
    response = new_form(editor_client, "csv_file", {"name": "Bad", "import_file": "../../etc/passwd"})

    assert field_errors(response, "import_file") == ["a file name cannot contain empty, '.' or '..' parts"]


# -- outbound webhook ------------------------------------------------------------------------------


def test_an_outbound_webhook_is_created_in_the_form_and_sends_its_test_event(editor_client: Client) -> None:
    receiver = WebhookReceiver()
    try:
        page = editor_client.get(f"{NEW_URL}?kind=webhook_out")
        assert "Endpoint URL" in page.content.decode()
        response = new_form(
            editor_client,
            "webhook_out",
            {
                "name": "Hook",
                "base_url": receiver.url(),
                "event_type": "contact.synced",
                "signing_secret": generate_secret(),
            },
        )
        connection = saved(response, "Hook")
        assert json.loads(receiver.last.body)["type"] == "webhook.test"
        assert "webhook-signature" in {k.lower() for k in receiver.last.headers}
        connection.refresh_from_db()
        assert connection.status == Connection.Status.OK
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/hooks",
        "http://0177.0.0.1/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hooks",
    ],
)
def test_a_url_setting_that_points_inside_the_network_is_refused_next_to_it(
    editor_client: Client, url: str
) -> None:
    response = new_form(
        editor_client, "webhook_out", {"name": "Hook", "base_url": url, "signing_secret": generate_secret()}
    )

    errors = field_errors(response, "base_url")
    assert len(errors) == 1 and "which connections may not reach" in errors[0], errors
    assert not Connection.objects.exists()


# -- the audit log ---------------------------------------------------------------------------------


def test_creating_and_editing_in_the_form_is_audited_with_the_person(
    editor_client: Client, editor: Any, crm_sandbox: SandboxProcess
) -> None:
    connection = saved(
        new_form(
            editor_client,
            "hubspot",
            {"name": "CRM", "base_url": crm_sandbox.url, "access_token": "demo-crm-token"},
        ),
        "CRM",
    )
    editor_client.post(
        reverse("connection_edit", args=[connection.pk]),
        {"name": "CRM", "base_url": crm_sandbox.url + "/", "access_token": "pat-rotated"},
    )

    entries = list(AuditEntry.objects.filter(object_id=str(connection.pk)).order_by("pk"))
    assert [e.action for e in entries] == [
        "connection.created",
        "connection.updated",
        "connection.credentials_changed",
    ]
    assert all(e.actor == editor for e in entries)
    assert entries[1].changes == {"base_url": [crm_sandbox.url, crm_sandbox.url + "/"]}
    assert entries[2].changes == {"access_token": "changed"}
    assert "pat-rotated" not in json.dumps([e.changes for e in entries]) + "".join(e.summary for e in entries)


EVERY_KIND: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "hubspot": ({"base_url": "https://api.hubapi.com"}, {"access_token": "pat-na1-secret-1"}),
    "zendesk": (
        {"base_url": "https://acme.zendesk.com", "email": "agent@acme.example"},
        {"api_token": "zd-secret-2"},
    ),
    "stripe": ({"base_url": "https://api.stripe.com"}, {"secret_key": "sk_test_secret3"}),
    "pipedrive": ({"base_url": "https://api.pipedrive.com"}, {"api_token": "pd-secret-4"}),
    "mailchimp": ({"list_id": "abc123", "status_if_new": "pending"}, {"api_key": "mc-secret-5-us1"}),
    "slack": ({"default_channel": "C0SALES001"}, {"bot_token_or_webhook_url": "xoxb-secret-6"}),
    "rest_manifest": ({"manifest": HELPDESK_MANIFEST}, {"api_token": "rm-secret-7"}),
    "postgres_table": (
        {"table": "people", "key_column": "id", "id_column": "id", "settle_seconds": 3},
        {"dsn": "postgresql://hub:pg-secret-8@db.example.com:5432/sales"},
    ),
    "csv_file": ({"import_file": "in.csv", "field_types": {"age": "number"}}, {}),
    "webhook_out": (
        {"base_url": "https://hooks.example.com/crm", "id_path": "data.id"},
        {"signing_secret": ""},
    ),
}


@pytest.mark.parametrize("kind", list(EVERY_KIND))
def test_every_kind_is_edited_in_the_form_without_its_secrets_coming_back(
    editor_client: Client, team: Any, kind: str
) -> None:
    from connectors.services import connection_create

    config, secrets = EVERY_KIND[kind]
    if kind == "webhook_out":
        secrets = {"signing_secret": generate_secret()}
    connection = connection_create(
        team=team, name=f"{kind} one", kind=kind, config=config, credentials=secrets
    )
    url = reverse("connection_edit", args=[connection.pk])

    page = editor_client.get(url)
    text = page.content.decode()
    assert page.status_code == 200
    for value in secrets.values():
        assert value not in text
    # Sent back as shown (secrets blank), nothing changes but the name.
    form = page.context["form"]
    posted = {name: "" if name in form.secret_fields else form[name].value() for name in form.fields}
    posted = {name: value for name, value in posted.items() if value is not None}
    posted["name"] = f"{kind} renamed"

    response = editor_client.post(url, posted)

    assert response.status_code == 302, _errors(response)
    connection.refresh_from_db()
    assert connection.name == f"{kind} renamed"
    assert connection.get_credentials() == secrets
    for name, value in config.items():
        assert connection.config[name] == value, name
