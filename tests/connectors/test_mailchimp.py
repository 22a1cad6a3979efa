"""The Mailchimp connector's particulars, over real HTTP against the marketing sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import AuthenticationError, ConnectorError, WriteItem
from connectors.http import HttpResponse
from connectors.providers.mailchimp.client import mailchimp_message, subscriber_hash
from connectors.providers.mailchimp.provider import MailchimpProvider
from connectors.registry import get_provider
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import saas_clients
from tests.saas_sandboxes import MARKETING_KEY, MARKETING_LIST_ID


def member(sandbox: SandboxProcess, email: str) -> dict[str, Any]:
    return next(m for m in sandbox.records("members") if m["email_address"].lower() == email.lower())


def test_provider_declares_mailchimps_batch_size_and_key() -> None:
    assert get_provider("mailchimp") is MailchimpProvider
    assert MailchimpProvider.credential_fields == ("api_key",)
    assert MailchimpProvider.capabilities["members"].batch_size == 500
    assert MailchimpProvider.capabilities["members"].upsert_key == "email_address"


def test_the_data_center_comes_from_the_key_when_no_base_url_is_set() -> None:
    client = saas_clients.connect("mailchimp", {"list_id": MARKETING_LIST_ID}, {"api_key": "abc123-us19"})
    no_center = saas_clients.connect("mailchimp", {"list_id": MARKETING_LIST_ID}, {"api_key": "abc123"})

    assert client.http.base_url == "https://us19.api.mailchimp.com"
    with pytest.raises(AuthenticationError, match="data center"):
        no_center.test()


def test_an_unknown_audience_is_named_in_the_connection_test(marketing_sandbox: SandboxProcess) -> None:
    client = saas_clients.connect(
        "mailchimp", {"base_url": marketing_sandbox.url, "list_id": "nosuchlist"}, {"api_key": MARKETING_KEY}
    )

    with pytest.raises(ConnectorError, match="no audience 'nosuchlist'"):
        client.test()


def test_members_with_a_status_go_through_one_batch_call(marketing_sandbox: SandboxProcess) -> None:
    client = saas_clients.mailchimp(marketing_sandbox)
    items = [
        WriteItem(f"k{n}", {"email_address": f"b{n}@example.com", "status": "subscribed"}) for n in range(7)
    ]

    results = client.upsert_batch("members", items, match_field="email_address")

    assert all(r.ok and r.target_id == subscriber_hash(f"b{n}@example.com") for n, r in enumerate(results))
    assert marketing_sandbox.stats()["requests"] == {"POST /3.0/lists/{list_id}": 1}


def test_members_without_a_status_keep_theirs_and_new_ones_get_the_configured_one(
    marketing_sandbox: SandboxProcess,
) -> None:
    unsubscribed = next(m for m in marketing_sandbox.records("members") if m["status"] == "unsubscribed")
    client = saas_clients.mailchimp(marketing_sandbox, status_if_new="pending")

    results = client.upsert_batch(
        "members",
        [
            WriteItem("old", {"email_address": unsubscribed["email_address"], "merge_fields.FNAME": "Still"}),
            WriteItem("new", {"email_address": "fresh@example.com", "merge_fields.FNAME": "Fresh"}),
        ],
        match_field="email_address",
    )

    assert [r.action for r in results] == ["updated", "created"]
    assert member(marketing_sandbox, unsubscribed["email_address"])["status"] == "unsubscribed"
    assert member(marketing_sandbox, "fresh@example.com")["status"] == "pending"


def test_resubscribing_someone_who_unsubscribed_fails_with_mailchimps_reason(
    marketing_sandbox: SandboxProcess,
) -> None:
    unsubscribed = next(m for m in marketing_sandbox.records("members") if m["status"] == "unsubscribed")

    [result] = saas_clients.mailchimp(marketing_sandbox).upsert_batch(
        "members",
        [WriteItem("k", {"email_address": unsubscribed["email_address"], "status": "subscribed"})],
        match_field="email_address",
    )

    assert result.ok is False and result.error is not None and "compliance state" in result.error


def test_tags_are_added_and_existing_tags_stay(marketing_sandbox: SandboxProcess) -> None:
    tagged = next(m for m in marketing_sandbox.records("members") if m["tags"])
    client = saas_clients.mailchimp(marketing_sandbox)

    [result] = client.upsert_batch(
        "members",
        [WriteItem("k", {"email_address": tagged["email_address"], "tags": ["Synced"]})],
        match_field="email_address",
    )

    names = {t["name"] for t in member(marketing_sandbox, tagged["email_address"])["tags"]}
    assert result.ok and names == {t["name"] for t in tagged["tags"]} | {"Synced"}


def test_a_repeated_address_in_one_batch_is_written_in_order(marketing_sandbox: SandboxProcess) -> None:
    items = [
        WriteItem(
            "a", {"email_address": "twice@example.com", "status": "subscribed", "merge_fields.FNAME": "First"}
        ),
        WriteItem(
            "b",
            {"email_address": "TWICE@example.com", "status": "subscribed", "merge_fields.FNAME": "Second"},
        ),
    ]

    results = saas_clients.mailchimp(marketing_sandbox).upsert_batch(
        "members", items, match_field="email_address"
    )

    assert [r.action for r in results] == ["created", "updated"] and results[0].target_id == results[
        1
    ].target_id
    assert member(marketing_sandbox, "twice@example.com")["merge_fields"]["FNAME"] == "Second"


def test_a_member_changed_by_target_id_is_patched(marketing_sandbox: SandboxProcess) -> None:
    target = marketing_sandbox.records("members")[0]

    [result] = saas_clients.mailchimp(marketing_sandbox).upsert_batch(
        "members",
        [WriteItem("k", {"merge_fields.COMPANY": "Renamed Ltd"}, target_id=target["id"])],
        match_field="email_address",
    )

    assert (
        result.ok
        and member(marketing_sandbox, target["email_address"])["merge_fields"]["COMPANY"] == "Renamed Ltd"
    )


def test_reads_flatten_merge_fields_and_tags(marketing_sandbox: SandboxProcess) -> None:
    pages = list(saas_clients.mailchimp(marketing_sandbox).list_changes("members", None, page_size=50))
    record = next(r for p in pages for r in p.records if r.fields["tags"])

    stored = next(m for m in marketing_sandbox.records("members") if m["id"] == record.id)
    assert record.fields["merge_fields.FNAME"] == stored["merge_fields"]["FNAME"]
    assert record.fields["tags"] == [t["name"] for t in stored["tags"]]
    assert record.updated_at.isoformat() == stored["last_changed"]


def test_problem_documents_become_one_sentence() -> None:
    body = {
        "title": "Invalid Resource",
        "status": 400,
        "detail": "Your merge fields were invalid.",
        "errors": [{"field": "NPS", "message": "Please enter a number"}],
    }
    compliance = {
        "title": "Member In Compliance State",
        "status": 400,
        "detail": "a@b.co is already a list member in compliance state.",
    }

    assert (
        mailchimp_message(HttpResponse(400, "", {}, "", "", 0.0, body))
        == "Your merge fields were invalid. (NPS: Please enter a number)"
    )
    assert mailchimp_message(HttpResponse(400, "", {}, "", "", 0.0, compliance)) == (
        "Member In Compliance State: a@b.co is already a list member in compliance state."
    )
