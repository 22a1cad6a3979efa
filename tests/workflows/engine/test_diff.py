from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.engine.diff import canonical, canonical_json, diff, fingerprint


def test_fingerprint_is_pinned_so_stored_fingerprints_stay_valid_across_releases() -> None:
    # sha256 of '{"email":"ada@example.com","n":1,"ok":true,"tags":["a","é"]}', computed by hand.
    values = {"tags": ["a", "é"], "ok": True, "n": 1.0, "email": "ada@example.com"}
    assert fingerprint(values) == "78e9e2db181cbc4949feb42bf86001b8b739dbe83e65aaa1b102f698dabc09c6"


def test_fingerprint_ignores_key_order_at_every_level() -> None:
    assert fingerprint({"a": 1, "b": {"x": 1, "y": 2}}) == fingerprint({"b": {"y": 2, "x": 1}, "a": 1})


def test_fingerprint_changes_when_any_value_changes() -> None:
    base = {"email": "a@b.c", "tags": ["x"], "n": None}
    assert fingerprint(base) != fingerprint({**base, "email": "a@b.d"})
    assert fingerprint(base) != fingerprint({**base, "tags": ["x", "y"]})
    assert fingerprint(base) != fingerprint({**base, "n": 0})
    assert fingerprint(base) != fingerprint({"email": "a@b.c", "tags": ["x"]})


def test_fingerprint_treats_equal_numbers_alike_but_not_true_and_one() -> None:
    assert fingerprint({"n": 1}) == fingerprint({"n": 1.0})
    assert fingerprint({"n": 0}) == fingerprint({"n": -0.0})
    assert fingerprint({"n": 1}) != fingerprint({"n": True})
    assert fingerprint({"n": 0.5}) != fingerprint({"n": "0.5"})


def test_fingerprint_is_stable_for_values_json_does_not_know() -> None:
    moment = datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert fingerprint({"at": moment, "price": Decimal("2.50"), "n": math.nan}) == fingerprint(
        {"at": "2024-03-01T10:00:00+00:00", "price": 2.5, "n": math.nan}
    )
    assert canonical_json({"s": {3, 1, 2}}) == '{"s":[1,2,3]}'


def test_fingerprint_of_an_integer_too_long_to_print_still_works() -> None:
    assert fingerprint({"n": 10**5000}) != fingerprint({"n": 10**5000 + 1})


def test_diff_lists_only_changed_fields_with_old_and_new() -> None:
    old = {"email": "a@b.c", "name": "Ada", "n": 1}
    new = {"email": "a@b.c", "name": "Ada Lovelace", "n": 1.0}
    assert diff(old, new) == {"name": ("Ada", "Ada Lovelace")}


def test_diff_against_nothing_lists_every_field() -> None:
    assert diff(None, {"email": "a@b.c", "phone": None}) == {"email": (None, "a@b.c"), "phone": (None, None)}


def test_diff_ignores_fields_the_new_values_leave_alone() -> None:
    assert diff({"email": "a@b.c", "phone": "+44"}, {"email": "a@b.c"}) == {}


def test_diff_reports_clearing_a_field_and_type_changes() -> None:
    assert diff({"phone": "+44"}, {"phone": None}) == {"phone": ("+44", None)}
    assert diff({"vip": 1}, {"vip": True}) == {"vip": (1, True)}
    assert diff({"tags": ["a"]}, {"tags": ["a"]}) == {}


_flat_values = st.one_of(
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(st.text(max_size=5), _flat_values, max_size=6))
def test_flat_records_take_a_shortcut_to_the_same_canonical_text(values: dict[str, object]) -> None:
    expected = json.dumps(
        canonical(values), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True
    )
    assert canonical_json(values) == expected
