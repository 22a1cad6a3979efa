"""Connections whose objects come from their settings (a manifest's objects, a PostgreSQL table) list them
on the schema page, with their discovered fields and what the settings say each supports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.test import Client
from django.urls import reverse

from connectors.feasibility import connection_object_feasibility, connection_objects, flow_feasibility
from connectors.models import Connection, ObjectSchemaCache
from connectors.sandbox.testing import HELPDESK_TOKEN, SandboxProcess
from connectors.services import connection_create
from tests.connectors.test_postgres_table import scratch_dsn  # noqa: F401 - a fixture
from tests.factories import hubspot_connection

HELPDESK_MANIFEST = (Path(__file__).resolve().parents[2] / "docs" / "manifests" / "helpdesk.json").read_text()


@pytest.fixture
def manifest_connection(team: Any, helpdesk_sandbox: SandboxProcess) -> Connection:
    return connection_create(
        team=team,
        name="Helpdesk API",
        kind="rest_manifest",
        config={"manifest": HELPDESK_MANIFEST, "base_url": helpdesk_sandbox.url},
        credentials={"api_token": HELPDESK_TOKEN},
    )


@pytest.fixture
def table_dsn(scratch_dsn: str) -> Iterator[str]:  # noqa: F811 - the imported fixture
    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS schema_people")
        conn.execute(
            "CREATE TABLE schema_people (id bigint PRIMARY KEY, email text UNIQUE, age integer, "
            "updated_at timestamptz NOT NULL DEFAULT now())"
        )
        yield scratch_dsn
        conn.execute("DROP TABLE IF EXISTS schema_people")


@pytest.fixture
def table_connection(team: Any, table_dsn: str) -> Connection:
    return connection_create(
        team=team,
        name="People table",
        kind="postgres_table",
        config={"table": "schema_people", "key_column": "id", "updated_at_column": "updated_at"},
        credentials={"dsn": table_dsn},
    )


def test_a_manifest_connection_lists_the_objects_its_manifest_declares(
    manifest_connection: Connection,
) -> None:
    assert connection_objects(connection=manifest_connection) == {
        "users": "Users",
        "organizations": "Organizations",
    }


def test_the_schema_page_of_a_manifest_connection_shows_each_object_with_its_fields_and_capabilities(
    editor_client: Client, manifest_connection: Connection
) -> None:
    page = editor_client.get(reverse("connection_schema", args=[manifest_connection.pk]))

    assert page.status_code == 200
    panels = {panel.object_name: panel for panel in page.context["panels"]}
    assert set(panels) == {"users", "organizations"}
    users = panels["users"]
    assert users.error == ""
    assert users.cached is not None
    assert {"email", "external_id", "user_fields"} <= {f.name for f in users.cached.schema.fields}
    supports = {s.label: s for s in users.feasibility.supports}
    assert users.feasibility.declared
    assert supports["Upsert"].supported and supports["Upsert"].detail == "matched by email"
    assert supports["Incremental read"].supported
    assert supports["Batch size"].detail == "100 records per request"
    assert not supports["Webhooks"].supported
    text = page.content.decode()
    assert "Organizations" in text and "External ID" in text
    assert "declares no objects" not in text


def test_refreshing_an_object_a_manifest_declares_works_and_an_undeclared_one_is_not_found(
    editor_client: Client, manifest_connection: Connection
) -> None:
    ok = editor_client.post(
        reverse("connection_schema_refresh", args=[manifest_connection.pk, "organizations"])
    )
    missing = editor_client.post(
        reverse("connection_schema_refresh", args=[manifest_connection.pk, "tickets"])
    )

    assert ok.status_code == 302
    assert ObjectSchemaCache.objects.filter(
        connection=manifest_connection, object_name="organizations"
    ).exists()
    assert missing.status_code == 404


def test_the_schema_page_of_a_postgres_table_shows_the_table_and_its_columns(
    editor_client: Client, table_connection: Connection
) -> None:
    page = editor_client.get(reverse("connection_schema", args=[table_connection.pk]))

    panels = page.context["panels"]
    assert [(p.object_name, p.label) for p in panels] == [("schema_people", "public.schema_people")]
    panel = panels[0]
    assert panel.error == ""
    assert panel.cached is not None
    assert {(f.name, f.type) for f in panel.cached.schema.fields} == {
        ("id", "number"),
        ("email", "string"),
        ("age", "number"),
        ("updated_at", "datetime"),
    }
    supports = {s.label: s for s in panel.feasibility.supports}
    assert supports["Upsert"].detail == "matched by id"
    assert supports["Batch size"].detail == "500 records per request"


def test_flows_to_a_manifest_object_are_checked_against_the_manifest(
    team: Any, manifest_connection: Connection
) -> None:
    crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9")

    declared = flow_feasibility(
        source=(crm, "contacts"), target=(manifest_connection, "users"), trigger="poll"
    )
    undeclared = flow_feasibility(
        source=(crm, "contacts"), target=(manifest_connection, "tickets"), trigger="poll"
    )

    assert declared.possible
    assert not any("does not declare" in w for w in declared.warnings), declared.warnings
    assert not any("cannot upsert" in w for w in declared.warnings), declared.warnings
    assert not undeclared.possible
    assert "Helpdesk API has no object 'tickets'" in undeclared.blockers


def test_a_manifest_object_without_write_endpoints_cannot_be_a_target(team: Any) -> None:
    manifest = {
        "name": "Shop",
        "base_url": "https://shop.example.com/api",
        "objects": {"orders": {"list": {"path": "/orders", "record_path": "orders"}}},
    }
    connection = connection_create(
        team=team,
        name="Shop",
        kind="rest_manifest",
        config={"manifest": json.dumps(manifest)},
        credentials={},
    )

    feasibility = connection_object_feasibility(connection=connection, object_name="orders")
    crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9")
    flow = flow_feasibility(source=(crm, "contacts"), target=(connection, "orders"), trigger="poll")

    assert feasibility.capabilities.read and not feasibility.capabilities.incremental
    assert not flow.possible
    assert "Shop Orders cannot be written, so it cannot be a target" in flow.blockers
