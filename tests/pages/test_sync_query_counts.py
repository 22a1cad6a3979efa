"""Each sync page costs the same number of queries whether it shows a few rows or many."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from connectors.models import Connection
from tests.pages.test_query_counts import _grows_not
from workflows.sync.models import DuplicateHold, Sync, SyncConflict, SyncLink, SyncRun
from workflows.sync.services.definition import sync_create, sync_update

pytestmark = pytest.mark.django_db

CONTACT_FIELDS = ["email", "firstname", "lastname", "phone", "customer_tier", "nps_score"]


def _pairs(count: int) -> list[dict[str, Any]]:
    """`count` one-way pairs: an A field may be read by several, each writes its own B field."""
    return [
        {"key": f"p{i}", "a": CONTACT_FIELDS[i % 6], "b": f"user_fields.f{i}", "direction": "a_to_b"}
        for i in range(count)
    ]


def _sync(team: Any, crm: Connection, helpdesk: Connection, name: str, pairs: int = 1) -> Sync:
    return sync_create(
        team=team,
        name=name,
        a_connection=crm,
        a_object="contacts",
        b_connection=helpdesk,
        b_object="users",
        fields=_pairs(max(pairs, 1)),
        match=[{"rule": "email", "a": "email", "b": "email"}],
    )


def test_sync_list(editor_client: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    def build(n: int) -> str:
        for i in range(Sync.objects.filter(team=team).count(), n):
            sync = _sync(team, crm, helpdesk, f"Sync {i}")
            SyncRun.objects.create(sync=sync, status=SyncRun.Status.SUCCEEDED)
        return reverse("sync:sync_list")

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_sync_detail(editor_client: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    sync = _sync(team, crm, helpdesk, "Contacts", pairs=2)

    def build(n: int) -> str:
        for i in range(sync.runs.count(), n):
            SyncRun.objects.create(sync=sync, status=SyncRun.Status.PARTIAL, failed=1)
            SyncLink.objects.create(sync=sync, a_id=f"a{i}", b_id=f"b{i}")
        sync_update(sync=sync, fields=_pairs(n))
        return reverse("sync:sync_detail", args=[sync.pk])

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_sync_editor_new(editor_client: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    def build(n: int) -> str:
        # More connections to choose from.
        for i in range(Connection.objects.filter(team=team).count(), n):
            Connection.objects.create(team=team, name=f"Extra {i}", kind="hubspot", config={})
        return reverse("sync:sync_new")

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_sync_editor_edit(editor_client: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    sync = _sync(team, crm, helpdesk, "Contacts", pairs=2)

    def build(n: int) -> str:
        sync_update(
            sync=sync,
            fields=_pairs(n),
            match=[{"rule": "email", "a": "email", "b": "email"}] * (n // 2),
            filters={"a": {"all": [{"field": "email", "op": "is_not_empty"}] * n}},
        )
        return reverse("sync:sync_edit", args=[sync.pk])

    small, large = _grows_not(editor_client, build)
    assert small == large


def test_review_queue(client: Any, admin_user: Any, team: Any, crm: Connection, helpdesk: Connection) -> None:
    client.force_login(admin_user)
    sync = _sync(team, crm, helpdesk, "Contacts")

    def build(n: int) -> str:
        for i in range(SyncConflict.objects.count(), n):
            link = SyncLink.objects.create(sync=sync, a_id=f"a{i}", b_id=f"b{i}")
            SyncConflict.objects.create(sync=sync, link=link, pair_key="p0", a_field="email", b_field="email")
            DuplicateHold.objects.create(sync=sync, side="a", record_id=f"h{i}", candidates=["1", "2"])
        return reverse("sync:review_queue")

    small, large = _grows_not(client, build)
    assert small == large


def test_review_queue_shows_the_oldest_page_and_counts_them_all(
    client: Any, admin_user: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    from workflows.sync.views import REVIEW_PAGE

    client.force_login(admin_user)
    sync = _sync(team, crm, helpdesk, "Contacts")
    total = REVIEW_PAGE + 7
    for i in range(total):
        link = SyncLink.objects.create(sync=sync, a_id=f"a{i}", b_id=f"b{i}")
        SyncConflict.objects.create(sync=sync, link=link, pair_key="p0", a_field="email", b_field="email")
    DuplicateHold.objects.create(sync=sync, side="a", record_id="h0", candidates=["1", "2"])
    response = client.get(reverse("sync:review_queue"))
    assert response.status_code == 200
    shown = response.context["conflicts"]
    assert len(shown) == REVIEW_PAGE
    assert [c.link.a_id for c in shown] == [f"a{i}" for i in range(REVIEW_PAGE)]  # the oldest first
    html = response.content.decode()
    assert f"Conflicts ({total})" in html and f"Showing the oldest {REVIEW_PAGE};" in html
    assert "Possible duplicates (1)" in html and html.count("Showing the oldest") == 1
