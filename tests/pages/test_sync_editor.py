"""The sync editor: two connections and an object on each, field pairs, matching, filters, deletions.

Pages are driven as a browser would: the form is read back from the rendered HTML (tests.pages.forms),
changed, and posted. Schemas come from the cache (tests.pages.conftest), so no page asks a system.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from connectors.base import Capabilities
from connectors.models import Connection
from connectors.registry import get_provider
from tests.pages.forms import form_data
from workflows.sync.models import Sync
from workflows.sync.services.definition import sync_create

pytestmark = pytest.mark.django_db

NEW = "sync:sync_new"
REFRESH = "sync:sync_editor_refresh"


def _body_form(html: str) -> dict[str, list[str]]:
    """The controls of an HTMX-swapped editor body, as the page's form would post them."""
    return form_data(f'<form id="sync-editor">{html}</form>', "sync-editor")


def _refresh(client: Any, data: dict[str, list[str]], **extra: str) -> tuple[str, dict[str, list[str]]]:
    response = client.post(reverse(REFRESH), {**data, **{k: [v] for k, v in extra.items()}})
    assert response.status_code == 200
    html = response.content.decode()
    return html, _body_form(html)


def _started(client: Any, crm: Connection, helpdesk: Connection) -> dict[str, list[str]]:
    """The new-sync form with both sides chosen, the way a person picks them one after the other."""
    data = form_data(client.get(reverse(NEW)).content.decode(), "sync-editor")
    data.update(name=["Contacts ↔ users"], a_connection=[str(crm.pk)])
    _, data = _refresh(client, data)
    data.update(a_object=["contacts"], b_connection=[str(helpdesk.pk)])
    _, data = _refresh(client, data)
    data.update(b_object=["users"])
    _, data = _refresh(client, data)
    data["name"] = ["Contacts ↔ users"]
    return data


def _pair_keys(data: dict[str, list[str]]) -> list[str]:
    return data.get("pair", [])


def test_choosing_both_sides_offers_each_sides_fields_in_the_pickers(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _started(editor_client, crm, helpdesk)
    html, _ = _refresh(editor_client, data)

    assert "Customer tier (customer_tier) · enumeration · custom" in html  # A's (HubSpot) picker
    assert "Customer tier (user_fields.customer_tier)" in html  # B's (Zendesk) picker
    assert 'name="a_object"' in html and 'value="contacts" selected' in html


def test_rows_are_added_for_pairs_match_rules_and_each_sides_filter(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _started(editor_client, crm, helpdesk)
    pairs_before, rules_before = len(data["pair"]), len(data["match"])

    _, data = _refresh(editor_client, data, add="pair")
    _, data = _refresh(editor_client, data, add="match")
    _, data = _refresh(editor_client, data, add="filter_b")

    assert len(data["pair"]) == pairs_before + 1
    assert len(data["match"]) == rules_before + 1
    conditions = data["condition"]
    assert len(conditions) == 1 and conditions[0].startswith("b")


def test_suggest_pairs_fields_with_the_same_meaning_both_ways(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _started(editor_client, crm, helpdesk)

    _, data = _refresh(editor_client, data, add="suggest")

    pairs = {(data[f"p-{key}-a"][0], data[f"p-{key}-b"][0]) for key in _pair_keys(data)}
    assert {("email", "email"), ("phone", "phone"), ("customer_tier", "user_fields.customer_tier")} <= pairs
    assert all(data[f"p-{key}-direction"] == ["both"] for key in _pair_keys(data))


def test_a_sync_is_created_from_the_page_with_every_setting(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _started(editor_client, crm, helpdesk)
    first = _pair_keys(data)[0]
    data.update({f"p-{first}-a": ["email"], f"p-{first}-b": ["email"]})
    _, data = _refresh(editor_client, data, add="pair")
    second = _pair_keys(data)[1]
    data.update(
        {
            f"p-{second}-a": ["phone"],
            f"p-{second}-b": ["phone"],
            f"p-{second}-direction": ["b_to_a"],
            f"p-{second}-policy": ["last_write"],
            f"p-{second}-allow_empty": ["on"],
        }
    )
    _, data = _refresh(editor_client, data, add="filter_a")
    condition = data["condition"][0]
    data.update({f"c-{condition}-field": ["email"], f"c-{condition}-op": ["is_not_empty"]})
    data.update(
        create=["a_to_b"],
        first_sync=["match_only"],
        deletion=["archive"],
        archive_a_field=["lifecyclestage"],
        archive_a_value=["other"],
        archive_b_field=["active"],
        archive_b_value=["false"],
        poll_interval_seconds=["300"],
        enabled=["on"],
    )

    response = editor_client.post(reverse(NEW), data)

    sync = Sync.objects.get(team=team)
    assert response.status_code == 302 and response["Location"] == reverse("sync:sync_detail", args=[sync.pk])
    assert (sync.a_connection, sync.a_object, sync.b_connection, sync.b_object) == (
        crm,
        "contacts",
        helpdesk,
        "users",
    )
    assert sync.fields == [
        {"a": "email", "b": "email", "direction": "both", "policy": "a_wins", "allow_empty": False},
        {"a": "phone", "b": "phone", "direction": "b_to_a", "policy": "last_write", "allow_empty": True},
    ]
    assert sync.match == [{"rule": "email", "a": "email", "b": "email"}]
    assert sync.filters == {"a": {"all": [{"field": "email", "op": "is_not_empty"}]}}
    assert (sync.create, sync.first_sync, sync.deletion) == ("a_to_b", "match_only", "archive")
    assert sync.archive == {
        "a": {"field": "lifecyclestage", "value": "other"},
        "b": {"field": "active", "value": False},
    }
    assert sync.poll_interval_seconds == 300
    assert sync.enabled and sync.periodic_task is not None


def test_problems_are_shown_next_to_the_field_or_row_they_are_about(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _started(editor_client, crm, helpdesk)
    first = _pair_keys(data)[0]
    data.update({f"p-{first}-a": ["email"], f"p-{first}-b": ["email"]})
    _, data = _refresh(editor_client, data, add="pair")
    second = _pair_keys(data)[1]
    # A second pair writing B's email again, and a composite rule with one field on one side only.
    data.update({f"p-{second}-a": ["firstname"], f"p-{second}-b": ["email"]})
    rule = data["match"][0]
    data.update(
        {f"m-{rule}-rule": ["composite"], f"m-{rule}-a": ["firstname, lastname"], f"m-{rule}-b": ["name"]}
    )

    response = editor_client.post(reverse(NEW), data)
    html = response.content.decode()

    assert response.status_code == 400
    assert not Sync.objects.filter(team=team).exists()
    assert (
        f'<p class="field-error" id="p-{second}-error">B field \'email\' is already written by pair '
        "'email~email'</p>"
    ) in html.replace("&#x27;", "'")
    assert f'id="m-{rule}-error">A composite key needs as many fields on side A as on side B</p>' in html


def test_a_nameless_sync_without_records_chosen_is_refused_field_by_field(
    editor_client: Any, crm: Connection
) -> None:
    data = form_data(editor_client.get(reverse(NEW)).content.decode(), "sync-editor")
    data.update(a_connection=[str(crm.pk)])

    html = editor_client.post(reverse(NEW), data).content.decode()

    assert 'id="f-name-error">Give the sync a name.</p>' in html
    assert 'id="f-a-object-error">Choose the records of side A.</p>' in html
    assert 'id="f-b-connection-error">Choose the connection of side B.</p>' in html
    assert 'id="f-pairs-error" role="alert">Add at least one field pair.</p>' in html


def test_propagate_is_refused_with_a_message_when_a_side_cannot_delete(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = get_provider(helpdesk.kind)
    monkeypatch.setattr(provider, "capabilities", {"users": Capabilities(upsert_key="email", delete=False)})
    data = _started(editor_client, crm, helpdesk)
    first = _pair_keys(data)[0]
    data.update({f"p-{first}-a": ["email"], f"p-{first}-b": ["email"], "deletion": ["propagate"]})

    response = editor_client.post(reverse(NEW), data)
    html = response.content.decode().replace("&#x27;", "'")

    assert response.status_code == 400 and not Sync.objects.filter(team=team).exists()
    assert (
        f'id="f-deletion-error">{helpdesk.name} can\'t delete users through its connector; choose '
        "'archive' (set a field) or 'ignore'</p>"
    ) in html
    assert f"{helpdesk.name} can't." in html


def _saved(team: Any, crm: Connection, helpdesk: Connection, **overrides: Any) -> Sync:
    options: dict[str, Any] = {
        "team": team,
        "name": "Contacts ↔ users",
        "a_connection": crm,
        "a_object": "contacts",
        "b_connection": helpdesk,
        "b_object": "users",
        "fields": [
            {"key": "email", "a": "email", "b": "email", "direction": "both", "policy": "a_wins"},
            {
                "key": "name",
                "a": "firstname",
                "b": "name",
                "direction": "a_to_b",
                "a_to_b": {"source": ["firstname", "lastname"], "transforms": [{"name": "join"}]},
            },
        ],
        "match": [{"rule": "email", "a": "email", "b": "email"}],
        "filters": {
            "b": {"any": [{"field": "email", "op": "is_not_empty"}, {"field": "phone", "op": "is_not_empty"}]}
        },
        "deleted_when": {"b": {"field": "active", "op": "equals", "value": False}},
    }
    options.update(overrides)
    return sync_create(**options)


def test_editing_changes_what_the_page_shows_and_keeps_what_it_does_not(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    sync = _saved(team, crm, helpdesk)
    url = reverse("sync:sync_edit", args=[sync.pk])
    data = form_data(editor_client.get(url).content.decode(), "sync-editor")
    email = next(key for key in data["pair"] if data[f"p-{key}-a"] == ["email"])
    data[f"p-{email}-policy"] = ["manual"]
    # A saved sync keeps its connections, whatever is posted.
    data["a_connection"] = [str(helpdesk.pk)]

    response = editor_client.post(url, data)

    sync.refresh_from_db()
    assert response.status_code == 302
    assert sync.a_connection == crm
    assert sync.fields[0] == {
        "key": "email",
        "a": "email",
        "b": "email",
        "direction": "both",
        "policy": "manual",
        "allow_empty": False,
    }
    # The transforms of the name pair, the nested filter and deleted_when were not on the page as controls.
    assert sync.fields[1]["a_to_b"] == {"source": ["firstname", "lastname"], "transforms": [{"name": "join"}]}
    assert sync.filters == {
        "b": {"any": [{"field": "email", "op": "is_not_empty"}, {"field": "phone", "op": "is_not_empty"}]}
    }
    assert sync.deleted_when == {"b": {"field": "active", "op": "equals", "value": False}}


def test_a_rejected_edit_changes_nothing(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    sync = _saved(team, crm, helpdesk)
    url = reverse("sync:sync_edit", args=[sync.pk])
    data = form_data(editor_client.get(url).content.decode(), "sync-editor")
    data["poll_interval_seconds"] = ["2"]

    response = editor_client.post(url, data)

    assert response.status_code == 400
    assert 'id="f-poll-error">Poll at most every 5 seconds</p>' in response.content.decode()
    sync.refresh_from_db()
    assert sync.poll_interval_seconds == 60


def test_another_teams_sync_cannot_be_edited_refreshed_or_switched_on(
    outsider_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    sync = _saved(team, crm, helpdesk)

    assert outsider_client.get(reverse("sync:sync_edit", args=[sync.pk])).status_code == 404
    assert outsider_client.post(reverse("sync:sync_edit", args=[sync.pk]), {"name": "x"}).status_code == 404
    assert outsider_client.post(reverse(REFRESH), {"sync": str(sync.pk)}).status_code == 404
    assert (
        outsider_client.post(reverse("sync:sync_toggle", args=[sync.pk]), {"enabled": "on"}).status_code
        == 404
    )
    sync.refresh_from_db()
    assert sync.name == "Contacts ↔ users" and not sync.enabled


def test_the_editor_needs_a_signed_in_team_member(client: Any) -> None:
    response = client.get(reverse(NEW))

    assert response.status_code == 302 and "login" in response["Location"]


def test_an_editor_switches_a_sync_on_and_off_and_runs_it_now(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    sync = _saved(team, crm, helpdesk)
    page = editor_client.get(reverse("sync:sync_detail", args=[sync.pk])).content.decode()
    assert reverse("sync:sync_edit", args=[sync.pk]) in page and "Run now" in page

    editor_client.post(reverse("sync:sync_toggle", args=[sync.pk]), {"enabled": "on"})
    sync.refresh_from_db()
    assert sync.enabled and sync.periodic_task is not None and sync.periodic_task.enabled

    editor_client.post(reverse("sync:sync_toggle", args=[sync.pk]), {})
    sync.refresh_from_db()
    assert not sync.enabled


def test_the_navigation_and_the_list_lead_to_the_editor(editor_client: Any) -> None:
    dashboard = editor_client.get(reverse("dashboard")).content.decode()
    listing = editor_client.get(reverse("sync:sync_list")).content.decode()

    assert f'href="{reverse("sync:sync_list")}">Syncs</a>' in dashboard
    assert reverse(NEW) in listing
