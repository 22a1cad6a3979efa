"""The chat sandbox driven by Slack's own Python SDK (slack_sdk): Web API, incoming webhooks and the
request signature Slack puts on Events API callbacks."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.providers.slack.webhooks import verify_signature
from connectors.sandbox.testing import SandboxProcess
from connectors.webhooks import WebhookSignatureError
from tests.connectors.webhook_receiver import WebhookReceiver
from tests.saas_sandboxes import (
    CHAT_ARCHIVED_WEBHOOK_PATH,
    CHAT_SIGNING_SECRET,
    CHAT_TOKEN,
    CHAT_WEBHOOK_PATH,
)

slack_sdk = pytest.importorskip("slack_sdk", reason="Slack's SDK is not installed (pip install slack_sdk)")
from slack_sdk.errors import SlackApiError  # noqa: E402 - only importable after the skip
from slack_sdk.signature import SignatureVerifier  # noqa: E402
from slack_sdk.webhook import WebhookClient  # noqa: E402


@pytest.fixture
def web(chat_sandbox: SandboxProcess) -> Any:
    return slack_sdk.WebClient(token=CHAT_TOKEN, base_url=f"{chat_sandbox.url}/api/")


def test_the_sdk_posts_a_message_with_blocks(web: Any, chat_sandbox: SandboxProcess) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deal won*"}}]

    answer = web.chat_postMessage(channel="#sales", text="Deal won", blocks=blocks)

    assert answer["ok"] is True and answer["channel"] == "C0SALES001"
    [stored] = chat_sandbox.records("messages")
    assert stored["ts"] == answer["ts"] and stored["blocks"] == blocks


def test_the_sdk_raises_slacks_error_codes(web: Any) -> None:
    for channel, code in (
        ("#no-such-channel", "channel_not_found"),
        ("#random", "not_in_channel"),
        ("#old-announcements", "is_archived"),
    ):
        with pytest.raises(SlackApiError) as caught:
            web.chat_postMessage(channel=channel, text="hello")
        assert caught.value.response["error"] == code
        assert caught.value.response.status_code == 200


def test_the_sdk_lists_the_channels_a_bot_can_see(web: Any) -> None:
    names = [c["name"] for c in web.conversations_list(types="public_channel,private_channel")["channels"]]

    assert "sales" in names and "leadership" not in names  # private, and the bot is not a member


def test_the_sdk_webhook_client_gets_slacks_plain_text_answers(chat_sandbox: SandboxProcess) -> None:
    hook = WebhookClient(chat_sandbox.url + CHAT_WEBHOOK_PATH)
    archived = WebhookClient(chat_sandbox.url + CHAT_ARCHIVED_WEBHOOK_PATH)

    posted = hook.send(text="from a webhook")
    empty = hook.send(text="")
    refused = archived.send(text="too late")

    assert (posted.status_code, posted.body) == (200, "ok")
    assert (empty.status_code, empty.body) == (400, "no_text")
    assert (refused.status_code, refused.body) == (410, "channel_is_archived")
    assert [m["text"] for m in chat_sandbox.records("messages")] == ["from a webhook"]


def test_an_events_callback_passes_the_sdks_signature_verifier(
    web: Any, chat_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    web.chat_postMessage(channel="#support", text="Escalation")

    chat_sandbox.admin("POST", "/events/deliver", {"url": webhook_receiver.url()})
    delivered = webhook_receiver.last

    verifier = SignatureVerifier(CHAT_SIGNING_SECRET)
    assert verifier.is_valid_request(delivered.body, delivered.headers)
    verify_signature(delivered.headers, delivered.body, CHAT_SIGNING_SECRET)


def test_a_replayed_or_forged_callback_fails_the_sdks_verifier_and_ours(
    web: Any, chat_sandbox: SandboxProcess, webhook_receiver: WebhookReceiver
) -> None:
    web.chat_postMessage(channel="#support", text="Escalation")
    chat_sandbox.admin(
        "POST", "/events/deliver", {"url": webhook_receiver.url(), "timestamp": int(time.time()) - 3600}
    )
    replayed = webhook_receiver.last
    chat_sandbox.admin("POST", "/events/deliver", {"url": webhook_receiver.url(), "secret": "not-slacks"})
    forged = webhook_receiver.last

    verifier = SignatureVerifier(CHAT_SIGNING_SECRET)
    for delivered in (replayed, forged):
        assert not verifier.is_valid_request(delivered.body, delivered.headers)
        with pytest.raises(WebhookSignatureError):
            verify_signature(delivered.headers, delivered.body, CHAT_SIGNING_SECRET)
