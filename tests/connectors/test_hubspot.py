"""The HubSpot connector over real HTTP against the CRM sandbox (HubSpot CRM v3 dialect)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.base import AuthenticationError, ChangePage, ConnectionSettings, ConnectorError, WriteItem
from connectors.http import HttpResponse
from connectors.providers.hubspot.client import (
    HubSpotClient,
    decode_cursor,
    encode_cursor,
    field_from_property,
    hubspot_message,
    parse_timestamp,
    to_hubspot_value,
)
from connectors.providers.hubspot.provider import HubSpotProvider
from connectors.registry import get_provider
from connectors.sandbox.testing import CRM_TOKEN, SandboxProcess


def make_client(sandbox: SandboxProcess, token: str = CRM_TOKEN) -> HubSpotClient:
    settings = ConnectionSettings(
        connection_id=None, config={"base_url": sandbox.url}, credentials={"access_token": token}
    )
    client = get_provider("hubspot").client(settings)
    assert isinstance(client, HubSpotClient)
    client.http.sleep = lambda seconds: None
    return client


def read_all(
    client: HubSpotClient, object_name: str, cursor: str | None = None, page_size: int = 100
) -> list[ChangePage]:
    return list(client.list_changes(object_name, cursor, page_size=page_size))


def ids_of(pages: list[ChangePage]) -> list[str]:
    return [r.id for page in pages for r in page.records]


def test_provider_description() -> None:
    assert get_provider("hubspot") is HubSpotProvider
    assert HubSpotProvider.key == "hubspot"
    assert HubSpotProvider.auth_scheme == "bearer"
    assert HubSpotProvider.credential_fields == ("access_token",)
    assert set(HubSpotProvider.objects) == {"contacts", "companies", "deals", "tickets", "tasks"}
    assert HubSpotProvider.capabilities["contacts"].upsert_key == "email"
    assert HubSpotProvider.capabilities["companies"].upsert_key == "domain"
    assert HubSpotProvider.capabilities["contacts"].batch_size == 100


def test_connection_test_ok(crm_sandbox: SandboxProcess) -> None:
    assert "HubSpot" in make_client(crm_sandbox).test()


def test_wrong_token_reports_hubspots_message(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox, token="wrong-token-123")

    with pytest.raises(AuthenticationError) as caught:
        client.test()

    assert "Authentication credentials not found" in caught.value.message
    assert "wrong-token-123" not in caught.value.message
    assert caught.value.status == 401


def test_contact_schema(crm_sandbox: SandboxProcess) -> None:
    schema = make_client(crm_sandbox).discover_schema("contacts")

    tier = schema.field("customer_tier")
    assert tier is not None
    assert tier.custom is True
    assert tier.type == "enumeration"
    assert [o.value for o in tier.options] == ["bronze", "silver", "gold", "platinum"]
    email = schema.field("email")
    assert email is not None and email.type == "email" and email.custom is False
    phone = schema.field("phone")
    assert phone is not None and phone.type == "phone"
    nps = schema.field("nps_score")
    assert nps is not None and nps.type == "number" and nps.custom
    opt_in = schema.field("newsletter_opt_in")
    assert opt_in is not None and opt_in.type == "boolean"
    modified = schema.field("lastmodifieddate")
    assert modified is not None and modified.read_only and modified.type == "datetime"
    stage = schema.field("lifecyclestage")
    assert stage is not None and stage.type == "enumeration" and not stage.custom and stage.options


def test_company_schema_and_cache(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    schema = client.discover_schema("companies")

    health = schema.field("account_health")
    assert health is not None and health.custom
    assert [o.value for o in health.options] == ["green", "amber", "red"]
    assert client.discover_schema("companies") is schema
    assert client.http.stats.requests == 1


def test_unknown_object_is_a_clear_error(crm_sandbox: SandboxProcess) -> None:
    with pytest.raises(ConnectorError, match="quotes"):
        make_client(crm_sandbox).discover_schema("quotes")


def test_full_read_pages_over_all_records(crm_sandbox: SandboxProcess) -> None:
    crm_sandbox.reset(250)
    client = make_client(crm_sandbox)

    pages = read_all(client, "contacts")

    expected = {str(r["id"]) for r in crm_sandbox.records("contacts")}
    assert len(expected) == 250
    assert set(ids_of(pages)) == expected
    assert len(pages) >= 3
    assert [p.has_more for p in pages][-1] is False
    assert all(p.has_more for p in pages[:-1])
    stamps = [r.updated_at for page in pages for r in page.records]
    assert stamps == sorted(stamps)
    # Custom properties come back because the client asks for what the schema knows.
    first = pages[0].records[0]
    assert "customer_tier" in first.fields
    assert first.updated_at.tzinfo is not None


def test_full_read_of_companies(crm_sandbox: SandboxProcess) -> None:
    crm_sandbox.reset(250)
    pages = read_all(make_client(crm_sandbox), "companies")

    assert set(ids_of(pages)) == {str(r["id"]) for r in crm_sandbox.records("companies")}


def test_incremental_read_after_edit_returns_the_edited_record(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    cursor = read_all(client, "contacts")[-1].cursor
    target = crm_sandbox.records("contacts")[3]

    crm_sandbox.admin("PATCH", f"/records/contacts/{target['id']}", {"properties": {"firstname": "Edited"}})
    pages = read_all(client, "contacts", cursor)

    changed = [r for page in pages for r in page.records]
    assert str(target["id"]) in {r.id for r in changed}
    edited = next(r for r in changed if r.id == str(target["id"]))
    assert edited.fields["firstname"] == "Edited"
    # Records already read at the cursor's millisecond are not read again: only the edit comes back.
    assert [r.id for r in changed] == [str(target["id"])]


def test_an_idle_poll_reads_nothing_again_in_one_request(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    cursor = read_all(client, "contacts")[-1].cursor
    requests_before = client.http.stats.requests

    pages = read_all(client, "contacts", cursor)

    assert [r for page in pages for r in page.records] == []
    assert client.http.stats.requests - requests_before == 1


def test_cursor_at_the_end_with_no_changes_stays_put(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    last = read_all(client, "contacts")[-1]

    again = read_all(client, "contacts", last.cursor)

    assert again[-1].cursor == last.cursor
    assert again[-1].has_more is False


def test_resuming_from_a_mid_way_cursor_skips_nothing(crm_sandbox: SandboxProcess) -> None:
    crm_sandbox.reset(250)
    client = make_client(crm_sandbox)
    everything = set(ids_of(read_all(client, "contacts", page_size=40)))

    pages = iter(client.list_changes("contacts", None, page_size=40))
    seen: set[str] = set()
    cursor = None
    for _ in range(3):
        page = next(pages)
        seen.update(r.id for r in page.records)
        cursor = page.cursor
    resumed = read_all(make_client(crm_sandbox), "contacts", cursor, page_size=40)

    assert seen | set(ids_of(resumed)) == everything
    assert len(seen) < len(everything)


def test_records_edited_while_paging_are_not_skipped(crm_sandbox: SandboxProcess) -> None:
    crm_sandbox.reset(120)
    client = make_client(crm_sandbox)
    everything = {str(r["id"]) for r in crm_sandbox.records("contacts")}

    pages = client.list_changes("contacts", None, page_size=30)
    first = next(pages)
    # Edits move already-read records to the end of the ordering; with plain offset paging that
    # would shift unread records into the part already passed.
    for record in first.records[:10]:
        crm_sandbox.admin("PATCH", f"/records/contacts/{record.id}", {"properties": {"city": "Moved"}})
    rest = list(pages)

    assert {r.id for r in first.records} | set(ids_of(rest)) == everything


def test_batch_upsert_creates_then_updates(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    before = len(crm_sandbox.records("contacts"))
    items = [
        WriteItem(
            key=f"src-{n}",
            fields={"email": f"new.person{n}@example.com", "firstname": f"New{n}", "nps_score": n},
        )
        for n in range(5)
    ]

    first = client.upsert_batch("contacts", items, match_field="email")
    second = client.upsert_batch("contacts", items, match_field="email")

    assert [r.key for r in first] == [i.key for i in items]
    assert all(r.ok and r.action == "created" and r.target_id for r in first)
    assert all(r.ok and r.action == "updated" for r in second)
    assert [r.target_id for r in second] == [r.target_id for r in first]
    assert len(crm_sandbox.records("contacts")) == before + 5


def test_update_by_target_id(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    target = crm_sandbox.records("contacts")[0]

    [result] = client.upsert_batch(
        "contacts",
        [WriteItem("k", {"jobtitle": "Chief Tester"}, target_id=str(target["id"]))],
        match_field="email",
    )

    assert result.ok and result.action == "updated" and result.target_id == str(target["id"])
    stored = next(r for r in crm_sandbox.records("contacts") if r["id"] == target["id"])
    assert stored["properties"]["jobtitle"] == "Chief Tester"


def test_update_of_a_missing_record_fails_only_that_item(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    target = crm_sandbox.records("contacts")[0]

    results = client.upsert_batch(
        "contacts",
        [
            WriteItem("gone", {"jobtitle": "x"}, target_id="999999"),
            WriteItem("here", {"jobtitle": "y"}, target_id=str(target["id"])),
        ],
        match_field="email",
    )

    assert not results[0].ok and results[0].error
    assert results[1].ok


def test_bad_email_fails_with_hubspots_message_while_others_succeed(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    items = [WriteItem(f"k{n}", {"email": f"ok{n}@example.com", "firstname": "Ok"}) for n in range(6)]
    items.insert(3, WriteItem("bad", {"email": "not-an-email", "firstname": "Bad"}))

    results = client.upsert_batch("contacts", items, match_field="email")

    assert [r.key for r in results] == [i.key for i in items]
    bad = results[3]
    assert bad.ok is False and bad.action == "failed"
    assert bad.error is not None and "not-an-email" in bad.error and "invalid" in bad.error
    assert all(r.ok for i, r in enumerate(results) if i != 3)
    emails = {r["properties"]["email"] for r in crm_sandbox.records("contacts")}
    assert {f"ok{n}@example.com" for n in range(6)} <= emails
    assert "not-an-email" not in emails


def test_invalid_picklist_value_is_reported(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)

    [result] = client.upsert_batch(
        "contacts",
        [WriteItem("k", {"email": "tier@example.com", "customer_tier": "diamond"})],
        match_field="email",
    )

    assert not result.ok and result.error and "diamond" in result.error


def test_repeated_match_value_in_one_batch_is_written_in_order(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)

    results = client.upsert_batch(
        "contacts",
        [
            WriteItem("a", {"email": "twice@example.com", "firstname": "First"}),
            WriteItem("b", {"email": "TWICE@example.com", "firstname": "Second"}),
        ],
        match_field="email",
    )

    assert [r.ok for r in results] == [True, True]
    assert results[0].target_id == results[1].target_id
    stored = [
        r for r in crm_sandbox.records("contacts") if r["properties"]["email"].lower() == "twice@example.com"
    ]
    assert len(stored) == 1 and stored[0]["properties"]["firstname"] == "Second"


def test_missing_match_value_fails_without_a_call(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)

    [result] = client.upsert_batch("contacts", [WriteItem("k", {"firstname": "Nomail"})], match_field="email")

    assert not result.ok and result.error and "email" in result.error
    assert client.http.stats.requests == 0


def test_companies_upsert_by_domain(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    item = WriteItem(
        "c1", {"domain": "example-widgets.com", "name": "Example Widgets", "account_health": "green"}
    )

    first = client.upsert_batch("companies", [item], match_field="domain")
    second = client.upsert_batch("companies", [item], match_field="domain")

    assert first[0].action == "created" and second[0].action == "updated"
    assert first[0].target_id == second[0].target_id


def test_batches_larger_than_100_are_split(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    items = [WriteItem(f"k{n}", {"email": f"bulk{n}@example.com"}) for n in range(130)]

    results = client.upsert_batch("contacts", items, match_field="email")

    assert all(r.ok for r in results)
    assert client.http.stats.requests == 2


def test_throttling_is_retried_and_counted(crm_sandbox: SandboxProcess) -> None:
    client = make_client(crm_sandbox)
    crm_sandbox.set_faults(status=429, fail_next=1, retry_after=1)

    client.test()

    assert client.http.stats.throttled == 1
    assert client.http.stats.throttle_wait_seconds >= 1


# -- pure helpers -------------------------------------------------------------------------------------


def test_cursor_round_trip_and_rejection() -> None:
    assert decode_cursor(encode_cursor(1767208389792)) == (1767208389792, frozenset())
    assert decode_cursor(encode_cursor(7, ["102", "101"])) == (7, frozenset({"101", "102"}))
    assert json.loads(encode_cursor(5)) == {"since_ms": 5}
    assert json.loads(encode_cursor(5, ["b", "a"])) == {"since_ms": 5, "seen": ["a", "b"]}
    assert decode_cursor(None) == (None, frozenset())
    with pytest.raises(ConnectorError):
        decode_cursor("garbage")


def test_value_conversion() -> None:
    from datetime import UTC, date, datetime

    assert to_hubspot_value(True) == "true"
    assert to_hubspot_value(None) == ""
    assert to_hubspot_value(7) == "7"
    assert to_hubspot_value(["a", "b"]) == "a;b"
    assert to_hubspot_value(date(2026, 1, 2)) == "2026-01-02"
    assert to_hubspot_value(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"


def test_timestamp_parsing() -> None:
    parsed = parse_timestamp("2026-11-28T10:00:00.123Z")
    assert parsed is not None and parsed.microsecond == 123000
    from_ms = parse_timestamp("1767208389792")
    assert from_ms is not None and from_ms.year == 2025
    assert parse_timestamp("") is None


def test_property_type_mapping() -> None:
    def mapped(**prop: Any) -> str:
        return field_from_property({"name": "p", "label": "P", **prop}).type

    assert mapped(type="string", fieldType="phonenumber") == "phone"
    assert mapped(type="enumeration", fieldType="booleancheckbox") == "boolean"
    assert mapped(type="bool", fieldType="booleancheckbox") == "boolean"
    assert mapped(type="datetime", fieldType="date") == "datetime"
    assert mapped(type="date", fieldType="date") == "date"
    assert mapped(type="string", fieldType="text") == "string"
    assert field_from_property({"name": "email", "type": "string", "fieldType": "text"}).type == "email"
    custom = field_from_property({"name": "x", "type": "string", "hubspotDefined": False})
    assert custom.custom is True


def test_validation_message_is_readable() -> None:
    body = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": 'Property values were not valid: [{"isValid":false,"message":"Email address x is invalid",'
        '"error":"INVALID_EMAIL","name":"email"},{"isValid":false,"message":"Email address x is invalid",'
        '"error":"INVALID_EMAIL","name":"email"}]',
    }
    response = HttpResponse(400, "Bad Request", {}, json.dumps(body), "http://x", 0.0, body)

    assert hubspot_message(response) == "Property values were not valid: Email address x is invalid"
