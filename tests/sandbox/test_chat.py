"""The chat sandbox keeps the Slack contract of docs/sandbox.md (Web API and incoming webhooks)."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlencode

import pytest

from connectors.sandbox.testing import SandboxProcess
from tests.saas_sandboxes import CHAT_DELETED_CHANNEL_WEBHOOK_PATH, CHAT_TOKEN, CHAT_WEBHOOK_PATH, fresh

AUTH = {"Authorization": f"Bearer {CHAT_TOKEN}"}


@pytest.fixture
def chat() -> SandboxProcess:
    return fresh("chat")


def test_web_api_errors_are_http_200_with_ok_false(chat: SandboxProcess) -> None:
    for body, code in (
        ({"channel": "#nope", "text": "x"}, "channel_not_found"),
        ({"channel": "#leadership", "text": "x"}, "channel_not_found"),
        ({"channel": "#random", "text": "x"}, "not_in_channel"),
        ({"channel": "#sales"}, "no_text"),
        ({"channel": "#sales", "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "#sales", "blocks": "not json"}, "invalid_blocks_format"),
    ):
        status, _, answer = chat.request("POST", "/api/chat.postMessage", body, headers=AUTH)
        assert (status, answer["ok"], answer["error"]) == (200, False, code)


def test_credentials_are_checked_in_the_header_or_the_form_body(chat: SandboxProcess) -> None:
    missing = chat.request("POST", "/api/auth.test", {})[2]
    wrong = chat.request("POST", "/api/auth.test", {}, headers={"Authorization": "Bearer xoxb-other"})[2]
    form = urllib.request.Request(
        chat.url + "/api/chat.postMessage",
        data=urlencode({"token": CHAT_TOKEN, "channel": "C0SALES001", "text": "from a form"}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(form) as response:
        posted = response.read()

    assert missing == {"ok": False, "error": "not_authed"} and wrong == {"ok": False, "error": "invalid_auth"}
    assert b'"ok":true' in posted and chat.records("messages")[0]["text"] == "from a form"


def test_a_posted_message_has_a_unique_ts_and_keeps_its_thread(chat: SandboxProcess) -> None:
    _, _, first = chat.request(
        "POST", "/api/chat.postMessage", {"channel": "C0SALES001", "text": "root"}, headers=AUTH
    )
    _, _, reply = chat.request(
        "POST",
        "/api/chat.postMessage",
        {"channel": "sales", "text": "reply", "thread_ts": first["ts"]},
        headers=AUTH,
    )

    assert first["ts"] != reply["ts"] and reply["message"]["thread_ts"] == first["ts"]
    _, _, history = chat.request("GET", "/api/conversations.history?channel=C0SALES001", headers=AUTH)
    assert [m["text"] for m in history["messages"]] == ["reply", "root"]


def test_incoming_webhooks_answer_plain_text(chat: SandboxProcess) -> None:
    url = CHAT_WEBHOOK_PATH
    ok = chat.request("POST", url, {"text": "hello"})
    empty = chat.request("POST", url, {"unfurl_links": True})
    bad_secret = chat.request("POST", url.rsplit("/", 1)[0] + "/wrong", {"text": "x"})
    no_service = chat.request("POST", "/services/T0DEMO0001/B0NOPE0000/x", {"text": "x"})
    deleted = chat.request("POST", CHAT_DELETED_CHANNEL_WEBHOOK_PATH, {"text": "x"})

    assert (ok[0], ok[1]["Content-Type"], ok[2]) == (200, "text/html", "ok")
    assert (empty[0], empty[2]) == (400, "no_text")
    assert (bad_secret[0], bad_secret[2]) == (403, "invalid_token")
    assert (no_service[0], no_service[2]) == (404, "no_service")
    assert (deleted[0], deleted[2]) == (404, "channel_not_found")


def test_an_injected_429_is_slacks_ratelimited_with_retry_after(chat: SandboxProcess) -> None:
    chat.set_faults(status=429, fail_next=1, retry_after=3)

    status, headers, body = chat.request(
        "POST", "/api/chat.postMessage", {"channel": "#sales", "text": "x"}, headers=AUTH
    )

    assert (status, body, headers["Retry-After"]) == (429, {"ok": False, "error": "ratelimited"}, "3")
