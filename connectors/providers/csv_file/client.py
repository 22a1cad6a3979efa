"""CSV files: rows of an uploaded file as a source, rows of a file in the export folder as a target.

Reading: the header row names the fields (all text unless the connection declares a type). The
cursor is the file's SHA-256 plus how many rows were read: the same file resumes where it stopped,
and a re-uploaded file with different bytes is read again from the first row (the engine then only
writes the rows whose values changed).

Writing: rows are matched on the workflow's match field (a column), updated in place or appended,
and the file is rewritten atomically under a lock, so a reader or a second worker never sees half a
file. New fields become new columns. Export files are meant for modest sizes (the whole file is
rewritten per batch); a database table is the better target for millions of rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from connectors.base import (
    ChangePage,
    ConnectionConfig,
    ConnectionSettings,
    ConnectorClient,
    ConnectorError,
    FieldSchema,
    FieldType,
    ObjectSchema,
    SourceRecord,
    WriteItem,
    WriteResult,
)
from connectors.providers.csv_file import storage

OBJECT_NAME = "rows"
OBJECTS: dict[str, str] = {OBJECT_NAME: "Rows"}
_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
# Cells that did not fit under a header go here, so a malformed row shows its extra values instead of
# losing them.
EXTRA_FIELD = "_extra"


class CsvFileConfig(ConnectionConfig):
    base_url: str = Field(
        default="", description="Not used by CSV files.", json_schema_extra={"form_widget": "none"}
    )
    import_file: str | None = Field(
        default=None, description="File in the uploads folder whose rows are read (e.g. contacts.csv)."
    )
    export_file: str | None = Field(
        default=None,
        description="File in the connection's exports folder that rows are written to (e.g. crm/out.csv).",
    )
    delimiter: str = Field(default=",", description="One character; 'tab' for tab-separated files.")
    encoding: str = Field(default="utf-8-sig", description="Text encoding, e.g. utf-8-sig, latin-1.")
    key_column: str | None = Field(
        default=None,
        description="Column that identifies a row across uploads (e.g. email). Without it rows are "
        "identified by their position, so inserting a row re-links every row after it.",
    )
    field_types: dict[str, FieldType] = Field(
        default_factory=dict,
        description="Optional column types, e.g. 'age:number, subscribed:boolean'; others are text.",
    )

    @field_validator("import_file", "export_file")
    @classmethod
    def _safe_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return storage.check_relative_name(value)
        except storage.UnsafePathError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("tab", "\\t"):
            return "\t"
        if not isinstance(value, str) or len(value) != 1 or value in '\r\n"':
            raise ValueError("must be one character other than a quote or a line break")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    @field_validator("field_types", mode="before")
    @classmethod
    def _types_from_text(cls, value: Any) -> Any:
        """The connection form sends text: accept "name:type, name:type" as well as a mapping."""
        if not isinstance(value, str):
            return value
        parsed: dict[str, str] = {}
        for part in value.split(","):
            if not part.strip():
                continue
            name, sep, kind = part.partition(":")
            if not sep or not name.strip():
                raise ValueError(f"write each column as name:type, got {part.strip()!r}")
            parsed[name.strip()] = kind.strip()
        return parsed

    @model_validator(mode="after")
    def _has_a_file(self) -> CsvFileConfig:
        if not self.import_file and not self.export_file:
            raise ValueError("set import_file, export_file, or both")
        return self


def _to_cell(value: Any) -> str:
    """How a value is written into a CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def _typed(raw: str, field_type: FieldType) -> Any:
    """A cell read as its declared type. Text that does not parse stays text, so a mapping's
    conversion can reject it with a message instead of the value silently vanishing."""
    if field_type == "string":
        return raw
    text = raw.strip()
    if not text:
        return None
    if field_type == "number":
        if _INTEGER.match(text):
            return int(text)
        if _DECIMAL.match(text):
            return float(text)
        return raw
    if field_type == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return raw
    if field_type == "json":
        try:
            return json.loads(text)
        except ValueError:
            return raw
    return text


def _first_undecodable_line(path: Path, encoding: str) -> int | str:
    """The file line (1 = header) holding the first byte `encoding` cannot decode.

    The text reader decodes in large chunks, so its error cannot say where; this re-reads the bytes
    in small steps and counts line breaks up to the failure.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(65536), b""):
            state = decoder.getstate()
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                # Only the failing chunk is walked byte by byte, from the state it started in.
                decoder.setstate(state)
                for index in range(len(chunk)):
                    try:
                        decoder.decode(chunk[index : index + 1])
                    except UnicodeDecodeError:
                        return line
                    if chunk[index] == 0x0A:
                        line += 1
            line += chunk.count(b"\n")
    return "?"


@dataclass(frozen=True)
class _Cursor:
    checksum: str
    row: int

    def encode(self) -> str:
        return json.dumps({"sha256": self.checksum, "row": self.row}, separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: str | None) -> _Cursor | None:
        if cursor is None or not cursor.strip():
            return None
        try:
            data = json.loads(cursor)
            checksum, row = data["sha256"], data["row"]
        except (ValueError, TypeError, KeyError):
            raise ConnectorError(f"Not a CSV cursor: {cursor!r}", permanent=True) from None
        if not isinstance(checksum, str) or not isinstance(row, int) or isinstance(row, bool) or row < 0:
            raise ConnectorError(f"Not a CSV cursor: {cursor!r}", permanent=True)
        return cls(checksum, row)


class CsvFileClient(ConnectorClient):
    def __init__(self, settings: ConnectionSettings) -> None:
        super().__init__(settings)
        self.config = CsvFileConfig.model_validate(dict(settings.config))

    # -- contract ----------------------------------------------------------------------------------

    def test(self) -> str:
        parts: list[str] = []
        if self.config.import_file:
            header = self._read_header(self._import_path())
            parts.append(f"import {self.config.import_file} ({len(header)} columns)")
        if self.config.export_file:
            path = self._export_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(path.parent, os.W_OK):
                raise ConnectorError(
                    f"The export folder for {self.config.export_file} is not writable.", permanent=True
                )
            parts.append(f"export {self.config.export_file}")
        return "CSV " + ", ".join(parts)

    def discover_schema(self, object_name: str) -> ObjectSchema:
        self._check_object(object_name)
        header: list[str] = []
        if self.config.import_file:
            header = self._read_header(self._import_path())
        elif self.config.export_file and self._export_path().exists():
            header = self._read_existing(self._export_path())[0]
        names = header or list(self.config.field_types)
        self._check_declared(header)
        fields = tuple(
            FieldSchema(name=name, label=name, type=self.config.field_types.get(name, "string"))
            for name in names
        )
        return ObjectSchema(name=object_name, label=OBJECTS[object_name], fields=fields)

    def list_changes(
        self, object_name: str, cursor: str | None, *, page_size: int = 100
    ) -> Iterator[ChangePage]:
        self._check_object(object_name)
        if not self.config.import_file:
            raise ConnectorError("This CSV connection has no import file to read.", permanent=True)
        previous = _Cursor.decode(cursor)
        path = self._import_path()
        page_size = max(1, page_size)
        # One open handle for checksum and rows: a re-upload (an atomic rename) mid-read cannot mix
        # versions, because this handle keeps the bytes it opened.
        with self._open(path) as raw:
            checksum = storage.sha256_of(raw)
            modified = datetime.fromtimestamp(os.fstat(raw.fileno()).st_mtime, tz=UTC)
            start = previous.row if previous is not None and previous.checksum == checksum else 0
            text = io.TextIOWrapper(raw, encoding=self.config.encoding, newline="")
            reader = csv.reader(text, delimiter=self.config.delimiter)
            position = 0
            try:
                header = self._header(next(reader, None))
                self._check_declared(header)
                records: list[SourceRecord] = []
                for row in reader:
                    position += 1
                    if position <= start:
                        continue
                    if not any(cell.strip() for cell in row):
                        continue  # blank lines carry no record; the position still counts them
                    records.append(self._record(header, row, position, modified))
                    if len(records) >= page_size:
                        yield ChangePage(records, _Cursor(checksum, position).encode(), has_more=True)
                        records = []
            except UnicodeDecodeError as exc:
                line = _first_undecodable_line(path, self.config.encoding)
                raise ConnectorError(
                    f"{self.config.import_file} is not valid {self.config.encoding} text at line {line} "
                    f"({exc.reason}); set the connection's encoding to the file's.",
                    permanent=True,
                ) from None
            except csv.Error as exc:
                raise ConnectorError(
                    f"{self.config.import_file} is not readable CSV at row {position + 1}: {exc}",
                    permanent=True,
                ) from None
            yield ChangePage(records, _Cursor(checksum, max(position, start)).encode(), has_more=False)

    def upsert_batch(
        self, object_name: str, items: list[WriteItem], *, match_field: str
    ) -> list[WriteResult]:
        self._check_object(object_name)
        if not self.config.export_file:
            raise ConnectorError("This CSV connection has no export file to write.", permanent=True)
        path = self._export_path()
        with storage.locked(path):
            header, rows = self._read_existing(path) if path.exists() else ([], [])
            table = _Table(header, rows, match_field)
            results = [self._apply(table, item, match_field) for item in items]
            if any(result.ok for result in results):
                storage.write_atomically(path, self._render(table))
        return results

    # -- reading helpers ---------------------------------------------------------------------------

    def _check_object(self, object_name: str) -> None:
        if object_name != OBJECT_NAME:
            raise ConnectorError(
                f"A CSV connection has one object, {OBJECT_NAME!r}, not {object_name!r}.", permanent=True
            )

    def _import_path(self) -> Path:
        # The connection's own uploads folder: another connection naming the same file never reads it.
        if self.settings.connection_id is None:
            raise ConnectorError(
                "Save the connection and upload its import file on the connection's page first.",
                permanent=True,
            )
        try:
            return storage.resolve_upload(
                connection_id=self.settings.connection_id, name=self.config.import_file or ""
            )
        except storage.UnsafePathError as exc:
            raise ConnectorError(f"import_file: {exc}", permanent=True) from None

    def _export_path(self) -> Path:
        # The connection's own exports folder: another connection naming the same file never writes it.
        if self.settings.connection_id is None:
            raise ConnectorError("Save the connection before writing its export file.", permanent=True)
        try:
            return storage.resolve_export(
                connection_id=self.settings.connection_id, name=self.config.export_file or ""
            )
        except storage.UnsafePathError as exc:
            raise ConnectorError(f"export_file: {exc}", permanent=True) from None

    def _open(self, path: Path) -> io.BufferedReader:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise ConnectorError(
                f"{path.name} has not been uploaded yet: upload it on the connection's page.", permanent=True
            ) from None
        except OSError as exc:
            raise ConnectorError(f"{path.name} cannot be opened: {exc.strerror}", permanent=True) from None

    def _read_header(self, path: Path) -> list[str]:
        with self._open(path) as raw:
            text = io.TextIOWrapper(raw, encoding=self.config.encoding, newline="")
            try:
                return self._header(next(csv.reader(text, delimiter=self.config.delimiter), None))
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ConnectorError(
                    f"The header of {path.name} cannot be read: {exc}", permanent=True
                ) from None

    def _header(self, row: Sequence[str] | None) -> list[str]:
        if row is None:
            raise ConnectorError(
                "The CSV file is empty: it needs a header row naming the columns.", permanent=True
            )
        header = [cell.strip() for cell in row]
        if not header or any(not name for name in header):
            raise ConnectorError("Every column of the CSV header row needs a name.", permanent=True)
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise ConnectorError(
                f"The CSV header repeats column(s): {', '.join(duplicates)}.", permanent=True
            )
        if self.config.key_column and self.config.key_column not in header:
            raise ConnectorError(
                f"The key column {self.config.key_column!r} is not in the CSV header ({', '.join(header)}).",
                permanent=True,
            )
        return header

    def _check_declared(self, header: Sequence[str]) -> None:
        if not header:
            return
        unknown = sorted(set(self.config.field_types) - set(header))
        if unknown:
            raise ConnectorError(
                f"field_types names column(s) the file does not have: {', '.join(unknown)}.", permanent=True
            )

    def _record(
        self, header: Sequence[str], row: Sequence[str], position: int, modified: datetime
    ) -> SourceRecord:
        fields: dict[str, Any] = {}
        for index, name in enumerate(header):
            raw = row[index] if index < len(row) else None
            fields[name] = None if raw is None else _typed(raw, self.config.field_types.get(name, "string"))
        if len(row) > len(header):
            fields[EXTRA_FIELD] = list(row[len(header) :])
        key = self.config.key_column
        key_value = str(row[header.index(key)]).strip() if key and header.index(key) < len(row) else ""
        # Rows without a key value fall back to their position, so they are still read (never dropped).
        record_id = key_value or f"row-{position}"
        # A CSV row has no modification time of its own; the file's is the best we have.
        return SourceRecord(id=record_id, updated_at=modified, fields=fields)

    # -- writing helpers ---------------------------------------------------------------------------

    def _read_existing(self, path: Path) -> tuple[list[str], list[list[str]]]:
        with self._open(path) as raw:
            text = io.TextIOWrapper(raw, encoding=self.config.encoding, newline="")
            try:
                rows = list(csv.reader(text, delimiter=self.config.delimiter))
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ConnectorError(
                    f"The export file {self.config.export_file} cannot be read back: {exc}", permanent=True
                ) from None
        if not rows:
            return [], []
        return [cell.strip() for cell in rows[0]], [row for row in rows[1:] if any(c.strip() for c in row)]

    def _apply(self, table: _Table, item: WriteItem, match_field: str) -> WriteResult:
        cells = {name: _to_cell(value) for name, value in item.fields.items()}
        match_value = cells.get(match_field, "").strip()
        lookup = (item.target_id or "").strip() or match_value
        if not lookup:
            return WriteResult(
                key=item.key,
                ok=False,
                error=f"No {match_field} to match the CSV row on; the row was not written.",
            )
        try:
            # Refuse what this encoding cannot hold now, rather than failing the whole file's write.
            self.config.delimiter.join(cells.values()).encode(self.config.encoding)
        except UnicodeEncodeError as exc:
            return WriteResult(
                key=item.key,
                ok=False,
                error=f"A value cannot be written in {self.config.encoding}: {exc.object[exc.start : exc.end]!r}.",
            )
        position = table.find(lookup)
        if position is None and item.target_id and match_value:
            position = table.find(match_value)
        if position is None:
            cells.setdefault(match_field, lookup)
            if not cells[match_field].strip():
                cells[match_field] = lookup
            key = table.append(cells)
            return WriteResult(key=item.key, ok=True, target_id=key, action="created")
        key = table.update(position, cells)
        return WriteResult(key=item.key, ok=True, target_id=key, action="updated")

    def _render(self, table: _Table) -> bytes:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, delimiter=self.config.delimiter)
        writer.writerow(table.header)
        writer.writerows(table.rows)
        return buffer.getvalue().encode(self.config.encoding)


class _Table:
    """An export file in memory: header, rows, and an index of rows by the match column."""

    def __init__(self, header: list[str], rows: list[list[str]], match_field: str) -> None:
        self.header = header
        self.rows = rows
        self._column(match_field)
        self.match_index = self.header.index(match_field)
        self.index: dict[str, int] = {}
        for position, row in enumerate(self.rows):
            value = row[self.match_index].strip() if self.match_index < len(row) else ""
            # The first row with a value wins, so an accidental duplicate further down stays untouched.
            if value:
                self.index.setdefault(value, position)

    def _column(self, name: str) -> int:
        if name not in self.header:
            self.header.append(name)
            for row in self.rows:
                row.extend([""] * (len(self.header) - len(row)))
        return self.header.index(name)

    def find(self, key: str) -> int | None:
        return self.index.get(key)

    def append(self, cells: Mapping[str, str]) -> str:
        row = [""] * len(self.header)
        self.rows.append(row)
        return self.update(len(self.rows) - 1, cells)

    def update(self, position: int, cells: Mapping[str, str]) -> str:
        row = self.rows[position]
        old_key = row[self.match_index].strip() if self.match_index < len(row) else ""
        for name, value in cells.items():
            column = self._column(name)
            row.extend([""] * (len(self.header) - len(row)))
            row[column] = value
        new_key = row[self.match_index].strip()
        if old_key != new_key:
            if self.index.get(old_key) == position:
                del self.index[old_key]
            self.index.setdefault(new_key, position)
        return new_key
