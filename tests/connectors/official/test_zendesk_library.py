"""The helpdesk sandbox driven by zenpy, the community Zendesk library (Zendesk has no official one).

Zendesk webhook signatures have no check in zenpy; ours is tested in tests/connectors/test_zendesk_tickets.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from connectors.sandbox.testing import HELPDESK_EMAIL, HELPDESK_TOKEN, SandboxProcess

zenpy = pytest.importorskip("zenpy", reason="zenpy is not installed (pip install zenpy)")
from zenpy.lib.api_objects import Ticket, User  # noqa: E402 - only importable after the skip
from zenpy.lib.exception import APIException  # noqa: E402


@pytest.fixture
def zd(helpdesk_sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> Any:
    # zenpy builds https://<subdomain>.zendesk.com; these are its own switches to call another host.
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", urlsplit(helpdesk_sandbox.url).netloc)
    helpdesk_sandbox.reset(30)
    return zenpy.Zenpy(subdomain="demo", email=HELPDESK_EMAIL, token=HELPDESK_TOKEN)


def test_the_library_pages_through_every_user(zd: Any, helpdesk_sandbox: SandboxProcess) -> None:
    emails = {user.email for user in zd.users()}

    assert zd.users.me().email == HELPDESK_EMAIL
    assert emails == {u["email"] for u in helpdesk_sandbox.records("users")}


def test_the_library_creates_a_user_and_a_ticket_for_them(zd: Any, helpdesk_sandbox: SandboxProcess) -> None:
    user = zd.users.create(User(name="Ada Lovelace", email="ada@example.com"))

    audit = zd.tickets.create(
        Ticket(subject="Printer on fire", description="Smoke everywhere", requester_id=user.id)
    )

    assert audit.ticket.requester_id == user.id and audit.ticket.subject == "Printer on fire"
    stored = next(t for t in helpdesk_sandbox.records("tickets") if t["id"] == audit.ticket.id)
    assert stored["description"] == "Smoke everywhere"
    assert audit.ticket.id in {t.id for t in zd.tickets()}


def test_the_library_sees_zendesks_validation_errors(zd: Any) -> None:
    with pytest.raises(APIException) as caught:
        zd.users.create(User(name="Bad Email", email="not-an-email"))

    assert "not properly formatted" in str(caught.value)
