"""CSV files: import rows from an uploaded file, export rows to a file in the export folder."""

from __future__ import annotations

from connectors.base import Capabilities, Provider
from connectors.providers.csv_file.client import OBJECTS, CsvFileClient, CsvFileConfig


class CsvFileProvider(Provider):
    key = "csv_file"
    label = "CSV file"
    auth_scheme = "none"
    config_model = CsvFileConfig
    objects = dict(OBJECTS)
    capabilities = {
        # The export file is rewritten once per batch, so larger batches mean fewer rewrites.
        "rows": Capabilities(upsert_key=None, batch_size=500),
    }
    client_class = CsvFileClient
