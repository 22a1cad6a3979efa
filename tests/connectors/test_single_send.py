"""Writes that must not be repeated are retried only after a 429 (connectors/providers/single_send.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.http import HttpClient, HttpError
from connectors.providers.single_send import send_once
from tests.connectors.test_http import ALLOW_LOCAL, Reply, ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


def client_for(server: ScriptedServer) -> tuple[HttpClient, list[float]]:
    waits: list[float] = []
    client = HttpClient(server.url, sleep=waits.append, system="Test", allowed_private_hosts=ALLOW_LOCAL)
    return client, waits


def test_a_5xx_is_not_sent_again(server: ScriptedServer) -> None:
    server.on("/things", Reply(503, {"error": "busy"}), Reply(201, {"id": 1}))
    client, _ = client_for(server)

    with pytest.raises(HttpError) as caught:
        send_once(client, "POST", "/things", json={"a": 1})

    assert caught.value.status == 503 and server.hits("/things") == 1


def test_a_429_is_waited_out_and_sent_again(server: ScriptedServer) -> None:
    server.on(
        "/things", Reply(429, {"error": "slow down"}, headers={"Retry-After": "2"}), Reply(201, {"id": 1})
    )
    client, waits = client_for(server)

    response = send_once(client, "POST", "/things", json={"a": 1})

    assert response.status == 201 and server.hits("/things") == 2
    assert client.stats.throttled == 1 and max(waits) >= 1.5


def test_a_429_without_retry_after_still_waits_before_sending_again(server: ScriptedServer) -> None:
    server.on("/things", Reply(429, {}), Reply(200, {}))
    client, waits = client_for(server)

    send_once(client, "POST", "/things")

    assert waits == [1.0] and server.hits("/things") == 2


def test_throttling_that_never_ends_reaches_the_caller(server: ScriptedServer) -> None:
    server.on("/things", Reply(429, {}, headers={"Retry-After": "0"}))
    client, _ = client_for(server)

    with pytest.raises(HttpError) as caught:
        send_once(client, "POST", "/things")

    assert caught.value.status == 429 and server.hits("/things") == 6
