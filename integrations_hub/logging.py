"""Log lines that say which run they belong to, as readable text or as one JSON object per line.

`log_context(run_id=..., workflow_id=...)` binds fields to everything logged inside it, from any
module (the HTTP layer, a connector, the engine), without passing them around: the run executor
opens one per run. Both formatters read the binding; LOG_FORMAT in settings chooses which one the
console handler uses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

# Immutable default: a ContextVar's default is shared by every context, so it must never be mutated.
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("hub_log_context", default=_EMPTY)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is worth keeping.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields to every log line written inside the block (nested blocks add to the outer ones)."""
    token = _context.set(MappingProxyType({**_context.get(), **fields}))
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> dict[str, Any]:
    return dict(_context.get())


class PlainFormatter(logging.Formatter):
    """The usual one-line format, with the bound fields after the message: `... [run_id=7 workflow_id=2]`."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = _context.get()
        if not context:
            return line
        # Before any traceback (which format() appends after this), so grep finds the run on the first line.
        return line + " [" + " ".join(f"{key}={value}" for key, value in context.items()) + "]"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the bound fields, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        entry.update(_context.get())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra that JSON cannot encode (a datetime, a model) is written as its text
        # rather than losing the whole line.
        return json.dumps(entry, default=str, ensure_ascii=False)
