"""The marketing sandbox driven by Mailchimp's own Python library (mailchimp-marketing).

Mailchimp's list webhooks carry no signature (only a secret in the URL you register), so there is no
signature check to compare here.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.sandbox.marketing import subscriber_hash
from connectors.sandbox.testing import SandboxProcess
from tests.saas_sandboxes import MARKETING_KEY, MARKETING_LIST_ID

mailchimp = pytest.importorskip(
    "mailchimp_marketing", reason="Mailchimp's library is not installed (pip install mailchimp-marketing)"
)
from mailchimp_marketing.api_client import ApiClientError  # noqa: E402 - only importable after the skip


def connect(sandbox: SandboxProcess, key: str = MARKETING_KEY) -> Any:
    client = mailchimp.Client()
    client.set_config({"api_key": key})
    # The library builds https://<dc>.api.mailchimp.com/3.0 from the key; point it at the sandbox.
    client.api_client.host = f"{sandbox.url}/3.0"
    return client


def test_the_library_pages_through_the_audience(marketing_sandbox: SandboxProcess) -> None:
    client = connect(marketing_sandbox)

    pages = [
        client.lists.get_list_members_info(MARKETING_LIST_ID, count=7, offset=offset)["members"]
        for offset in range(0, 35, 7)
    ]

    assert client.ping.get() == {"health_status": "Everything's Chimpy!"}
    emails = [m["email_address"] for page in pages for m in page]
    assert sorted(emails) == sorted(m["email_address"] for m in marketing_sandbox.records("members"))


def test_the_library_upserts_by_subscriber_hash_and_tags_a_member(marketing_sandbox: SandboxProcess) -> None:
    client = connect(marketing_sandbox)
    member = subscriber_hash("Ada@Example.com")

    created = client.lists.set_list_member(
        MARKETING_LIST_ID,
        member,
        {"email_address": "Ada@Example.com", "status_if_new": "subscribed", "merge_fields": {"FNAME": "Ada"}},
    )
    updated = client.lists.set_list_member(
        MARKETING_LIST_ID, member, {"email_address": "ada@example.com", "merge_fields": {"TIER": "Gold"}}
    )
    client.lists.update_list_member_tags(
        MARKETING_LIST_ID, member, {"tags": [{"name": "VIP", "status": "active"}]}
    )
    tags = client.lists.get_list_member_tags(MARKETING_LIST_ID, member)["tags"]

    assert created["id"] == updated["id"] == member
    assert updated["merge_fields"]["FNAME"] == "Ada" and updated["merge_fields"]["TIER"] == "Gold"
    assert [t["name"] for t in tags] == ["VIP"]


def test_the_library_batch_subscribes_and_gets_errors_per_address(marketing_sandbox: SandboxProcess) -> None:
    client = connect(marketing_sandbox)

    result = client.lists.batch_list_members(
        MARKETING_LIST_ID,
        {
            "members": [
                {"email_address": "one@example.com", "status": "subscribed"},
                {"email_address": "not-an-email", "status": "subscribed"},
            ],
            "update_existing": True,
        },
    )

    assert result["total_created"] == 1 and result["error_count"] == 1
    assert result["errors"][0]["email_address"] == "not-an-email"


def test_the_library_sees_mailchimps_problem_documents(marketing_sandbox: SandboxProcess) -> None:
    with pytest.raises(ApiClientError) as invalid:
        connect(marketing_sandbox).lists.set_list_member(
            MARKETING_LIST_ID,
            subscriber_hash("x@example.com"),
            {
                "email_address": "x@example.com",
                "status_if_new": "subscribed",
                "merge_fields": {"NPS": "many"},
            },
        )
    with pytest.raises(ApiClientError) as refused:
        connect(marketing_sandbox, "00000000000000000000000000000000-us1").ping.get()

    assert invalid.value.status_code == 400 and "Your merge fields were invalid." in invalid.value.text
    assert refused.value.status_code == 401 and "API Key Invalid" in refused.value.text
