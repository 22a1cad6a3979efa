from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import SourceRecord
from tests.workflows.engine.test_mapping import EVERY_TRANSFORM
from tests.workflows.engine.test_transforms import json_values
from workflows.engine.diff import fingerprint
from workflows.engine.mapping import CompiledMapping, compile_mapping
from workflows.engine.plan import LinkState, PlannedRecord, plan_batch

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)

MAPPING = compile_mapping(
    {
        "fields": [
            {"target": "email", "source": "email", "transforms": [{"name": "trim"}, {"name": "lower"}]},
            {"target": "name", "source": ["firstname", "lastname"], "transforms": [{"name": "join"}]},
            {"target": "employees", "source": "employees", "transforms": [{"name": "to_integer"}]},
        ]
    }
)


def rec(source_id: str, minutes: int = 0, **fields: Any) -> SourceRecord:
    return SourceRecord(id=source_id, updated_at=T0 + timedelta(minutes=minutes), fields=fields)


def plan(
    records: list[SourceRecord], links: dict[str, LinkState] | None = None, **kwargs: Any
) -> list[PlannedRecord]:
    return plan_batch(records, MAPPING, links or {}, match_field="email", **kwargs)


ADA = {"email": "Ada@Example.com", "firstname": "Ada", "lastname": "Lovelace", "employees": "12"}
ADA_VALUES = {"email": "ada@example.com", "name": "Ada Lovelace", "employees": 12}


def test_an_unlinked_record_is_created_with_all_its_values() -> None:
    (planned,) = plan([rec("c1", **ADA)])
    assert planned.outcome == "create"
    assert planned.match_value == "ada@example.com"
    assert planned.write is not None
    assert planned.write.key == "c1"
    assert planned.write.target_id is None
    assert dict(planned.write.fields) == ADA_VALUES
    assert planned.diff == {name: (None, value) for name, value in ADA_VALUES.items()}
    assert planned.fingerprint == fingerprint(ADA_VALUES)


def test_a_linked_record_with_the_same_fingerprint_is_unchanged() -> None:
    links = {"c1": LinkState("u9", fingerprint(ADA_VALUES), ADA_VALUES)}
    (planned,) = plan([rec("c1", **ADA)], links)
    assert planned.outcome == "unchanged"
    assert planned.write is None
    assert planned.diff == {}


def test_a_matching_fingerprint_alone_is_enough_to_be_unchanged() -> None:
    (planned,) = plan([rec("c1", **ADA)], {"c1": LinkState("u9", fingerprint(ADA_VALUES), None)})
    assert planned.outcome == "unchanged"
    assert planned.fingerprint == fingerprint(ADA_VALUES)


def test_a_changed_linked_record_updates_only_the_changed_fields_of_its_target() -> None:
    old = {**ADA_VALUES, "employees": 10}
    links = {"c1": LinkState("u9", fingerprint(old), old)}
    (planned,) = plan([rec("c1", **ADA)], links)
    assert planned.outcome == "update"
    assert planned.write is not None
    assert planned.write.target_id == "u9"
    assert dict(planned.write.fields) == {"employees": 12}
    assert planned.diff == {"employees": (10, 12)}
    assert planned.values == ADA_VALUES


def test_update_fields_all_rewrites_every_mapped_field() -> None:
    old = {**ADA_VALUES, "employees": 10}
    links = {"c1": LinkState("u9", fingerprint(old), old)}
    (planned,) = plan([rec("c1", **ADA)], links, update_fields="all")
    assert planned.write is not None
    assert dict(planned.write.fields) == ADA_VALUES


def test_a_link_without_recorded_values_writes_everything() -> None:
    (planned,) = plan([rec("c1", **ADA)], {"c1": LinkState("u9", "stale", None)})
    assert planned.outcome == "update"
    assert planned.write is not None
    assert dict(planned.write.fields) == ADA_VALUES


def test_a_record_whose_only_change_is_a_now_empty_field_is_unchanged() -> None:
    # The empty field is left alone in the target, so there is nothing to write.
    links = {"c1": LinkState("u9", fingerprint(ADA_VALUES), ADA_VALUES)}
    (planned,) = plan([rec("c1", **{**ADA, "employees": None})], links)
    assert planned.outcome == "unchanged"
    assert planned.dropped == (("employees", "empty in source"),)


def test_an_unlinked_record_without_the_match_field_is_skipped() -> None:
    (planned,) = plan([rec("c1", firstname="Ada", email="  ")])
    assert planned.outcome == "skipped"
    assert planned.error == "no email to match on"
    assert planned.write is None


def test_a_linked_record_without_the_match_field_still_updates_by_target_id() -> None:
    links = {"c1": LinkState("u9", "old", {"name": "Ada"})}
    (planned,) = plan([rec("c1", firstname="Ada", lastname="King")], links)
    assert planned.outcome == "update"
    assert planned.write is not None
    assert planned.write.target_id == "u9"


def test_a_record_with_a_bad_value_fails_with_the_field_and_message() -> None:
    (planned,) = plan([rec("c1", **{**ADA, "employees": "a dozen"})])
    assert planned.outcome == "failed"
    assert planned.error == "employees: 'a dozen' is not a number"
    assert planned.write is None


def test_duplicates_in_a_batch_collapse_to_the_newest() -> None:
    records = [
        rec("c1", 5, **{**ADA, "employees": "5"}),
        rec("c2", 0, email="b@b.c"),
        rec("c1", 9, **{**ADA, "employees": "9"}),
        rec("c1", 1, **{**ADA, "employees": "1"}),
    ]
    planned = plan(records)
    assert [p.source_id for p in planned] == ["c1", "c2"]
    assert planned[0].values["employees"] == 9


def test_duplicates_with_the_same_timestamp_keep_the_later_one_in_the_batch() -> None:
    planned = plan([rec("c1", 0, **{**ADA, "employees": "1"}), rec("c1", 0, **{**ADA, "employees": "2"})])
    assert [p.values["employees"] for p in planned] == [2]


def test_a_match_field_the_mapping_does_not_produce_is_refused() -> None:
    with pytest.raises(ValueError, match="the match field 'phone' is not a target of the mapping"):
        plan_batch([], MAPPING, {}, match_field="phone")


def record_plan(planned: list[PlannedRecord], links: dict[str, LinkState]) -> dict[str, LinkState]:
    """What the caller does after successful writes: remember the fingerprint and values."""
    links = dict(links)
    for item in planned:
        if item.outcome in ("create", "update"):
            target_id = links[item.source_id].target_id if item.source_id in links else f"t-{item.source_id}"
            links[item.source_id] = LinkState(target_id, item.fingerprint, item.values)
    return links


def test_planning_the_same_batch_again_after_recording_is_all_unchanged() -> None:
    records = [rec("c1", **ADA), rec("c2", email="b@b.c", employees="3"), rec("c3", email="c@c.c")]
    first = plan(records, {"c2": LinkState("u2", "old", {"email": "b@b.c"})})
    assert [p.outcome for p in first] == ["create", "update", "create"]
    second = plan(records, record_plan(first, {"c2": LinkState("u2", "old", {"email": "b@b.c"})}))
    assert [p.outcome for p in second] == ["unchanged", "unchanged", "unchanged"]


source_values = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(-5, 5).map(str),
    st.sampled_from(["a@b.c", " A@B.C ", "x@y.z", "1.5", "lots"]),
)
source_records = st.builds(
    rec,
    st.sampled_from(["c1", "c2", "c3", "c4"]),
    st.integers(0, 3),
    email=source_values,
    firstname=source_values,
    lastname=source_values,
    employees=source_values,
)


def idempotence_holds(records: list[SourceRecord], mapping: CompiledMapping, match_field: str) -> None:
    first = plan_batch(records, mapping, {}, match_field=match_field)
    links = record_plan(first, {})
    second = plan_batch(records, mapping, links, match_field=match_field)
    for before, after in zip(first, second, strict=True):
        if before.outcome in ("create", "update"):
            assert after.outcome == "unchanged", (before, after)
        else:
            assert after.outcome == before.outcome


@settings(max_examples=200, deadline=None)
@given(records=st.lists(source_records, max_size=8))
def test_replanning_any_batch_after_recording_writes_nothing(records: list[SourceRecord]) -> None:
    idempotence_holds(records, MAPPING, "email")


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.builds(
            SourceRecord,
            id=st.sampled_from(["c1", "c2", "c3"]),
            updated_at=st.just(T0),
            fields=st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values),
        ),
        max_size=6,
    )
)
def test_replanning_arbitrary_values_through_every_transform_writes_nothing(
    records: list[SourceRecord],
) -> None:
    # NaN, nested objects and mixed types must fingerprint and diff stably too.
    idempotence_holds(records, EVERY_TRANSFORM, "trim_0")
