"""Migration 0008 drops RunRecord.run's own index and nothing else; reversing it brings the index back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("workflows", "0007_runrecord_page_indexes")]
AFTER = [("workflows", "0008_runrecord_drop_run_index")]


def _indexes_on_run_only() -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "workflows_runrecord")
    return {
        name
        for name, info in constraints.items()
        if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == ["run_id"]
    }


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_the_run_index_goes_and_the_named_partial_index_stays_both_ways() -> None:
    try:
        _migrate(BEFORE)
        before = _indexes_on_run_only()
        assert "runrecord_dead_letter_idx" in before
        assert len(before) == 2, before  # the foreign key's own index, and the partial one
        _migrate(AFTER)
        assert _indexes_on_run_only() == {"runrecord_dead_letter_idx"}
        _migrate(BEFORE)
        assert _indexes_on_run_only() == before
    finally:
        _migrate(AFTER)
    assert _indexes_on_run_only() == {"runrecord_dead_letter_idx"}
