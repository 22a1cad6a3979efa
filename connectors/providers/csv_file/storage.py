"""Where CSV files live: uploads under HUB_DATA_DIR/uploads, exports under HUB_DATA_DIR/exports.

A connection names its files relative to those folders. Every name is resolved and checked to stay
inside its folder (after following symlinks), because the name is typed by a user and the process
can read and write far more of the disk than that user should.

Uploads belong to one connection: they are stored under uploads/connections/<connection id>/, so two
connections (of the same team or of different teams) that name the same import file each keep and
read their own copy. Files uploaded before that layout sit directly in uploads/ and are moved into
their connection's folder by `manage.py csv_uploads_move` (connectors/providers/csv_file/uploads.py).
Exports likewise go to exports/connections/<connection id>/, so no connection writes into a file
another team's connection named the same way.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Literal

from django.conf import settings

Area = Literal["uploads", "exports"]
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_CHUNK = 1024 * 1024


class UnsafePathError(ValueError):
    """A file name that would leave its folder (or is not a plain relative name)."""


def area_root(area: Area) -> Path:
    return Path(settings.DATA_DIR) / area


def check_relative_name(name: str) -> str:
    """Refuse names that are absolute, climb with "..", or carry characters no file name needs."""
    cleaned = name.strip()
    if not cleaned:
        raise UnsafePathError("a file name is required")
    if "\x00" in cleaned or "\\" in cleaned:
        raise UnsafePathError("a file name cannot contain NUL or backslashes")
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise UnsafePathError("use a name relative to the folder, not an absolute path")
    parts = cleaned.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError("a file name cannot contain empty, '.' or '..' parts")
    return cleaned


def _resolve_within(root: Path, name: str, folder: str) -> Path:
    cleaned = check_relative_name(name)
    root = root.resolve()
    path = (root / cleaned).resolve()
    # resolve() follows symlinks, so a link inside the folder that points outside is refused too.
    if not path.is_relative_to(root) or path == root:
        raise UnsafePathError(f"{name!r} is outside the {folder} folder")
    return path


def resolve(area: Area, name: str) -> Path:
    """The absolute path of `name` inside the area's folder; UnsafePathError if it would escape."""
    return _resolve_within(area_root(area), name, area)


def connection_uploads_root(connection_id: int) -> Path:
    """The folder holding one connection's uploads; no other connection reads or writes in it."""
    if isinstance(connection_id, bool) or not isinstance(connection_id, int) or connection_id <= 0:
        raise UnsafePathError("uploads belong to a saved connection")
    return area_root("uploads") / "connections" / str(connection_id)


def connection_exports_root(connection_id: int) -> Path:
    """The folder holding one connection's export files, apart from every other connection's."""
    return area_root("exports") / connection_uploads_root(connection_id).relative_to(area_root("uploads"))


def resolve_export(*, connection_id: int, name: str) -> Path:
    """The connection's own export file `name`; UnsafePathError if it would leave that folder."""
    return _resolve_within(connection_exports_root(connection_id), name, "exports")


def resolve_upload(*, connection_id: int, name: str) -> Path:
    """The connection's own copy of the upload `name`; UnsafePathError if it would leave that folder."""
    return _resolve_within(connection_uploads_root(connection_id), name, "uploads")


def save_upload(*, connection_id: int, name: str, content: bytes) -> Path:
    """Store an uploaded file in the connection's uploads folder, replacing an earlier upload of the
    same name atomically.

    Readers that already opened the old file keep reading the old bytes (rename keeps the inode), so
    a re-upload never hands a reader half of each version.
    """
    limit = int(getattr(settings, "HUB_CSV_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))
    if len(content) > limit:
        raise ValueError(f"The file is {len(content)} bytes; uploads are limited to {limit} bytes.")
    path = resolve_upload(connection_id=connection_id, name=name)
    write_atomically(path, content)
    return path


def write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def sha256_of(handle: BinaryIO) -> str:
    """Checksum of an open binary file, leaving it positioned at the start."""
    handle.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        digest.update(chunk)
    handle.seek(0)
    return digest.hexdigest()


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for `path` (a sibling .lock file) so two workers never interleave writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f".{path.name}.lock")
    with open(lock_path, "a+b") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
