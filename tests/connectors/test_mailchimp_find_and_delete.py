"""Mailchimp particulars of lookups and deletes: members are addressed by subscriber hash (the MD5 of the
lower-cased email), DELETE archives, and a permanent delete keeps the address out for good."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from connectors.base import WriteItem
from connectors.providers.mailchimp.client import subscriber_hash
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import saas_clients


@pytest.fixture
def client(marketing_sandbox: SandboxProcess) -> Any:
    return saas_clients.mailchimp(marketing_sandbox)


def test_the_subscriber_hash_is_the_md5_of_the_lower_cased_address() -> None:
    assert subscriber_hash(" Ada@Example.COM ") == hashlib.md5(b"ada@example.com").hexdigest()  # noqa: S324


def test_find_by_email_asks_for_the_member_by_its_hash(
    client: Any, marketing_sandbox: SandboxProcess
) -> None:
    member = marketing_sandbox.records("members")[4]
    marketing_sandbox.admin("DELETE", "/stats")

    found = client.find("members", "email_address", member["email_address"].upper())

    assert found is not None and found.id == member["id"] == subscriber_hash(member["email_address"])
    assert list(marketing_sandbox.stats()["requests"]) == ["GET /3.0/lists/{list_id}/members/{hash}"], (
        "one direct read, no search"
    )


def test_an_archived_member_is_found_as_archived_and_comes_back_when_written(
    client: Any, marketing_sandbox: SandboxProcess
) -> None:
    member = next(m for m in marketing_sandbox.records("members") if m["status"] == "subscribed")

    assert client.delete("members", member["email_address"]).ok
    archived = client.find("members", "email_address", member["email_address"])
    [again] = client.upsert_batch(
        "members", [WriteItem("k", {"email_address": member["email_address"]})], match_field="email_address"
    )

    assert archived is not None and archived.fields["status"] == "archived"
    assert again.ok and again.target_id == member["id"]
    assert client.find("members", "id", member["id"]).fields["status"] == "subscribed"


def test_a_permanently_deleted_address_cannot_be_added_again(
    client: Any, marketing_sandbox: SandboxProcess
) -> None:
    member = marketing_sandbox.records("members")[0]

    result = client.delete_permanently("members", member["id"])
    [refused] = client.upsert_batch(
        "members",
        [WriteItem("k", {"email_address": member["email_address"], "status": "subscribed"})],
        match_field="email_address",
    )

    assert result.ok and result.action == "deleted"
    assert client.find("members", "email_address", member["email_address"]) is None
    assert refused.ok is False and "permanently deleted" in (refused.error or "")


def test_members_can_only_be_looked_up_by_email_or_id(client: Any) -> None:
    with pytest.raises(Exception, match="only be looked up by email_address or id"):
        client.find("members", "merge_fields.FNAME", "Ada")
