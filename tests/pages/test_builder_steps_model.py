"""The step list editor's model, without a page: any steps read into the editor and written back are the
same steps (so opening and saving never changes a workflow), and adding, moving and removing steps keep
branches whole. Plain functions over plain data, so Hypothesis can try thousands of shapes."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.builder_steps import (
    Readable,
    add_step,
    drafts_from_json,
    move_step,
    readable_before,
    remove_step,
    steps_from_drafts,
)

names = st.sampled_from(["email", "company", "steps.find.id", "a.b", " padded", "", "x,y", "{a}", "Name"])
values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), names, st.lists(names, max_size=2))
connections = st.one_of(st.integers(1, 5), st.sampled_from(["billing", "7", "", True]))
leaves = st.fixed_dictionaries(
    {"field": names},
    optional={
        "op": st.sampled_from(["equals", "is_empty", "in_list", "contains", "bogus", 3]),
        "value": values,
    },
)
trees = st.one_of(
    leaves,
    st.dictionaries(
        st.sampled_from(["all", "any", "not"]), st.lists(leaves, max_size=3), min_size=1, max_size=2
    ),
    values,
)
transforms = st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(["trim", "lower", "join"])}),
    st.fixed_dictionaries(
        {"name": st.just("format"), "args": st.fixed_dictionaries({"template": st.sampled_from(["{a}", "{a} {b}", "x", " {a}"])})}
    ),
    st.fixed_dictionaries({"name": st.just("value_map"), "args": st.just({"map": {"gold": "premium"}})}),
)  # fmt: skip
rows = st.fixed_dictionaries(
    {},
    optional={
        "target": names,
        "source": st.one_of(names, st.lists(st.sampled_from(["a", "b", "email", "x,y", ""]), max_size=3)),
        "transforms": st.lists(transforms, max_size=2),
        "empty": st.sampled_from(["keep", "clear"]),
        "path": names,
    },
)
mappings = st.one_of(
    st.fixed_dictionaries({"fields": st.lists(rows, max_size=3)}),
    st.just({"fields": [], "other": 1}),
    st.none(),
)
ids = st.sampled_from(["find", "write_1", "tell", "", " spaced", 4])
common = {"id": ids, "unknown": st.just(1)}


def _kind(kind: str, **settings_: Any) -> Any:
    return st.fixed_dictionaries({"type": st.just(kind)}, optional={**common, **settings_})


flat_steps = st.one_of(
    _kind(
        "lookup",
        connection=connections,
        object=names,
        by=st.one_of(st.fixed_dictionaries({"field": names, "value_from": names}), values),
        if_not_found=st.sampled_from(["continue", "skip", "fail", "maybe"]),
    ),
    _kind(
        "action",
        connection=connections,
        object=names,
        operation=st.sampled_from(["create", "update", "upsert", "delete", "archive", "smash"]),
        match_field=names,
        record_id=names,
        mapping=mappings,
    ),
    _kind("notify", connection=connections, channel=names, format=st.one_of(names, st.integers())),
    _kind("delay", seconds=st.one_of(st.integers(-5, 10**6), st.booleans(), names)),
    _kind("filter", condition=trees),
    _kind("http", method=st.just("POST"), url=names),
    values,
)
step_lists = st.recursive(
    st.lists(flat_steps, max_size=4),
    lambda inner: st.lists(
        st.one_of(
            flat_steps,
            _kind("branch", **{"if": trees, "then": inner, "else": st.one_of(inner, values)}),
        ),
        max_size=4,
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(steps=step_lists)
def test_any_steps_read_into_the_editor_and_written_back_are_the_same_steps(steps: list[Any]) -> None:
    original = copy.deepcopy(steps)
    drafts = drafts_from_json(steps)
    assert steps_from_drafts(drafts) == original
    assert steps == original  # reading changed nothing either


def _flow() -> list[dict[str, Any]]:
    return [
        {"type": "lookup", "id": "find", "connection": 2, "object": "companies", "by": {"field": "domain", "value_from": "d"}},
        {
            "type": "branch",
            "if": {"field": "steps.find.found", "op": "equals", "value": False},
            "then": [{"type": "delay", "seconds": 60}, {"type": "notify", "id": "tell", "connection": 3, "format": "x"}],
        },
        {"type": "delay", "seconds": 3600},
    ]  # fmt: skip


def test_moving_a_branch_moves_its_arms_with_it() -> None:
    drafts = drafts_from_json(_flow())
    branch = drafts[1]
    assert move_step(drafts, branch.key, "down")
    steps = steps_from_drafts(drafts)
    assert [s["type"] for s in steps] == ["lookup", "delay", "branch"]
    assert steps[2]["then"] == _flow()[1]["then"]
    # The last step of a list can't move further down, nor a step out of its branch arm.
    assert not move_step(drafts, branch.key, "down")
    inner = next(d for d in drafts if d.parent == branch.key)
    assert not move_step(drafts, inner.key, "up")
    assert move_step(drafts, inner.key, "down")
    assert [s["type"] for s in steps_from_drafts(drafts)[2]["then"]] == ["notify", "delay"]


def test_removing_a_branch_removes_its_arms_and_nothing_else() -> None:
    drafts = drafts_from_json(_flow())
    remove_step(drafts, drafts[1].key)
    assert steps_from_drafts(drafts) == [_flow()[0], _flow()[2]]


def test_a_step_added_to_an_arm_goes_at_the_end_of_that_arm_with_a_free_id() -> None:
    drafts = drafts_from_json(_flow())
    branch = drafts[1]
    added = add_step(drafts, "notify", branch.key, "else")
    assert added is not None and added.id == "tell_1"
    again = add_step(drafts, "notify", branch.key, "else")
    assert again is not None and again.id == "tell_2"
    steps = steps_from_drafts(drafts)
    assert [s["id"] for s in steps[1]["else"]] == ["tell_1", "tell_2"]
    assert steps[2] == {"type": "delay", "seconds": 3600}
    # Only a branch has arms, and only known kinds can be added.
    assert add_step(drafts, "notify", drafts[0].key, "then") is None
    assert add_step(drafts, "http", "", "") is None


def test_a_step_reads_what_ran_before_it_and_after_a_branch_both_arms() -> None:
    steps = _flow()
    steps[1]["else"] = [
        {"type": "action", "id": "write", "connection": 2, "object": "companies", "operation": "delete", "record_id": "x"}
    ]  # fmt: skip
    drafts = drafts_from_json(steps)
    trigger = [Readable("email", "Email")]
    seen = readable_before(drafts, trigger, {drafts[0].key: ["domain", "name"]})
    by_id = {d.id or d.type + d.parent: [r.name for r in seen[d.key]] for d in drafts}
    assert by_id["find"] == ["email"]
    assert "steps.find.fields.domain" in by_id["tell"] and "steps.find.found" in by_id["tell"]
    # An arm never sees the other arm's steps; after the branch, both arms' outputs may be read.
    assert "steps.tell.id" not in by_id["write"]
    last = [r.name for r in seen[drafts[-1].key]]
    assert {"steps.tell.id", "steps.write.id", "steps.write.action"} <= set(last)
