"""One contract, every SaaS connector: each `case_<system>.py` here runs against its sandbox.

The contract is what the engine relies on (connectors/base.py): a connection test that quotes the system
when credentials are wrong, a typed schema, full and incremental reads in the system's own paging whose
cursors never skip a record, batch upserts that create then update without duplicates and fail only the
records the system rejects (with its words), and throttling (429 + Retry-After) waited out, not failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
from typing import Any

import pytest

from connectors.base import (
    AuthenticationError,
    Capabilities,
    ChangePage,
    ConnectorClient,
    ConnectorError,
    FieldType,
)
from connectors.registry import get_provider
from connectors.sandbox.testing import SandboxProcess
from tests.connectors import contract
from tests.connectors.contract.cases import ContractCase

CASES: list[ContractCase] = [
    importlib.import_module(f"{contract.__name__}.{module.name}").CASE
    for module in pkgutil.iter_modules(contract.__path__)
    if module.name.startswith("case_")
]
READERS = [case for case in CASES if case.reads]
WRITERS = CASES  # every system in the suite can be written to
FIELD_TYPES = set(typing.get_args(FieldType))


def test_the_suite_covers_every_saas_system() -> None:
    assert {case.name for case in CASES} == {
        "hubspot",
        "hubspot_custom_object",
        "zendesk",
        "stripe",
        "pipedrive",
        "mailchimp",
        "slack",
    }
    assert {case.name for case in READERS} == {
        "hubspot",
        "hubspot_custom_object",
        "zendesk",
        "stripe",
        "pipedrive",
        "mailchimp",
    }


def sandbox_for(
    request: pytest.FixtureRequest, case: ContractCase, seed: int | None = None
) -> SandboxProcess:
    sandbox: SandboxProcess = request.getfixturevalue(case.fixture)
    if seed is not None:
        sandbox.reset(seed)
    return sandbox


def read_all(client: ConnectorClient, case: ContractCase, cursor: str | None = None) -> list[ChangePage]:
    return list(client.list_changes(case.object_name, cursor, page_size=case.page_size))


def ids_of(pages: list[ChangePage]) -> set[str]:
    return {record.id for page in pages for record in page.records}


def waits(client: Any) -> list[float]:
    return list(client.http.sleep.waits)


# -- connection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_connection_test_describes_the_account(request: pytest.FixtureRequest, case: ContractCase) -> None:
    sandbox = sandbox_for(request, case)

    description = case.connect(sandbox, None).test()

    assert isinstance(description, str) and description.strip()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_wrong_credentials_fail_with_the_systems_message(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    sandbox = sandbox_for(request, case)

    with pytest.raises(AuthenticationError) as caught:
        case.connect(sandbox, case.wrong_credential).test()

    assert case.wrong_credential_says in caught.value.message
    assert case.wrong_credential not in caught.value.message
    assert caught.value.permanent is True


# -- schema -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_schema_lists_typed_fields(request: pytest.FixtureRequest, case: ContractCase) -> None:
    sandbox = sandbox_for(request, case)

    schema = case.connect(sandbox, None).discover_schema(case.object_name)

    names = [f.name for f in schema.fields]
    assert names and len(names) == len(set(names))
    assert all(f.type in FIELD_TYPES and f.label for f in schema.fields)
    for name, field_type in case.schema_has.items():
        described = schema.field(name)
        assert described is not None, f"{case.name} schema lacks {name}"
        assert described.type == field_type
        if field_type == "enumeration":
            assert described.options, f"{name} is a picklist without options"
    if case.custom_field:
        custom = schema.field(case.custom_field)
        assert custom is not None and custom.custom is True
        assert not any(f.custom for f in schema.fields if f.name in ("email", "email_address", "name"))


# -- reading ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", READERS, ids=str)
def test_full_read_pages_over_every_record(request: pytest.FixtureRequest, case: ContractCase) -> None:
    sandbox = sandbox_for(request, case, case.many)
    assert case.record_ids is not None

    pages = read_all(case.connect(sandbox, None), case)

    assert len(pages) > 1
    assert ids_of(pages) == case.record_ids(sandbox)
    assert len(case.record_ids(sandbox)) >= case.many
    assert [p.has_more for p in pages] == [True] * (len(pages) - 1) + [False]
    assert all(p.cursor for p in pages)


@pytest.mark.parametrize("case", READERS, ids=str)
def test_incremental_read_after_an_edit_returns_the_edit(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    sandbox = sandbox_for(request, case, case.few)
    assert case.record_ids is not None and case.admin_edit is not None
    client: Any = case.connect(sandbox, None)
    cursor = read_all(client, case)[-1].cursor
    target = sorted(case.record_ids(sandbox))[len(case.record_ids(sandbox)) // 2]

    field, value = case.admin_edit(sandbox, target)
    changed = [r for page in read_all(client, case, cursor) for r in page.records]

    assert target in {r.id for r in changed}
    assert next(r for r in changed if r.id == target).fields[field] == value


@pytest.mark.parametrize("case", READERS, ids=str)
def test_an_idle_incremental_read_returns_nothing(request: pytest.FixtureRequest, case: ContractCase) -> None:
    sandbox = sandbox_for(request, case, case.few)
    client: Any = case.connect(sandbox, None)
    cursor = read_all(client, case)[-1].cursor

    again = read_all(client, case, cursor)

    assert ids_of(again) == set()
    assert again[-1].has_more is False and again[-1].cursor


@pytest.mark.parametrize("case", READERS, ids=str)
def test_resuming_from_a_mid_way_cursor_skips_nothing(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    sandbox = sandbox_for(request, case, case.many)
    assert case.record_ids is not None
    everything = case.record_ids(sandbox)

    pages = iter(case.connect(sandbox, None).list_changes(case.object_name, None, page_size=case.page_size))
    first = [next(pages), next(pages)]
    resumed = read_all(case.connect(sandbox, None), case, first[-1].cursor)

    assert ids_of(first) | ids_of(resumed) == everything
    assert ids_of(first) != everything


# -- writing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", WRITERS, ids=str)
def test_batch_upsert_creates_then_updates_without_duplicates(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    sandbox = sandbox_for(request, case)
    client: Any = case.connect(sandbox, None)
    before = case.count(sandbox)
    items = case.new_items("contract")

    first = client.upsert_batch(case.object_name, items, match_field=case.match_field)

    assert [r.key for r in first] == [i.key for i in items]
    assert all(r.ok and r.action == "created" for r in first), first
    assert case.count(sandbox) == before + len(items)
    if not case.updates:
        return
    assert case.change is not None and case.stored is not None
    changed = [case.change(item) for item in items]
    second = client.upsert_batch(case.object_name, changed, match_field=case.match_field)
    assert all(r.ok and r.action == "updated" for r in second), second
    assert [r.target_id for r in second] == [r.target_id for r in first]
    assert case.count(sandbox) == before + len(items)
    field = next(name for name, value in changed[0].fields.items() if value != items[0].fields.get(name))
    assert case.stored(sandbox, str(first[0].target_id), field) == changed[0].fields[field]


@pytest.mark.parametrize("case", WRITERS, ids=str)
def test_a_rejected_record_fails_with_the_systems_message_while_the_others_succeed(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    sandbox = sandbox_for(request, case)
    before = case.count(sandbox)
    items = case.new_items("mixed")
    items.insert(2, case.invalid_item)

    results = case.connect(sandbox, None).upsert_batch(case.object_name, items, match_field=case.match_field)

    assert [r.key for r in results] == [i.key for i in items]
    rejected = results[2]
    assert rejected.ok is False and rejected.action == "failed"
    assert rejected.error is not None and case.rejection_says in rejected.error
    assert all(r.ok for i, r in enumerate(results) if i != 2)
    assert case.count(sandbox) == before + len(items) - 1


# -- throttling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", READERS, ids=str)
def test_a_throttled_read_is_waited_out(request: pytest.FixtureRequest, case: ContractCase) -> None:
    sandbox = sandbox_for(request, case, case.few)
    client: Any = case.connect(sandbox, None)
    expected = read_all(client, case)
    sandbox.set_faults(status=429, fail_next=1, retry_after=2)

    pages = read_all(client, case)

    assert ids_of(pages) == ids_of(expected)
    assert client.http.stats.throttled == 1
    assert max(waits(client)) >= 1.5  # the Retry-After of 2 s, not a short backoff
    assert sandbox.stats()["faults_injected"] == 1


@pytest.mark.parametrize("case", WRITERS, ids=str)
def test_a_throttled_write_is_waited_out_and_done_once(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    sandbox = sandbox_for(request, case)
    client: Any = case.connect(sandbox, None)
    client.discover_schema(case.object_name)
    before = case.count(sandbox)
    items = case.new_items("throttled")[:1]
    sandbox.set_faults(status=429, fail_next=1, retry_after=2)

    [result] = client.upsert_batch(case.object_name, items, match_field=case.match_field)

    assert result.ok, result
    assert client.http.stats.throttled == 1
    assert max(waits(client)) >= 1.5
    assert case.count(sandbox) == before + 1


# -- finding and deleting -----------------------------------------------------------------------------


def capabilities_of(case: ContractCase) -> Capabilities:
    declared = get_provider(case.kind).capabilities_for(case.config, case.object_name)
    assert declared is not None, f"{case.kind} declares nothing for {case.object_name}"
    return declared


FINDERS = [case for case in CASES if capabilities_of(case).find]
DELETERS = [case for case in CASES if capabilities_of(case).delete]


def test_find_and_delete_are_declared_as_the_clients_offer_them() -> None:
    able = {"hubspot", "hubspot_custom_object", "zendesk", "stripe", "pipedrive", "mailchimp"}
    assert {case.name for case in FINDERS} == able
    assert {case.name for case in DELETERS} == able


@pytest.mark.parametrize("case", [c for c in CASES if not capabilities_of(c).find], ids=str)
def test_a_connector_that_cannot_find_says_so(request: pytest.FixtureRequest, case: ContractCase) -> None:
    client = case.connect(sandbox_for(request, case), None)

    with pytest.raises(ConnectorError) as caught:
        client.find(case.object_name, "text", "anything")

    assert caught.value.permanent is True


@pytest.mark.parametrize("case", [c for c in CASES if not capabilities_of(c).delete], ids=str)
def test_a_connector_that_cannot_delete_says_so(request: pytest.FixtureRequest, case: ContractCase) -> None:
    client = case.connect(sandbox_for(request, case), None)

    with pytest.raises(ConnectorError) as caught:
        client.delete(case.object_name, "1")

    assert caught.value.permanent is True


@pytest.mark.parametrize("case", FINDERS, ids=str)
def test_find_returns_the_record_with_that_value_or_none(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    sandbox = sandbox_for(request, case)
    client: Any = case.connect(sandbox, None)
    items = case.new_items("findme")
    written = client.upsert_batch(case.object_name, items, match_field=case.match_field)
    value = items[1].fields[case.find_field]

    found = client.find(case.object_name, case.find_field, case.find_as_typed(value))
    missing = client.find(case.object_name, case.find_field, f"nobody-{value}")

    assert found is not None and found.id == written[1].target_id
    assert str(found.fields[case.find_field]).lower() == str(value).lower()
    assert missing is None
    assert client.find(case.object_name, case.find_field, "") is None


@pytest.mark.parametrize("case", DELETERS, ids=str)
def test_delete_removes_the_record_and_reads_report_the_deletion(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    sandbox = sandbox_for(request, case)
    client: Any = case.connect(sandbox, None)
    items = case.new_items("deleteme")
    written = client.upsert_batch(case.object_name, items, match_field=case.match_field)
    cursor = read_all(client, case)[-1].cursor
    target = str(written[0].target_id)

    result = client.delete(case.object_name, target)
    again = client.delete(case.object_name, target)

    assert result.ok and result.action == "deleted" and result.target_id is not None, result
    assert again.ok is False and again.error, again  # the system's 404, not an exception
    reported = [r for r in case.deletions(client, case.object_name, cursor) if r.id == target]
    assert reported and case.is_deleted(reported[-1]), reported
    after = client.find(case.object_name, case.find_field, items[0].fields[case.find_field])
    assert after is None or case.is_deleted(after)
    kept = client.find(case.object_name, case.find_field, items[1].fields[case.find_field])
    assert kept is not None and kept.id == written[1].target_id and not case.is_deleted(kept)


@pytest.mark.parametrize("case", DELETERS, ids=str)
def test_delete_batch_deletes_each_record(request: pytest.FixtureRequest, case: ContractCase) -> None:
    sandbox = sandbox_for(request, case)
    client: Any = case.connect(sandbox, None)
    items = case.new_items("batchdelete")
    written = client.upsert_batch(case.object_name, items, match_field=case.match_field)
    ids = [str(r.target_id) for r in written[:3]]

    results = client.delete_batch(case.object_name, ids)

    assert [r.ok for r in results] == [True, True, True], results
    for item in items[:3]:
        found = client.find(case.object_name, case.find_field, item.fields[case.find_field])
        assert found is None or case.is_deleted(found)
    assert client.find(case.object_name, case.find_field, items[3].fields[case.find_field]) is not None


@pytest.mark.parametrize("case", DELETERS, ids=str)
def test_a_record_id_that_climbs_the_path_never_reaches_another_record(
    request: pytest.FixtureRequest, case: ContractCase
) -> None:
    """Ids reach URL paths from webhook bodies: "<a>/../<b>" must name no record, never record b."""
    sandbox = sandbox_for(request, case)
    client: Any = case.connect(sandbox, None)
    items = case.new_items("climb")
    written = client.upsert_batch(case.object_name, items, match_field=case.match_field)
    first, second = str(written[0].target_id), str(written[1].target_id)
    climbing = f"{first}/../{second}"

    result = client.delete(case.object_name, climbing)
    with pytest.raises(ConnectorError) as caught:
        client.delete(case.object_name, "..")

    assert result.ok is False, result
    assert caught.value.permanent is True
    for item, target in zip(items[:2], (first, second), strict=True):
        kept = client.find(case.object_name, case.find_field, item.fields[case.find_field])
        assert kept is not None and kept.id == target and not case.is_deleted(kept), kept
    assert client.find(case.object_name, "id", climbing) is None
