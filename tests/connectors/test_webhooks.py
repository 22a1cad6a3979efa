"""Webhook signatures (Standard Webhooks and bare HMAC) and the outbound webhook provider."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest

from connectors.base import AuthenticationError, ConnectionSettings, ConnectorError, WriteItem
from connectors.http import HttpError
from connectors.providers.webhook_out.client import WebhookOutClient
from connectors.registry import get_provider
from connectors.webhooks import (
    GITHUB_SCHEME,
    HmacScheme,
    WebhookSignatureError,
    generate_secret,
    sign_hmac,
    sign_standard,
    standard_headers,
    verify_inbound,
    verify_standard,
)
from tests.connectors.test_http import Reply, ScriptedServer

# The published test vector of the Standard Webhooks reference libraries
# (standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py, test_sign_function).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SPEC_HEADERS = {
    "webhook-id": SPEC_ID,
    "webhook-timestamp": str(SPEC_TIMESTAMP),
    "webhook-signature": SPEC_SIGNATURE,
}


def signed(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    return standard_headers(
        secret, "msg_test", timestamp if timestamp is not None else int(time.time()), body
    )


# -- Standard Webhooks -----------------------------------------------------------------------------


def test_signing_reproduces_the_specification_example_exactly() -> None:
    assert sign_standard(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_specification_example_is_accepted_at_its_own_time() -> None:
    verify_inbound(SPEC_HEADERS, SPEC_BODY.encode(), SPEC_SECRET, "standard", now=SPEC_TIMESTAMP + 10)


def test_the_specification_example_is_refused_today_because_it_is_stale() -> None:
    with pytest.raises(WebhookSignatureError, match="too old"):
        verify_inbound(SPEC_HEADERS, SPEC_BODY.encode(), SPEC_SECRET, "standard")


def test_a_one_byte_change_of_the_body_is_refused() -> None:
    tampered = SPEC_BODY.replace("4", "5", 1).encode()
    assert len(tampered) == len(SPEC_BODY)
    with pytest.raises(WebhookSignatureError, match="No signature matches"):
        verify_inbound(SPEC_HEADERS, tampered, SPEC_SECRET, "standard", now=SPEC_TIMESTAMP)


def test_a_wrong_secret_is_refused() -> None:
    with pytest.raises(WebhookSignatureError, match="No signature matches"):
        verify_inbound(SPEC_HEADERS, SPEC_BODY, generate_secret(), "standard", now=SPEC_TIMESTAMP)


@pytest.mark.parametrize(("offset", "reason"), [(-301, "too old"), (301, "in the future")])
def test_a_timestamp_outside_the_tolerance_is_refused(offset: int, reason: str) -> None:
    secret = generate_secret()
    now = 1_900_000_000
    headers = signed(b"{}", secret, timestamp=now + offset)
    with pytest.raises(WebhookSignatureError, match=reason):
        verify_standard(headers, b"{}", secret, now=now)
    # Inside the tolerance the same signature is fine.
    verify_standard(signed(b"{}", secret, timestamp=now - 299), b"{}", secret, now=now)


def test_a_fresh_delivery_signed_with_our_headers_verifies() -> None:
    secret = generate_secret()
    body = json.dumps({"type": "contact.created", "data": {"id": "7"}}).encode()
    verify_inbound(signed(body, secret), body, secret, "standard")


def test_one_valid_signature_among_several_is_enough() -> None:
    secret = generate_secret()
    headers = signed(b"hello", secret)
    valid = headers["webhook-signature"]
    headers["webhook-signature"] = (
        f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1a,c29tZQ== {valid} v2,abc"
    )
    verify_standard(headers, b"hello", secret)


def test_signatures_from_a_secret_rotation_verify_with_either_secret() -> None:
    old, new = generate_secret(), generate_secret()
    headers = standard_headers([new, old], "msg_rot", int(time.time()), b"x")
    assert len(headers["webhook-signature"].split()) == 2
    verify_standard(headers, b"x", old)
    verify_standard(headers, b"x", new)


def test_the_secret_prefix_is_optional_as_in_the_reference_libraries() -> None:
    bare = SPEC_SECRET.removeprefix("whsec_")
    verify_standard(SPEC_HEADERS, SPEC_BODY, bare, now=SPEC_TIMESTAMP)


def test_header_names_are_matched_without_regard_to_case() -> None:
    upper = {name.upper(): value for name, value in SPEC_HEADERS.items()}
    verify_standard(upper, SPEC_BODY, SPEC_SECRET, now=SPEC_TIMESTAMP)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(missing: str) -> None:
    headers = {k: v for k, v in SPEC_HEADERS.items() if k != missing}
    with pytest.raises(WebhookSignatureError, match=missing):
        verify_standard(headers, SPEC_BODY, SPEC_SECRET, now=SPEC_TIMESTAMP)


def test_only_v1_signatures_count() -> None:
    digest = SPEC_SIGNATURE.split(",", 1)[1]
    headers = {**SPEC_HEADERS, "webhook-signature": f"v1a,{digest} v2,{digest}"}
    with pytest.raises(WebhookSignatureError, match="no v1 signature"):
        verify_standard(headers, SPEC_BODY, SPEC_SECRET, now=SPEC_TIMESTAMP)


def test_a_non_numeric_timestamp_is_refused() -> None:
    headers = {**SPEC_HEADERS, "webhook-timestamp": "1614265330.5"}
    with pytest.raises(WebhookSignatureError, match="unix timestamp"):
        verify_standard(headers, SPEC_BODY, SPEC_SECRET, now=SPEC_TIMESTAMP)


def test_an_id_with_a_full_stop_cannot_be_signed() -> None:
    # The id is part of the signed text; a "." would make "id.timestamp.body" ambiguous.
    with pytest.raises(WebhookSignatureError):
        sign_standard(SPEC_SECRET, "msg.1", SPEC_TIMESTAMP, "{}")


def test_a_secret_that_is_not_base64_is_reported() -> None:
    with pytest.raises(WebhookSignatureError, match="not a whsec_ base64 secret"):
        verify_standard(SPEC_HEADERS, SPEC_BODY, "whsec_not*base64!", now=SPEC_TIMESTAMP)


# -- bare-body HMAC ----------------------------------------------------------------------------------


def test_hex_hmac_header_verifies_with_and_without_its_prefix() -> None:
    body = b'{"action":"opened"}'
    digest = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    verify_inbound({"X-Signature-256": f"sha256={digest}"}, body, "s3cret", "hmac-sha256-hex")
    verify_inbound({"x-signature-256": digest.upper()}, body, "s3cret", "hmac-sha256-hex")


def test_base64_hmac_in_a_named_header_verifies() -> None:
    body = b"payload"
    scheme = HmacScheme(header="X-Shopify-Hmac-Sha256", encoding="base64", prefix="")
    value = base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()
    assert sign_hmac("k", body, scheme) == value
    verify_inbound({"X-Shopify-Hmac-Sha256": value}, body, "k", scheme)


def test_hmac_refuses_a_changed_body_a_wrong_secret_and_a_missing_header() -> None:
    body = b'{"n":1}'
    headers = {"X-Hub-Signature-256": sign_hmac("right", body, GITHUB_SCHEME)}
    verify_inbound(headers, body, "right", GITHUB_SCHEME)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_inbound(headers, b'{"n":2}', "right", GITHUB_SCHEME)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        verify_inbound(headers, body, "wrong", GITHUB_SCHEME)
    with pytest.raises(WebhookSignatureError, match="Missing header: X-Hub-Signature-256"):
        verify_inbound({}, body, "right", GITHUB_SCHEME)


def test_an_unknown_scheme_name_is_refused() -> None:
    with pytest.raises(WebhookSignatureError, match="Unknown signature scheme"):
        verify_inbound({}, b"", "s", "stripe")  # type: ignore[arg-type]


def test_an_empty_secret_never_verifies() -> None:
    with pytest.raises(WebhookSignatureError, match="No signing secret"):
        verify_inbound({"X-Signature-256": "00"}, b"", "", "hmac-sha256-hex")


# -- outbound webhook provider -------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


def make_client(
    url: str, secret: str | None = None, *, id_path: str | None = None, retries: int = 2
) -> WebhookOutClient:
    config: dict[str, object] = {"base_url": url, "event_type": "contact.synced"}
    if id_path:
        config["id_path"] = id_path
    settings = ConnectionSettings(None, config, {"signing_secret": secret if secret is not None else SECRET})
    client = get_provider("webhook_out").client(settings)
    assert isinstance(client, WebhookOutClient)
    client.http.sleep = lambda seconds: None
    client.http.max_retries = retries
    return client


SECRET = generate_secret()


def test_each_item_is_posted_as_one_event_a_receiver_can_verify(server: ScriptedServer) -> None:
    server.on("/hooks/crm", Reply(200, {"received": True}))
    client = make_client(f"{server.url}/hooks/crm")

    results = client.upsert_batch(
        "contacts",
        [
            WriteItem("101", {"email": "ada@example.com", "score": 7}),
            WriteItem("102", {"email": "bob@example.com"}, target_id="t-9"),
        ],
        match_field="email",
    )

    assert [(r.ok, r.action, r.target_id) for r in results] == [
        (True, "created", "101"),
        (True, "updated", "t-9"),
    ]
    assert server.hits("/hooks/crm") == 2
    first, second = server.seen
    # The receiver verifies the exact bytes it got, with the headers we sent.
    verify_inbound(first.headers, first.body, SECRET, "standard")
    verify_inbound(second.headers, second.body, SECRET, "standard")
    event = json.loads(first.body)
    assert event["type"] == "contact.synced"
    assert event["data"] == {
        "object": "contacts",
        "key": "101",
        "id": None,
        "match_field": "email",
        "fields": {"email": "ada@example.com", "score": 7},
    }
    assert first.headers["webhook-id"] != second.headers["webhook-id"]
    assert first.headers["Content-Type"] == "application/json"


def test_a_4xx_fails_only_that_item_with_the_receivers_body(server: ScriptedServer) -> None:
    server.on(
        "/hook",
        Reply(200, {}),
        Reply(422, {"message": "email is on the suppression list"}),
        Reply(200, {}),
    )
    client = make_client(f"{server.url}/hook")

    results = client.upsert_batch(
        "contacts", [WriteItem(str(i), {"n": i}) for i in range(3)], match_field="email"
    )

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "The endpoint answered 422: email is on the suppression list"


def test_a_plain_text_4xx_body_is_the_error(server: ScriptedServer) -> None:
    server.on("/hook", Reply(410, None))
    client = make_client(f"{server.url}/hook")
    result = client.upsert_batch("c", [WriteItem("1", {})], match_field="email")[0]
    assert not result.ok
    assert result.error is not None and result.error.startswith("The endpoint answered 410")


def test_a_refused_signature_stops_the_batch_instead_of_failing_every_record(server: ScriptedServer) -> None:
    server.on("/hook", Reply(401, {"message": "bad signature"}))
    client = make_client(f"{server.url}/hook")
    with pytest.raises(AuthenticationError, match="bad signature"):
        client.upsert_batch("c", [WriteItem("1", {}), WriteItem("2", {})], match_field="email")
    assert server.hits("/hook") == 1


def test_a_failing_receiver_is_retried_with_the_same_event_then_reported_as_transient(
    server: ScriptedServer,
) -> None:
    server.on("/hook", Reply(503, {"message": "down"}))
    client = make_client(f"{server.url}/hook", retries=2)
    with pytest.raises(HttpError) as raised:
        client.upsert_batch("c", [WriteItem("1", {})], match_field="email")
    assert not raised.value.permanent
    assert server.hits("/hook") == 3
    # Retries of one delivery keep its id (what lets the receiver drop duplicates).
    assert len({seen.headers["webhook-id"] for seen in server.seen}) == 1


def test_a_redirect_is_a_failed_delivery_and_is_not_followed(server: ScriptedServer) -> None:
    server.on("/hook", Reply(308, None, headers={"Location": "/elsewhere"}))
    server.on("/elsewhere", Reply(200, {}))
    client = make_client(f"{server.url}/hook")
    result = client.upsert_batch("c", [WriteItem("1", {})], match_field="email")[0]
    assert not result.ok
    assert "redirected to /elsewhere" in (result.error or "")
    assert server.hits("/elsewhere") == 0


def test_the_receivers_id_becomes_the_target_id_when_configured(server: ScriptedServer) -> None:
    server.on("/hook", Reply(201, {"record": {"id": 4411}}))
    client = make_client(f"{server.url}/hook", id_path="record.id")
    result = client.upsert_batch("c", [WriteItem("1", {})], match_field="email")[0]
    assert result.target_id == "4411"


def test_a_too_short_secret_is_refused_before_anything_is_sent(server: ScriptedServer) -> None:
    server.on("/hook", Reply(200, {}))
    short = "whsec_" + base64.b64encode(b"0123456789").decode()
    client = make_client(f"{server.url}/hook", secret=short)
    with pytest.raises(AuthenticationError, match="24 bytes"):
        client.upsert_batch("c", [WriteItem("1", {})], match_field="email")
    assert server.hits("/hook") == 0


def test_connection_test_sends_a_signed_test_event(server: ScriptedServer) -> None:
    server.on("/hook", Reply(204, None))
    client = make_client(f"{server.url}/hook")
    assert "answered 204" in client.test()
    assert json.loads(server.seen[0].body)["type"] == "webhook.test"
    verify_inbound(server.seen[0].headers, server.seen[0].body, SECRET, "standard")


def test_an_outbound_webhook_cannot_be_read(server: ScriptedServer) -> None:
    client = make_client(f"{server.url}/hook")
    with pytest.raises(ConnectorError, match="only sends events"):
        list(client.list_changes("events", None))


def test_the_config_refuses_a_non_http_url_and_a_bad_event_type() -> None:
    from pydantic import ValidationError

    from connectors.providers.webhook_out.client import WebhookOutConfig

    with pytest.raises(ValidationError, match="http"):
        WebhookOutConfig.model_validate({"base_url": "ftp://example.com/x"})
    with pytest.raises(ValidationError, match="full-stop"):
        WebhookOutConfig.model_validate({"base_url": "https://example.com", "event_type": "contact synced"})
