"""The two-way sync templates where they are offered: the templates page, and the template's own page.

Schemas come from the cache (tests.pages.conftest) and the connections point at a closed port, so these
pages never ask a system anything; creating from a template reads and writes nothing outside the database.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from connectors.models import Connection
from tests.factories import hubspot_connection
from tests.pages.forms import form_data
from tests.pages.test_query_counts import _grows_not
from workflows.sync.models import Sync

pytestmark = pytest.mark.django_db

KEY = "hubspot-zendesk-companies-contacts"
TITLE = "HubSpot ↔ Zendesk: companies and contacts"


def _page() -> str:
    return reverse("sync:sync_template", args=[KEY])


def test_the_templates_page_offers_the_sync_template_with_the_teams_connections(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    page = editor_client.get(reverse("workflow_templates")).content.decode()
    section = page[page.index('id="sync-templates"') :]
    assert TITLE in section
    assert f"<strong>{crm.name}</strong> and <strong>{helpdesk.name}</strong>" in section
    assert f'href="{_page()}">Use this template' in section


def test_without_a_helpdesk_the_templates_page_says_which_connection_to_add(
    editor_client: Any, crm: Connection
) -> None:
    page = editor_client.get(reverse("workflow_templates")).content.decode()
    section = page[page.index('id="sync-templates"') :]
    assert f'href="{reverse("connection_new")}?kind=zendesk">Add Zendesk Support' in section
    assert "Use this template" not in section
    template_page = editor_client.get(_page()).content.decode()
    assert (
        'id="sync-template"' not in template_page
        and "Add a Zendesk Support connection first" in template_page
    )


def test_the_syncs_list_links_the_templates(editor_client: Any) -> None:
    page = editor_client.get(reverse("sync:sync_list")).content.decode()
    assert f'href="{reverse("workflow_templates")}#sync-templates"' in page


def test_the_template_page_shows_what_it_creates_and_offers_only_the_teams_connections_of_each_kind(
    editor_client: Any, team: Any, other_team: Any, crm: Connection, helpdesk: Connection
) -> None:
    second_crm = hubspot_connection(team=team, base_url="http://127.0.0.1:9", name="A second CRM")
    foreign = hubspot_connection(team=other_team, base_url="http://127.0.0.1:9", name="Their CRM")
    html = editor_client.get(_page()).content.decode()
    assert "HubSpot companies ↔ Zendesk organizations" in html and "HubSpot contacts ↔ Zendesk users" in html
    # The phone row: both ways, the helpdesk wins; the notes row goes to review.
    assert (
        "<td>phone</td>\n        <td>↔</td>\n        <td>phone</td>\n        <td>Zendesk Support wins</td>"
        in html
    )
    assert (
        "<td>notes_internal</td>\n        <td>↔</td>\n        <td>notes</td>\n        <td>review queue</td>"
        in html
    )
    assert f'<option value="{second_crm.pk}">A second CRM</option>' in html
    assert f'<option value="{crm.pk}">{crm.name}</option>' in html
    assert f'value="{foreign.pk}"' not in html and f'value="{helpdesk.pk}">{helpdesk.name}' in html
    # The first connection by name is the default.
    assert form_data(html, "sync-template")["a_connection"] == [str(second_crm.pk)]


def test_creating_from_the_template_makes_two_syncs_switched_off_and_opens_the_editor(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = form_data(editor_client.get(_page()).content.decode(), "sync-template")
    response = editor_client.post(_page(), data, follow=True)
    companies, contacts = Sync.objects.get(a_object="companies"), Sync.objects.get(a_object="contacts")
    assert response.redirect_chain == [(reverse("sync:sync_edit", args=[contacts.pk]), 302)]
    assert {(s.team, s.a_connection, s.b_connection, s.enabled) for s in (companies, contacts)} == {
        (team, crm, helpdesk, False)
    }
    assert companies.periodic_task is None and contacts.periodic_task is None
    html = response.content.decode()
    assert (
        "Created “HubSpot companies ↔ Zendesk organizations” and “HubSpot contacts ↔ Zendesk users”" in html
    )
    assert "The sync is off" in html
    # Saved back from the editor unchanged, the template's definition stays whole (the company reference too).
    before = (contacts.fields, contacts.match, contacts.create, contacts.first_sync)
    saved = editor_client.post(response.redirect_chain[0][0], form_data(html, "sync-editor"))
    assert saved.status_code == 302, saved.content.decode()[:2000]
    contacts.refresh_from_db()
    assert not contacts.enabled
    assert (contacts.fields, contacts.match, contacts.create, contacts.first_sync) == before


def test_another_teams_connection_is_refused_and_nothing_is_created(
    editor_client: Any, other_team: Any, crm: Connection, helpdesk: Connection
) -> None:
    foreign = hubspot_connection(team=other_team, base_url="http://127.0.0.1:9", name="Their CRM")
    response = editor_client.post(_page(), {"a_connection": foreign.pk, "b_connection": helpdesk.pk})
    assert response.status_code == 400
    assert 'id="t-a-connection-error"' in response.content.decode()
    assert not Sync.objects.exists()


def test_an_unknown_template_is_not_found(editor_client: Any) -> None:
    assert editor_client.get(reverse("sync:sync_template", args=["no-such-template"])).status_code == 404


@pytest.mark.parametrize("page", ["templates", "template"])
def test_the_pages_that_offer_sync_templates_cost_the_same_queries_with_more_connections(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, page: str
) -> None:
    url = reverse("workflow_templates") if page == "templates" else _page()

    def more_connections(n: int) -> str:
        for i in range(Connection.objects.filter(team=team).count(), n):
            kind = "hubspot" if i % 2 else "zendesk"
            Connection.objects.create(team=team, name=f"Extra {i}", kind=kind, config={})
        return url

    small, large = _grows_not(editor_client, more_connections)
    assert small == large
