"""Fixtures for the page tests: connections with cached schemas, so pages render without any HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from connectors.base import FieldSchema, ObjectSchema, PicklistOption
from connectors.models import Connection, ObjectSchemaCache
from connectors.schemas import field_to_json, schema_hash
from tests.factories import hubspot_connection, zendesk_connection

TIERS = tuple(PicklistOption(v, v.title()) for v in ("bronze", "silver", "gold", "platinum"))

CONTACTS = ObjectSchema(
    "contacts",
    "Contacts",
    (
        FieldSchema("email", "Email", "email"),
        FieldSchema("firstname", "First Name", "string"),
        FieldSchema("lastname", "Last Name", "string"),
        FieldSchema("phone", "Phone Number", "phone"),
        FieldSchema("hs_object_id", "Record ID", "number", read_only=True),
        FieldSchema("customer_tier", "Customer tier", "enumeration", custom=True, options=TIERS),
        FieldSchema("nps_score", "NPS score", "number", custom=True),
    ),
)
USERS = ObjectSchema(
    "users",
    "Users",
    (
        FieldSchema("id", "ID", "number", read_only=True),
        FieldSchema("name", "Name", "string", required=True),
        FieldSchema("email", "Email", "email"),
        FieldSchema("phone", "Phone", "phone"),
        FieldSchema(
            "user_fields.customer_tier",
            "Customer tier",
            "enumeration",
            custom=True,
            options=tuple(PicklistOption(v, v) for v in ("bronze", "silver", "gold", "platinum")),
        ),
        FieldSchema("user_fields.nps_score", "NPS score", "number", custom=True),
    ),
)


def cache_schema(connection: Connection, schema: ObjectSchema) -> None:
    now = timezone.now()
    ObjectSchemaCache.objects.update_or_create(
        connection=connection,
        object_name=schema.name,
        defaults={
            "object_label": schema.label,
            "fields": [field_to_json(f) for f in schema.fields],
            "hash": schema_hash(schema),
            "fetched_at": now,
            "changed_at": now,
        },
    )


@pytest.fixture
def crm(team: Any) -> Connection:
    # Port 9 (discard) is never listened on: a page that asked the system instead of the cache would fail.
    connection = hubspot_connection(team=team, base_url="http://127.0.0.1:9")
    cache_schema(connection, CONTACTS)
    return connection


@pytest.fixture
def helpdesk(team: Any) -> Connection:
    connection = zendesk_connection(team=team, base_url="http://127.0.0.1:9")
    cache_schema(connection, USERS)
    return connection
