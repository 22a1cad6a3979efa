"""A poll writes its next page while the page before it is recorded, and keeps every guarantee.

On PostgreSQL, outside a transaction, pages are recorded on a thread of their own; elsewhere (SQLite, or a
caller inside a transaction, whose rows another connection could not see) on the caller's thread. The
recorder's own rules are proven without a database; the crash test runs on whatever database the suite uses,
and on PostgreSQL proves the recording thread was the one that stored the pages.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from connectors.services import client_for
from tests.workflows.helpers import crm_contacts, crm_to_helpdesk, helpdesk_users, run_now
from workflows.models import RecordLink, Run, RunRecord, TriggerCursor
from workflows.services import runs as run_service
from workflows.services.runs import PageRecorder, WrittenPage


def _written(n: int, *, links: tuple[str, ...] = ()) -> WrittenPage:
    return WrittenPage(
        run_id=n,
        workflow=None,  # type: ignore[arg-type]
        outcomes=[],
        links=[RecordLink(source_id=source_id, target_id=f"t{source_id}") for source_id in links],
        counts={},
        read_count=0,
        http_stats={},
    )


def test_the_caller_goes_on_while_pages_are_recorded_and_pages_are_stored_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release_first = threading.Event()
    stored: list[int] = []

    def slow_record_page(page: WrittenPage, mark_read: Any) -> None:
        if page.run_id == 1:
            assert release_first.wait(timeout=10)
        mark_read()
        stored.append(page.run_id)

    monkeypatch.setattr(run_service, "record_page", slow_record_page)
    recorder = PageRecorder(threaded=True)
    recorder.record(_written(1), lambda: None)
    # Page 1 is still being recorded, yet the caller is free to write and hand over page 2 (queued).
    recorder.record(_written(2), lambda: None)
    assert stored == []

    handed_third = threading.Event()

    def hand_over_third() -> None:
        recorder.record(_written(3), lambda: None)  # two pages wait already: this waits for page 1
        handed_third.set()

    third = threading.Thread(target=hand_over_third)
    third.start()
    assert not handed_third.wait(timeout=0.3)
    release_first.set()
    third.join(timeout=10)
    assert handed_third.is_set()
    assert stored[0] == 1
    recorder.close()

    assert stored == [1, 2, 3]


def test_a_failed_recording_reaches_the_caller_and_no_later_page_is_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored: list[int] = []
    marked: list[int] = []

    def failing_record_page(page: WrittenPage, mark_read: Any) -> None:
        if page.run_id == 1:
            raise RuntimeError("the database went away while recording page 1")
        mark_read()
        stored.append(page.run_id)

    monkeypatch.setattr(run_service, "record_page", failing_record_page)
    recorder = PageRecorder(threaded=True)
    recorder.record(_written(1), lambda: marked.append(1))
    recorder.record(_written(2), lambda: marked.append(2))  # queued behind page 1
    with pytest.raises(RuntimeError, match="page 1"):
        recorder.record(_written(3), lambda: marked.append(3))
    recorder.close()

    # Page 2 was queued before page 1 failed, and still neither it nor its cursor was stored.
    assert stored == []
    assert marked == []


def test_links_looked_up_ahead_are_used_only_while_every_page_written_since_is_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups: list[list[str]] = []

    def stored_links(workflow: Any, source_ids: list[str]) -> dict[str, RecordLink]:
        lookups.append(list(source_ids))
        return {}

    monkeypatch.setattr(run_service, "_stored_links", stored_links)
    monkeypatch.setattr(run_service, "record_page", lambda page, mark_read: None)
    recorder = PageRecorder(threaded=True)
    recorder.prefetch(None, 1, ["a"])  # type: ignore[arg-type]  # read far ahead, as the flood guard does
    for n in range(PageRecorder.REMEMBERED + 1):
        recorder.record(_written(n, links=("x",)), lambda: None)
    recorder.wait()
    recorder.prefetch(None, 2, ["b"])  # type: ignore[arg-type]
    recorder.record(_written(9, links=("b",)), lambda: None)

    # More pages were written after "a" was looked up than are remembered: it is looked up again.
    assert recorder.links_for(None, ["a"], page_key=1) == {}  # type: ignore[arg-type]
    assert lookups == [["a"], ["b"], ["a"]]
    # One page was written after "b" was looked up: the lookup stands, and that page's link is newer.
    links = recorder.links_for(None, ["b"], page_key=2)  # type: ignore[arg-type]
    assert lookups == [["a"], ["b"], ["a"]]
    assert links["b"].target_id == "tb"
    recorder.close()


def test_a_link_written_by_a_page_not_yet_stored_is_the_one_the_next_page_plans_with(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    assert run_now(workflow).status == Run.Status.SUCCEEDED
    run = run_service.run_request(workflow=workflow, trigger=Run.Trigger.MANUAL, enqueue=False)
    assert run is not None
    context = run_service._context(run)
    assert context.source_connection is not None
    source = client_for(context.source_connection)
    record = next(iter(source.list_changes("contacts", None, page_size=10))).records[0]
    # The page that wrote this link is still being recorded: written, not stored.
    link = RecordLink.objects.get(workflow=workflow, source_id=record.id)
    RecordLink.objects.filter(pk=link.pk).delete()
    release = threading.Event()
    monkeypatch.setattr(run_service, "record_page", lambda page, mark_read: release.wait(timeout=10))
    recorder = PageRecorder(threaded=True)
    written = _written(run.pk)
    written.links.append(link)
    recorder.record(written, lambda: None)

    links = recorder.links_for(workflow, [record.id])
    seen = run_service.write_records(context, [record], links=links)
    unseen = run_service.write_records(context, [record])
    release.set()
    recorder.close()

    assert links[record.id] is not link  # a copy: the original may be being stored on another thread
    assert links[record.id].target_id == link.target_id
    assert [o["outcome"] for o in seen.outcomes if isinstance(o, dict)] == [RunRecord.Outcome.UNCHANGED]
    unseen_outcomes = [o["outcome"] for o in unseen.outcomes if isinstance(o, dict)]
    assert unseen_outcomes in ([RunRecord.Outcome.CREATED], [RunRecord.Outcome.UPDATED])


@pytest.mark.django_db(transaction=True)
def test_a_crash_while_recording_on_its_own_thread_rereads_and_neither_skips_nor_repeats(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm_sandbox.reset(seed=450)  # five pages of 100
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    real_save_links = run_service.save_links
    calls = {"n": 0}
    recorded_on: set[str] = set()

    class Crash(RuntimeError):
        pass

    def crashing_save_links(workflow: Any, links: list[RecordLink]) -> None:
        recorded_on.add(threading.current_thread().name.split("_")[0])
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("worker died while recording page 3")
        real_save_links(workflow, links)

    monkeypatch.setattr(run_service, "save_links", crashing_save_links)
    with pytest.raises(Crash):
        run_now(workflow)
    crashed = Run.objects.get(workflow=workflow)
    assert crashed.status == Run.Status.FAILED
    # Pages 1 and 2 recorded; 3 failed; 4 and 5 perhaps written (queued behind 3), never recorded.
    assert crashed.records_read == 200
    assert RunRecord.objects.filter(run=crashed).count() == 200
    assert RecordLink.objects.filter(workflow=workflow).count() == 200
    cursor_after_crash = TriggerCursor.objects.get(workflow=workflow).value
    assert cursor_after_crash is not None
    expected = "hub-record" if connection.vendor == "postgresql" else "MainThread"
    assert recorded_on == {expected}

    monkeypatch.setattr(run_service, "save_links", real_save_links)
    resumed = run_now(workflow)

    assert resumed.status == Run.Status.SUCCEEDED, resumed.error
    assert resumed.records_read >= 250
    assert RunRecord.objects.filter(run=resumed).count() == resumed.records_read
    assert RecordLink.objects.filter(workflow=workflow).count() == 450
    emails = sorted(c["properties"]["email"].strip().lower() for c in crm_contacts(crm_sandbox))
    assert sorted(u["email"] for u in helpdesk_users(helpdesk_sandbox)) == emails
