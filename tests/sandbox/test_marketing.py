"""The marketing sandbox keeps the Mailchimp Marketing 3.0 contract of docs/sandbox.md, over real HTTP."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import pytest

from connectors.sandbox.marketing import subscriber_hash
from connectors.sandbox.testing import SandboxProcess
from tests.saas_sandboxes import MARKETING_KEY, MARKETING_LIST_ID, fresh

AUTH = {"Authorization": "Basic " + base64.b64encode(f"anystring:{MARKETING_KEY}".encode()).decode()}
MEMBERS = f"/3.0/lists/{MARKETING_LIST_ID}/members"


@pytest.fixture
def marketing() -> SandboxProcess:
    return fresh("marketing")


def call(sb: SandboxProcess, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    return sb.request(method, path, body, headers=AUTH)


def test_members_page_with_count_and_offset(marketing: SandboxProcess) -> None:
    _, _, first = call(marketing, "GET", f"{MEMBERS}?count=12")
    _, _, rest = call(marketing, "GET", f"{MEMBERS}?count=12&offset=24")

    assert first["total_items"] == 30 and len(first["members"]) == 12 and len(rest["members"]) == 6
    assert first["members"][0]["id"] == subscriber_hash(first["members"][0]["email_address"])


def test_since_last_changed_sorted_by_last_changed_gives_changes_in_order(marketing: SandboxProcess) -> None:
    members = marketing.records("members")
    marketing.admin("PATCH", f"/records/members/{members[4]['id']}", {"merge_fields": {"FNAME": "Later"}})
    marketing.admin("PATCH", f"/records/members/{members[1]['email_address']}", {"vip": True})

    since = quote("2026-01-01T00:00:00+00:00")
    _, _, changed = call(
        marketing, "GET", f"{MEMBERS}?since_last_changed={since}&sort_field=last_changed&sort_dir=ASC"
    )

    assert [m["id"] for m in changed["members"]] == [members[4]["id"], members[1]["id"]]


def test_put_upserts_by_hash_and_needs_status_if_new(marketing: SandboxProcess) -> None:
    path = f"{MEMBERS}/{subscriber_hash('New@Example.com')}"

    missing_status, _, missing = call(marketing, "PUT", path, {"email_address": "New@Example.com"})
    created_status, _, created = call(
        marketing, "PUT", path, {"email_address": "New@Example.com", "status_if_new": "pending"}
    )
    _, _, updated = call(
        marketing,
        "PUT",
        path,
        {"email_address": "new@example.com", "status_if_new": "subscribed", "vip": True},
    )
    mismatch, _, wrong = call(
        marketing, "PUT", path, {"email_address": "other@example.com", "status_if_new": "subscribed"}
    )

    assert missing_status == 400 and missing["errors"] == [
        {"field": "status_if_new", "message": "This value should not be blank."}
    ]
    assert created_status == 200 and created["status"] == "pending"
    assert (
        updated["status"] == "pending" and updated["vip"] is True
    )  # status_if_new applies to new members only
    assert mismatch == 400 and "does not match" in wrong["detail"]


def test_errors_are_problem_documents(marketing: SandboxProcess) -> None:
    status, headers, body = call(marketing, "GET", "/3.0/lists/nosuchlist/members")
    bad_email = call(marketing, "POST", MEMBERS, {"email_address": "nope", "status": "subscribed"})
    cleaned = call(marketing, "POST", MEMBERS, {"email_address": "c@example.com", "status": "cleaned"})

    assert status == 404 and headers["Content-Type"].startswith("application/problem+json")
    assert (
        set(body) == {"type", "title", "status", "detail", "instance"}
        and body["title"] == "Resource Not Found"
    )
    assert bad_email[0] == 400 and bad_email[2]["detail"] == "Please provide a valid email address."
    assert cleaned[0] == 400 and cleaned[2]["errors"][0]["field"] == "status"


def test_adding_an_existing_member_with_post_is_refused(marketing: SandboxProcess) -> None:
    existing = marketing.records("members")[0]["email_address"]

    status, _, body = call(marketing, "POST", MEMBERS, {"email_address": existing, "status": "subscribed"})

    assert status == 400 and body["title"] == "Member Exists"


def test_batch_subscribe_reports_each_address_and_caps_at_500(marketing: SandboxProcess) -> None:
    existing = marketing.records("members")[0]["email_address"]
    members = [
        {"email_address": "ok@example.com", "status": "subscribed"},
        {"email_address": existing, "status": "subscribed"},
        {"email_address": "x@example.com", "status": "subscribed", "merge_fields": {"TIER": "Diamond"}},
    ]

    _, _, no_update = call(marketing, "POST", f"/3.0/lists/{MARKETING_LIST_ID}", {"members": members})
    too_many = call(
        marketing, "POST", f"/3.0/lists/{MARKETING_LIST_ID}", {"members": [{"email_address": "a@b.co"}] * 501}
    )

    assert no_update["total_created"] == 1 and no_update["error_count"] == 2
    codes = {e["email_address"]: e["error_code"] for e in no_update["errors"]}
    assert codes == {existing: "ERROR_CONTACT_EXISTS", "x@example.com": "ERROR_GENERIC"}
    assert next(e for e in no_update["errors"] if e["email_address"] == "x@example.com")["field"] == "TIER"
    assert too_many[0] == 400 and "500" in too_many[2]["detail"]


def test_tags_are_added_and_removed_by_name(marketing: SandboxProcess) -> None:
    path = f"{MEMBERS}/{subscriber_hash('t@example.com')}"
    call(marketing, "PUT", path, {"email_address": "t@example.com", "status_if_new": "subscribed"})

    status, _, _ = call(
        marketing,
        "POST",
        f"{path}/tags",
        {"tags": [{"name": "A", "status": "active"}, {"name": "B", "status": "active"}]},
    )
    call(marketing, "POST", f"{path}/tags", {"tags": [{"name": "a", "status": "inactive"}]})
    _, _, tags = call(marketing, "GET", f"{path}/tags")

    assert status == 204 and [t["name"] for t in tags["tags"]] == ["B"]


def test_any_user_name_with_the_key_authenticates_and_a_wrong_key_does_not(marketing: SandboxProcess) -> None:
    other_user = {"Authorization": "Basic " + base64.b64encode(f"me:{MARKETING_KEY}".encode()).decode()}
    wrong = {"Authorization": "Basic " + base64.b64encode(b"me:nope-us1").decode()}

    assert marketing.request("GET", "/3.0/ping", headers=other_user)[0] == 200
    status, _, body = marketing.request("GET", "/3.0/ping", headers=wrong)
    assert status == 401 and body["title"] == "API Key Invalid"


def test_merge_fields_describe_the_audience(marketing: SandboxProcess) -> None:
    _, _, body = call(marketing, "GET", f"/3.0/lists/{MARKETING_LIST_ID}/merge-fields?count=100")

    tier = next(f for f in body["merge_fields"] if f["tag"] == "TIER")
    assert tier["type"] == "dropdown" and tier["options"]["choices"] == [
        "Bronze",
        "Silver",
        "Gold",
        "Platinum",
    ]
    assert {f["tag"] for f in body["merge_fields"]} >= {"FNAME", "LNAME", "PHONE", "NPS"}
