"""PostgreSQL table: one table as a source (incremental by updated-at) or a target (upsert by key)."""

from __future__ import annotations

from connectors.base import Provider
from connectors.providers.postgres_table.client import PostgresTableClient, PostgresTableConfig


class PostgresTableProvider(Provider):
    key = "postgres_table"
    label = "PostgreSQL table"
    auth_scheme = "none"
    config_model = PostgresTableConfig
    # libpq connection string or URL, e.g. postgresql://user:password@db.example.com:5432/sales
    credential_fields = ("dsn",)
    # The object is the configured table, so there is no fixed list.
    objects = {}
    capabilities = {}
    client_class = PostgresTableClient
