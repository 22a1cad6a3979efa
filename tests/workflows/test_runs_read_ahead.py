"""A poll reads its next page while it writes and records the current one, and keeps every guarantee."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.base import ChangePage, ConnectorError
from tests.workflows.helpers import crm_contacts, crm_to_helpdesk, helpdesk_users, run_now
from workflows.models import RecordLink, Run, RunRecord, TriggerCursor
from workflows.services import runs as run_service


def _page(n: int, *, more: bool = True) -> ChangePage:
    return ChangePage(records=[], cursor=f"c{n}", has_more=more)


def test_the_next_page_is_read_while_the_current_one_is_processed() -> None:
    second_requested = threading.Event()

    def source() -> Iterator[ChangePage]:
        yield _page(1)
        second_requested.set()
        yield _page(2, more=False)

    pages = run_service._read_ahead(source())
    first = next(pages)

    # Still "processing" page 1: the reader has already gone for page 2. Without read-ahead this would
    # wait forever, as the source is only asked for page 2 after page 1 is done.
    assert first.cursor == "c1"
    assert second_requested.wait(timeout=10)
    assert [page.cursor for page in pages] == ["c2"]


def test_a_read_error_reaches_the_run_after_the_pages_before_it() -> None:
    def source() -> Iterator[ChangePage]:
        yield _page(1)
        raise ConnectorError("the CRM answered 503", permanent=False)

    pages = run_service._read_ahead(source())

    assert next(pages).cursor == "c1"
    with pytest.raises(ConnectorError, match="503"):
        next(pages)


def test_stopping_early_reads_at_most_one_page_ahead() -> None:
    asked: list[int] = []

    def source() -> Iterator[ChangePage]:
        for n in range(1, 100):
            asked.append(n)
            yield _page(n)

    pages = run_service._read_ahead(source())
    assert next(pages).cursor == "c1"
    pages.close()  # the run stopped (a crash, a held flood) while page 1 was being written

    assert asked == [1, 2]


def test_a_crash_with_a_page_read_ahead_rereads_it_and_skips_nothing(
    team: Any, crm_sandbox: Any, helpdesk_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm_sandbox.reset(seed=450)  # five pages of 100
    workflow = crm_to_helpdesk(team, crm_sandbox, helpdesk_sandbox)
    real_save_links = run_service.save_links
    calls = {"n": 0}

    class Crash(RuntimeError):
        pass

    def crashing_save_links(workflow: Any, links: list[RecordLink]) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("worker died while recording page 3")
        real_save_links(workflow, links)

    monkeypatch.setattr(run_service, "save_links", crashing_save_links)
    with pytest.raises(Crash):
        run_now(workflow)
    crashed = Run.objects.get(workflow=workflow)
    assert crashed.records_read == 200  # pages 1 and 2 recorded; 3 written but not recorded; 4 read ahead
    assert RunRecord.objects.filter(run=crashed).count() == 200
    assert crashed.api_requests > 0
    cursor_after_crash = TriggerCursor.objects.get(workflow=workflow).value
    assert cursor_after_crash is not None  # where page 2 ended

    monkeypatch.setattr(run_service, "save_links", real_save_links)
    resumed = run_now(workflow)

    assert resumed.status == Run.Status.SUCCEEDED, resumed.error
    assert resumed.records_read >= 250
    assert TriggerCursor.objects.get(workflow=workflow).value != cursor_after_crash
    assert RecordLink.objects.filter(workflow=workflow).count() == 450
    emails = sorted(c["properties"]["email"].strip().lower() for c in crm_contacts(crm_sandbox))
    assert sorted(u["email"] for u in helpdesk_users(helpdesk_sandbox)) == emails
