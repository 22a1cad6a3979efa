"""Every dialect deletes the way its real API does, over real HTTP: the URL shape, the answer, a 404 for
an unknown id, and how the deletion then shows in the reads a sync relies on."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

from connectors.sandbox.marketing import subscriber_hash
from connectors.sandbox.testing import CRM_TOKEN, HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess
from tests.saas_sandboxes import BILLING_KEY, MARKETING_KEY, MARKETING_LIST_ID, SALES_TOKEN, fresh

CRM = {"Authorization": f"Bearer {CRM_TOKEN}"}
HELPDESK = {
    "Authorization": "Basic " + base64.b64encode(f"{HELPDESK_EMAIL}/token:{HELPDESK_TOKEN}".encode()).decode()
}
MARKETING = {"Authorization": "Basic " + base64.b64encode(f"any:{MARKETING_KEY}".encode()).decode()}
BILLING = {"Authorization": f"Bearer {BILLING_KEY}"}
SALES = {"x-api-token": SALES_TOKEN}
MEMBERS = f"/3.0/lists/{MARKETING_LIST_ID}/members"


def call(
    sb: SandboxProcess, headers: dict[str, str], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    status, _, data = sb.request(method, path, body, headers=headers)
    return status, data


# -- HubSpot ------------------------------------------------------------------------------------------


def test_hubspot_delete_archives_into_the_recycle_bin(crm_sandbox: SandboxProcess) -> None:
    contact = crm_sandbox.records("contacts")[0]
    path = f"/crm/v3/objects/contacts/{contact['id']}"

    assert call(crm_sandbox, CRM, "DELETE", path) == (204, None)

    status, gone = call(crm_sandbox, CRM, "GET", path)
    assert status == 404 and gone["category"] == "OBJECT_NOT_FOUND"
    assert call(crm_sandbox, CRM, "DELETE", path)[0] == 404
    status, archived = call(crm_sandbox, CRM, "GET", f"{path}?archived=true")
    assert status == 200 and archived["archived"] is True and archived["archivedAt"]
    _, listed = call(crm_sandbox, CRM, "GET", "/crm/v3/objects/contacts?archived=true")
    assert [r["id"] for r in listed["results"]] == [contact["id"]]
    search = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "email", "operator": "EQ", "value": contact["properties"]["email"]}
                ]
            }
        ]
    }
    _, found = call(crm_sandbox, CRM, "POST", "/crm/v3/objects/contacts/search", search)
    assert found["total"] == 0
    # The email is free again: a new contact may take it.
    status, _ = call(
        crm_sandbox,
        CRM,
        "POST",
        "/crm/v3/objects/contacts",
        {"properties": {"email": contact["properties"]["email"]}},
    )
    assert status == 201


def test_hubspot_batch_archive_answers_204_and_ignores_unknown_ids(crm_sandbox: SandboxProcess) -> None:
    before = crm_sandbox.records("contacts")
    ids = [before[0]["id"], before[1]["id"], "999999"]

    status, _ = call(
        crm_sandbox,
        CRM,
        "POST",
        "/crm/v3/objects/contacts/batch/archive",
        {"inputs": [{"id": i} for i in ids]},
    )

    assert status == 204
    assert len(crm_sandbox.records("contacts")) == len(before) - 2


def test_hubspot_search_eq_on_email_ignores_case(crm_sandbox: SandboxProcess) -> None:
    contact = crm_sandbox.records("contacts")[3]
    shouted = contact["properties"]["email"].upper()
    search = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": shouted}]}]}

    _, found = call(crm_sandbox, CRM, "POST", "/crm/v3/objects/contacts/search", search)

    assert [r["id"] for r in found["results"]] == [contact["id"]]


def test_hubspot_tasks_need_a_time_and_link_to_contacts_on_create(crm_sandbox: SandboxProcess) -> None:
    contact = crm_sandbox.records("contacts")[0]
    association = {
        "to": {"id": contact["id"]},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
    }

    status, refused = call(
        crm_sandbox, CRM, "POST", "/crm/v3/objects/tasks", {"properties": {"hs_task_subject": "Call"}}
    )
    assert status == 400 and "hs_timestamp is required" in refused["message"]
    status, bad_link = call(
        crm_sandbox,
        CRM,
        "POST",
        "/crm/v3/objects/tasks",
        {
            "properties": {"hs_task_subject": "Call", "hs_timestamp": "2026-12-01T09:00:00Z"},
            "associations": [{**association, "to": {"id": "99999"}}],
        },
    )
    assert status == 400 and "associations are invalid" in bad_link["message"]
    assert crm_sandbox.records("tasks") == []  # a refused create leaves nothing behind
    status, task = call(
        crm_sandbox,
        CRM,
        "POST",
        "/crm/v3/objects/tasks",
        {
            "properties": {
                "hs_task_subject": "Call",
                "hs_timestamp": "2026-12-01T09:00:00Z",
                "hubspot_owner_id": "52550153",
                "hs_task_status": "NOT_STARTED",
            },
            "associations": [association],
        },
    )
    assert status == 201 and task["properties"]["hs_timestamp"] == "2026-12-01T09:00:00.000Z"
    _, links = call(crm_sandbox, CRM, "GET", f"/crm/v4/objects/contacts/{contact['id']}/associations/tasks")
    assert [(link["toObjectId"], link["associationTypes"][0]["typeId"]) for link in links["results"]] == [
        (int(task["id"]), 203)
    ]
    status, wrong_owner = call(
        crm_sandbox,
        CRM,
        "POST",
        "/crm/v3/objects/tasks",
        {"properties": {"hs_timestamp": "2026-12-01T09:00:00Z", "hubspot_owner_id": "1"}},
    )
    assert status == 400 and "INVALID_OPTION" in wrong_owner["message"]


def test_hubspot_owners_are_listed_and_found_by_email(crm_sandbox: SandboxProcess) -> None:
    _, owners = call(crm_sandbox, CRM, "GET", "/crm/v3/owners")
    _, by_email = call(crm_sandbox, CRM, "GET", "/crm/v3/owners?email=SAM.OWNER@demo.example")
    status, one = call(crm_sandbox, CRM, "GET", f"/crm/v3/owners/{owners['results'][0]['id']}")
    missing, _ = call(crm_sandbox, CRM, "GET", "/crm/v3/owners/1")

    assert len(owners["results"]) == 3 and all(o["email"] and o["userId"] for o in owners["results"])
    assert [o["firstName"] for o in by_email["results"]] == ["Sam"]
    assert status == 200 and one == owners["results"][0]
    assert missing == 404
    _, props = call(crm_sandbox, CRM, "GET", "/crm/v3/properties/contacts/hubspot_owner_id")
    assert [o["value"] for o in props["options"]] == [o["id"] for o in owners["results"]]


# -- Zendesk ------------------------------------------------------------------------------------------


def test_zendesk_deleted_users_turn_inactive_and_stay_in_the_export(helpdesk_sandbox: SandboxProcess) -> None:
    helpdesk_sandbox.reset(10)
    user = next(u for u in helpdesk_sandbox.records("users") if u["role"] == "end-user")
    path = f"/api/v2/users/{user['id']}.json"
    _, start = call(helpdesk_sandbox, HELPDESK, "GET", "/api/v2/incremental/users/cursor.json?start_time=0")

    status, deleted = call(helpdesk_sandbox, HELPDESK, "DELETE", path)

    assert status == 200 and deleted["user"]["active"] is False
    assert call(helpdesk_sandbox, HELPDESK, "GET", path)[1]["user"]["active"] is False
    assert call(helpdesk_sandbox, HELPDESK, "DELETE", path)[0] == 404
    query = urllib.parse.quote(f'email:"{user["email"]}"')
    assert (
        call(helpdesk_sandbox, HELPDESK, "GET", f"/api/v2/users/search.json?query={query}")[1]["users"] == []
    )
    _, later = call(
        helpdesk_sandbox,
        HELPDESK,
        "GET",
        f"/api/v2/incremental/users/cursor.json?cursor={start['after_cursor']}",
    )
    assert [(u["id"], u["active"]) for u in later["users"]] == [(user["id"], False)]


def test_zendesk_deleted_organizations_and_tickets_only_show_in_the_export(
    helpdesk_sandbox: SandboxProcess,
) -> None:
    helpdesk_sandbox.reset(10)
    org = helpdesk_sandbox.records("organizations")[0]
    ticket = helpdesk_sandbox.records("tickets")[0]

    assert call(helpdesk_sandbox, HELPDESK, "DELETE", f"/api/v2/organizations/{org['id']}.json") == (
        204,
        None,
    )
    assert call(helpdesk_sandbox, HELPDESK, "DELETE", f"/api/v2/tickets/{ticket['id']}.json") == (204, None)

    assert call(helpdesk_sandbox, HELPDESK, "GET", f"/api/v2/organizations/{org['id']}.json")[0] == 404
    assert call(helpdesk_sandbox, HELPDESK, "GET", f"/api/v2/tickets/{ticket['id']}.json")[0] == 404
    _, orgs = call(
        helpdesk_sandbox, HELPDESK, "GET", "/api/v2/incremental/organizations/cursor.json?start_time=0"
    )
    assert next(o for o in orgs["organizations"] if o["id"] == org["id"])["deleted_at"]
    _, tickets = call(
        helpdesk_sandbox, HELPDESK, "GET", "/api/v2/incremental/tickets/cursor.json?start_time=0"
    )
    assert next(t for t in tickets["tickets"] if t["id"] == ticket["id"])["status"] == "deleted"


def test_zendesk_unified_search_finds_by_field_and_type(helpdesk_sandbox: SandboxProcess) -> None:
    helpdesk_sandbox.reset(10)
    ticket = helpdesk_sandbox.records("tickets")[0]
    query = urllib.parse.quote(f'type:ticket subject:"{ticket["subject"]}"')

    status, found = call(helpdesk_sandbox, HELPDESK, "GET", f"/api/v2/search.json?query={query}")
    refused, _ = call(helpdesk_sandbox, HELPDESK, "GET", "/api/v2/search.json?query=subject:x")

    assert status == 200 and ticket["id"] in [r["id"] for r in found["results"]]
    assert {r["result_type"] for r in found["results"]} == {"ticket"}
    assert all(r["subject"].lower() == ticket["subject"].lower() for r in found["results"])
    assert refused == 400


# -- Pipedrive ----------------------------------------------------------------------------------------


def test_pipedrive_delete_marks_the_person_inactive_in_recents() -> None:
    sales = fresh("sales")
    person = sales.records("persons")[0]

    status, answer = call(sales, SALES, "DELETE", f"/v1/persons/{person['id']}")

    assert status == 200 and answer == {"success": True, "data": {"id": person["id"]}}
    assert call(sales, SALES, "DELETE", f"/v1/persons/{person['id']}")[0] == 404
    assert call(sales, SALES, "GET", f"/v1/persons/{person['id']}")[1]["data"]["active_flag"] is False
    listed = call(sales, SALES, "GET", "/v1/persons?limit=500")[1]["data"]
    assert person["id"] not in [p["id"] for p in listed]
    _, recents = call(
        sales, SALES, "GET", "/v1/recents?since_timestamp=2000-01-01%2000:00:00&items=person&limit=500"
    )
    assert [i["data"]["active_flag"] for i in recents["data"] if i["id"] == person["id"]] == [False]


# -- Mailchimp ----------------------------------------------------------------------------------------


def test_mailchimp_delete_archives_and_delete_permanent_forgets_for_good() -> None:
    marketing = fresh("marketing")
    member = marketing.records("members")[0]
    member_hash = subscriber_hash(member["email_address"].upper())
    assert member_hash == member["id"]  # the hash is of the lower-cased address

    assert call(marketing, MARKETING, "DELETE", f"{MEMBERS}/{member_hash}") == (204, None)
    assert call(marketing, MARKETING, "GET", f"{MEMBERS}/{member_hash}")[1]["status"] == "archived"
    status, again = call(marketing, MARKETING, "DELETE", f"{MEMBERS}/{member_hash}")
    assert status == 404 and again["title"] == "Resource Not Found"

    assert call(marketing, MARKETING, "POST", f"{MEMBERS}/{member_hash}/actions/delete-permanent") == (
        204,
        None,
    )
    assert call(marketing, MARKETING, "GET", f"{MEMBERS}/{member_hash}")[0] == 404
    body = {"email_address": member["email_address"], "status_if_new": "subscribed"}
    status, refused = call(marketing, MARKETING, "PUT", f"{MEMBERS}/{member_hash}", body)
    assert status == 400 and refused["title"] == "Forgotten Email Not Subscribed"


def test_mailchimp_an_archived_member_comes_back_when_added_again() -> None:
    marketing = fresh("marketing")
    member = next(m for m in marketing.records("members") if m["status"] == "subscribed")
    call(marketing, MARKETING, "DELETE", f"{MEMBERS}/{member['id']}")

    body = {"email_address": member["email_address"], "status_if_new": "subscribed"}
    status, back = call(marketing, MARKETING, "PUT", f"{MEMBERS}/{member['id']}", body)

    assert status == 200 and back["status"] == "subscribed"


# -- Stripe -------------------------------------------------------------------------------------------


def test_stripe_delete_leaves_a_stub_and_a_customer_deleted_event() -> None:
    billing = fresh("billing")
    customer = billing.records("customers")[0]
    path = f"/v1/customers/{customer['id']}"

    status, answer = call(billing, BILLING, "DELETE", path)

    assert status == 200 and answer == {"id": customer["id"], "object": "customer", "deleted": True}
    assert call(billing, BILLING, "GET", path) == (200, answer)
    status, again = call(billing, BILLING, "DELETE", path)
    assert status == 404 and again["error"]["code"] == "resource_missing"
    listed = call(billing, BILLING, "GET", "/v1/customers?limit=100")[1]["data"]
    assert customer["id"] not in [c["id"] for c in listed]
    _, events = call(billing, BILLING, "GET", "/v1/events?type=customer.deleted")
    [event] = events["data"]
    assert event["data"]["object"]["id"] == customer["id"]
    assert event["data"]["object"]["email"] == customer["email"]
