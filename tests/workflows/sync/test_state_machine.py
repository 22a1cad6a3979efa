"""Two systems, random interleaved creates, edits, deletes, review decisions and sync runs.

After every sync the machine lets the sync settle (runs until one writes nothing) and checks:

* settling takes one writing run at most: the second run only reads our own writes back (no loops), and
  each field of each record is written at most once (a person's edit causes at most one write);
* every linked pair agrees on every ↔ field, or has an open conflict for it, or the winner is empty and
  the pair doesn't allow erasing;
* no edit is lost except by the documented rule: a reference model predicts every field of every pair that
  was linked before, from the values at the last settle point and what people changed since (one side
  changed: it travels; both: the policy — A or B wins, last write wins with ties to A, manual holds it);
* a record is never created on a side that already has a live record with its match key, and a record
  whose key is unique on its side ends up linked unless it is held for review.

The fast variant runs against in-memory fakes (the example count comes from the Hypothesis profile, see
conftest.py); the small one against the sandbox CRM and helpdesk over HTTP.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from connectors.sandbox.testing import SandboxProcess
from tests.workflows.sync.helpers import EMAIL_RULE, run_sync
from tests.workflows.sync.worlds import FakeWorld, LogicalPair, SandboxWorld, Side, Snapshot, World
from workflows.engine.sync.compare import is_empty, loosely_equal, same_value
from workflows.sync.models import DuplicateHold, Sync, SyncConflict, SyncLink, SyncRun
from workflows.sync.services.definition import sync_create
from workflows.sync.services.review import ReviewError, conflicts_resolve, hold_resolve
from workflows.sync.services.runs import sync_run_execute, sync_run_request

SIDES: tuple[Side, Side] = ("a", "b")
_names = itertools.count(1)


@dataclass(frozen=True)
class Expected:
    a: Any
    b: Any
    conflict: bool = False


def changed(before: Any, now: Any) -> bool:
    """A person's edit, as the sync defines it: a different value, where empty equals empty."""
    return not same_value(before, now) and not (is_empty(before) and is_empty(now))


def expect_pair(pair: LogicalPair, before: dict[Side, Snapshot], now: dict[Side, Snapshot]) -> Expected:
    """What the documented rules say a linked pair holds after the sync, for one field pair."""
    prev_a, prev_b = before["a"].fields.get(pair.a), before["b"].fields.get(pair.b)
    cur_a, cur_b = now["a"].fields.get(pair.a), now["b"].fields.get(pair.b)
    a_changed, b_changed = changed(prev_a, cur_a), changed(prev_b, cur_b)
    a_flows = pair.direction in ("both", "a_to_b")
    b_flows = pair.direction in ("both", "b_to_a")

    def a_wins() -> Expected:
        value = pair.to_b(cur_a)
        if is_empty(value) and not is_empty(cur_b) and not pair.allow_empty:
            return Expected(cur_a, cur_b)
        return Expected(cur_a, value)

    def b_wins() -> Expected:
        if is_empty(cur_b) and not is_empty(cur_a) and not pair.allow_empty:
            return Expected(cur_a, cur_b)
        return Expected(cur_b, cur_b)

    if a_changed and b_changed and loosely_equal(pair.to_b(cur_a), cur_b):
        return Expected(cur_a, cur_b)
    if a_changed and (not b_changed or not b_flows):
        return a_wins() if a_flows else Expected(cur_a, cur_b)
    if b_changed and (not a_changed or not a_flows):
        return b_wins() if b_flows else Expected(cur_a, cur_b)
    if not a_changed and not b_changed:
        return Expected(cur_a, cur_b)
    if pair.policy == "a_wins":
        return a_wins()
    if pair.policy == "b_wins":
        return b_wins()
    if pair.policy == "manual":
        return Expected(cur_a, cur_b, conflict=True)
    a_time = (
        now["a"].field_times.get(pair.a, now["a"].updated_at) if now["a"].field_times else now["a"].updated_at
    )
    b_time = now["b"].updated_at  # the helpdesk reports record-level times only
    return b_wins() if b_time > a_time else a_wins()


class SyncMachine(RuleBasedStateMachine):
    """Configured by `make_machine` with a world (fake systems or sandboxes) and a team."""

    world: World
    team: Any

    def __init__(self) -> None:
        super().__init__()
        self.world.reset()
        options = self.world.sync_options()
        self.sync: Sync = sync_create(
            team=self.team,
            name=f"machine {next(_names)}",
            fields=[pair.spec() for pair in self.world.pairs],
            match=EMAIL_RULE,
            **options,
        )
        self.before: dict[Side, dict[str, Snapshot]] = {"a": {}, "b": {}}
        self.links_before: set[tuple[str, str]] = set()
        self.open_before: set[tuple[str, str]] = set()

    # -- people ------------------------------------------------------------------------------

    def _values(self, data: st.DataObject, side: Side) -> dict[str, Any]:
        fields = {"email": data.draw(st.sampled_from(self.world.emails), label="email")}
        for pair in self.world.pairs[1:]:
            # The sandbox helpdesk needs a name, which the "tier" pair carries; other fields come and go.
            required = isinstance(self.world, SandboxWorld) and pair.key == "tier"
            if required or data.draw(st.booleans(), label=f"has {pair.key}"):
                fields[pair.field(side)] = data.draw(st.sampled_from(pair.values), label=pair.key)
        return fields

    def _live(self, side: Side) -> list[str]:
        return sorted(record_id for record_id, snap in self.world.snapshot(side).items() if snap.alive)

    @initialize(data=st.data())
    def seed(self, data: st.DataObject) -> None:
        """Some records on each side, sharing emails often, and a first sync to link them."""
        for side in SIDES:
            for _ in range(data.draw(st.integers(1, 3), label=f"seed {side}")):
                self.world.create(side, self._values(data, side))
        self._settle_and_check()

    @rule(side=st.sampled_from(SIDES), data=st.data())
    def create(self, side: Side, data: st.DataObject) -> None:
        self.world.create(side, self._values(data, side))

    @rule(side=st.sampled_from(SIDES), data=st.data())
    def edit(self, side: Side, data: st.DataObject) -> None:
        live = self._live(side)
        if not live:
            return
        record_id = data.draw(st.sampled_from(live), label="record")
        pair = data.draw(st.sampled_from(self.world.pairs[1:]), label="field")
        value = data.draw(st.sampled_from(pair.values), label="value")
        self.world.edit(side, record_id, pair.field(side), value)

    @rule(data=st.data())
    def edit_linked(self, data: st.DataObject) -> None:
        """People edit one field of a linked pair, on one side or on both before the next sync."""
        links = list(SyncLink.objects.filter(sync=self.sync, status=SyncLink.Status.ACTIVE).order_by("pk"))
        alive = {
            side: {rid for rid, snap in self.world.snapshot(side).items() if snap.alive} for side in SIDES
        }
        links = [link for link in links if link.a_id in alive["a"] and link.b_id in alive["b"]]
        if not links:
            return
        link = data.draw(st.sampled_from(links), label="link")
        pairs = data.draw(
            st.lists(
                st.sampled_from(self.world.pairs[1:]), min_size=1, max_size=3, unique_by=lambda p: p.key
            ),
            label="fields",
        )
        for pair in pairs:
            sides = data.draw(st.sampled_from([("a",), ("b",), ("a", "b"), ("b", "a")]), label="sides")
            for side in sides:
                value = data.draw(st.sampled_from(pair.values), label=f"{pair.key} on {side}")
                self.world.edit(side, link.record_id(side), pair.field(side), value)

    @precondition(lambda self: self.world.supports_delete)
    @rule(side=st.sampled_from(SIDES), data=st.data())
    def delete(self, side: Side, data: st.DataObject) -> None:
        live = self._live(side)
        if live:
            self.world.delete(side, data.draw(st.sampled_from(live), label="record"))

    # -- an admin in the review queue ----------------------------------------------------------

    @rule(choice=st.sampled_from(["a", "b", "value"]), data=st.data())
    def resolve_conflicts(self, choice: str, data: st.DataObject) -> None:
        conflicts = list(
            SyncConflict.objects.filter(sync=self.sync, status=SyncConflict.Status.OPEN).select_related(
                "sync", "link"
            )
        )
        if not conflicts:
            return
        chosen = data.draw(
            st.lists(st.sampled_from(conflicts), min_size=1, unique_by=lambda c: c.pk), label="which"
        )
        typed = data.draw(st.sampled_from(["typed", "x", ""]), label="typed") if choice == "value" else None
        conflicts_resolve(conflicts=chosen, choice=choice, value=typed, actor=None, enqueue=False)  # type: ignore[arg-type]
        self._apply_review()
        a_now, b_now = self.world.snapshot("a"), self.world.snapshot("b")
        for conflict in chosen:
            conflict.refresh_from_db()
            if conflict.status == SyncConflict.Status.OPEN:
                # A side changed after the decision: back in the queue with the new values, nothing written.
                assert "changed after the decision" in conflict.error
                continue
            if conflict.status == SyncConflict.Status.CLOSED:
                # One of the records was deleted meanwhile: the link ended and nothing was written.
                assert SyncLink.objects.get(pk=conflict.link_id).status == SyncLink.Status.ENDED
                continue
            assert conflict.status == SyncConflict.Status.RESOLVED, conflict.error
            pair = next(p for p in self.world.pairs if p.key == conflict.pair_key)
            wanted_a = {"a": conflict.a_value, "b": conflict.b_value, "value": typed}[choice]
            wanted_b = conflict.b_value if choice == "b" else pair.to_b(wanted_a)
            got_a = a_now[conflict.link.a_id].fields.get(conflict.a_field)
            got_b = b_now[conflict.link.b_id].fields.get(conflict.b_field)
            assert loosely_equal(got_a, wanted_a) and loosely_equal(got_b, wanted_b), (got_a, got_b, choice)

    @rule(data=st.data())
    def resolve_hold(self, data: st.DataObject) -> None:
        holds = list(
            DuplicateHold.objects.filter(sync=self.sync, status=DuplicateHold.Status.OPEN).select_related(
                "sync"
            )
        )
        if not holds:
            return
        hold = data.draw(st.sampled_from(holds), label="hold")
        other: Side = "b" if hold.side == "a" else "a"
        linked = set(
            SyncLink.objects.filter(sync=self.sync, status=SyncLink.Status.ACTIVE).values_list(
                f"{other}_id", flat=True
            )
        )
        alive = {rid for rid, snap in self.world.snapshot(other).items() if snap.alive}
        free = [c for c in hold.candidates if c not in linked and c in alive]
        try:
            if free:
                hold_resolve(hold=hold, choice="link", candidate_id=free[0], actor=None, enqueue=False)
            else:
                hold_resolve(hold=hold, choice="create", actor=None, enqueue=False)
        except ReviewError:
            return  # e.g. "create" while the other side has a record with the key: refused, nothing changed
        self._apply_review()
        hold.refresh_from_db()
        # Linked or created; back in the queue with the reason when it couldn't be applied; or dismissed when
        # the run that applied it found the record no longer ambiguous (its look-alike was deleted).
        assert hold.status != DuplicateHold.Status.RESOLVING
        if hold.status == DuplicateHold.Status.OPEN:
            assert hold.error

    def _apply_review(self) -> None:
        run = sync_run_request(sync=self.sync, trigger=SyncRun.Trigger.REVIEW, enqueue=False)
        assert run is not None
        sync_run_execute(run_id=run.pk)
        # A review run also reads and reconciles what people changed, so the model starts again from here.
        self._rebaseline({side: self.world.snapshot(side) for side in SIDES})

    # -- the sync --------------------------------------------------------------------------------

    @rule()
    def sync_runs(self) -> None:
        self._settle_and_check()

    def teardown(self) -> None:
        self._settle_and_check()

    def _settle_and_check(self) -> None:
        now = {side: self.world.snapshot(side) for side in SIDES}
        mark = self.world.mark_writes()
        runs = [run_sync(self.sync)]
        while runs[-1].writes and len(runs) < 4:
            runs.append(run_sync(self.sync))
        for run in runs:
            assert run.status == SyncRun.Status.SUCCEEDED, run.error
        # No loops: one run does the writes, the next only reads them back.
        assert len(runs) <= 2, [run.writes for run in runs]
        after = {side: self.world.snapshot(side) for side in SIDES}
        self._check_writes(self.world.writes_since(mark))
        links = list(SyncLink.objects.filter(sync=self.sync, status=SyncLink.Status.ACTIVE))
        conflicts = set(
            SyncConflict.objects.filter(sync=self.sync, status=SyncConflict.Status.OPEN).values_list(
                "link__a_id", "pair_key"
            )
        )
        held = set(
            DuplicateHold.objects.filter(sync=self.sync, status=DuplicateHold.Status.OPEN).values_list(
                "side", "record_id"
            )
        )
        for link in links:
            a, b = after["a"].get(link.a_id), after["b"].get(link.b_id)
            assert a is not None and b is not None and a.alive and b.alive, f"a link to a dead record: {link}"
            self._check_agreement(link, a, b, conflicts)
            if (link.a_id, link.b_id) in self.links_before:
                self._check_model(link, now, after, conflicts)
        self._check_identity(after, links, held)
        self._rebaseline(after)

    def _rebaseline(self, snapshot: dict[Side, dict[str, Snapshot]]) -> None:
        """What the model predicts the next sync from: these values, links and open conflicts."""
        self.before = snapshot
        self.links_before = set(
            SyncLink.objects.filter(sync=self.sync, status=SyncLink.Status.ACTIVE).values_list("a_id", "b_id")
        )
        self.open_before = set(
            SyncConflict.objects.filter(sync=self.sync, status=SyncConflict.Status.OPEN).values_list(
                "link__a_id", "pair_key"
            )
        )

    def _check_writes(self, writes: dict[Side, list[Any]]) -> None:
        for side in SIDES:
            touched = [(w.record_id, name) for w in writes[side] if w.kind == "update" for name in w.fields]
            # One person's edit makes at most one write: no field of a record is written twice.
            assert len(touched) == len(set(touched)), f"{side}: a field was written twice: {touched}"
            for write in writes[side]:
                assert not write.email_taken_by, (
                    f"{side}: created {write.record_id} over {write.email_taken_by}"
                )

    def _check_agreement(
        self, link: SyncLink, a: Snapshot, b: Snapshot, conflicts: set[tuple[str, str]]
    ) -> None:
        for pair in self.world.pairs:
            if pair.direction != "both" or (link.a_id, pair.key) in conflicts:
                continue
            value_a, value_b = a.fields.get(pair.a), b.fields.get(pair.b)
            if loosely_equal(pair.to_b(value_a), value_b):
                continue
            erased = is_empty(value_a) or is_empty(value_b)
            assert erased and not pair.allow_empty, (
                f"{link} disagrees on {pair.key}: {value_a!r} vs {value_b!r}"
            )

    def _check_model(
        self,
        link: SyncLink,
        now: dict[Side, dict[str, Snapshot]],
        after: dict[Side, dict[str, Snapshot]],
        conflicts: set[tuple[str, str]],
    ) -> None:
        before = {"a": self.before["a"][link.a_id], "b": self.before["b"][link.b_id]}
        current = {"a": now["a"][link.a_id], "b": now["b"][link.b_id]}
        for pair in self.world.pairs[1:]:
            if (link.a_id, pair.key) in self.open_before:
                continue  # held for review before this sync: only the agreement check applies
            expected = expect_pair(pair, before, current)
            got_a, got_b = after["a"][link.a_id].fields.get(pair.a), after["b"][link.b_id].fields.get(pair.b)
            assert loosely_equal(got_a, expected.a) and loosely_equal(got_b, expected.b), (
                f"{link} {pair.key}: expected A={expected.a!r} B={expected.b!r}, got A={got_a!r} B={got_b!r}"
            )
            assert ((link.a_id, pair.key) in conflicts) == expected.conflict, (
                f"{link} {pair.key}: conflict state"
            )

    def _check_identity(
        self, after: dict[Side, dict[str, Snapshot]], links: list[SyncLink], held: set[tuple[str, str]]
    ) -> None:
        linked = {("a", link.a_id) for link in links} | {("b", link.b_id) for link in links}
        for side in SIDES:
            live = [snap for snap in after[side].values() if snap.alive]
            emails = [str(snap.fields.get("email") or "").lower() for snap in live]
            for snap, email in zip(live, emails, strict=True):
                if emails.count(email) == 1 and (side, snap.id) not in held:
                    assert (side, snap.id) in linked, f"{side} {snap.id} ({email}) is unique but not linked"


def make_machine(world: World, team: Any) -> type[SyncMachine]:
    return type("Machine", (SyncMachine,), {"world": world, "team": team})


@pytest.mark.django_db
def test_two_systems_stay_aligned_under_random_edits(team: Any, fake_providers: None) -> None:
    machine = make_machine(FakeWorld(team), team)
    run_state_machine_as_test(
        machine,
        settings=settings(
            settings.default,
            deadline=None,
            stateful_step_count=10,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.django_db
def test_sandbox_crm_and_helpdesk_stay_aligned_under_random_edits(
    team: Any, crm_sandbox_process: SandboxProcess, helpdesk_sandbox_process: SandboxProcess
) -> None:
    machine = make_machine(SandboxWorld(team, crm_sandbox_process, helpdesk_sandbox_process), team)
    run_state_machine_as_test(
        machine,
        settings=settings(
            settings.default,
            max_examples=20,
            deadline=None,
            stateful_step_count=8,
            suppress_health_check=list(HealthCheck),
        ),
    )
