"""The generic REST connector driven by manifests: the shipped helpdesk manifest against the helpdesk
sandbox (which the connector was not written for), and the other manifest features against a scripted
HTTP server."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.base import AuthenticationError, ChangePage, ConnectionSettings, ConnectorError, WriteItem
from connectors.providers.rest_manifest.client import RestManifestClient, format_time, parse_link_header
from connectors.providers.rest_manifest.manifest import ManifestError, parse_manifest
from connectors.registry import get_provider
from connectors.sandbox.testing import HELPDESK_TOKEN, SandboxProcess
from tests.connectors.test_http import Reply, ScriptedServer
from tests.factories import hubspot_connection
from workflows.models import RecordLink, Run, TriggerCursor, Workflow
from workflows.services.runs import run_execute, run_request
from workflows.services.workflow import workflow_create

HELPDESK_MANIFEST = (Path(__file__).resolve().parents[2] / "docs" / "manifests" / "helpdesk.json").read_text()


def make_client(
    manifest: str | dict[str, Any], *, base_url: str = "", credentials: dict[str, str] | None = None
) -> RestManifestClient:
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    config = {"manifest": text, "base_url": base_url} if base_url else {"manifest": text}
    client = get_provider("rest_manifest").client(ConnectionSettings(None, config, credentials or {}))
    assert isinstance(client, RestManifestClient)
    client.http.sleep = lambda seconds: None
    return client


def helpdesk(url: str, token: str = HELPDESK_TOKEN) -> RestManifestClient:
    return make_client(HELPDESK_MANIFEST, base_url=url, credentials={"api_token": token})


def read_all(
    client: RestManifestClient, name: str, cursor: str | None = None, size: int = 100
) -> list[ChangePage]:
    return list(client.list_changes(name, cursor, page_size=size))


def ids_of(pages: list[ChangePage]) -> list[str]:
    return [r.id for page in pages for r in page.records]


def users(sandbox: SandboxProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sandbox.records("users")
    return found


# -- the manifest itself -----------------------------------------------------------------------------


def test_the_shipped_helpdesk_manifest_is_valid() -> None:
    manifest = parse_manifest(HELPDESK_MANIFEST)
    assert set(manifest.objects) == {"users", "organizations"}
    assert manifest.secret_names() == ["api_token"]
    assert manifest.objects["users"].incremental.mode == "resume_cursor"


def minimal(**object_overrides: Any) -> dict[str, Any]:
    return {
        "name": "Shop",
        "base_url": "https://shop.example.com/api",
        "objects": {"orders": {"list": {"path": "/orders", "record_path": "orders"}, **object_overrides}},
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"list": {"path": "/orders", "record_path": "orders", "paginaton": {}}},
            "objects.orders.list.paginaton: Extra inputs are not permitted",
        ),
        (
            {"list": {"path": "/orders", "record_path": "orders[", "pagination": {"type": "none"}}},
            "objects.orders.list.record_path: not a valid JMESPath expression",
        ),
        (
            {
                "list": {
                    "path": "/o",
                    "record_path": "o",
                    "pagination": {"type": "cursor", "cursor_path": "next"},
                }
            },
            "objects.orders.list.pagination: cursor_path needs cursor_param",
        ),
        (
            {"list": {"path": "/o", "record_path": "o", "pagination": {"type": "pages"}}},
            "objects.orders.list.pagination: Input tag 'pages' found using 'type' does not match",
        ),
        (
            {"list": {"path": "orders", "record_path": "o"}},
            "objects.orders.list.path: must be a path starting with '/'",
        ),
        (
            {"incremental": {"mode": "client_filter"}},
            "objects.orders: incremental mode client_filter needs updated_field",
        ),
        (
            {"write": {"update": {"path": "/orders"}}},
            "objects.orders.write: update must say where the record's id goes",
        ),
        (
            {"write": {"upsert": {"path": "/orders/{name}"}}},
            "objects.orders.write.upsert: path may only contain the placeholder {id}",
        ),
        (
            {"write": {"create": {"path": "/orders", "batch": True}}},
            "objects.orders.write.create: a batch endpoint needs results",
        ),
        (
            {"schema": {"fields": [{"name": "total", "type": "money"}]}},
            "objects.orders.schema.fields[0].type: Input should be 'string'",
        ),
    ],
)
def test_manifest_errors_name_the_bad_key(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_manifest(json.dumps(minimal(**change)))
    assert any(message.startswith(expected) for message in raised.value.messages), raised.value.messages


def test_top_level_problems_are_named_too() -> None:
    bad = {
        **minimal(),
        "base_url": "ftp://x",
        "auth": {"type": "basic", "password_secret": "p"},
        "headers": {"Authorization": "x"},
    }
    with pytest.raises(ManifestError) as raised:
        parse_manifest(json.dumps(bad))
    assert raised.value.messages == [
        "base_url: must be an http(s) URL, e.g. https://api.example.com/v2",
        "auth: give exactly one of username (text) or username_secret (a secret's name)",
        "headers: put credentials in auth (referencing a secret), not in headers",
    ]


def test_yaml_manifests_are_accepted_and_bad_text_is_reported() -> None:
    manifest = parse_manifest(
        "name: Shop\nbase_url: https://shop.example.com\nobjects:\n"
        "  orders:\n    list: {path: /orders, record_path: orders}\n    updated_field: modified\n"
    )
    assert manifest.objects["orders"].incremental.mode == "client_filter"
    with pytest.raises(ManifestError, match="manifest: is not valid JSON"):
        parse_manifest("{not json")
    with pytest.raises(ManifestError, match="manifest: must be an object"):
        parse_manifest("- a\n- b\n")


@pytest.mark.django_db
def test_saving_a_connection_with_a_bad_manifest_names_the_key(team: Any) -> None:
    from connectors.services import ConnectionInputError, connection_create

    with pytest.raises(ConnectionInputError) as raised:
        connection_create(
            team=team,
            name="Shop",
            kind="rest_manifest",
            config={"manifest": json.dumps(minimal(id_field="id["))},
            credentials={},
        )
    assert "objects.orders.id_field: not a valid JMESPath expression" in raised.value.errors["manifest"]


# -- the helpdesk sandbox ------------------------------------------------------------------------------


def test_connects_to_the_helpdesk_and_reports_its_errors(helpdesk_sandbox: SandboxProcess) -> None:
    assert helpdesk(helpdesk_sandbox.url).test() == "Demo Agent at 127.0.0.1"

    with pytest.raises(
        AuthenticationError, match="Helpdesk rejected the credentials: Couldn't authenticate you"
    ):
        helpdesk(helpdesk_sandbox.url, token="wrong").test()

    missing = make_client(HELPDESK_MANIFEST, base_url=helpdesk_sandbox.url)
    with pytest.raises(AuthenticationError, match=r"uses the secret\(s\) api_token"):
        missing.test()


def test_reads_users_incrementally_with_cursor_paging(helpdesk_sandbox: SandboxProcess) -> None:
    helpdesk_sandbox.reset(250)
    client = helpdesk(helpdesk_sandbox.url)

    pages = read_all(client, "users", size=100)

    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert [p.has_more for p in pages] == [True, True, False]
    assert sorted(ids_of(pages)) == sorted(str(u["id"]) for u in users(helpdesk_sandbox))
    assert helpdesk_sandbox.stats()["requests"]["GET /api/v2/incremental/users/cursor.json"] == 3
    first = pages[0].records[0]
    assert first.fields["email"] and first.updated_at.tzinfo is not None

    # Changes after the stored cursor, and nothing else, come back.
    changed = users(helpdesk_sandbox)[17]
    helpdesk_sandbox.admin("PATCH", f"/_admin/records/users/{changed['id']}", {"phone": "+44 20 7946 0001"})
    added = helpdesk_sandbox.admin(
        "POST", "/_admin/records/users", {"name": "Late Comer", "email": "late@example.com"}
    )
    later = read_all(client, "users", pages[-1].cursor)
    assert ids_of(later) == [str(changed["id"]), str(added["user"]["id"])]
    assert later[0].records[0].fields["phone"] == "+44 20 7946 0001"

    assert ids_of(read_all(client, "users", later[-1].cursor)) == []


def test_a_read_resumed_from_a_page_cursor_skips_nothing(helpdesk_sandbox: SandboxProcess) -> None:
    helpdesk_sandbox.reset(120)
    client = helpdesk(helpdesk_sandbox.url)
    first_page = next(iter(client.list_changes("users", None, page_size=50)))

    rest = read_all(client, "users", first_page.cursor, size=50)

    assert sorted(ids_of([first_page, *rest])) == sorted(str(u["id"]) for u in users(helpdesk_sandbox))
    assert not set(ids_of([first_page])) & set(ids_of(rest))


def test_writes_users_and_reports_each_rejected_one_with_the_helpdesks_message(
    helpdesk_sandbox: SandboxProcess,
) -> None:
    existing = helpdesk_sandbox.admin(
        "POST", "/_admin/records/users", {"name": "Ada", "email": "ada@example.com"}
    )["user"]
    client = helpdesk(helpdesk_sandbox.url)

    results = client.upsert_batch(
        "users",
        [
            WriteItem(
                "s1", {"name": "Bob Stone", "email": "bob@example.com", "user_fields.customer_tier": "gold"}
            ),
            WriteItem("s2", {"name": "Ada Lovelace", "email": "ada@example.com"}),
            WriteItem("s3", {"name": "Broken", "email": "not-an-email"}),
            WriteItem("s4", {"name": "No email"}),
        ],
        match_field="email",
    )

    assert [(r.ok, r.action) for r in results] == [
        (True, "created"),
        (True, "updated"),
        (False, "failed"),
        (False, "failed"),
    ]
    assert results[1].target_id == str(existing["id"])
    assert results[2].error == "Email: not-an-email is not properly formatted"
    assert results[3].error == "No email to match the Helpdesk record on; it was not written."
    bob = next(u for u in users(helpdesk_sandbox) if u["email"] == "bob@example.com")
    assert results[0].target_id == str(bob["id"])
    assert bob["user_fields"]["customer_tier"] == "gold"  # a dotted field became the nested object

    # A linked record is updated by id through update_many, with only the changed field.
    update = client.upsert_batch(
        "users", [WriteItem("s1", {"phone": "+1 555 0100"}, target_id=str(bob["id"]))], match_field="email"
    )[0]
    assert (update.ok, update.action, update.target_id) == (True, "updated", str(bob["id"]))
    assert next(u for u in users(helpdesk_sandbox) if u["id"] == bob["id"])["phone"] == "+1 555 0100"
    gone = client.upsert_batch(
        "users", [WriteItem("s9", {"phone": "1"}, target_id="999999")], match_field="email"
    )[0]
    assert (gone.ok, gone.error) == (False, "User not found")


def test_upsert_refuses_a_match_field_the_api_cannot_match_on(helpdesk_sandbox: SandboxProcess) -> None:
    result = helpdesk(helpdesk_sandbox.url).upsert_batch(
        "users", [WriteItem("s1", {"name": "X", "phone": "1"})], match_field="phone"
    )[0]
    assert result.error == "Helpdesk upserts users by email or external_id, not phone."


def test_organizations_use_single_record_endpoints(helpdesk_sandbox: SandboxProcess) -> None:
    client = helpdesk(helpdesk_sandbox.url)
    created = client.upsert_batch(
        "organizations",
        [WriteItem("o1", {"name": "Acme", "external_id": "acme-1"})],
        match_field="external_id",
    )[0]
    assert (created.ok, created.action) == (True, "created")
    updated = client.upsert_batch(
        "organizations",
        [WriteItem("o1", {"notes": "key account"}, target_id=created.target_id)],
        match_field="external_id",
    )[0]
    assert (updated.ok, updated.action, updated.target_id) == (True, "updated", created.target_id)
    duplicate = client.upsert_batch(
        "organizations",
        [WriteItem("o2", {"name": "ACME", "external_id": "acme-2"})],
        match_field="external_id",
    )[0]
    assert not duplicate.ok and "already" in (duplicate.error or "").lower()


def test_client_side_filtering_over_the_plain_list_endpoint(helpdesk_sandbox: SandboxProcess) -> None:
    """The same API read another way: the id-ordered list with links.next, filtered on updated_at."""
    helpdesk_sandbox.reset(30)
    manifest = json.loads(HELPDESK_MANIFEST)
    manifest["objects"]["users"]["list"] = {
        "path": "/api/v2/users.json",
        "record_path": "users",
        "page_size_param": "page[size]",
        "max_page_size": 100,
        "pagination": {
            "type": "cursor",
            "next_url_path": "links.next",
            "cursor_param": "page[after]",
            "has_more_path": "meta.has_more",
        },
    }
    manifest["objects"]["users"]["incremental"] = {"mode": "client_filter", "lookback_seconds": 0}
    client = make_client(manifest, base_url=helpdesk_sandbox.url, credentials={"api_token": HELPDESK_TOKEN})

    pages = read_all(client, "users", size=12)
    assert [len(p.records) for p in pages] == [12, 12, 6]
    edited = users(helpdesk_sandbox)[4]
    helpdesk_sandbox.admin("PATCH", f"/_admin/records/users/{edited['id']}", {"notes": "called back"})

    again = read_all(client, "users", pages[-1].cursor, size=12)

    assert ids_of(again) == [str(edited["id"])]
    assert len(again) == 3  # every page is still read; only the changed record is handed on
    assert ids_of(read_all(client, "users", again[-1].cursor, size=12)) == []


def test_a_change_on_an_already_read_page_during_a_read_is_not_skipped(
    helpdesk_sandbox: SandboxProcess,
) -> None:
    """The watermark never passes the start of the read, so an edit behind the read position is found."""
    helpdesk_sandbox.reset(30)
    manifest = json.loads(HELPDESK_MANIFEST)
    manifest["objects"]["users"]["list"] = {
        "path": "/api/v2/users.json",
        "record_path": "users",
        "page_size_param": "page[size]",
        "pagination": {
            "type": "cursor",
            "cursor_path": "meta.after_cursor",
            "cursor_param": "page[after]",
            "has_more_path": "meta.has_more",
        },
    }
    # The helpdesk shows whole seconds: the lookback must cover that resolution.
    manifest["objects"]["users"]["incremental"] = {"mode": "client_filter", "lookback_seconds": 2}
    client = make_client(manifest, base_url=helpdesk_sandbox.url, credentials={"api_token": HELPDESK_TOKEN})
    all_users = users(helpdesk_sandbox)

    reading = client.list_changes("users", None, page_size=10)
    first = next(reading)
    behind = all_users[2]  # on the page just read
    ahead = all_users[25]  # on a page not read yet
    helpdesk_sandbox.admin("PATCH", f"/_admin/records/users/{behind['id']}", {"notes": "edited behind"})
    # A later whole second (the helpdesk's resolution) for the record ahead, so that the newest time
    # seen really is newer than the edit behind us.
    time.sleep(1.1)
    helpdesk_sandbox.admin("PATCH", f"/_admin/records/users/{ahead['id']}", {"notes": "edited ahead"})
    rest = list(reading)

    assert str(ahead["id"]) in ids_of(rest)
    next_read = ids_of(read_all(client, "users", rest[-1].cursor, size=10))
    assert str(behind["id"]) in next_read
    assert first.has_more


# -- a full sync through the run service ------------------------------------------------------------------

SYNC_MAPPING = {
    "fields": [
        {"target": "email", "source": ["email"], "transforms": [{"name": "trim"}, {"name": "lower"}]},
        {
            "target": "firstname",
            "source": ["name"],
            "transforms": [{"name": "split_name", "args": {"part": "first"}}],
        },
        {
            "target": "lastname",
            "source": ["name"],
            "transforms": [{"name": "split_name", "args": {"part": "last"}}],
        },
        {"target": "phone", "source": ["phone"]},
    ]
}


def _run(workflow: Workflow) -> Run:
    run = run_request(workflow=workflow, trigger=Run.Trigger.MANUAL, enqueue=False)
    assert run is not None
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def helpdesk_to_crm(team: Any, crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess) -> Workflow:
    from connectors.services import connection_create

    source = connection_create(
        team=team,
        name="Helpdesk (manifest)",
        kind="rest_manifest",
        config={"manifest": HELPDESK_MANIFEST, "base_url": helpdesk_sandbox.url},
        credentials={"api_token": HELPDESK_TOKEN},
    )
    target = hubspot_connection(team=team, base_url=crm_sandbox.url)
    return workflow_create(
        team=team,
        name="Helpdesk users to CRM contacts",
        source_connection=source,
        source_object="users",
        target_connection=target,
        target_object="contacts",
        mapping=SYNC_MAPPING,
        match_field="email",
        enabled=True,
    )


def crm_emails(crm: SandboxProcess) -> list[str]:
    return [
        str(c["properties"]["email"]).lower() for c in crm.records("contacts") if c["properties"].get("email")
    ]


@pytest.mark.django_db
def test_a_full_sync_puts_every_helpdesk_user_in_the_crm_exactly_once(
    helpdesk_to_crm: Workflow, crm_sandbox: SandboxProcess, helpdesk_sandbox: SandboxProcess
) -> None:
    helpdesk_sandbox.reset(150)
    contacts_before = len(crm_sandbox.records("contacts"))

    first = _run(helpdesk_to_crm)

    assert first.status == Run.Status.SUCCEEDED, first.error
    assert first.records_read == 150
    assert first.created_count == 150
    # A change and a newcomer between the runs: the second run reads exactly those two.
    someone = users(helpdesk_sandbox)[40]
    helpdesk_sandbox.admin("PATCH", f"/_admin/records/users/{someone['id']}", {"phone": "+33 1 23 45 67 89"})
    helpdesk_sandbox.admin(
        "POST", "/_admin/records/users", {"name": "Nadia Rahman", "email": "Nadia.Rahman@example.org"}
    )

    second = _run(helpdesk_to_crm)

    assert second.status == Run.Status.SUCCEEDED, second.error
    assert second.records_read == 2
    assert (second.created_count, second.updated_count) == (1, 1)
    emails = crm_emails(crm_sandbox)
    for user in users(helpdesk_sandbox):
        assert emails.count(user["email"].lower()) == 1, user["email"]
    assert len(crm_sandbox.records("contacts")) == contacts_before + 151
    updated = next(c for c in crm_sandbox.records("contacts") if c["properties"]["email"] == someone["email"])
    assert updated["properties"]["phone"] == "+33 1 23 45 67 89"
    nadia = next(
        c for c in crm_sandbox.records("contacts") if c["properties"]["email"] == "nadia.rahman@example.org"
    )
    assert (nadia["properties"]["firstname"], nadia["properties"]["lastname"]) == ("Nadia", "Rahman")
    assert RecordLink.objects.filter(workflow=helpdesk_to_crm).count() == 151
    assert json.loads(TriggerCursor.objects.get(workflow=helpdesk_to_crm).value or "{}")["feed"]


# -- other manifest features, against a scripted server -------------------------------------------------


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


def query_of(seen_path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(seen_path).query)


def shop(url: str, list_spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Shop",
        "base_url": url,
        "auth": {"type": "bearer", "token_secret": "token"},
        "objects": {"orders": {"list": list_spec, "id_field": "ref", **extra}},
    }


def test_page_number_paging_stops_at_the_last_page_and_sends_the_bearer_token(server: ScriptedServer) -> None:
    server.on(
        "/orders",
        Reply(200, {"data": [{"ref": 1}, {"ref": 2}], "pages": 2}),
        Reply(200, {"data": [{"ref": 3}], "pages": 2}),
    )
    spec = {
        "path": "/orders",
        "params": {"status": "open", "expand": True},
        "record_path": "data",
        "page_size_param": "per_page",
        "pagination": {"type": "page_number", "total_pages_path": "pages"},
    }
    client = make_client(shop(server.url, spec), credentials={"token": "t0k"})

    pages = read_all(client, "orders", size=2)

    assert ids_of(pages) == ["1", "2", "3"]
    assert pages[-1].cursor is None  # mode none: the next read starts over
    assert [query_of(s.path)["page"] for s in server.seen] == [["1"], ["2"]]
    assert query_of(server.seen[0].path)["expand"] == ["true"]
    assert server.seen[0].headers["Authorization"] == "Bearer t0k"


def test_offset_paging_stops_at_a_short_page(server: ScriptedServer) -> None:
    server.on(
        "/orders",
        Reply(200, {"items": [{"ref": "a"}, {"ref": "b"}]}),
        Reply(200, {"items": [{"ref": "c"}]}),
    )
    spec = {
        "path": "/orders",
        "record_path": "items",
        "page_size_param": "limit",
        "pagination": {"type": "offset"},
    }
    pages = read_all(make_client(shop(server.url, spec), credentials={"token": "t"}), "orders", size=2)
    assert ids_of(pages) == ["a", "b", "c"]
    assert [query_of(s.path)["offset"] for s in server.seen] == [["0"], ["2"]]


def test_link_header_paging_follows_next_and_api_key_goes_in_the_query(server: ScriptedServer) -> None:
    server.on(
        "/orders",
        Reply(
            200,
            [{"ref": 1}],
            headers={
                "Link": f'<{server.url}/orders?page=2>; rel="next", <{server.url}/orders?page=1>; rel="first"'
            },
        ),
        Reply(200, [{"ref": 2}]),
    )
    manifest = shop(
        server.url, {"path": "/orders", "record_path": "@", "pagination": {"type": "link_header"}}
    )
    manifest["auth"] = {"type": "api_key", "in": "query", "name": "api_key", "secret": "key"}
    pages = read_all(make_client(manifest, credentials={"key": "k-123"}), "orders")
    assert ids_of(pages) == ["1", "2"]
    assert query_of(server.seen[1].path) == {"page": ["2"], "api_key": ["k-123"]}
    assert "Authorization" not in server.seen[0].headers


def test_a_next_link_to_another_host_is_not_followed(server: ScriptedServer) -> None:
    server.on(
        "/orders", Reply(200, [{"ref": 1}], headers={"Link": '<https://evil.example/steal>; rel="next"'})
    )
    client = make_client(
        shop(server.url, {"path": "/orders", "record_path": "@", "pagination": {"type": "link_header"}}),
        credentials={"token": "t"},
    )
    with pytest.raises(ConnectorError, match=r"pointed to another host \(evil\.example\)"):
        read_all(client, "orders")


def test_the_watermark_is_sent_as_a_query_parameter(server: ScriptedServer) -> None:
    server.on(
        "/orders",
        Reply(
            200, {"orders": [{"ref": 1, "modified": 1767225600000}, {"ref": 2, "modified": 1767225601500}]}
        ),
        Reply(200, {"orders": []}),
    )
    spec = {"path": "/orders", "record_path": "orders"}
    manifest = shop(
        server.url,
        spec,
        updated_field="modified",
        incremental={
            "mode": "query_param",
            "param": "since",
            "format": "epoch_s",
            "initial": 0,
            "lookback_seconds": 0,
        },
    )
    client = make_client(manifest, credentials={"token": "t"})

    cursor = read_all(client, "orders")[-1].cursor
    read_all(client, "orders", cursor)

    assert query_of(server.seen[0].path)["since"] == ["0"]
    assert query_of(server.seen[1].path)["since"] == ["1767225601"]  # epoch ms read, seconds sent


def test_a_record_without_a_readable_time_cannot_be_filtered_and_says_so(server: ScriptedServer) -> None:
    server.on("/orders", Reply(200, {"orders": [{"ref": 9, "modified": "yesterday"}]}))
    client = make_client(
        shop(server.url, {"path": "/orders", "record_path": "orders"}, updated_field="modified"),
        credentials={"token": "t"},
    )
    with pytest.raises(ConnectorError, match="orders 9 has no readable modification time at modified"):
        read_all(client, "orders")


def test_a_record_path_that_is_not_a_list_is_reported(server: ScriptedServer) -> None:
    server.on("/orders", Reply(200, {"orders": {"ref": 1}}))
    client = make_client(
        shop(server.url, {"path": "/orders", "record_path": "orders"}), credentials={"token": "t"}
    )
    with pytest.raises(ConnectorError, match=r"record_path \(orders\) selected dict, not a list"):
        read_all(client, "orders")


def test_a_schema_is_inferred_from_a_sample(server: ScriptedServer) -> None:
    server.on(
        "/orders",
        Reply(
            200,
            {
                "orders": [
                    {
                        "ref": 1,
                        "total": 9.5,
                        "paid": True,
                        "buyer": "a@b.co",
                        "at": "2026-01-02T03:04:05Z",
                        "on": "2026-01-02",
                        "meta": {},
                    },
                    {
                        "ref": 2,
                        "total": 3,
                        "paid": False,
                        "buyer": "c@d.co",
                        "at": "2026-01-03T00:00:00Z",
                        "on": None,
                        "meta": [],
                    },
                ]
            },
        ),
    )
    client = make_client(
        shop(server.url, {"path": "/orders", "record_path": "orders"}), credentials={"token": "t"}
    )
    schema = client.discover_schema("orders")
    assert {f.name: f.type for f in schema.fields} == {
        "ref": "number",
        "total": "number",
        "paid": "boolean",
        "buyer": "email",
        "at": "datetime",
        "on": "date",
        "meta": "json",
    }
    assert [f.name for f in schema.fields if f.read_only] == ["ref"]


BATCH_RESULTS = {
    "path": "results",
    "index_path": "i",
    "ok_path": "ok",
    "error_path": "problem",
    "id_path": "id",
}


def test_a_batch_refused_as_a_whole_is_split_until_the_bad_item_is_found(server: ScriptedServer) -> None:
    def answer(valid: list[int]) -> Reply:
        return Reply(200, {"results": [{"i": i, "ok": True, "id": f"n{v}"} for i, v in enumerate(valid)]})

    server.on(
        "/orders/bulk",
        Reply(400, {"message": "order 3 has no total"}),  # 4 items
        answer([1, 2]),  # first half
        Reply(400, {"message": "order 3 has no total"}),  # second half
        Reply(400, {"message": "order 3 has no total"}),  # item 3 alone
        answer([4]),
    )
    manifest = shop(
        server.url,
        {"path": "/orders", "record_path": "o"},
        write={
            "upsert": {
                "path": "/orders/bulk",
                "batch": True,
                "body": {"wrap": "orders"},
                "results": BATCH_RESULTS,
            }
        },
    )
    client = make_client(manifest, credentials={"token": "t"})

    results = client.upsert_batch(
        "orders", [WriteItem(str(n), {"ref": n}) for n in (1, 2, 3, 4)], match_field="ref"
    )

    assert [(r.ok, r.target_id) for r in results] == [(True, "n1"), (True, "n2"), (False, None), (True, "n4")]
    assert results[2].error == "order 3 has no total"
    assert json.loads(server.seen[0].body) == {"orders": [{"ref": 1}, {"ref": 2}, {"ref": 3}, {"ref": 4}]}


def test_a_queued_job_is_polled_until_it_completes(server: ScriptedServer) -> None:
    server.on("/orders/bulk", Reply(200, {"job": {"status": "queued", "url": f"{server.url}/jobs/7"}}))
    server.on(
        "/jobs/7",
        Reply(200, {"job": {"status": "working", "url": f"{server.url}/jobs/7"}}),
        Reply(
            200,
            {
                "job": {
                    "status": "completed",
                    "results": [
                        {"i": 0, "ok": False, "problem": ["bad", "worse"]},
                        {"i": 1, "ok": True, "id": 5},
                    ],
                }
            },
        ),
    )
    manifest = shop(
        server.url,
        {"path": "/orders", "record_path": "o"},
        write={
            "upsert": {
                "path": "/orders/bulk",
                "batch": True,
                "job": {"status_path": "job.status", "url_path": "job.url"},
                "results": {**BATCH_RESULTS, "path": "job.results"},
            }
        },
    )
    client = make_client(manifest, credentials={"token": "t"})
    waits: list[float] = []
    client.http.sleep = waits.append

    results = client.upsert_batch(
        "orders", [WriteItem("a", {"ref": 1}), WriteItem("b", {"ref": 2})], match_field="ref"
    )

    assert [(r.ok, r.error, r.target_id) for r in results] == [(False, "bad; worse", None), (True, None, "5")]
    assert server.hits("/jobs/7") == 2
    assert waits == [0.5, 1.0]


def test_single_writes_use_the_id_placeholder_and_key_mapping_without_templates(
    server: ScriptedServer,
) -> None:
    server.on("/orders/o-1", Reply(200, {"order": {"id": "o-1"}}))
    server.on("/orders", Reply(201, {"order": {"id": "o-2"}}))
    manifest = shop(
        server.url,
        {"path": "/orders", "record_path": "o"},
        write={
            "update": {
                "method": "PATCH",
                "path": "/orders/{id}",
                "body": {"wrap": "order", "fields": {"customer.email": "email", "note": "notes"}},
            },
            "create": {
                "path": "/orders",
                "body": {"wrap": "order", "constants": {"source": "hub"}},
                "id_path": "order.id",
            },
        },
    )
    client = make_client(manifest, credentials={"token": "t"})

    results = client.upsert_batch(
        "orders",
        [
            WriteItem("a", {"email": "x@y.z", "notes": "{{ 7*7 }}", "ignored": 1}, target_id="o-1"),
            WriteItem("b", {"email": "n@y.z"}),
        ],
        match_field="email",
    )

    assert [(r.ok, r.action, r.target_id) for r in results] == [
        (True, "updated", "o-1"),
        (True, "created", "o-2"),
    ]
    patch, post = server.seen
    assert patch.method == "PATCH"
    # Text is sent as text: nothing in a value is ever evaluated.
    assert json.loads(patch.body) == {"order": {"customer": {"email": "x@y.z"}, "note": "{{ 7*7 }}"}}
    assert json.loads(post.body) == {"order": {"email": "n@y.z", "source": "hub"}}


def test_a_rejected_single_write_carries_the_manifests_error_text(server: ScriptedServer) -> None:
    server.on(
        "/orders",
        Reply(422, {"errors": [{"detail": "total must be positive"}, {"detail": "currency missing"}]}),
    )
    manifest = shop(
        server.url,
        {"path": "/orders", "record_path": "o"},
        write={"create": {"path": "/orders"}},
    )
    manifest["error_message_path"] = "errors[].detail"
    result = make_client(manifest, credentials={"token": "t"}).upsert_batch(
        "orders", [WriteItem("a", {"total": -1})], match_field="ref"
    )[0]
    assert result.error == "total must be positive; currency missing"


def test_a_read_only_manifest_object_cannot_be_written(server: ScriptedServer) -> None:
    client = make_client(
        shop(server.url, {"path": "/orders", "record_path": "o"}), credentials={"token": "t"}
    )
    with pytest.raises(ConnectorError, match="declares no write endpoints for orders"):
        client.upsert_batch("orders", [WriteItem("a", {})], match_field="ref")


def test_a_basic_auth_password_never_appears_in_messages(server: ScriptedServer) -> None:
    server.on("/orders", Reply(500, {"message": "boom for user:s3cr3t-pass"}))
    manifest = shop(server.url, {"path": "/orders", "record_path": "o"})
    manifest["auth"] = {"type": "basic", "username": "user", "password_secret": "pw"}
    client = make_client(manifest, credentials={"pw": "s3cr3t-pass"})
    client.http.max_retries = 0
    with pytest.raises(ConnectorError) as raised:
        read_all(client, "orders")
    assert "s3cr3t-pass" not in raised.value.message
    sent = server.seen[0].headers["Authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")).decode() == "user:s3cr3t-pass"


def test_time_helpers() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 1, 1, 0, 0, 1, 900_000, tzinfo=UTC)
    assert format_time(moment, "iso8601") == "2026-01-01T00:00:01Z"
    assert format_time(moment, "epoch_ms") == "1767225601900"
    assert parse_link_header('<https://a/x?p=2>; rel="next last"', "last") == "https://a/x?p=2"
    assert parse_link_header('<https://a/x?p=2>; rel="prev"', "next") is None
