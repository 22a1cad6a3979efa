"""The pieces under automatic webhook deliveries: the store's change feed and the retrying dispatcher."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from connectors.sandbox.delivery import Dispatcher, Outgoing
from connectors.sandbox.engine import Change, Store
from tests.connectors.webhook_receiver import WebhookReceiver


@pytest.fixture
def store() -> Iterator[Store]:
    found = Store(":memory:")
    yield found
    found.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.close()


def test_committed_writes_reach_listeners_with_what_changed(store: Store) -> None:
    heard: list[list[Change]] = []
    store.listeners.append(heard.append)
    with store.write() as tx:
        row = tx.insert("contacts", {"name": "Ada"}, first_id=1)
        tx.update("contacts", row.id, {"name": "Ada L."})
    with store.write() as tx:
        tx.move("contacts", row.id, "contacts:archived")
    with store.write() as tx:
        other = tx.insert("contacts", {"name": "Bob"}, first_id=1)
    with store.write() as tx:
        tx.remove("contacts", other.id)

    flat = [(c.action, c.object, c.id, c.data, c.previous, c.to_object) for batch in heard for c in batch]
    assert [len(batch) for batch in heard] == [2, 1, 1, 1]
    assert flat == [
        ("created", "contacts", 1, {"name": "Ada"}, None, None),
        ("updated", "contacts", 1, {"name": "Ada L."}, {"name": "Ada"}, None),
        ("moved", "contacts", 1, {"name": "Ada L."}, {"name": "Ada L."}, "contacts:archived"),
        ("created", "contacts", 2, {"name": "Bob"}, None, None),
        ("deleted", "contacts", 2, {"name": "Bob"}, {"name": "Bob"}, None),
    ]
    assert heard[0][0].created_ms == heard[0][1].created_ms > 0


def test_rolled_back_and_quiet_writes_are_not_heard(store: Store) -> None:
    heard: list[list[Change]] = []
    store.listeners.append(heard.append)

    def aborted_write() -> None:
        with store.write() as tx:
            tx.insert("contacts", {"name": "Never"}, first_id=1)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        aborted_write()
    with store.write(notify=False) as tx:
        tx.insert("contacts", {"name": "Seeded"}, first_id=1)

    assert heard == []
    with store.read() as tx:
        assert [r.data["name"] for r in tx.all("contacts")] == ["Seeded"]


def test_a_failing_listener_does_not_undo_the_write(store: Store) -> None:
    def broken(changes: list[Change]) -> None:
        raise ValueError("listener bug")

    store.listeners.append(broken)
    with store.write() as tx:
        tx.insert("contacts", {"name": "Kept"}, first_id=1)
    with store.read() as tx:
        assert tx.count("contacts") == 1


def outgoing(
    receiver: WebhookReceiver, attempts: list[int], final: Callable[[int], bool] | None = None
) -> Outgoing:
    def sign(body: bytes, attempt: int) -> dict[str, str]:
        attempts.append(attempt)
        return {"X-Attempt": str(attempt)}

    return Outgoing(
        url=receiver.url(), body=b"{}", sign=sign, subscription="s1", label="e1", final_statuses=final
    )


def test_failed_deliveries_are_retried_and_signed_again_each_time(receiver: WebhookReceiver) -> None:
    dispatcher = Dispatcher(retry_delays=(0.05, 0.05, 0.05))
    receiver.status = 500
    attempts: list[int] = []
    dispatcher.submit(outgoing(receiver, attempts))

    assert dispatcher.wait_idle(10)
    assert attempts == [1, 2, 3, 4]  # the first try and three retries, then it gives up
    assert [d.headers["X-Attempt"] for d in receiver.deliveries] == ["1", "2", "3", "4"]
    assert [(a["attempt"], a["status"], a["will_retry"]) for a in dispatcher.log()] == [
        (1, 500, True),
        (2, 500, True),
        (3, 500, True),
        (4, 500, False),
    ]


def test_a_final_status_stops_the_retries(receiver: WebhookReceiver) -> None:
    dispatcher = Dispatcher(retry_delays=(0.05, 0.05))
    receiver.status = 401
    attempts: list[int] = []
    dispatcher.submit(outgoing(receiver, attempts, final=lambda status: status == 401))

    assert dispatcher.wait_idle(10)
    assert attempts == [1] and dispatcher.log()[0]["will_retry"] is False


def test_clearing_drops_queued_retries_and_the_log(receiver: WebhookReceiver) -> None:
    dispatcher = Dispatcher(retry_delays=(30.0,))
    receiver.status = 503
    attempts: list[int] = []
    dispatcher.submit(outgoing(receiver, attempts))
    deadline = time.monotonic() + 10
    while not dispatcher.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dispatcher.pending() == 1  # the retry, 30 s away
    dispatcher.clear()

    assert dispatcher.pending() == 0 and dispatcher.log() == [] and attempts == [1]
