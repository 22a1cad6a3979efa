from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from connectors.models import Connection
from tests.pages.forms import form_data
from workflows.demo import DEMO_MAPPING
from workflows.models import Workflow, WorkflowVersion
from workflows.services.workflow import workflow_create

pytestmark = pytest.mark.django_db


def _workflow(team: Any, crm: Connection, helpdesk: Connection, **overrides: Any) -> Workflow:
    options: dict[str, Any] = {
        "team": team,
        "name": "Contacts to users",
        "source_connection": crm,
        "source_object": "contacts",
        "target_connection": helpdesk,
        "target_object": "users",
        "mapping": DEMO_MAPPING,
        "match_field": "email",
    }
    options.update(overrides)
    return workflow_create(**options)


def test_editing_and_saving_without_changes_keeps_the_mapping_exactly(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk)
    url = reverse("workflow_edit", args=[workflow.pk])
    page = editor_client.get(url)
    assert page.status_code == 200
    data = form_data(page.content.decode())
    data["action"] = ["save"]
    response = editor_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    workflow.refresh_from_db()
    assert workflow.mapping == DEMO_MAPPING
    assert workflow.steps == []


def _new_form(client: Any, **params: str) -> dict[str, list[str]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    page = client.get(reverse("workflow_new") + (f"?{query}" if query else ""))
    assert page.status_code == 200
    return form_data(page.content.decode())


def _fragment(client: Any, name: str, data: dict[str, list[str]], **extra: str) -> str:
    response = client.post(
        reverse(name), {**data, **{k: [v] for k, v in extra.items()}}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.content.decode()


def _choose_ends(client: Any, crm: Connection, helpdesk: Connection) -> dict[str, list[str]]:
    data = _new_form(client)
    data.update(
        name=["Contacts to users"],
        source_connection=[str(crm.pk)],
        source_object=["contacts"],
        target_connection=[str(helpdesk.pk)],
        target_object=["users"],
    )
    body = _fragment(client, "builder_refresh", data)
    return form_data(f'<form id="builder">{body}</form>')


def test_pickers_list_the_cached_fields_with_types_and_custom_marks(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _choose_ends(editor_client, crm, helpdesk)
    row = _fragment(editor_client, "builder_row_add", data)
    assert "Customer tier (customer_tier) · enumeration · custom" in row
    assert "Name (name) · string · required" in row
    # Read-only target fields are offered as sources but never as targets of a row.
    assert "ID (id) · number · read-only" in row


def test_suggestions_pair_fields_by_name_and_label_and_prefill_the_value_map(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _choose_ends(editor_client, crm, helpdesk)
    html = _fragment(editor_client, "builder_suggest", data)
    suggested = form_data(f'<form id="builder">{html}</form>')
    rows = suggested["row"]
    pairs = {suggested[f"r-{k}-source"][0]: suggested[f"r-{k}-target"][0] for k in rows}
    assert pairs == {
        "email": "email",
        "phone": "phone",
        "customer_tier": "user_fields.customer_tier",
        "nps_score": "user_fields.nps_score",
    }
    tier = next(k for k in rows if suggested[f"r-{k}-source"] == ["customer_tier"])
    [t_key] = suggested[f"r-{tier}-t"]
    assert suggested[f"r-{tier}-t-{t_key}-name"] == ["value_map"]
    assert suggested[f"r-{tier}-t-{t_key}-from"] == ["bronze", "silver", "gold", "platinum"]
    assert suggested[f"r-{tier}-t-{t_key}-to"] == ["bronze", "silver", "gold", "platinum"]
    assert "suggested: same name" in html


def test_a_new_workflow_is_saved_as_an_unpublished_disabled_draft(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _choose_ends(editor_client, crm, helpdesk)
    html = _fragment(editor_client, "builder_suggest", data)
    data.update(form_data(f'<form id="builder">{html}</form>'))
    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert response.status_code == 302, response.content.decode()[:3000]
    workflow = Workflow.objects.get(team=team, name="Contacts to users")
    assert not workflow.enabled and workflow.published_version is None
    targets = [row["target"] for row in workflow.mapping["fields"]]
    assert targets == ["email", "phone", "user_fields.customer_tier", "user_fields.nps_score"]
    tier = workflow.mapping["fields"][2]
    assert tier["transforms"] == [
        {"name": "value_map", "args": {"map": {v: v for v in ("bronze", "silver", "gold", "platinum")}}}
    ]
    assert response["Location"] == reverse("workflow_edit", args=[workflow.pk])


def test_errors_are_shown_next_to_the_field_they_concern_and_nothing_is_saved(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _choose_ends(editor_client, crm, helpdesk)
    data["name"] = [""]
    data["target_object"] = [""]
    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert response.status_code == 400
    html = response.content.decode()
    assert (
        'id="f-name" name="name" value="" maxlength="120" required aria-invalid="true" aria-describedby="f-name-error"'
        in html
    )
    assert '<p class="field-error" id="f-name-error">Give the workflow a name.</p>' in html
    assert 'id="f-target-object-error">Choose what kind of record to write.</p>' in html
    assert not Workflow.objects.filter(team=team).exists()


def test_a_setting_that_is_not_a_number_is_reported_on_its_row(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _choose_ends(editor_client, crm, helpdesk)
    row = form_data(f'<form id="builder">{_fragment(editor_client, "builder_row_add", data)}</form>')
    key = row["row"][0]
    data.update(row)
    data[f"r-{key}-source"] = ["firstname"]
    data[f"r-{key}-target"] = ["name"]
    data[f"r-{key}-add"] = ["truncate"]
    refreshed = form_data(
        f'<form id="builder">{_fragment(editor_client, "builder_row_refresh", data, key=key)}</form>'
    )
    data.update(refreshed)
    [t_key] = refreshed[f"r-{key}-t"]
    data[f"r-{key}-t-{t_key}-a-length"] = ["ten"]
    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert response.status_code == 400
    assert "Shorten: “Maximum length” must be a whole number." in response.content.decode()
    assert not Workflow.objects.filter(team=team).exists()


def test_publishing_is_refused_while_the_mapping_has_schema_errors(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    workflow = _workflow(
        team, crm, helpdesk, mapping={"fields": [{"target": "email", "source": ["email"]}]}, publish=False
    )
    url = reverse("workflow_edit", args=[workflow.pk])
    data = form_data(editor_client.get(url).content.decode())
    response = editor_client.post(url, {**data, "action": ["publish"]}, follow=True)
    assert "Saved as a draft, not published" in response.content.decode()
    assert "is required by Users but not mapped" in response.content.decode()
    workflow.refresh_from_db()
    assert workflow.published_version is None


def test_publishing_a_sound_draft_makes_a_version(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    mapping = {
        "fields": [{"target": "name", "source": ["firstname"]}, {"target": "email", "source": ["email"]}]
    }
    workflow = _workflow(team, crm, helpdesk, mapping=mapping, publish=False)
    url = reverse("workflow_edit", args=[workflow.pk])
    data = form_data(editor_client.get(url).content.decode())
    response = editor_client.post(url, {**data, "action": ["publish"]}, follow=True)
    assert "Saved and published version 1." in response.content.decode()
    assert WorkflowVersion.objects.filter(workflow=workflow).count() == 1


def test_conditions_become_a_filter_before_the_write(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    mapping = {
        "fields": [{"target": "name", "source": ["firstname"]}, {"target": "email", "source": ["email"]}]
    }
    workflow = _workflow(team, crm, helpdesk, mapping=mapping, publish=False)
    url = reverse("workflow_edit", args=[workflow.pk])
    data = form_data(editor_client.get(url).content.decode())
    condition = form_data(
        f'<form id="builder">{_fragment(editor_client, "builder_condition_add", data)}</form>'
    )
    key = condition["condition"][0]
    data.update(condition)
    data.update(
        {
            f"c-{key}-field": ["customer_tier"],
            f"c-{key}-op": ["in_list"],
            f"c-{key}-value": ["gold, platinum"],
        }
    )
    data["conjunction"] = ["any"]
    assert editor_client.post(url, {**data, "action": ["save"]}).status_code == 302
    workflow.refresh_from_db()
    assert workflow.steps[0] == {
        "type": "filter",
        "condition": {"any": [{"field": "customer_tier", "op": "in_list", "value": ["gold", "platinum"]}]},
    }
    assert workflow.steps[1]["type"] == "action" and workflow.steps[1]["mapping"] == mapping
    # And the editor reads them back: saving again changes nothing.
    again = form_data(editor_client.get(url).content.decode())
    assert again[f"c-{again['condition'][0]}-value"] == ["gold, platinum"]
    assert again["conjunction"] == ["any"]


def test_preview_maps_a_pasted_record_shows_warnings_and_writes_nothing(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk)
    url = reverse("workflow_edit", args=[workflow.pk])
    data = form_data(editor_client.get(url).content.decode())
    data["sample"] = [
        json.dumps(
            {
                "firstname": "Ada",
                "lastname": "Lovelace",
                "email": " ADA@Example.com ",
                "customer_tier": "diamond",
                "nps_score": "9",
            }
        )
    ]
    html = _fragment(editor_client, "builder_preview", data)
    assert "<strong>&#x27;Ada Lovelace&#x27;</strong>" in html
    assert "<strong>&#x27;ada@example.com&#x27;</strong>" in html
    assert "<strong>9</strong>" in html and "converted text &#x27;9&#x27; to a number 9" in html
    # The tier has no translation: the row drops it and says so, instead of failing the record.
    assert "not written: &#x27;diamond&#x27; has no mapping; the target keeps its current value" in html
    # Fields the cached schema does not list are errors before anything runs.
    assert "Row 4 (external_id): &#x27;external_id&#x27; is not a field of Users" in html
    assert not workflow.runs.exists()


def test_preview_says_what_is_wrong_with_the_sample(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _choose_ends(editor_client, crm, helpdesk)
    data["sample"] = ["[1, 2]"]
    assert "The sample must be one record" in _fragment(editor_client, "builder_preview", data)


def test_another_team_cannot_open_or_post_the_builder_of_a_workflow(
    outsider_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk)
    url = reverse("workflow_edit", args=[workflow.pk])
    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url, {"name": "Stolen", "action": "save"}).status_code == 404
    assert outsider_client.post(reverse("builder_refresh"), {"workflow": str(workflow.pk)}).status_code == 404
    workflow.refresh_from_db()
    assert workflow.name == "Contacts to users"


def test_a_connection_of_another_team_is_not_offered_nor_accepted(
    editor_client: Any, outsider: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    from tests.factories import zendesk_connection

    foreign = zendesk_connection(
        team=outsider.membership.team, base_url="http://127.0.0.1:9", name="Their desk"
    )
    data = _choose_ends(editor_client, crm, helpdesk)
    assert "Their desk" not in editor_client.get(reverse("workflow_new")).content.decode()
    data["target_connection"] = [str(foreign.pk)]
    response = editor_client.post(reverse("workflow_new"), {**data, "action": ["save"]})
    assert response.status_code == 400
    assert not Workflow.objects.exists()


def test_export_then_import_gives_an_equal_draft(
    editor_client: Any, team: Any, crm: Connection, helpdesk: Connection
) -> None:
    workflow = _workflow(team, crm, helpdesk)
    exported = editor_client.get(reverse("workflow_export", args=[workflow.pk]))
    assert exported["Content-Disposition"] == 'attachment; filename="contacts-to-users.json"'
    document = json.loads(exported.content)
    assert document["trigger"]["connection"] == "CRM" and document["target"]["connection"] == "Helpdesk"
    document["name"] = "Contacts to users (copy)"
    response = editor_client.post(reverse("workflow_import"), {"document": json.dumps(document)})
    assert response.status_code == 302
    copy = Workflow.objects.get(team=team, name="Contacts to users (copy)")
    assert copy.mapping == workflow.mapping and copy.source_connection == crm and not copy.enabled


def test_import_names_what_is_wrong_with_the_document(editor_client: Any, crm: Connection) -> None:
    response = editor_client.post(reverse("workflow_import"), {"document": '{"format": "something else"}'})
    assert response.status_code == 400
    assert "format:" in response.content.decode()
    assert editor_client.post(reverse("workflow_import"), {"document": "{oops"}).status_code == 400


def test_switching_to_another_connection_forgets_an_object_it_does_not_have(
    editor_client: Any, crm: Connection, helpdesk: Connection
) -> None:
    data = _choose_ends(editor_client, crm, helpdesk)
    data["source_connection"] = [str(helpdesk.pk)]
    refreshed = form_data(f'<form id="builder">{_fragment(editor_client, "builder_refresh", data)}</form>')
    assert refreshed["source_object"] == [""]
    assert refreshed["target_object"] == ["users"]
