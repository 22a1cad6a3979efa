from __future__ import annotations

from typing import Any

import pytest

from connectors.base import ConnectorError
from workflows.engine.lookups import ApplyContext, ConnectionRef
from workflows.engine.mapping import CompiledMapping, compile_mapping
from workflows.engine.transforms import TRANSFORMS, TransformError, lookup_link


class Links:
    """A LookupPort over a dict, counting calls."""

    def __init__(self, links: dict[tuple[str, str], str], error: ConnectorError | None = None) -> None:
        self.links = links
        self.error = error
        self.calls: list[tuple[ConnectionRef, str, str]] = []

    def linked_id(self, connection: ConnectionRef, object_name: str, source_id: str) -> str | None:
        self.calls.append((connection, object_name, source_id))
        if self.error is not None:
            raise self.error
        return self.links.get((object_name, source_id))


def company_mapping(missing: str = "fail", empty: str = "keep") -> CompiledMapping:
    return compile_mapping(
        {
            "fields": [
                {"target": "email", "source": "email"},
                {
                    "target": "account_id",
                    "source": "company_id",
                    "transforms": [
                        {"name": "trim"},
                        {
                            "name": "lookup_link",
                            "args": {"connection": 4, "object": "accounts", "missing": missing},
                        },
                    ],
                    "empty": empty,
                },
            ]
        }
    )


LINKS = Links({("accounts", "c-17"): "acc-9"})


def test_the_linked_id_comes_from_the_port_in_the_context() -> None:
    port = Links({("accounts", "c-17"): "acc-9"})
    mapped = company_mapping().apply({"email": "a@b.c", "company_id": " c-17 "}, ApplyContext(lookups=port))
    assert mapped.values == {"email": "a@b.c", "account_id": "acc-9"}
    assert port.calls == [(4, "accounts", "c-17")]


def test_without_a_port_the_record_fails_with_a_clear_message() -> None:
    mapped = company_mapping().apply({"email": "a@b.c", "company_id": "c-17"})
    assert mapped.values == {"email": "a@b.c"}
    assert mapped.errors == [
        (
            "account_id",
            "can't find the linked accounts record here: record links are only available"
            " when the mapping runs in a workflow",
        )
    ]


def test_an_empty_context_is_the_same_as_none() -> None:
    mapped = company_mapping().apply({"company_id": "c-17"}, ApplyContext())
    assert mapped.errors[0][1].startswith("can't find the linked accounts record here")


@pytest.mark.parametrize(
    ("missing", "empty", "values", "dropped", "errors"),
    [
        ("fail", "keep", {}, [], [("account_id", "'c-99' has no linked accounts record in connection 4")]),
        ("empty", "keep", {}, [("account_id", "empty after transforms")], []),
        ("empty", "clear", {"account_id": None}, [], []),
        ("drop", "clear", {}, [("account_id", "'c-99' has no linked accounts record in connection 4")], []),
    ],
)
def test_a_record_without_a_link_follows_the_missing_policy(
    missing: str, empty: str, values: dict[str, Any], dropped: list[Any], errors: list[Any]
) -> None:
    mapped = company_mapping(missing, empty).apply(
        {"email": "a@b.c", "company_id": "c-99"}, ApplyContext(lookups=LINKS)
    )
    assert (mapped.values, mapped.dropped, mapped.errors) == ({"email": "a@b.c", **values}, dropped, errors)


def test_an_empty_source_id_is_not_looked_up() -> None:
    port = Links({})
    mapped = company_mapping().apply({"company_id": "  "}, ApplyContext(lookups=port))
    assert mapped.dropped == [("email", "empty in source"), ("account_id", "empty in source")]
    assert port.calls == []


def test_a_connector_error_becomes_a_field_error_naming_the_system_message() -> None:
    port = Links({}, ConnectorError("billing is down (503)", permanent=False))
    mapped = company_mapping().apply({"company_id": "c-17"}, ApplyContext(lookups=port))
    assert mapped.errors == [
        ("account_id", "couldn't look up the linked accounts record of 'c-17': billing is down (503)")
    ]


def test_mappings_without_lookup_link_ignore_the_context() -> None:
    mapping = compile_mapping({"fields": [{"target": "email", "source": "email"}]})
    assert not mapping.uses_context
    assert mapping.apply({"email": "x"}, ApplyContext(lookups=LINKS)).values == {"email": "x"}
    assert company_mapping().uses_context


def test_called_directly_without_context_it_explains_what_is_missing() -> None:
    with pytest.raises(TransformError, match="record links are only available"):
        lookup_link("c-17", connection=4, object="accounts")
    assert (
        lookup_link("c-17", connection=4, object="accounts", context=ApplyContext(lookups=LINKS)) == "acc-9"
    )


def test_the_registry_marks_it_as_needing_the_context() -> None:
    described = TRANSFORMS["lookup_link"].to_dict()
    assert described["uses_context"] is True
    assert [arg["name"] for arg in described["args"]] == ["connection", "object", "missing"]


def test_each_apply_uses_its_own_context() -> None:
    mapping = company_mapping()
    first, second = Links({("accounts", "c-17"): "acc-1"}), Links({("accounts", "c-17"): "acc-2"})
    record = {"email": "a@b.c", "company_id": "c-17"}
    assert mapping.apply(record, ApplyContext(lookups=first)).values["account_id"] == "acc-1"
    assert mapping.apply(record, ApplyContext(lookups=second)).values["account_id"] == "acc-2"
    assert mapping.apply(record).errors[0][0] == "account_id"
