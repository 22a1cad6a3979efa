"""The helpdesk sandbox keeps the Zendesk Support contract of docs/sandbox.md, over real HTTP."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.sandbox.testing import HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


AUTH = basic(f"{HELPDESK_EMAIL}/token", HELPDESK_TOKEN)


def call(sb: SandboxProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, data = sb.request(method, path, body, headers=AUTH)
    return status, data


def people(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"name": f"Person {i}", "email": f"person{i}@example.com"} for i in range(start, start + count)]


def make_users(sb: SandboxProcess, count: int, start: int = 0) -> list[int]:
    status, body = call(sb, "POST", "/api/v2/users/create_many.json", {"users": people(count, start)})
    assert status == 200, body
    results = body["job_status"]["results"]
    assert all(r["success"] for r in results), results
    return [r["id"] for r in results]


def export(sb: SandboxProcess, query: str, object_: str = "users") -> dict[str, Any]:
    status, body = call(sb, "GET", f"/api/v2/incremental/{object_}/cursor.json?{query}")
    assert status == 200, body
    return body


def export_all(sb: SandboxProcess, query: str, object_: str = "users") -> tuple[list[dict[str, Any]], str]:
    """Follow after_cursor until end_of_stream; returns the records and the cursor to resume from."""
    records: list[dict[str, Any]] = []
    page = export(sb, query, object_)
    for _ in range(100):
        records.extend(page[object_])
        if page["end_of_stream"]:
            return records, page["after_cursor"]
        page = export(sb, f"cursor={page['after_cursor']}&per_page=3", object_)
    raise AssertionError("export did not end")


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(f"{HELPDESK_EMAIL}/token", "wrong"),
        basic("someone@else.example/token", HELPDESK_TOKEN),
        basic(HELPDESK_EMAIL, HELPDESK_TOKEN),  # a password login, not an API token
        {"Authorization": f"Bearer {HELPDESK_TOKEN}"},
        {"Authorization": "Basic %%%not-base64"},
    ],
)
def test_bad_credentials_are_401_with_zendesk_body(
    helpdesk_sandbox: SandboxProcess, headers: dict[str, str]
) -> None:
    status, _, body = helpdesk_sandbox.request("GET", "/api/v2/users.json", headers=headers)
    assert status == 401
    assert body == {"error": "Couldn't authenticate you"}


def test_me_is_the_authenticated_admin_agent(helpdesk_sandbox: SandboxProcess) -> None:
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/users/me.json")
    assert status == 200
    assert body["user"]["email"] == HELPDESK_EMAIL
    assert body["user"]["role"] == "admin"
    # The agent is not one of the stored users: a seed of 0 means no users at all.
    _, listed = call(helpdesk_sandbox, "GET", "/api/v2/users.json")
    assert listed["users"] == []


# --- users ----------------------------------------------------------------------------------------


def test_user_shape(helpdesk_sandbox: SandboxProcess) -> None:
    payload = {
        "user": {"name": "Ada Lovelace", "email": "Ada@Example.com", "user_fields": {"customer_tier": "gold"}}
    }
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users.json", payload)
    assert status == 201
    user = body["user"]
    assert set(user) == {
        "id", "url", "name", "email", "phone", "external_id", "organization_id", "role", "time_zone", "locale",
        "notes", "details", "tags", "user_fields", "active", "created_at", "updated_at",
    }  # fmt: skip
    assert isinstance(user["id"], int)
    assert user["url"] == f"{helpdesk_sandbox.url}/api/v2/users/{user['id']}.json"
    assert user["email"] == "ada@example.com"
    assert user["role"] == "end-user" and user["active"] is True and user["tags"] == []
    assert user["user_fields"] == {
        "customer_tier": "gold",
        "nps_score": None,
        "newsletter_opt_in": None,
        "support_plan": None,
    }
    assert len(user["created_at"]) == len("2026-11-28T10:00:00Z") and user["created_at"].endswith("Z")
    status, fetched = call(helpdesk_sandbox, "GET", f"/api/v2/users/{user['id']}.json")
    assert status == 200 and fetched == {"user": user}


def test_missing_user_is_404_record_not_found(helpdesk_sandbox: SandboxProcess) -> None:
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/users/424242.json")
    assert status == 404
    assert body == {"error": "RecordNotFound", "description": "Not found"}


@pytest.mark.parametrize(
    ("user", "field", "error"),
    [
        ({"name": "X", "email": "x@"}, "email", "InvalidFormat"),
        ({"email": "nameless@example.com"}, "name", "ValueTooShort"),
        ({"name": "  ", "email": "blank@example.com"}, "name", "ValueTooShort"),
        ({"name": "X", "role": "overlord"}, "role", "InvalidValue"),
        ({"name": "X", "organization_id": 1}, "organization_id", "InvalidValue"),
    ],
)
def test_invalid_single_write_is_422(
    helpdesk_sandbox: SandboxProcess, user: dict[str, Any], field: str, error: str
) -> None:
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users.json", {"user": user})
    assert status == 422
    assert body["error"] == "RecordInvalid"
    assert body["description"] == "Record validation errors"
    assert body["details"][field][0]["error"] == error


def test_bad_email_422_has_zendesk_wording(helpdesk_sandbox: SandboxProcess) -> None:
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users.json", {"user": {"name": "X", "email": "x"}})
    assert status == 422
    assert body == {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {
            "email": [{"description": "Email: x is not properly formatted", "error": "InvalidFormat"}]
        },
    }


def test_emails_are_unique_ignoring_case(helpdesk_sandbox: SandboxProcess) -> None:
    make_users(helpdesk_sandbox, 1)
    status, body = call(
        helpdesk_sandbox,
        "POST",
        "/api/v2/users.json",
        {"user": {"name": "Twin", "email": "PERSON0@example.com"}},
    )
    assert status == 422
    assert body["details"]["email"][0]["error"] == "DuplicateValue"


def test_update_and_create_or_update(helpdesk_sandbox: SandboxProcess) -> None:
    [uid] = make_users(helpdesk_sandbox, 1)
    status, body = call(
        helpdesk_sandbox, "PUT", f"/api/v2/users/{uid}.json", {"user": {"phone": "+1 555 0100"}}
    )
    assert status == 200 and body["user"]["phone"] == "+1 555 0100"
    assert body["user"]["name"] == "Person 0"

    payload = {"user": {"email": "person0@example.com", "external_id": "ext-1", "tags": "VIP beta tester"}}
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users/create_or_update.json", payload)
    assert status == 200 and body["user"]["id"] == uid
    assert body["user"]["tags"] == ["vip", "beta", "tester"]
    payload = {"user": {"external_id": "ext-1", "name": "Renamed"}}
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users/create_or_update.json", payload)
    assert status == 200 and body["user"]["id"] == uid and body["user"]["name"] == "Renamed"
    payload = {"user": {"name": "Newcomer", "email": "new@example.com"}}
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users/create_or_update.json", payload)
    assert status == 201 and body["user"]["id"] != uid


def test_search_by_email_and_external_id(helpdesk_sandbox: SandboxProcess) -> None:
    ids = make_users(helpdesk_sandbox, 3)
    call(helpdesk_sandbox, "PUT", f"/api/v2/users/{ids[2]}.json", {"user": {"external_id": "crm-42"}})
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/users/search.json?query=email:PERSON1@example.com")
    assert status == 200
    assert body["count"] == 1 and [u["id"] for u in body["users"]] == [ids[1]]
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/users/search.json?external_id=crm-42")
    assert [u["id"] for u in body["users"]] == [ids[2]]
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/users/search.json?query=email:nobody@example.com")
    assert body == {"users": [], "count": 0, "next_page": None, "previous_page": None}


# --- cursor paging ------------------------------------------------------------------------------


def test_list_uses_cursor_paging(helpdesk_sandbox: SandboxProcess) -> None:
    created = make_users(helpdesk_sandbox, 25)
    seen: list[int] = []
    flags: list[bool] = []
    path = "/api/v2/users.json?page%5Bsize%5D=10"
    while True:
        status, page = call(helpdesk_sandbox, "GET", path)
        assert status == 200
        seen.extend(u["id"] for u in page["users"])
        flags.append(page["meta"]["has_more"])
        assert set(page["meta"]) == {"has_more", "after_cursor", "before_cursor"}
        if not page["meta"]["has_more"]:
            assert page["links"]["next"] is None
            break
        next_url = page["links"]["next"]
        assert next_url.startswith(helpdesk_sandbox.url)
        assert parse_qs(urlsplit(next_url).query)["page[after]"] == [page["meta"]["after_cursor"]]
        path = next_url.removeprefix(helpdesk_sandbox.url)
    assert flags == [True, True, False]
    assert seen == created

    # page[before] walks back from the last page.
    before = page["meta"]["before_cursor"]
    status, back = call(
        helpdesk_sandbox, "GET", f"/api/v2/users.json?page%5Bsize%5D=10&page%5Bbefore%5D={before}"
    )
    assert [u["id"] for u in back["users"]] == created[10:20]
    assert back["meta"]["has_more"] is True

    status, body = call(helpdesk_sandbox, "GET", "/api/v2/users.json?page%5Bafter%5D=garbage")
    assert status == 400 and body["error"] == "InvalidPaginationParameter"


# --- bulk jobs ----------------------------------------------------------------------------------


def test_create_or_update_many_reports_each_item(helpdesk_sandbox: SandboxProcess) -> None:
    [existing] = make_users(helpdesk_sandbox, 1)
    users = [
        {"name": "Brand New", "email": "brand.new@example.com"},
        {"name": "Broken", "email": "not-an-email"},
        {"email": "PERSON0@example.com", "phone": "+44 20 7946 0000"},
    ]
    status, body = call(
        helpdesk_sandbox, "POST", "/api/v2/users/create_or_update_many.json", {"users": users}
    )
    assert status == 200
    job = body["job_status"]
    assert job["status"] == "completed"
    assert job["total"] == 3 and job["progress"] == 3
    assert job["message"].startswith("Completed at ")
    created, failed, updated = job["results"]
    assert created == {
        "index": 0,
        "id": created["id"],
        "action": "create",
        "status": "Created",
        "success": True,
    }
    assert failed == {
        "index": 1,
        "error": "EmailInvalid",
        "details": "Email: not-an-email is not properly formatted",
        "status": "Failed",
        "success": False,
    }
    assert updated == {"index": 2, "id": existing, "action": "update", "status": "Updated", "success": True}

    # Clients poll the job until it is done; the sandbox has already finished it.
    status, polled = call(helpdesk_sandbox, "GET", f"/api/v2/job_statuses/{job['id']}.json")
    assert status == 200 and polled == {"job_status": job}
    assert job["url"] == f"{helpdesk_sandbox.url}/api/v2/job_statuses/{job['id']}.json"
    _, user = call(helpdesk_sandbox, "GET", f"/api/v2/users/{existing}.json")
    assert user["user"]["phone"] == "+44 20 7946 0000"
    assert len(helpdesk_sandbox.records("users")) == 2


def test_update_many_fails_unknown_ids_per_item(helpdesk_sandbox: SandboxProcess) -> None:
    ids = make_users(helpdesk_sandbox, 2)
    users = [
        {"id": ids[0], "notes": "first"},
        {"id": 999_999, "notes": "ghost"},
        {"id": ids[1], "email": "@"},
    ]
    status, body = call(helpdesk_sandbox, "PUT", "/api/v2/users/update_many.json", {"users": users})
    assert status == 200
    ok, missing, bad = body["job_status"]["results"]
    assert ok["success"] is True and ok["action"] == "update"
    assert missing["success"] is False and missing["error"] == "RecordNotFound"
    assert bad["error"] == "EmailInvalid"

    status, body = call(
        helpdesk_sandbox,
        "PUT",
        f"/api/v2/users/update_many.json?ids={ids[0]},{ids[1]}",
        {"user": {"notes": "all"}},
    )
    assert all(r["success"] for r in body["job_status"]["results"])
    assert {u["notes"] for u in helpdesk_sandbox.records("users")} == {"all"}


def test_create_many_duplicate_email_fails_that_item(helpdesk_sandbox: SandboxProcess) -> None:
    users = [*people(2), {"name": "Again", "email": "person0@example.com"}]
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users/create_many.json", {"users": users})
    assert status == 200
    results = body["job_status"]["results"]
    assert [r["success"] for r in results] == [True, True, False]
    assert results[2]["error"] == "DuplicateValue"
    assert "already being used" in results[2]["details"]


def test_bulk_limit_is_100(helpdesk_sandbox: SandboxProcess) -> None:
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users/create_many.json", {"users": people(101)})
    assert status == 400 and body["error"] == "InvalidValue"
    assert helpdesk_sandbox.records("users") == []
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users/create_many.json", {"users": people(100)})
    assert status == 200 and len(body["job_status"]["results"]) == 100


def test_unknown_job_is_404(helpdesk_sandbox: SandboxProcess) -> None:
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/job_statuses/deadbeef.json")
    assert status == 404 and body["error"] == "RecordNotFound"


# --- incremental export ---------------------------------------------------------------------------


def test_incremental_export_orders_by_update_and_resumes_from_after_cursor(
    helpdesk_sandbox: SandboxProcess,
) -> None:
    first = make_users(helpdesk_sandbox, 4)
    second = make_users(helpdesk_sandbox, 3, start=4)
    # Touch an early user: it moves to the end of the export order.
    call(helpdesk_sandbox, "PUT", f"/api/v2/users/{first[0]}.json", {"user": {"notes": "touched"}})

    page = export(helpdesk_sandbox, "start_time=0&per_page=3")
    assert set(page) == {"users", "after_url", "after_cursor", "before_url", "before_cursor", "end_of_stream"}
    assert page["end_of_stream"] is False
    assert page["after_url"].startswith(
        f"{helpdesk_sandbox.url}/api/v2/incremental/users/cursor.json?cursor="
    )
    records, cursor = export_all(helpdesk_sandbox, "start_time=0&per_page=3")
    assert [u["id"] for u in records] == [*first[1:], *second, first[0]]
    stamps = [u["updated_at"] for u in records]
    assert stamps == sorted(stamps)

    # At the end of the stream the cursor is kept and later yields only newer changes.
    again = export(helpdesk_sandbox, f"cursor={cursor}")
    assert again["users"] == [] and again["end_of_stream"] is True
    assert again["after_cursor"] == cursor
    helpdesk_sandbox.admin("PATCH", f"/records/users/{second[1]}", {"notes": "edited by a person"})
    [late] = make_users(helpdesk_sandbox, 1, start=100)
    resumed, next_cursor = export_all(helpdesk_sandbox, f"cursor={cursor}")
    assert [u["id"] for u in resumed] == [second[1], late]
    assert resumed[0]["notes"] == "edited by a person"
    assert export(helpdesk_sandbox, f"cursor={next_cursor}")["users"] == []


def test_incremental_start_time_is_inclusive_epoch_seconds(helpdesk_sandbox: SandboxProcess) -> None:
    from connectors.sandbox.engine import parse_timestamp

    ids = make_users(helpdesk_sandbox, 3)
    users = {u["id"]: u for u in helpdesk_sandbox.records("users")}
    start = (parse_timestamp(users[ids[0]]["updated_at"]) or 0) // 1000
    records, _ = export_all(helpdesk_sandbox, f"start_time={start}")
    assert [u["id"] for u in records] == ids
    future = export(helpdesk_sandbox, f"start_time={start + 10_000_000}")
    assert future["users"] == [] and future["end_of_stream"] is True


def test_incremental_needs_start_time_or_valid_cursor(helpdesk_sandbox: SandboxProcess) -> None:
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/incremental/users/cursor.json")
    assert status == 400
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/incremental/users/cursor.json?cursor=bogus!")
    assert status == 400 and body["error"] == "InvalidPaginationParameter"


def test_seeded_export_contains_every_user_once(helpdesk_sandbox: SandboxProcess) -> None:
    helpdesk_sandbox.reset(40)
    records, _ = export_all(helpdesk_sandbox, "start_time=0&per_page=7")
    assert sorted(u["id"] for u in records) == sorted(u["id"] for u in helpdesk_sandbox.records("users"))
    assert len(records) == 40


# --- fields and organizations ---------------------------------------------------------------------


def test_user_fields_describe_custom_fields_with_options(helpdesk_sandbox: SandboxProcess) -> None:
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/user_fields.json")
    assert status == 200
    fields = {f["key"]: f for f in body["user_fields"]}
    assert {"customer_tier", "nps_score", "newsletter_opt_in"} <= set(fields)
    tier = fields["customer_tier"]
    assert tier["type"] == "dropdown" and tier["system"] is False and tier["active"] is True
    assert [o["value"] for o in tier["custom_field_options"]] == ["bronze", "silver", "gold", "platinum"]
    assert set(tier["custom_field_options"][0]) >= {"id", "name", "value"}
    assert {"id", "key", "type", "title", "description"} <= set(fields["nps_score"])
    status, body = call(helpdesk_sandbox, "GET", "/api/v2/organization_fields.json")
    assert [f["key"] for f in body["organization_fields"]] == ["account_health", "industry"]


def test_invalid_custom_field_value_is_rejected(helpdesk_sandbox: SandboxProcess) -> None:
    payload = {"user": {"name": "X", "user_fields": {"customer_tier": "diamond"}}}
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/users.json", payload)
    assert status == 422
    assert body["details"]["base"][0]["field_key"] == "customer_tier"


def test_organizations_family(helpdesk_sandbox: SandboxProcess) -> None:
    orgs = [
        {"name": "Acme", "domain_names": ["acme.example"], "external_id": "A-1"},
        {"name": "Globex", "organization_fields": {"account_health": "red"}},
        {"name": "acme"},  # names are unique, ignoring case
    ]
    status, body = call(
        helpdesk_sandbox, "POST", "/api/v2/organizations/create_many.json", {"organizations": orgs}
    )
    assert status == 200
    results = body["job_status"]["results"]
    assert [r["success"] for r in results] == [True, True, False]
    acme_id = results[0]["id"]

    status, body = call(helpdesk_sandbox, "GET", f"/api/v2/organizations/{acme_id}.json")
    org = body["organization"]
    assert set(org) >= {
        "id", "url", "name", "domain_names", "details", "notes", "external_id", "organization_fields",
        "created_at", "updated_at",
    }  # fmt: skip
    assert org["organization_fields"] == {"account_health": None, "industry": None}

    payload = {"organization": {"external_id": "A-1", "notes": "key account"}}
    status, body = call(helpdesk_sandbox, "POST", "/api/v2/organizations/create_or_update.json", payload)
    assert status == 200 and body["organization"]["id"] == acme_id

    status, body = call(
        helpdesk_sandbox, "POST", "/api/v2/users.json", {"user": {"name": "Emp", "organization_id": acme_id}}
    )
    assert status == 201 and body["user"]["organization_id"] == acme_id

    records, _ = export_all(helpdesk_sandbox, "start_time=0", "organizations")
    assert [o["name"] for o in records] == ["Globex", "Acme"]
    status, _ = call(
        helpdesk_sandbox, "POST", "/api/v2/organizations/create_or_update_many.json", {"organizations": []}
    )
    assert status in (404, 405)  # Zendesk has no such endpoint for organizations
