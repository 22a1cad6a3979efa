"""The schema cache (connectors/schemas.py) against the CRM sandbox, and the schema browser page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.base import ConnectorError, FieldSchema, ObjectSchema, PicklistOption
from connectors.models import Connection, ObjectSchemaCache
from connectors.providers.hubspot.provider import HubSpotProvider
from connectors.schemas import (
    CachedSchema,
    schema_cached,
    schema_diff,
    schema_from_json,
    schema_get,
    schema_hash,
    schema_refresh,
    schema_to_json,
)
from tests.factories import hubspot_connection

PROPERTIES = "GET /crm/v3/properties/{object}"

TIER = FieldSchema(
    "customer_tier",
    "Customer tier",
    "enumeration",
    required=True,
    custom=True,
    options=(PicklistOption("gold", "Gold"), PicklistOption("silver", "Silver")),
)
EMAIL = FieldSchema("email", "Email", "email", read_only=False)
CREATED = FieldSchema("createdate", "Create Date", "datetime", read_only=True)


def _properties_requests(crm: Any) -> int:
    return int(crm.stats()["requests"].get(PROPERTIES, 0))


@pytest.fixture
def crm(team: Any, crm_sandbox: Any) -> Connection:
    return hubspot_connection(team=team, base_url=crm_sandbox.url)


# --- JSON and hashing ------------------------------------------------------------------------------


def test_a_schema_survives_the_round_trip_through_json() -> None:
    schema = ObjectSchema("contacts", "Contacts", (EMAIL, TIER, CREATED))

    assert schema_from_json(schema_to_json(schema)) == schema


def test_the_hash_ignores_field_order_but_not_a_type_change() -> None:
    schema = ObjectSchema("contacts", "Contacts", (EMAIL, TIER))
    reordered = ObjectSchema("contacts", "Contacts", (TIER, EMAIL))
    retyped = ObjectSchema(
        "contacts", "Contacts", (EMAIL, FieldSchema("customer_tier", "Customer tier", "number"))
    )

    assert schema_hash(schema) == schema_hash(reordered)
    assert schema_hash(schema) != schema_hash(retyped)


def test_diff_names_added_removed_retyped_and_otherwise_changed_fields() -> None:
    before = ObjectSchema("contacts", "Contacts", (EMAIL, TIER, CREATED))
    after = ObjectSchema(
        "contacts",
        "Contacts",
        (
            FieldSchema("email", "E-mail address", "email"),
            FieldSchema("customer_tier", "Customer tier", "string", custom=True),
            FieldSchema("nps_score", "NPS", "number", custom=True),
        ),
    )

    change = schema_diff(before, after)

    assert change.added == ("nps_score",)
    assert change.removed == ("createdate",)
    assert [(c.name, c.old, c.new) for c in change.type_changed] == [
        ("customer_tier", "enumeration", "string")
    ]
    assert change.modified == ("email",)
    assert change.summary() == (
        "Added nps_score; removed createdate; type changed customer_tier (enumeration → string); "
        "details changed email."
    )


def test_type_at_answers_the_type_a_field_had_before_a_later_change() -> None:
    now = timezone.now()
    cached = CachedSchema(
        schema=ObjectSchema("contacts", "Contacts", (FieldSchema("nps_score", "NPS", "boolean"),)),
        fetched_at=now,
        changed_at=now,
        hash="x",
        type_history={
            "nps_score": [
                {"at": (now - timedelta(days=2)).isoformat(), "from": "number", "to": "string"},
                {"at": (now - timedelta(days=1)).isoformat(), "from": "string", "to": "boolean"},
            ]
        },
    )

    assert cached.type_at("nps_score", now - timedelta(days=3)) == "number"
    assert cached.type_at("nps_score", now - timedelta(hours=36)) == "string"
    assert cached.type_at("nps_score", now - timedelta(hours=1)) is None
    assert cached.type_at("email", now - timedelta(days=3)) is None


# --- The cache against the sandbox -----------------------------------------------------------------


def test_schema_get_asks_the_system_once_and_then_serves_the_cache(crm: Connection, crm_sandbox: Any) -> None:
    first = schema_get(connection=crm, object_name="contacts")
    second = schema_get(connection=crm, object_name="contacts")

    assert first == second
    assert first.field("customer_tier") is not None
    assert _properties_requests(crm_sandbox) == 1
    row = ObjectSchemaCache.objects.get(connection=crm, object_name="contacts")
    assert row.hash == schema_hash(first)
    assert {f["name"] for f in row.fields} == {f.name for f in first.fields}


def test_schema_get_refreshes_a_cache_older_than_max_age(crm: Connection, crm_sandbox: Any) -> None:
    schema_get(connection=crm, object_name="contacts")
    ObjectSchemaCache.objects.update(fetched_at=timezone.now() - timedelta(hours=7))

    schema_get(connection=crm, object_name="contacts")
    assert _properties_requests(crm_sandbox) == 2

    # A shorter max age than the cache's age refreshes too; a longer one does not.
    schema_get(connection=crm, object_name="contacts", max_age=timedelta(hours=1))
    assert _properties_requests(crm_sandbox) == 2
    ObjectSchemaCache.objects.update(fetched_at=timezone.now() - timedelta(minutes=11))
    schema_get(connection=crm, object_name="contacts", max_age=timedelta(minutes=10))
    assert _properties_requests(crm_sandbox) == 3


def test_the_first_refresh_is_a_first_fetch_not_a_list_of_additions(crm: Connection) -> None:
    change = schema_refresh(connection=crm, object_name="contacts")

    assert change.first_fetch
    assert change.added == ()
    assert change.summary() == f"Fetched {len(change.schema.fields)} fields."


def test_refresh_reports_what_changed_in_the_system_since_the_cached_copy(
    crm: Connection, crm_sandbox: Any
) -> None:
    schema_refresh(connection=crm, object_name="contacts")
    crm_sandbox.admin("DELETE", "/_admin/properties/contacts/customer_tier", None)
    crm_sandbox.admin("PATCH", "/_admin/properties/contacts/nps_score", {"type": "string"})
    crm_sandbox.admin("POST", "/_admin/properties/contacts", {"name": "favourite_colour", "type": "string"})

    change = schema_refresh(connection=crm, object_name="contacts")

    assert not change.first_fetch
    assert change.added == ("favourite_colour",)
    assert change.removed == ("customer_tier",)
    assert [(c.name, c.old, c.new) for c in change.type_changed] == [("nps_score", "number", "string")]
    row = ObjectSchemaCache.objects.get(connection=crm, object_name="contacts")
    assert row.last_change["removed"] == ["customer_tier"]
    assert [(e["from"], e["to"]) for e in row.type_history["nps_score"]] == [("number", "string")]
    cached = schema_cached(connection=crm, object_name="contacts")
    assert cached is not None and cached.schema.field("customer_tier") is None


def test_a_refresh_without_changes_keeps_the_last_change_and_its_time(crm: Connection) -> None:
    schema_refresh(connection=crm, object_name="contacts")
    before = ObjectSchemaCache.objects.get(connection=crm, object_name="contacts")

    change = schema_refresh(connection=crm, object_name="contacts")

    after = ObjectSchemaCache.objects.get(connection=crm, object_name="contacts")
    assert not change.changed
    assert after.changed_at == before.changed_at
    assert after.fetched_at > before.fetched_at
    assert after.last_change == before.last_change


def test_a_failed_refresh_raises_and_keeps_the_cached_copy(crm: Connection, crm_sandbox: Any) -> None:
    schema_refresh(connection=crm, object_name="contacts")
    crm_sandbox.admin("DELETE", "/_admin/properties/contacts/customer_tier", None)
    crm_sandbox.set_faults(status=403, fail_next=5, path_prefix="/crm/v3/properties")

    with pytest.raises(ConnectorError):
        schema_refresh(connection=crm, object_name="contacts")

    cached = schema_cached(connection=crm, object_name="contacts")
    assert cached is not None and cached.schema.field("customer_tier") is not None


# --- The schema page --------------------------------------------------------------------------------


def test_a_member_sees_each_object_with_its_fields_markers_options_and_capabilities(
    editor_client: Any, crm: Connection
) -> None:
    response = editor_client.get(reverse("connection_schema", args=[crm.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    for text in ("Contacts", "Companies", "customer_tier", "Customer tier", "enumeration", "Platinum"):
        assert text in page, text
    assert "read-only" in page and "custom" in page
    assert "matched by email" in page  # contacts upsert by email
    assert "100 requests per 10 s" in page
    # Every object the connector offers gets its section, fetched on the first visit.
    cached = set(ObjectSchemaCache.objects.filter(connection=crm).values_list("object_name", flat=True))
    assert cached == set(HubSpotProvider.objects)


def test_the_connection_page_links_to_its_schema(editor_client: Any, crm: Connection) -> None:
    page = editor_client.get(reverse("connection_detail", args=[crm.pk])).content.decode()

    assert reverse("connection_schema", args=[crm.pk]) in page


def test_refresh_swaps_in_the_fragment_with_what_changed(
    editor_client: Any, crm: Connection, crm_sandbox: Any
) -> None:
    schema_refresh(connection=crm, object_name="contacts")
    crm_sandbox.admin("DELETE", "/_admin/properties/contacts/customer_tier", None)

    response = editor_client.post(
        reverse("connection_schema_refresh", args=[crm.pk, "contacts"]), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="schema-contacts"')
    assert "Removed customer_tier" in fragment
    assert "customer_tier</code>" not in fragment


def test_refresh_without_htmx_redirects_back_with_a_message(editor_client: Any, crm: Connection) -> None:
    response = editor_client.post(
        reverse("connection_schema_refresh", args=[crm.pk, "contacts"]), follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("connection_schema", args=[crm.pk])
    assert "Contacts: Fetched" in response.content.decode()


def test_a_schema_the_system_refuses_shows_its_message_and_marks_the_connection(
    editor_client: Any, crm: Connection, crm_sandbox: Any
) -> None:
    crm_sandbox.set_faults(status=403, fail_next=5, path_prefix="/crm/v3/properties")

    response = editor_client.get(reverse("connection_schema", args=[crm.pk]))

    assert response.status_code == 200
    assert "Could not fetch the fields" in response.content.decode()
    crm.refresh_from_db()
    assert crm.status == Connection.Status.ERROR


def test_an_unknown_object_is_not_found(editor_client: Any, crm: Connection) -> None:
    response = editor_client.post(reverse("connection_schema_refresh", args=[crm.pk, "widgets"]))

    assert response.status_code == 404


def test_another_teams_user_gets_404_on_the_schema_page_and_its_refresh(
    outsider_client: Any, crm: Connection, crm_sandbox: Any
) -> None:
    assert outsider_client.get(reverse("connection_schema", args=[crm.pk])).status_code == 404
    refresh = reverse("connection_schema_refresh", args=[crm.pk, "contacts"])
    assert outsider_client.post(refresh).status_code == 404
    assert _properties_requests(crm_sandbox) == 0
    assert not ObjectSchemaCache.objects.exists()
