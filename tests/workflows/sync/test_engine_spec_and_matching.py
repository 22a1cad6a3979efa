"""Compiling a sync definition, and first-sight identity: keys, links, holds."""

from __future__ import annotations

import pytest

from workflows.engine.sync.matching import (
    KeyHolder,
    decide_match,
    normalise_domain,
    normalise_email,
    record_keys,
)
from workflows.engine.sync.spec import MatchRule, SyncSpecError, compile_sync


def test_a_definition_reports_every_problem_at_once() -> None:
    with pytest.raises(SyncSpecError) as caught:
        compile_sync(
            {
                "create": "sideways",
                "fields": [
                    {"a": "x", "b": "y", "policy": "coin toss"},
                    {"a": "z", "b": "y", "a_to_b": {"transforms": [{"name": "no_such"}]}},
                ],
                "match": [{"rule": "email", "a": ["e1", "e2"], "b": "email"}],
            }
        )
    text = "; ".join(caught.value.messages)
    assert "create" in text and "coin toss" in text and "no_such" in text and "one field on each side" in text


def test_two_pairs_may_not_write_the_same_field() -> None:
    with pytest.raises(SyncSpecError, match="already written"):
        compile_sync({"fields": [{"a": "x", "b": "name"}, {"a": "y", "b": "name"}]})


def test_archive_needs_the_field_to_set() -> None:
    with pytest.raises(SyncSpecError, match="archive"):
        compile_sync({"fields": [{"a": "x", "b": "x"}], "deletion": {"policy": "archive"}})


def test_the_sync_remembers_only_the_fields_it_needs() -> None:
    spec = compile_sync(
        {
            "fields": [
                {
                    "a": "n",
                    "b": "name",
                    "a_to_b": {"source": ["first", "last"], "transforms": [{"name": "join"}]},
                }
            ],
            "match": [{"rule": "email", "a": "email", "b": "email"}],
            "filters": {"a": {"field": "stage", "op": "equals", "value": "customer"}},
        }
    )
    assert spec.stored_fields("a") == {"n", "first", "last", "email", "stage"}
    assert spec.stored_fields("b") == {"name", "email"}


@pytest.mark.parametrize(
    ("raw", "key"),
    [(" Ada@Example.COM ", "ada@example.com"), ("not an email", None), ("@x.io", None)],
)
def test_emails_are_trimmed_and_lower_cased(raw: str, key: str | None) -> None:
    assert normalise_email(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [("https://www.Acme.com/about", "acme.com"), ("ACME.COM.", "acme.com"), ("localhost", None)],
)
def test_domains_lose_scheme_www_and_path(raw: str, key: str | None) -> None:
    assert normalise_domain(raw) == key


def test_a_list_of_domains_gives_one_key_each() -> None:
    rule = MatchRule("domain", ("domain",), ("domain_names",))
    assert record_keys(rule, "b", "9", {"domain_names": ["acme.com", "www.acme.io"]}) == {
        "acme.com",
        "acme.io",
    }


def test_a_composite_key_needs_every_part() -> None:
    rule = MatchRule("composite", ("first", "last"), ("given", "family"))
    assert record_keys(rule, "a", "1", {"first": "Ada", "last": " Lovelace "}) == {"ada\x1flovelace"}
    assert record_keys(rule, "a", "1", {"first": "Ada"}) == frozenset()


RULES = [MatchRule("external_id", ("$id",), ("external_id",)), MatchRule("email", ("email",), ("email",))]


def test_one_unlinked_candidate_links() -> None:
    index = {(1, "a@x.io"): [KeyHolder("a", "1", False), KeyHolder("b", "7", False)]}
    decision = decide_match(RULES, "a", "1", [frozenset({"1"}), frozenset({"a@x.io"})], index)
    assert (decision.outcome, decision.target_id) == ("link", "7")


def test_rules_are_tried_in_order() -> None:
    index = {
        (0, "1"): [KeyHolder("b", "5", False)],
        (1, "a@x.io"): [KeyHolder("a", "1", False), KeyHolder("b", "7", False)],
    }
    decision = decide_match(RULES, "a", "1", [frozenset({"1"}), frozenset({"a@x.io"})], index)
    assert decision.target_id == "5"


@pytest.mark.parametrize(
    "holders",
    [
        # two candidates on the other side
        [KeyHolder("b", "7", False), KeyHolder("b", "8", False)],
        # a look-alike in the record's own system
        [KeyHolder("a", "2", False), KeyHolder("b", "7", False)],
        # the only candidate is linked to another record already
        [KeyHolder("b", "7", True)],
        # duplicates in its own system and nothing on the other side: creating would duplicate
        [KeyHolder("a", "2", False)],
    ],
)
def test_ambiguity_holds_instead_of_merging(holders: list[KeyHolder]) -> None:
    index = {(1, "a@x.io"): [KeyHolder("a", "1", False), *holders]}
    decision = decide_match(RULES, "a", "1", [frozenset(), frozenset({"a@x.io"})], index)
    assert decision.outcome == "hold" and decision.reason


def test_no_shared_key_is_a_new_record() -> None:
    index = {(1, "a@x.io"): [KeyHolder("a", "1", False)]}
    assert decide_match(RULES, "a", "1", [frozenset(), frozenset({"a@x.io"})], index).outcome == "new"
