"""The Slack connector's particulars, over real HTTP against the chat sandbox (Slack dialect)."""

from __future__ import annotations

import time

import pytest

from connectors.base import AuthenticationError, ConnectorError, WriteItem
from connectors.providers.slack.provider import SlackProvider
from connectors.providers.slack.webhooks import signature, verify_signature
from connectors.registry import get_provider
from connectors.sandbox.testing import SandboxProcess
from connectors.webhooks import WebhookSignatureError
from tests.connectors import saas_clients
from tests.saas_sandboxes import (
    CHAT_ARCHIVED_WEBHOOK_PATH,
    CHAT_DELETED_CHANNEL_WEBHOOK_PATH,
    CHAT_WEBHOOK_PATH,
)


def test_provider_is_a_write_only_action_target() -> None:
    assert get_provider("slack") is SlackProvider
    capabilities = SlackProvider.capabilities["messages"]
    assert capabilities.read is False and capabilities.incremental is False and capabilities.update is False
    assert SlackProvider.rate_limit is not None and SlackProvider.rate_limit.requests == 60


def test_reading_messages_is_refused_clearly(chat_sandbox: SandboxProcess) -> None:
    with pytest.raises(ConnectorError, match="posted but not read"):
        list(saas_clients.slack(chat_sandbox).list_changes("messages", None))


def test_the_channel_picklist_holds_only_channels_the_bot_can_post_in(chat_sandbox: SandboxProcess) -> None:
    channel = saas_clients.slack(chat_sandbox).discover_schema("messages").field("channel")

    assert channel is not None and channel.required
    assert [o.label for o in channel.options] == ["#general", "#sales", "#support", "#alerts"]


def test_each_slack_refusal_is_explained(chat_sandbox: SandboxProcess) -> None:
    client = saas_clients.slack(chat_sandbox)
    items = [
        WriteItem("random", {"channel": "#random", "text": "hi"}),
        WriteItem("archived", {"channel": "old-announcements", "text": "hi"}),
        WriteItem("empty", {"channel": "#sales", "text": ""}),
        WriteItem("blocks", {"channel": "#sales", "blocks": [{"text": "no type"}]}),
        WriteItem("extra", {"channel": "#sales", "text": "hi", "colour": "red"}),
        WriteItem("nochannel", {"text": "hi"}),
    ]

    errors = [r.error for r in client.upsert_batch("messages", items, match_field="")]

    assert errors == [
        "Slack refused the message: not_in_channel (the app is not a member of this channel; invite it with /invite).",
        "Slack refused the message: is_archived (the channel is archived).",
        "Slack refused the message: no_text (the message has neither text nor blocks).",
        "Slack refused the message: invalid_blocks (the blocks are not valid Block Kit).",
        "Slack messages have no field colour; the message was not posted.",
        "No channel to post to; map one or set a default channel on the connection.",
    ]
    assert chat_sandbox.records("messages") == []


def test_a_default_channel_is_used_when_a_message_names_none(chat_sandbox: SandboxProcess) -> None:
    client = saas_clients.slack(chat_sandbox, default_channel="#alerts")

    [result] = client.upsert_batch("messages", [WriteItem("k", {"text": "Sync done"})], match_field="")

    assert result.ok and result.target_id is not None and result.target_id.startswith("C0ALERTS01:")


def test_a_5xx_stops_the_batch_without_posting_anything_twice(chat_sandbox: SandboxProcess) -> None:
    client = saas_clients.slack(chat_sandbox)
    items = [WriteItem(f"k{n}", {"channel": "#sales", "text": f"m{n}"}) for n in range(3)]
    chat_sandbox.set_faults(status=503, fail_next=1, path_prefix="/api/chat.postMessage")

    results = client.upsert_batch("messages", items, match_field="")

    assert (
        results[0].ok is False and results[0].error is not None and "may have been posted" in results[0].error
    )
    assert all(r.error and r.error.startswith("Not sent:") for r in results[1:])
    assert chat_sandbox.stats()["requests"]["POST /api/chat.postMessage"] == 1


def test_a_wrong_token_in_the_middle_of_a_batch_fails_the_batch(chat_sandbox: SandboxProcess) -> None:
    client = saas_clients.slack(chat_sandbox, "xoxb-revoked")

    with pytest.raises(AuthenticationError, match="invalid_auth"):
        client.upsert_batch("messages", [WriteItem("k", {"channel": "#sales", "text": "hi"})], match_field="")


def test_webhook_connections_post_to_their_channel_and_hide_their_secret(
    chat_sandbox: SandboxProcess,
) -> None:
    url = chat_sandbox.url + CHAT_WEBHOOK_PATH
    client = saas_clients.slack(chat_sandbox, url)

    description = client.test()
    schema = client.discover_schema("messages")
    results = client.upsert_batch(
        "messages",
        [WriteItem("a", {"text": "Deploy finished"}), WriteItem("b", {"text": "x", "channel": "#sales"})],
        match_field="",
    )

    assert "Incoming webhook" in description and schema.field("channel") is None
    assert results[0].ok and results[1].error is not None and "own channel" in results[1].error
    assert [(m["channel"], m["text"]) for m in chat_sandbox.records("messages")] == [
        ("C0ALERTS01", "Deploy finished")
    ]
    assert CHAT_WEBHOOK_PATH.rsplit("/", 1)[1] in client.http.secrets


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (CHAT_ARCHIVED_WEBHOOK_PATH, "channel_is_archived"),
        (CHAT_DELETED_CHANNEL_WEBHOOK_PATH, "channel_not_found"),
    ],
)
def test_a_webhook_whose_channel_is_gone_fails_the_message_not_the_connection(
    chat_sandbox: SandboxProcess, path: str, code: str
) -> None:
    client = saas_clients.slack(chat_sandbox, chat_sandbox.url + path)

    [result] = client.upsert_batch("messages", [WriteItem("k", {"text": "late"})], match_field="")

    assert result.ok is False and result.error is not None and code in result.error


def test_a_removed_webhook_is_an_authentication_error(chat_sandbox: SandboxProcess) -> None:
    removed = saas_clients.slack(chat_sandbox, chat_sandbox.url + "/services/T0DEMO0001/B0HOOK0009/whatever")

    with pytest.raises(AuthenticationError, match="no_service"):
        removed.test()


def test_our_signature_check_refuses_what_slack_would() -> None:
    now = time.time()
    body = b'{"type":"event_callback"}'
    good = {
        "X-Slack-Request-Timestamp": str(int(now)),
        "X-Slack-Signature": signature("s3cret", int(now), body),
    }

    verify_signature(good, body, "s3cret", now=now)
    for headers, reason in (
        ({"X-Slack-Request-Timestamp": str(int(now))}, "no X-Slack-Signature"),
        ({**good, "X-Slack-Request-Timestamp": str(int(now) - 301)}, r"\d+ s old"),
        ({**good, "X-Slack-Signature": signature("other", int(now), body)}, "does not match"),
    ):
        with pytest.raises(WebhookSignatureError, match=reason):
            verify_signature(headers, body, "s3cret", now=now)
