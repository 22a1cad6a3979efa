"""PostgreSQL table: one table as a source (incremental by updated-at) or a target (upsert by key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from connectors.base import Capabilities, Provider
from connectors.providers.postgres_table.client import (
    MAX_ROWS_PER_STATEMENT,
    PostgresTableClient,
    PostgresTableConfig,
)


def _config(config: Mapping[str, Any]) -> PostgresTableConfig | None:
    try:
        return PostgresTableConfig.model_validate(dict(config))
    except ValidationError:
        return None


class PostgresTableProvider(Provider):
    key = "postgres_table"
    label = "PostgreSQL table"
    auth_scheme = "none"
    config_model = PostgresTableConfig
    # libpq connection string or URL, e.g. postgresql://user:password@db.example.com:5432/sales
    credential_fields = ("dsn",)
    # The object is the configured table (see objects_for), so there is no fixed list.
    objects = {}
    capabilities = {}
    client_class = PostgresTableClient

    @classmethod
    def objects_for(cls, config: Mapping[str, Any]) -> dict[str, str]:
        parsed = _config(config)
        if parsed is None:
            return {}
        return {parsed.table: f"{parsed.schema_name}.{parsed.table}"}

    @classmethod
    def capabilities_for(cls, config: Mapping[str, Any], object_name: str) -> Capabilities | None:
        parsed = _config(config)
        if parsed is None or object_name not in (parsed.table, f"{parsed.schema_name}.{parsed.table}"):
            return None
        return Capabilities(
            read=True,
            # An append-only table (id column, no updated-at) only shows new rows, still incrementally.
            incremental=True,
            create=True,
            update=True,
            upsert_key=parsed.key_column,
            batch_size=MAX_ROWS_PER_STATEMENT,
        )
