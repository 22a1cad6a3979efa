"""Uploading the import file of a CSV connection: checked before it replaces the previous upload.

The file is stored under the connection's `import_file` name in that connection's own uploads folder
(atomically, see storage.save_upload), so the next read of the connection sees the new rows and no
other connection, whatever file name it types, can read or replace it. It is refused, with a
message that says what to do, when it is too large, is not text in the connection's encoding, looks
like a spreadsheet or other binary file, or lacks a header row naming every column (and the key
column, when the connection has one).
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings

from connectors.models import Connection
from connectors.providers.csv_file import storage
from connectors.providers.csv_file.client import CsvFileConfig
from integrations_hub.audit.services import audit_record

ALLOWED_EXTENSIONS = (".csv", ".tsv", ".txt")
# Spreadsheet and archive signatures: the usual mistake is uploading the workbook instead of a CSV export.
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "an Excel workbook or another zip file",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook",
    b"%PDF": "a PDF",
}


class CsvUploadRejected(ValueError):
    """The upload cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class CsvUploadReceipt:
    name: str
    size: int
    rows: int
    columns: tuple[str, ...]
    sha256: str


def max_upload_bytes() -> int:
    return int(getattr(settings, "HUB_CSV_MAX_UPLOAD_BYTES", storage.DEFAULT_MAX_UPLOAD_BYTES))


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size / (1024 * 1024):.0f} MiB"


def csv_upload_check(*, config: CsvFileConfig, filename: str, content: bytes) -> CsvUploadReceipt:
    """Check an upload against the connection's settings without storing it. Raises CsvUploadRejected."""
    if not config.import_file:
        raise CsvUploadRejected(
            "This connection has no import file: set import_file in its settings before uploading."
        )
    if filename and not filename.lower().endswith(ALLOWED_EXTENSIONS):
        raise CsvUploadRejected(
            f"{filename} is not a CSV file: upload a .csv, .tsv or .txt file (export it as CSV first)."
        )
    limit = max_upload_bytes()
    if len(content) > limit:
        raise CsvUploadRejected(f"The file is larger than {_size(limit)}; split it into smaller files.")
    if not content.strip():
        raise CsvUploadRejected("The file is empty.")
    for signature, what in _BINARY_SIGNATURES.items():
        if content.startswith(signature):
            raise CsvUploadRejected(f"The file is {what}, not CSV text: save it as CSV and upload that.")
    if b"\x00" in content[:65536]:
        raise CsvUploadRejected("The file is binary, not CSV text: save it as CSV and upload that.")
    try:
        text = content.decode(config.encoding)
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise CsvUploadRejected(
            f"Line {line} is not {config.encoding} text. Save the file as {config.encoding} or change the "
            "connection's encoding."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=config.delimiter)
    try:
        header = [cell.strip() for cell in next(reader, [])]
        rows = sum(1 for row in reader if any(cell.strip() for cell in row))
    except csv.Error as exc:
        raise CsvUploadRejected(f"The file is not valid CSV (line {reader.line_num}): {exc}.") from None
    if not header or any(not name for name in header):
        raise CsvUploadRejected("The first row must name every column.")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise CsvUploadRejected(f"The first row names {', '.join(duplicates)} more than once.")
    delimiter = "tab" if config.delimiter == "\t" else repr(config.delimiter)
    if len(header) == 1 and rows and any(mark in header[0] for mark in ",;\t|" if mark != config.delimiter):
        raise CsvUploadRejected(
            f"The first row has one column, {header[0]!r}: the file does not seem to use the connection's "
            f"delimiter ({delimiter}). Change the connection's delimiter or the file."
        )
    if config.key_column and config.key_column not in header:
        raise CsvUploadRejected(
            f"The file has no {config.key_column!r} column, which identifies its rows "
            f"(columns: {', '.join(header)})."
        )
    return CsvUploadReceipt(
        name=config.import_file,
        size=len(content),
        rows=rows,
        columns=tuple(header),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def csv_upload(
    *, connection: Connection, upload: IO[bytes], filename: str = "", actor: Any = None
) -> CsvUploadReceipt:
    """Store `upload` as the connection's import file once it passes the checks. Raises CsvUploadRejected."""
    if connection.kind != "csv_file":
        raise CsvUploadRejected("Only CSV file connections take uploads.")
    config = CsvFileConfig.model_validate(dict(connection.config))
    # One byte past the limit is enough to know it is too large, without reading all of it.
    content = upload.read(max_upload_bytes() + 1)
    receipt = csv_upload_check(config=config, filename=filename, content=content)
    try:
        storage.save_upload(connection_id=connection.pk, name=receipt.name, content=content)
    except storage.UnsafePathError as exc:
        raise CsvUploadRejected(f"import_file: {exc}") from None
    audit_record(
        team=connection.team_id,
        actor=actor,
        action="connection.file_uploaded",
        obj=connection,
        summary=f"Uploaded {receipt.rows} rows to {receipt.name} of connection {connection.name!r}",
        changes={
            "file": receipt.name,
            "uploaded_as": filename,
            "bytes": receipt.size,
            "rows": receipt.rows,
            "sha256": receipt.sha256,
        },
    )
    return receipt


@dataclass
class SharedUploadsMove:
    """What csv_uploads_move_shared did, by file name: the connections each file was copied to, and the
    files left where they were because connections of several teams name them (re-upload those)."""

    moved: dict[str, list[int]] = field(default_factory=dict)
    ambiguous: dict[str, list[int]] = field(default_factory=dict)


def csv_uploads_move_shared() -> SharedUploadsMove:
    """Move uploads stored in the shared uploads folder (the layout before per-connection folders)
    into the folder of the connection that names them.

    A file named by connections of one team is copied to each of them and then removed from the
    shared folder. A file named by connections of several teams cannot be attributed safely, so it
    stays where it is and is reported: those connections read nothing until their file is uploaded
    again. Running it twice is harmless.
    """
    claims: dict[str, list[Connection]] = defaultdict(list)
    for connection in Connection.objects.filter(kind="csv_file").order_by("pk"):
        name = (connection.config or {}).get("import_file")
        if not isinstance(name, str) or not name.strip():
            continue
        try:
            claims[storage.check_relative_name(name)].append(connection)
        except storage.UnsafePathError:
            continue
    report = SharedUploadsMove()
    for name, connections in sorted(claims.items()):
        if name.split("/", 1)[0] == "connections":
            continue  # the per-connection folders themselves
        try:
            shared = storage.resolve("uploads", name)
        except storage.UnsafePathError:
            continue
        if not shared.is_file():
            continue
        ids = [connection.pk for connection in connections]
        if len({connection.team_id for connection in connections}) > 1:
            report.ambiguous[name] = ids
            continue
        for connection in connections:
            target = storage.resolve_upload(connection_id=connection.pk, name=name)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                temp = target.with_name(f".{target.name}.moving")
                shutil.copyfile(shared, temp)
                temp.replace(target)
        shared.unlink()
        report.moved[name] = ids
    return report
