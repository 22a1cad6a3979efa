"""The billing sandbox keeps the Stripe contract of docs/sandbox.md, over real HTTP."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from connectors.sandbox.billing import CUSTOMER, EVENT, encode_form, parse_form
from connectors.sandbox.testing import SandboxProcess
from tests.saas_sandboxes import BILLING_KEY, fresh

AUTH = {"Authorization": f"Bearer {BILLING_KEY}"}


@pytest.fixture
def billing() -> SandboxProcess:
    return fresh("billing")


def get(sb: SandboxProcess, path: str) -> tuple[int, Any]:
    status, _, body = sb.request("GET", path, headers=AUTH)
    return status, body


def post_form(
    sb: SandboxProcess, path: str, params: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = urlencode(encode_form(params)).encode()
    request = urllib.request.Request(
        sb.url + path, data=data, method="POST", headers={**AUTH, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers.items()), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), json.loads(err.read())


def test_lists_are_newest_first_and_page_both_ways(billing: SandboxProcess) -> None:
    stored = [c["id"] for c in billing.records("customers")]

    status, first = get(billing, "/v1/customers?limit=10")
    _, older = get(billing, f"/v1/customers?limit=10&starting_after={first['data'][-1]['id']}")
    _, newer = get(billing, f"/v1/customers?limit=3&ending_before={older['data'][0]['id']}")

    assert status == 200 and first["object"] == "list" and first["url"] == "/v1/customers"
    assert [c["id"] for c in first["data"]] == stored[::-1][:10] and first["has_more"] is True
    assert [c["id"] for c in older["data"]] == stored[::-1][10:20]
    # ending_before gives the items just newer than the cursor, still newest first.
    assert [c["id"] for c in newer["data"]] == stored[::-1][7:10] and newer["has_more"] is True


def test_list_filters_by_creation_time_and_exact_email(billing: SandboxProcess) -> None:
    customers = billing.records("customers")
    middle = customers[15]

    _, since = get(billing, f"/v1/customers?limit=100&created[gte]={middle['created']}")
    _, exact = get(billing, f"/v1/customers?email={quote(middle['email'])}")
    _, other_case = get(billing, f"/v1/customers?email={quote(middle['email'].upper())}")

    assert {c["id"] for c in since["data"]} == {
        c["id"] for c in customers if c["created"] >= middle["created"]
    }
    assert [c["id"] for c in exact["data"]] == [middle["id"]]
    assert other_case["data"] == []  # the list filter is case-sensitive, as in Stripe


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ("email:'{email}'", lambda c, m: c["email"].lower() == m["email"].lower()),
        ("email:'{email}' OR name:'{name}'", lambda c, m: c["id"] == m["id"]),
        ("metadata['tier']:'gold'", lambda c, m: c["metadata"].get("tier") == "gold"),
        ("-metadata['tier']:'gold' AND created>0", lambda c, m: c["metadata"].get("tier") != "gold"),
        ("name~'{fragment}'", lambda c, m: m["name"][1:5].lower() in (c["name"] or "").lower()),
    ],
)
def test_search_understands_stripes_query_language(billing: SandboxProcess, query: str, matches: Any) -> None:
    customers = billing.records("customers")
    target = customers[3]
    text = query.format(email=target["email"].upper(), name=target["name"], fragment=target["name"][1:5])

    status, found = get(billing, f"/v1/customers/search?limit=100&query={quote(text)}")

    assert status == 200 and found["object"] == "search_result"
    assert {c["id"] for c in found["data"]} == {c["id"] for c in customers if matches(c, target)}


@pytest.mark.parametrize(
    "query", ["email:unquoted", "email:'a' AND name:'b' OR phone:'c'", "colour:'red'", "name~'ab'"]
)
def test_bad_search_queries_are_refused_with_the_parameter(billing: SandboxProcess, query: str) -> None:
    status, body = get(billing, f"/v1/customers/search?query={quote(query)}")

    assert (
        status == 400
        and body["error"]["param"] == "query"
        and body["error"]["message"].startswith("Invalid query")
    )


def test_form_bodies_are_read_with_brackets_and_json_is_refused(billing: SandboxProcess) -> None:
    status, _, created = post_form(
        billing,
        "/v1/customers",
        {
            "email": "a@b.co",
            "metadata": {"tier": "gold"},
            "address": {"city": "Rome"},
            "preferred_locales": ["it"],
        },
    )
    json_status, _, refused = billing.request("POST", "/v1/customers", {"email": "a@b.co"}, headers=AUTH)
    unknown_status, _, unknown = post_form(billing, "/v1/customers", {"address": {"town": "Rome"}})

    assert status == 200 and created["metadata"] == {"tier": "gold"} and created["address"]["city"] == "Rome"
    assert created["preferred_locales"] == ["it"] and created["id"].startswith("cus_")
    assert json_status == 400 and "form-encoded" in refused["error"]["message"]
    assert unknown_status == 400 and unknown["error"] == {
        "message": "Received unknown parameter: address[town]",
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
        "param": "address[town]",
    }


def test_empty_values_unset_fields_and_metadata_keys(billing: SandboxProcess) -> None:
    _, _, created = post_form(
        billing, "/v1/customers", {"email": "a@b.co", "name": "A", "metadata": {"a": "1", "b": "2"}}
    )

    _, _, updated = post_form(billing, f"/v1/customers/{created['id']}", {"name": "", "metadata": {"a": ""}})
    _, _, cleared = post_form(billing, f"/v1/customers/{created['id']}", {"metadata": ""})

    assert updated["name"] is None and updated["metadata"] == {"b": "2"}
    assert cleared["metadata"] == {}


def test_an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters(
    billing: SandboxProcess,
) -> None:
    before = len(billing.records("customers"))

    _, _, first = post_form(billing, "/v1/customers", {"email": "once@b.co"}, {"Idempotency-Key": "k1"})
    _, headers, again = post_form(billing, "/v1/customers", {"email": "once@b.co"}, {"Idempotency-Key": "k1"})
    status, _, other = post_form(billing, "/v1/customers", {"email": "twice@b.co"}, {"Idempotency-Key": "k1"})

    assert again == first and headers.get("Idempotent-Replayed") == "true"
    assert status == 400 and other["error"]["type"] == "idempotency_error"
    assert len(billing.records("customers")) == before + 1


def test_every_write_is_an_event_with_previous_attributes(billing: SandboxProcess) -> None:
    _, _, created = post_form(
        billing, "/v1/customers", {"email": "e@b.co", "name": "Old"}, {"Idempotency-Key": "ev"}
    )
    post_form(billing, f"/v1/customers/{created['id']}", {"name": "New"})
    post_form(billing, f"/v1/customers/{created['id']}", {"name": "New"})  # no change: no event

    _, events = get(billing, "/v1/events?type=customer.*")
    _, typed = get(billing, "/v1/events?types[]=customer.created&types[]=invoice.paid")

    assert [e["type"] for e in events["data"]] == ["customer.updated", "customer.created"]
    assert events["data"][0]["data"]["previous_attributes"] == {"name": "Old"}
    assert events["data"][1]["request"]["idempotency_key"] == "ev"
    assert [e["type"] for e in typed["data"]] == ["customer.created"]
    assert all(e["id"].startswith("evt_") and e["object"] == "event" for e in events["data"])


def test_events_cannot_be_created_or_edited_through_the_admin_api(billing: SandboxProcess) -> None:
    post_form(billing, "/v1/customers", {"email": "e@b.co"})

    created = billing.request("POST", "/_admin/records/events", {"type": "customer.created"})
    edited = billing.request("PATCH", "/_admin/records/events/1", {"type": "customer.deleted"})

    assert created[0] == 400 and edited[0] == 400
    assert [e["type"] for e in billing.records("events")] == ["customer.created"]


def test_status_changes_of_payment_intents_have_their_own_events(billing: SandboxProcess) -> None:
    intent = next(p for p in billing.records("payment_intents") if p["status"] == "requires_payment_method")

    billing.admin("PATCH", f"/records/payment_intents/{intent['id']}", {"metadata": {"note": "x"}})
    billing.admin(
        "PATCH",
        f"/records/payment_intents/{intent['id']}",
        {"status": "succeeded", "amount_received": intent["amount"]},
    )
    _, events = get(billing, "/v1/events")

    # No "payment_intent.updated" exists in Stripe: a metadata edit is silent.
    assert [e["type"] for e in events["data"]] == ["payment_intent.succeeded"]


def test_errors_use_stripes_shape(billing: SandboxProcess) -> None:
    missing_status, missing = get(billing, "/v1/customers/cus_00000000000000")
    limit_status, limit = get(billing, "/v1/customers?limit=101")
    route_status, route = get(billing, "/v1/charges/ch_1")
    email_status, _, email = post_form(billing, "/v1/customers", {"email": "nope"})

    assert missing_status == 404 and missing["error"]["code"] == "resource_missing"
    assert missing["error"]["message"] == "No such customer: 'cus_00000000000000'"
    assert limit_status == 400 and limit["error"]["param"] == "limit"
    assert route_status == 404 and route["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/charges/ch_1)"
    )
    assert email_status == 400 and email["error"]["code"] == "email_invalid"


def test_keys_are_checked_and_never_echoed(billing: SandboxProcess) -> None:
    none_status, headers, none = billing.request("GET", "/v1/customers")
    wrong_status, _, wrong = billing.request(
        "GET", "/v1/customers", headers={"Authorization": "Bearer sk_test_abcdefgh12345678"}
    )
    basic = "Basic " + base64.b64encode(f"{BILLING_KEY}:".encode()).decode()
    basic_status, _, _ = billing.request("GET", "/v1/customers", headers={"Authorization": basic})

    assert none_status == 401 and "You did not provide an API key" in none["error"]["message"]
    assert headers["WWW-Authenticate"] == 'Basic realm="Stripe"'
    assert (
        wrong_status == 401
        and wrong["error"]["message"] == "Invalid API Key provided: sk_test_************5678"
    )
    assert basic_status == 200


def test_every_answer_has_a_request_id_and_the_api_version(billing: SandboxProcess) -> None:
    _, headers, _ = billing.request(
        "GET", "/v1/customers/cus_00000000000000", headers={**AUTH, "Stripe-Version": "2023-10-16"}
    )

    assert headers["Request-Id"].startswith("req_") and headers["Stripe-Version"] == "2023-10-16"


def test_an_injected_429_is_stripes_rate_limit_error(billing: SandboxProcess) -> None:
    billing.set_faults(status=429, fail_next=1)

    status, headers, body = billing.request("GET", "/v1/customers", headers=AUTH)

    assert status == 429 and body["error"]["code"] == "rate_limit"
    assert headers["Retry-After"] == "1" and headers["Stripe-Should-Retry"] == "true"


def test_ids_are_stripe_shaped_and_stable_across_resets(billing: SandboxProcess) -> None:
    first = billing.records("customers")
    again = fresh("billing").records("customers")

    assert first == again
    assert all(len(c["id"]) == len("cus_") + 14 for c in first)
    assert CUSTOMER.decode(first[0]["id"]) == 1 and EVENT.decode(first[0]["id"]) is None


def test_bracket_parsing_builds_lists_and_keeps_numeric_metadata_keys() -> None:
    parsed = parse_form(
        [("a[b][c]", "1"), ("l[]", "x"), ("l[]", "y"), ("n[1]", "b"), ("n[0]", "a"), ("metadata[7]", "z")]
    )

    assert parsed == {"a": {"b": {"c": "1"}}, "l": ["x", "y"], "n": ["a", "b"], "metadata": {"7": "z"}}
