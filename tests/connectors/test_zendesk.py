"""The Zendesk connector over real HTTP against the helpdesk sandbox (Zendesk Support dialect)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import AuthenticationError, ChangePage, ConnectionSettings, ConnectorError, WriteItem
from connectors.providers.zendesk.client import ZendeskClient
from connectors.providers.zendesk.provider import ZendeskProvider
from connectors.registry import get_provider
from connectors.sandbox.testing import HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess
from tests.connectors.test_http import Reply, ScriptedServer


def make_client(url: str, *, email: str = HELPDESK_EMAIL, token: str = HELPDESK_TOKEN) -> ZendeskClient:
    settings = ConnectionSettings(
        connection_id=None, config={"base_url": url, "email": email}, credentials={"api_token": token}
    )
    client = get_provider("zendesk").client(settings)
    assert isinstance(client, ZendeskClient)
    return client


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def zd(helpdesk_sandbox: SandboxProcess) -> ZendeskClient:
    client = make_client(helpdesk_sandbox.url)
    client.http.sleep = Sleeps()
    return client


@pytest.fixture
def seeded(helpdesk_sandbox: SandboxProcess) -> SandboxProcess:
    helpdesk_sandbox.reset(250)
    return helpdesk_sandbox


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


def read_all(
    client: ZendeskClient, object_name: str, cursor: str | None = None, page_size: int = 100
) -> list[ChangePage]:
    return list(client.list_changes(object_name, cursor, page_size=page_size))


def ids_of(pages: list[ChangePage]) -> list[str]:
    return [r.id for page in pages for r in page.records]


def test_provider_description() -> None:
    assert get_provider("zendesk") is ZendeskProvider
    assert ZendeskProvider.label == "Zendesk Support"
    assert ZendeskProvider.auth_scheme == "basic"
    assert ZendeskProvider.credential_fields == ("api_token",)
    assert set(ZendeskProvider.objects) == {"users", "organizations", "tickets"}
    assert ZendeskProvider.capabilities["users"].upsert_key == "email"
    assert ZendeskProvider.capabilities["users"].batch_size == 100


def test_config_requires_email() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ZendeskProvider.client(ConnectionSettings(None, {"base_url": "https://acme.zendesk.com"}, {}))


def test_connection_test_ok(zd: ZendeskClient) -> None:
    assert "Demo Agent" in zd.test()


def test_basic_auth_uses_the_token_form(server: ScriptedServer) -> None:
    server.on("/api/v2/users/me.json", Reply(200, {"user": {"id": 1, "name": "Ann", "role": "admin"}}))

    make_client(server.url, email="ann@acme.test", token="tok-9").test()

    expected = base64.b64encode(b"ann@acme.test/token:tok-9").decode()
    assert server.seen[0].headers["Authorization"] == f"Basic {expected}"


def test_wrong_token_reports_zendesks_error(helpdesk_sandbox: SandboxProcess) -> None:
    client = make_client(helpdesk_sandbox.url, token="wrong-token-456")

    with pytest.raises(AuthenticationError) as caught:
        client.test()

    assert "Couldn't authenticate you" in caught.value.message
    assert "wrong-token-456" not in caught.value.message


def test_anonymous_answer_is_an_authentication_error(server: ScriptedServer) -> None:
    server.on("/api/v2/users/me.json", Reply(200, {"user": {"id": None, "name": "Anonymous user"}}))

    with pytest.raises(AuthenticationError, match="anonymous"):
        make_client(server.url).test()


def test_user_schema(zd: ZendeskClient) -> None:
    schema = zd.discover_schema("users")

    tier = schema.field("user_fields.customer_tier")
    assert tier is not None and tier.custom and tier.type == "enumeration"
    assert [o.value for o in tier.options] == ["bronze", "silver", "gold", "platinum"]
    assert [o.label for o in tier.options][:1] == ["Bronze"]
    name = schema.field("name")
    assert name is not None and name.required and not name.custom
    email = schema.field("email")
    assert email is not None and email.type == "email"
    phone = schema.field("phone")
    assert phone is not None and phone.type == "phone"
    opt_in = schema.field("user_fields.newsletter_opt_in")
    assert opt_in is not None and opt_in.type == "boolean"
    updated = schema.field("updated_at")
    assert updated is not None and updated.read_only


def test_organization_schema(zd: ZendeskClient) -> None:
    schema = zd.discover_schema("organizations")

    health = schema.field("organization_fields.account_health")
    assert health is not None and health.custom
    assert [o.value for o in health.options] == ["green", "amber", "red"]
    assert schema.field("domain_names") is not None


def test_full_read_pages_over_all_users(seeded: SandboxProcess, zd: ZendeskClient) -> None:
    pages = read_all(zd, "users")

    expected = {str(r["id"]) for r in seeded.records("users")}
    assert len(expected) >= 250
    assert set(ids_of(pages)) == expected
    assert len(pages) >= 3
    assert all(p.has_more for p in pages[:-1]) and not pages[-1].has_more
    record = pages[0].records[0]
    # Custom values are flattened to the names the schema uses.
    assert any(name.startswith("user_fields.") for name in record.fields)
    assert "user_fields" not in record.fields


def test_full_read_of_organizations(seeded: SandboxProcess, zd: ZendeskClient) -> None:
    pages = read_all(zd, "organizations")

    assert set(ids_of(pages)) == {str(r["id"]) for r in seeded.records("organizations")}


def test_incremental_read_after_edit_returns_the_edited_record(
    seeded: SandboxProcess, zd: ZendeskClient
) -> None:
    cursor = read_all(zd, "users")[-1].cursor
    target = seeded.records("users")[5]

    seeded.admin("PATCH", f"/records/users/{target['id']}", {"notes": "Edited by a person"})
    changed = [r for page in read_all(zd, "users", cursor) for r in page.records]

    assert [r.id for r in changed] == [str(target["id"])]
    assert changed[0].fields["notes"] == "Edited by a person"


def test_resuming_from_a_mid_way_cursor_skips_nothing(seeded: SandboxProcess, zd: ZendeskClient) -> None:
    everything = set(ids_of(read_all(zd, "users", page_size=40)))

    pages = iter(zd.list_changes("users", None, page_size=40))
    seen: set[str] = set()
    cursor = None
    for _ in range(3):
        page = next(pages)
        seen.update(r.id for r in page.records)
        cursor = page.cursor
    resumed = read_all(make_client(seeded.url), "users", cursor, page_size=40)

    assert seen | set(ids_of(resumed)) == everything
    assert len(seen) < len(everything)


def test_batch_upsert_creates_then_updates(helpdesk_sandbox: SandboxProcess, zd: ZendeskClient) -> None:
    items = [
        WriteItem(
            key=f"src-{n}",
            fields={
                "email": f"person{n}@example.com",
                "name": f"Person {n}",
                "user_fields.customer_tier": "gold",
            },
        )
        for n in range(5)
    ]

    first = zd.upsert_batch("users", items, match_field="email")
    second = zd.upsert_batch("users", items, match_field="email")

    assert [r.key for r in first] == [i.key for i in items]
    assert all(r.ok and r.action == "created" for r in first)
    assert all(r.ok and r.action == "updated" for r in second)
    assert [r.target_id for r in first] == [r.target_id for r in second]
    assert all(isinstance(r.target_id, str) for r in first)
    users = [u for u in helpdesk_sandbox.records("users") if str(u.get("email", "")).startswith("person")]
    assert len(users) == 5
    assert {u["user_fields"]["customer_tier"] for u in users} == {"gold"}


def test_bad_email_fails_with_zendesks_message_while_others_succeed(
    helpdesk_sandbox: SandboxProcess, zd: ZendeskClient
) -> None:
    items = [WriteItem(f"k{n}", {"email": f"ok{n}@example.com", "name": f"Ok {n}"}) for n in range(4)]
    items.insert(2, WriteItem("bad", {"email": "not-an-email", "name": "Bad"}))

    results = zd.upsert_batch("users", items, match_field="email")

    assert [r.key for r in results] == [i.key for i in items]
    assert results[2].ok is False
    assert results[2].error == "Email: not-an-email is not properly formatted"
    assert all(r.ok for i, r in enumerate(results) if i != 2)


def test_update_many_by_target_id(helpdesk_sandbox: SandboxProcess, zd: ZendeskClient) -> None:
    [created] = zd.upsert_batch(
        "users", [WriteItem("k", {"email": "upd@example.com", "name": "Upd"})], match_field="email"
    )
    assert created.target_id is not None

    results = zd.upsert_batch(
        "users",
        [
            WriteItem(
                "k",
                {"name": "Updated Name", "user_fields.customer_tier": "silver"},
                target_id=created.target_id,
            ),
            WriteItem("missing", {"name": "Nobody"}, target_id="987654321"),
        ],
        match_field="email",
    )

    assert results[0].ok and results[0].action == "updated" and results[0].target_id == created.target_id
    assert not results[1].ok and results[1].error
    stored = next(u for u in helpdesk_sandbox.records("users") if str(u["id"]) == created.target_id)
    assert stored["name"] == "Updated Name"
    assert stored["user_fields"]["customer_tier"] == "silver"


def test_organizations_upsert_by_external_id(zd: ZendeskClient) -> None:
    item = WriteItem(
        "o1",
        {"external_id": "crm-company-1", "name": "Example Org", "organization_fields.account_health": "red"},
    )

    first = zd.upsert_batch("organizations", [item], match_field="external_id")
    second = zd.upsert_batch("organizations", [item], match_field="external_id")

    assert first[0].ok and first[0].action == "created"
    assert second[0].ok and second[0].action == "updated"
    assert first[0].target_id == second[0].target_id


def test_unsupported_match_field_fails_clearly(zd: ZendeskClient) -> None:
    [result] = zd.upsert_batch("users", [WriteItem("k", {"name": "X", "phone": "1"})], match_field="phone")

    assert not result.ok and result.error and "email" in result.error


def test_unknown_object_is_a_clear_error(zd: ZendeskClient) -> None:
    with pytest.raises(ConnectorError, match="macros"):
        zd.discover_schema("macros")


# -- behaviour the sandbox does not exercise, against a scripted server ------------------------------


def test_queued_jobs_are_polled_until_completed(server: ScriptedServer) -> None:
    queued = {"job_status": {"id": "abc", "status": "queued", "results": None}}
    working = {"job_status": {"id": "abc", "status": "working", "results": None}}
    done = {
        "job_status": {
            "id": "abc",
            "status": "completed",
            "results": [
                {"index": 1, "id": 22, "action": "update", "status": "Updated", "success": True},
                {"index": 0, "id": 11, "action": "create", "status": "Created", "success": True},
            ],
        }
    }
    server.on("/api/v2/users/create_or_update_many.json", Reply(200, queued))
    server.on("/api/v2/job_statuses/abc.json", Reply(200, working), Reply(200, done))
    client = make_client(server.url)
    sleeps = Sleeps()
    client.http.sleep = sleeps

    results = client.upsert_batch(
        "users",
        [
            WriteItem("a", {"email": "a@x.test", "name": "A"}),
            WriteItem("b", {"email": "b@x.test", "name": "B"}),
        ],
        match_field="email",
    )

    assert [(r.key, r.target_id, r.action) for r in results] == [
        ("a", "11", "created"),
        ("b", "22", "updated"),
    ]
    assert server.hits("/api/v2/job_statuses/abc.json") == 2
    assert len(sleeps.waits) == 2


def test_job_that_never_finishes_is_a_transient_error(server: ScriptedServer) -> None:
    queued = {"job_status": {"id": "slow", "status": "queued"}}
    server.on("/api/v2/users/create_or_update_many.json", Reply(200, queued))
    server.on("/api/v2/job_statuses/slow.json", Reply(200, queued))
    client = make_client(server.url)
    client.http.sleep = Sleeps()

    with pytest.raises(ConnectorError) as caught:
        client.upsert_batch(
            "users", [WriteItem("a", {"email": "a@x.test", "name": "A"})], match_field="email"
        )

    assert caught.value.permanent is False


def test_results_without_index_are_matched_in_order(server: ScriptedServer) -> None:
    job: dict[str, Any] = {
        "job_status": {
            "id": "j",
            "status": "completed",
            "results": [
                {"id": 5, "status": "Created", "email": "a@x.test"},
                {
                    "id": 2,
                    "error": "UserUpdateError",
                    "details": "Email: b@ is not properly formatted",
                    "status": "Failed",
                },
            ],
        }
    }
    server.on("/api/v2/users/create_or_update_many.json", Reply(200, job))

    results = make_client(server.url).upsert_batch(
        "users",
        [WriteItem("a", {"email": "a@x.test", "name": "A"}), WriteItem("b", {"email": "b@", "name": "B"})],
        match_field="email",
    )

    assert results[0].ok and results[0].target_id == "5"
    assert not results[1].ok and results[1].error == "Email: b@ is not properly formatted"


def test_time_based_export_fallback_for_organizations(server: ScriptedServer) -> None:
    org = {"id": 7, "name": "Org", "updated_at": "2024-01-01T00:00:00Z", "organization_fields": {"tier": "x"}}
    server.on("/api/v2/incremental/organizations/cursor.json", Reply(404, {"error": "InvalidEndpoint"}))
    server.on(
        "/api/v2/incremental/organizations.json",
        Reply(200, {"organizations": [org], "end_time": 1704067200, "end_of_stream": False}),
        Reply(200, {"organizations": [], "end_time": 1704067300, "end_of_stream": True}),
    )

    pages = read_all(make_client(server.url), "organizations")

    assert [p.cursor for p in pages] == ["start_time:1704067200", "start_time:1704067300"]
    assert pages[0].records[0].fields["organization_fields.tier"] == "x"
    resumed = read_all(make_client(server.url), "organizations", pages[-1].cursor)
    assert server.seen[-1].path.endswith("start_time=1704067300")
    assert resumed[-1].has_more is False


def _user(user_id: int, **fields: Any) -> dict[str, Any]:
    return {"id": user_id, "name": f"User {user_id}", "updated_at": "2026-01-01T00:00:00Z", **fields}


def test_find_keeps_only_search_results_that_have_the_value_asked_for(server: ScriptedServer) -> None:
    """Zendesk's search matches words anywhere: a result without the field, or with another value, is
    not the record asked for."""
    server.on(
        "/api/v2/search.json",
        Reply(
            200,
            {
                "results": [
                    _user(1, notes="call +1 555 0100 after 5"),  # no phone of its own
                    _user(2, phone="+1 555 0100 ext 9"),
                    _user(3, phone="+1 555 0100"),
                    _user(4, user_fields={"member_number": "M-7"}),
                ]
            },
        ),
    )
    client = make_client(server.url)

    found = client.find("users", "phone", "+1 555 0100")
    custom = client.find("users", "member_number", "m-7")
    server.on("/api/v2/search.json", Reply(200, {"results": [_user(1, notes="+1 555 0100")]}))
    nothing = client.find("users", "phone", "+1 555 0100")

    assert found is not None and found.id == "3"
    assert custom is not None and custom.id == "4"
    assert nothing is None
