"""The sales sandbox keeps the Pipedrive v1 contract of docs/sandbox.md, over real HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from connectors.sandbox.sales import custom_key
from connectors.sandbox.testing import SandboxProcess
from tests.saas_sandboxes import SALES_TOKEN, fresh

AUTH = {"x-api-token": SALES_TOKEN}
TIER = custom_key("person", "Customer tier")


@pytest.fixture
def sales() -> SandboxProcess:
    return fresh("sales")


def call(sb: SandboxProcess, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    return sb.request(method, path, body, headers=AUTH)


def test_lists_page_with_start_and_limit(sales: SandboxProcess) -> None:
    _, _, first = call(sales, "GET", "/v1/persons?limit=12")
    _, _, last = call(sales, "GET", "/v1/persons?start=24&limit=12")
    _, _, past = call(sales, "GET", "/v1/persons?start=60")

    assert first["success"] is True and len(first["data"]) == 12
    assert first["additional_data"]["pagination"] == {
        "start": 0,
        "limit": 12,
        "more_items_in_collection": True,
        "next_start": 12,
    }
    assert (
        len(last["data"]) == 6 and last["additional_data"]["pagination"]["more_items_in_collection"] is False
    )
    assert past["data"] is None  # Pipedrive answers an empty page with null


def test_the_token_works_as_query_parameter_or_header_and_nothing_else(sales: SandboxProcess) -> None:
    by_query = sales.request("GET", f"/v1/users/me?api_token={SALES_TOKEN}")[0]
    by_bearer = sales.request("GET", "/v1/users/me", headers={"Authorization": f"Bearer {SALES_TOKEN}"})

    assert by_query == 200
    assert by_bearer[0] == 401 and by_bearer[2] == {
        "success": False,
        "error": "unauthorized access",
        "errorCode": 401,
        "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API.",
        "data": None,
    }


def test_every_answer_reports_the_two_second_rate_window(sales: SandboxProcess) -> None:
    first = call(sales, "GET", "/v1/users/me")[1]
    second = call(sales, "GET", "/v1/users/me")[1]

    assert first["x-ratelimit-limit"] == "80" and int(first["x-ratelimit-reset"]) in (1, 2)
    assert int(second["x-ratelimit-remaining"]) <= int(first["x-ratelimit-remaining"])


def test_the_rate_limit_is_enforced_when_asked() -> None:
    with SandboxProcess("sales", extra_args=["--rate-limit", "3"]) as limited:
        answers = [limited.request("GET", "/v1/users/me", headers=AUTH) for _ in range(8)]

    # Eight quick requests span at most two windows of two seconds, so at most six get through.
    statuses = [status for status, _, _ in answers]
    assert statuses[:3] == [200, 200, 200] and statuses.count(429) >= 2
    _, headers, body = next(answer for answer in answers if answer[0] == 429)
    assert body["error"] == "Request over limit" and body["errorCode"] == 429
    assert headers["Retry-After"] in ("1", "2") and headers["x-ratelimit-remaining"] == "0"


def test_search_matches_exact_emails_ignoring_case(sales: SandboxProcess) -> None:
    person = sales.records("persons")[5]
    email = person["email"][0]["value"]

    _, _, exact = call(
        sales, "GET", f"/v1/persons/search?term={quote(email.upper())}&fields=email&exact_match=true"
    )
    _, _, partial = call(
        sales, "GET", f"/v1/persons/search?term={quote(email[:4])}&fields=email&exact_match=true"
    )
    _, _, loose = call(sales, "GET", f"/v1/persons/search?term={quote(email[:4])}&fields=email")
    status, _, short = call(sales, "GET", "/v1/persons/search?term=a")

    assert [i["item"]["id"] for i in exact["data"]["items"]] == [person["id"]]
    assert exact["data"]["items"][0]["item"]["emails"] == [email]
    assert partial["data"]["items"] == [] and loose["data"]["items"]
    assert status == 400 and "at least 2 characters" in short["error"]


def test_recents_return_changes_since_a_second_in_change_order(sales: SandboxProcess) -> None:
    person = sales.records("persons")[2]
    sales.admin("PATCH", f"/records/persons/{person['id']}", {"name": "Changed Now"})

    _, _, recent = call(
        sales, "GET", "/v1/recents?since_timestamp=" + quote("2026-01-01 00:00:00") + "&items=person"
    )
    status, _, bad = call(sales, "GET", "/v1/recents?since_timestamp=yesterday")

    assert [(d["item"], d["id"], d["data"]["name"]) for d in recent["data"]] == [
        ("person", person["id"], "Changed Now")
    ]
    assert recent["additional_data"]["last_timestamp_on_page"] == recent["data"][0]["data"]["update_time"]
    assert status == 400 and "YYYY-MM-DD HH:MM:SS" in bad["error"]


def test_writes_take_option_ids_split_names_and_refuse_unknown_options(sales: SandboxProcess) -> None:
    status, _, created = call(
        sales, "POST", "/v1/persons", {"name": "Grace Hopper", "email": "grace@example.com", TIER: 103}
    )
    bad_status, _, bad = call(sales, "POST", "/v1/persons", {"name": "X", TIER: "Gold"})
    nameless_status, _, nameless = call(sales, "POST", "/v1/persons", {"email": "x@example.com"})

    assert status == 201 and created["data"][TIER] == 103
    assert created["data"]["first_name"] == "Grace" and created["data"]["last_name"] == "Hopper"
    assert created["data"]["email"] == [{"label": "work", "value": "grace@example.com", "primary": True}]
    assert bad_status == 400 and bad["error"].startswith("Invalid option 'Gold' for field 'Customer tier'")
    assert nameless_status == 400 and nameless["error"] == "Person name must be given."


def test_two_persons_may_share_an_email_as_in_pipedrive(sales: SandboxProcess) -> None:
    email = sales.records("persons")[0]["email"][0]["value"]

    status, _, _ = call(sales, "POST", "/v1/persons", {"name": "Twin", "email": email})

    assert status == 201
    assert sum(1 for p in sales.records("persons") if p["email"][0]["value"] == email) == 2


def test_fields_describe_custom_keys_and_options(sales: SandboxProcess) -> None:
    _, _, fields = call(sales, "GET", "/v1/personFields?limit=500")

    by_key = {f["key"]: f for f in fields["data"]}
    assert len(TIER) == 40 and by_key[TIER]["edit_flag"] is True and by_key[TIER]["field_type"] == "enum"
    assert by_key[TIER]["options"][0] == {"id": 101, "label": "Bronze"}
    assert by_key["name"]["edit_flag"] is False and by_key["name"]["mandatory_flag"] is True


def test_deals_have_stages_in_pipelines(sales: SandboxProcess) -> None:
    _, _, stages = call(sales, "GET", "/v1/stages?pipeline_id=2")
    _, _, deals = call(sales, "GET", "/v1/deals?limit=500")

    assert {s["pipeline_name"] for s in stages["data"]} == {"Partnerships"}
    assert all(d["pipeline_id"] in (1, 2) and d["status"] in ("open", "won", "lost") for d in deals["data"])


def test_seeds_are_deterministic(sales: SandboxProcess) -> None:
    first = {name: sales.records(name) for name in ("persons", "organizations", "deals", "activities")}
    again = fresh("sales")

    assert {name: again.records(name) for name in first} == first
    assert first["deals"] and first["activities"]
