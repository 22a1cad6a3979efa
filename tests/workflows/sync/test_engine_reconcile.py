"""The pure decision rules of a two-way sync: change detection, policies, echoes, empties, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.engine.sync.reconcile import (
    LinkState,
    OpenConflict,
    RecordView,
    plan_create,
    plan_delete,
    reconcile,
)
from workflows.engine.sync.spec import CompiledSync, compile_sync

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def spec(*pairs: dict[str, Any], **options: Any) -> CompiledSync:
    return compile_sync(
        {"fields": list(pairs), "match": [{"rule": "email", "a": "email", "b": "email"}], **options}
    )


def view(
    record_id: str, at: datetime = T0, times: dict[str, datetime] | None = None, **fields: Any
) -> RecordView:
    return RecordView(record_id, fields, at, times or {})


NOTES_MANUAL = {"key": "notes", "a": "notes", "b": "notes", "policy": "manual"}
PHONE_LWW = {"key": "phone", "a": "phone", "b": "phone", "policy": "last_write"}


def synced(**values: Any) -> LinkState:
    return LinkState("1", "2", a_values=dict(values), b_values=dict(values))


def test_only_the_changed_field_travels() -> None:
    sync = spec(NOTES_MANUAL, PHONE_LWW)
    plan = reconcile(
        sync, synced(notes="a", phone="1"), view("1", notes="a", phone="9"), view("2", notes="a", phone="1")
    )
    assert plan.writes == {"a": {}, "b": {"phone": "9"}}


def test_our_write_read_back_in_the_systems_own_form_is_not_an_edit() -> None:
    sync = spec({"key": "n", "a": "n", "b": "n"})
    # We wrote 9 to B; B stores text, so it reads back as "9".
    link = LinkState("1", "2", a_values={"n": 9}, b_values={"n": 9}, b_expect={"n": 9})
    plan = reconcile(sync, link, view("1", n=9), view("2", n="9"))
    assert not plan.writes_anything
    assert plan.values["b"]["n"] == "9" and "n" not in plan.expect["b"]


def test_a_real_edit_after_our_write_is_not_mistaken_for_the_echo() -> None:
    sync = spec({"key": "n", "a": "n", "b": "n"})
    link = LinkState("1", "2", a_values={"n": "x"}, b_values={"n": "x"}, b_expect={"n": "x"})
    plan = reconcile(sync, link, view("1", n="x"), view("2", n="person"))
    assert plan.writes["a"] == {"n": "person"}


def test_a_lower_cased_read_back_is_the_echo_but_a_persons_change_of_case_is_an_edit() -> None:
    sync = spec(NOTES_MANUAL)
    # We wrote "Renewal" to B: a system that lower-cases shows "renewal", which is our echo.
    ours = LinkState(
        "1", "2", a_values={"notes": "Renewal"}, b_values={"notes": "Renewal"}, b_expect={"notes": "Renewal"}
    )
    echo = reconcile(
        sync, ours, view("1", notes="Renewal"), view("2", T0 + timedelta(seconds=1), notes="renewal")
    )
    assert not echo.writes_anything and echo.values["b"]["notes"] == "renewal"
    # We wrote "y" to A; before we read it back a person typed "Y" there, and B changed too: a conflict.
    raced = LinkState("1", "2", a_values={"notes": "y"}, b_values={"notes": "y"}, a_expect={"notes": "y"})
    plan = reconcile(sync, raced, view("1", T0 + timedelta(seconds=1), notes="Y"), view("2", notes="x"))
    assert [(c.pair_key, c.action, c.a_value, c.b_value) for c in plan.conflicts] == [
        ("notes", "open", "Y", "x")
    ]


@pytest.mark.parametrize(
    ("policy", "winner"),
    [("a_wins", "from a"), ("b_wins", "from b"), ("last_write", "from b")],
)
def test_both_sides_changed_the_policy_decides(policy: str, winner: str) -> None:
    sync = spec({"key": "n", "a": "n", "b": "n", "policy": policy})
    a = view("1", T0, n="from a")
    b = view("2", T0 + timedelta(seconds=1), n="from b")
    plan = reconcile(sync, synced(n="old"), a, b)
    assert plan.values["a"]["n"] == winner and plan.values["b"]["n"] == winner


def test_last_write_wins_ties_go_to_a() -> None:
    sync = spec(PHONE_LWW)
    plan = reconcile(sync, synced(phone="0"), view("1", T0, phone="a"), view("2", T0, phone="b"))
    assert plan.writes == {"a": {}, "b": {"phone": "a"}}


def test_last_write_wins_uses_per_field_times_when_the_system_reports_them() -> None:
    sync = spec(PHONE_LWW)
    # A's record changed last (another field), but its phone changed before B's phone did.
    a = view("1", T0 + timedelta(minutes=5), {"phone": T0}, phone="a")
    b = view("2", T0 + timedelta(minutes=1), phone="b")
    plan = reconcile(sync, synced(phone="0"), a, b)
    assert plan.writes == {"a": {"phone": "b"}, "b": {}}


def test_manual_review_holds_that_field_and_keeps_syncing_the_others() -> None:
    sync = spec(NOTES_MANUAL, PHONE_LWW)
    plan = reconcile(
        sync,
        synced(notes="n", phone="1"),
        view("1", notes="from a", phone="2"),
        view("2", notes="from b", phone="1"),
    )
    assert plan.writes == {"a": {}, "b": {"phone": "2"}}
    (conflict,) = plan.conflicts
    assert (conflict.action, conflict.a_value, conflict.b_value) == ("open", "from a", "from b")
    # The held field keeps its old synced value, so it still counts as changed until a person decides.
    assert plan.values["a"]["notes"] == "n"


def test_an_open_conflict_closes_by_itself_when_the_sides_come_to_agree() -> None:
    sync = spec(NOTES_MANUAL)
    link = LinkState("1", "2", {"notes": "n"}, {"notes": "n"}, conflicts={"notes": OpenConflict("x", "y")})
    plan = reconcile(sync, link, view("1", notes="same"), view("2", notes="same"))
    assert [c.action for c in plan.conflicts] == ["close"]
    assert not plan.writes_anything


def test_an_empty_winner_does_not_erase_unless_the_pair_allows_it() -> None:
    keep = spec({"key": "c", "a": "c", "b": "c"})
    erase = spec({"key": "c", "a": "c", "b": "c", "allow_empty": True})
    link = synced(c="Paris")
    assert not reconcile(keep, link, view("1", c=""), view("2", c="Paris")).writes_anything
    # Erasing writes null, which clears the field in the systems we know.
    assert reconcile(erase, link, view("1", c=""), view("2", c="Paris")).writes["b"] == {"c": None}


def test_one_way_pairs_ignore_the_other_sides_edits() -> None:
    sync = spec({"key": "t", "a": "t", "b": "t", "direction": "a_to_b"})
    plan = reconcile(sync, synced(t="x"), view("1", t="x"), view("2", t="edited in b"))
    assert not plan.writes_anything
    assert plan.values["b"]["t"] == "edited in b"


def test_transforms_apply_in_each_direction() -> None:
    sync = spec(
        {
            "key": "e",
            "a": "e",
            "b": "e",
            "a_to_b": {"transforms": [{"name": "upper"}]},
            "b_to_a": {"transforms": [{"name": "lower"}]},
        }
    )
    assert reconcile(sync, synced(e="x"), view("1", e="new"), view("2", e="x")).writes["b"] == {"e": "NEW"}
    assert reconcile(sync, synced(e="x"), view("1", e="x"), view("2", e="NEWER")).writes["a"] == {
        "e": "newer"
    }


def test_a_new_record_is_built_from_the_pairs_that_carry_its_direction() -> None:
    sync = spec(NOTES_MANUAL, {"key": "t", "a": "t", "b": "t", "direction": "b_to_a"})
    plan = plan_create(sync, "a", view("1", email="a@x.io", notes="hi", t="owned by b"))
    assert plan.fields == {"notes": "hi"}


def test_first_sight_fills_blanks_without_a_conflict() -> None:
    sync = spec(NOTES_MANUAL)
    plan = reconcile(sync, LinkState("1", "2"), view("1", notes="only in a"), view("2", notes=None))
    assert plan.writes["b"] == {"notes": "only in a"} and not plan.conflicts


@pytest.mark.parametrize(
    ("policy", "action"), [("ignore", "none"), ("propagate", "delete"), ("archive", "archive")]
)
def test_deletion_policy(policy: str, action: str) -> None:
    options: dict[str, Any] = {"deletion": {"policy": policy}}
    if policy == "archive":
        options["deletion"]["archive"] = {
            "a": {"field": "status", "value": "gone"},
            "b": {"field": "active", "value": False},
        }
    sync = spec(NOTES_MANUAL, **options)
    plan = plan_delete(sync, "a", counterpart_deleted=False)
    assert plan.action == action
    if action == "archive":
        assert plan.target == "b" and plan.fields == {"active": False}
