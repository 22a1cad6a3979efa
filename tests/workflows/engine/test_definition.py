from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.workflows.engine.definitions import CRM, lead_workflow
from workflows.engine.definition import (
    ActionStep,
    BranchStep,
    DefinitionError,
    DelayStep,
    compile_definition,
)


def errors(definition: Any) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        compile_definition(definition)
    return caught.value.messages


def workflow(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"trigger": {"type": "manual"}, "steps": list(steps)}


EMAIL_ONLY = {"fields": [{"target": "email", "source": "email"}]}


def create(step_id: str, mapping: dict[str, Any] | None = EMAIL_ONLY, **extra: Any) -> dict[str, Any]:
    return {
        "type": "action",
        "id": step_id,
        "connection": CRM,
        "object": "contacts",
        "operation": "create",
        "mapping": mapping,
        **extra,
    }


def reads(name: str) -> dict[str, Any]:
    return {"fields": [{"target": "x", "source": name}]}


def test_the_lead_workflow_compiles_with_every_step_placed() -> None:
    compiled = compile_definition(lead_workflow(), workflow_id=7, version=3)
    assert [step.id for step in compiled.walk()] == [
        "filter_1",
        "create_contact",
        "create_task",
        "hot_or_not",
        "add_to_hot_list",
        "add_to_newsletter",
        "tell_sales",
    ]
    assert compiled.positions["add_to_newsletter"] == ((3, "else"), (0, ""))
    branch = compiled.step("hot_or_not")
    assert isinstance(branch, BranchStep) and branch.label == "step 4 (hot_or_not)"
    assert (compiled.workflow_id, compiled.version) == (7, 3)
    assert compiled.trigger["object"] == "form_submissions"


def test_the_definition_must_have_a_trigger_and_steps() -> None:
    assert errors([]) == ["the workflow must be a set of settings with a trigger and steps"]
    assert errors({"steps": []}) == ["trigger: choose what starts the workflow", "add at least one step"]
    assert errors({"trigger": {"type": "poll"}, "steps": "all"}) == [
        "trigger: choose the connection whose records start the workflow",
        "trigger: choose the object whose records start the workflow",
        "the workflow needs a list of steps",
    ]
    assert errors({"trigger": {"type": "cron"}, "steps": [{"type": "delay", "seconds": 1}]}) == [
        "trigger: 'type' must be one of: webhook, poll, schedule, manual, file"
    ]


def test_step_ids_must_be_unique_and_usable_in_names() -> None:
    assert errors(
        workflow(create("a"), create("a"), create("has space"), create(""), {"type": "notify"})
    ) == [
        "step 2 (a): the id 'a' is used by another step",
        "step 3 (action): give the step an id of letters, digits and _ (it names the step's outputs,"
        " e.g. steps.create_contact.id)",
        "step 4 (action): give the step an id of letters, digits and _ (it names the step's outputs,"
        " e.g. steps.create_contact.id)",
        "step 5 (notify): give the step an id of letters, digits and _ (it names the step's outputs,"
        " e.g. steps.create_contact.id)",
    ]


def test_an_id_in_a_branch_arm_clashes_with_one_outside() -> None:
    definition = workflow(
        {"type": "branch", "id": "b", "if": {"field": "x", "op": "is_empty"}, "then": [create("b")]}
    )
    assert errors(definition) == ["step 1.then.1 (b): the id 'b' is used by another step"]


def test_references_must_name_earlier_steps() -> None:
    definition = workflow(
        create("first", reads("steps.second.id")),
        create("second", reads("steps.second.id")),
        create("third", reads("steps.nope.id")),
        create("fourth", reads("$.steps.first.fields.email || steps.later.id")),
        create("later"),
    )
    assert errors(definition) == [
        "step 1 (first): 'steps.second.id' refers to step second, which runs later or doesn't exist",
        "step 2 (second): 'steps.second.id' refers to step second, which doesn't run before this step",
        "step 3 (third): 'steps.nope.id' refers to step nope, which runs later or doesn't exist",
        "step 4 (fourth): '$.steps.first.fields.email || steps.later.id' refers to step later,"
        " which runs later or doesn't exist",
    ]


def test_references_must_name_an_output_the_step_has() -> None:
    definition = workflow(
        {"type": "filter", "id": "check", "condition": {"field": "x", "op": "is_not_empty"}},
        {
            "type": "lookup",
            "id": "find",
            "connection": CRM,
            "object": "companies",
            "by": {"field": "domain", "value_from": "domain"},
        },
        create("a", reads("steps.find.name")),
        create("b", reads("steps.check.id")),
        create("c", reads("steps.find")),
    )
    assert errors(definition) == [
        "step 3 (a): 'steps.find.name': step find has no output 'name' (it has fields, found, id)",
        "step 4 (b): 'steps.check.id' refers to step check, which has no outputs",
        "step 5 (c): 'steps.find' should name a step and its output, e.g. steps.create_contact.id",
    ]


def test_a_branch_arm_cannot_read_the_other_arm_but_later_steps_may_read_either() -> None:
    definition = workflow(
        {
            "type": "branch",
            "if": {"field": "x", "op": "is_empty"},
            "then": [create("made")],
            "else": [create("other", reads("steps.made.id"))],
        },
        create(
            "after",
            {
                "fields": [
                    {
                        "target": "id",
                        "source": ["steps.made.id", "steps.other.id"],
                        "transforms": [{"name": "first_non_empty"}],
                    }
                ]
            },
        ),
    )
    assert errors(definition) == [
        "step 1.else.1 (other): 'steps.made.id' refers to step made, which doesn't run before this step"
    ]


def test_a_branch_condition_cannot_read_its_own_arms() -> None:
    definition = workflow(
        {"type": "branch", "if": {"field": "steps.made.id", "op": "is_empty"}, "then": [create("made")]}
    )
    assert errors(definition) == [
        "step 1 (branch): 'steps.made.id' refers to step made, which runs later or doesn't exist"
    ]


def test_mapping_and_condition_errors_name_their_step() -> None:
    definition = workflow(
        {"type": "filter", "condition": {"all": [{"field": "status", "op": "equls", "value": "x"}]}},
        create("bad", {"fields": [{"target": "email", "source": "email", "transforms": [{"name": "lowr"}]}]}),
        {"type": "branch", "then": [create("inner")]},
    )
    assert errors(definition) == [
        "step 1 (filter): condition: all[0]: unknown operator 'equls' (did you mean 'equals'?)",
        "step 2 (bad): mapping: Row 1 (email): transform 1: unknown transform 'lowr'",
        "step 3 (branch): add a condition ('if')",
    ]


def test_template_references_in_formats_and_messages_are_checked() -> None:
    definition = workflow(
        create(
            "a",
            {
                "fields": [
                    {
                        "target": "s",
                        "source": [],
                        "transforms": [{"name": "format", "args": {"template": "{steps.b.id}"}}],
                    }
                ]
            },
        ),
        create("b"),
        {"type": "notify", "id": "n", "connection": 4, "format": "made {steps.zz.id}"},
    )
    assert errors(definition) == [
        "step 1 (a): 'steps.b.id' refers to step b, which runs later or doesn't exist",
        "step 3 (n): 'steps.zz.id' refers to step zz, which runs later or doesn't exist",
    ]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"type": "jump"},
            "step 1: 'type' must be one of: filter, branch, lookup, action, notify, http, webhook, delay",
        ),
        ("create", "step 1: must be a set of settings"),
        (
            create("a", operation="merge"),
            "step 1 (a): 'operation' must be one of: create, update, upsert, delete, archive",
        ),
        (create("a", connection=None), "step 1 (a): choose a connection"),
        (create("a", object=" "), "step 1 (a): choose an object, e.g. contacts"),
        (create("a", mapping=None), "step 1 (a): add a mapping: it says what to write"),
        (
            create("a", operation="upsert"),
            "step 1 (a): an upsert needs a 'match_field' to find an existing record by",
        ),
        (
            create("a", operation="upsert", match_field="phone"),
            "step 1 (a): the match field 'phone' is not a target of the mapping",
        ),
        (
            create("a", operation="update"),
            "step 1 (a): say which record to update: set 'record_id' (e.g. steps.find_company.id) or a 'match_field'",
        ),
        (
            create("a", record_id="crm_id"),
            "step 1 (a): a record being created has no id yet; remove 'record_id'",
        ),
        (
            create("a", operation="delete", mapping=None, match_field="email"),
            "step 1 (a): add a mapping that gives the match field 'email'",
        ),
        (create("a", colour="red"), "step 1 (a): unknown setting 'colour'"),
        (
            {"type": "delay", "seconds": 0},
            "step 1 (delay): 'seconds' must be a whole number from 1 to 7776000 (90 days)",
        ),
        (
            {"type": "delay", "seconds": True},
            "step 1 (delay): 'seconds' must be a whole number from 1 to 7776000 (90 days)",
        ),
        (
            {"type": "branch", "if": {"field": "a", "op": "is_empty"}},
            "step 1 (branch): add steps to 'then' or 'else'",
        ),
        (
            {"type": "branch", "if": {"field": "a", "op": "is_empty"}, "then": "x"},
            "step 1 (branch): 'then' must be a list of steps",
        ),
        (
            {"type": "lookup", "id": "l", "connection": 1, "object": "companies", "by": {"field": "domain"}},
            "step 1 (l): choose the field whose value is searched for ('value_from')",
        ),
        (
            {"type": "lookup", "id": "l", "connection": 1, "object": "companies", "by": "domain"},
            "step 1 (l): 'by' must name the 'field' to search and the 'value_from' field",
        ),
        (
            {
                "type": "lookup",
                "id": "l",
                "connection": 1,
                "object": "c",
                "by": {"field": "d", "value_from": "d"},
                "if_not_found": "ignore",
            },
            "step 1 (l): 'if_not_found' must be one of: continue, skip, fail",
        ),
        (
            {"type": "notify", "id": "n", "connection": 1},
            "step 1 (n): write the message ('format'), e.g. 'New lead: {email}'",
        ),
        (
            {"type": "notify", "id": "n", "connection": 1, "format": "hi {}"},
            "step 1 (n): the template has an empty placeholder {}; put a field name between the braces",
        ),
        (
            {"type": "http", "id": "h", "url": "ftp://x"},
            "step 1 (h): 'url' must start with https:// or http://",
        ),
        (
            {"type": "http", "id": "h", "url": "https://{host}/x"},
            "step 1 (h): fields can only be used in the url after the host name",
        ),
        (
            {"type": "http", "id": "h", "url": "https://api.{domain}/x"},
            "step 1 (h): fields can only be used in the url after the host name",
        ),
        (
            {"type": "http", "id": "h", "method": "GET", "url": "https://x.io/", "body": reads("a")},
            "step 1 (h): a GET request has no body",
        ),
        (
            {"type": "http", "id": "h", "method": "FETCH", "url": "https://x.io/"},
            "step 1 (h): 'method' must be one of: GET, POST, PUT, PATCH, DELETE",
        ),
        (
            {"type": "http", "id": "h", "url": "https://x.io/", "headers": {"X": 1}},
            "step 1 (h): 'headers' must map header names to text",
        ),
        (
            {"type": "webhook", "id": "w", "url": "https://x.io/{id}"},
            "step 1 (w): the url can't contain {fields}",
        ),
        (
            {"type": "webhook", "id": "w", "url": "https://x.io/", "payload": {"rows": []}},
            "step 1 (w): payload: The mapping must have a list of fields",
        ),
    ],
)
def test_each_kind_of_step_is_checked(step: Any, message: str) -> None:
    assert errors(workflow(step)) == [message]


def test_valid_steps_of_every_kind_compile() -> None:
    compiled = compile_definition(
        workflow(
            {
                "type": "lookup",
                "id": "find",
                "connection": 1,
                "object": "companies",
                "by": {"field": "domain", "value_from": "$.email_domain"},
                "if_not_found": "skip",
            },
            create("update_it", operation="update", record_id="steps.find.id"),
            create("gone", operation="archive", mapping=None, record_id="steps.find.id"),
            {
                "type": "http",
                "id": "call",
                "method": "POST",
                "url": "https://api.example.com/leads/{steps.find.id}?src={source}",
                "body": reads("email"),
                "headers": {"X-Team": "sales"},
            },
            {"type": "webhook", "id": "tell", "url": "https://hooks.example.com/in", "event": "lead.created"},
            {"type": "delay", "seconds": 86400},
        )
    )
    kinds = [step.kind for step in compiled.walk()]
    assert kinds == ["lookup", "action", "action", "http", "webhook", "delay"]
    update = compiled.step("update_it")
    assert isinstance(update, ActionStep) and update.record_id == "steps.find.id"
    assert isinstance(compiled.step("delay_6"), DelayStep)


def test_too_many_steps_or_too_deep_branches_are_refused() -> None:
    many = workflow(*[{"type": "delay", "seconds": 1} for _ in range(101)])
    assert errors(many) == ["a workflow has at most 100 steps (this one has 101)"]
    deep: dict[str, Any] = {"type": "delay", "seconds": 1}
    for _ in range(12):
        deep = {"type": "branch", "if": {"field": "a", "op": "is_empty"}, "then": [deep]}
    assert any(
        "branches are nested too deeply (at most 10 levels)" in message for message in errors(workflow(deep))
    )


def test_an_automatic_id_taken_by_a_named_step_is_reported() -> None:
    definition = workflow(create("delay_2"), {"type": "delay", "seconds": 5})
    assert errors(definition) == ["step 2 (delay): give the step an id; 'delay_2' is taken by another step"]


# --- properties -------------------------------------------------------------------------------

keys = st.sampled_from(
    [
        "type",
        "id",
        "connection",
        "object",
        "operation",
        "mapping",
        "match_field",
        "record_id",
        "by",
        "if",
        "then",
        "else",
        "condition",
        "seconds",
        "format",
        "url",
        "method",
        "body",
        "payload",
        "field",
        "op",
        "value",
        "all",
        "any",
        "fields",
        "target",
        "source",
        "transforms",
        "name",
        "args",
        "steps",
        "trigger",
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(
        [
            "action",
            "branch",
            "filter",
            "lookup",
            "notify",
            "http",
            "webhook",
            "delay",
            "create",
            "upsert",
            "steps.a.id",
            "$.steps.a.fields[0]",
            "email",
            "https://x.io/{a}",
            "is_empty",
            "equals",
            "a",
            "",
            "{}",
        ]
    )
)
json_trees = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(
    definition=json_trees
    | st.fixed_dictionaries({"trigger": json_trees, "steps": st.lists(json_trees, max_size=4)})
)
def test_any_json_compiles_or_is_refused_with_messages(definition: Any) -> None:
    try:
        compile_definition(definition)
    except DefinitionError as error:
        messages = error.messages
    else:
        return
    assert messages and all(isinstance(message, str) and message for message in messages)
