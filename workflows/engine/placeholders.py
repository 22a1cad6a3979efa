"""`{field}` placeholders in user-written text: the `format` transform, chat messages, URLs.

A placeholder is only ever a field name looked up in a plain dict: nothing between the
braces is evaluated (no attribute access, indexing or format specs as with str.format).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from workflows.engine.values import TransformError, as_text, describe_kind, is_empty

# `{{` and `}}` are literal braces; anything else between braces names a record field.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")

TemplatePart = tuple[str, str | None]


def parse_template(template: str) -> list[TemplatePart]:
    """Split a template into (literal text, field name or None) parts, once, at compile time."""
    parts: list[TemplatePart] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[position : match.start()]
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((literal + token[0], None))
        else:
            parts.append((literal, match.group(1).strip()))
    parts.append((template[position:], None))
    return parts


def template_fields(template: str) -> list[str]:
    return [name for _, name in parse_template(template) if name is not None]


def template_problems(template: str) -> list[str]:
    if any(name == "" for _, name in parse_template(template)):
        return ["the template has an empty placeholder {}; put a field name between the braces"]
    return []


def render_value(parts: list[TemplatePart], record: Mapping[str, Any]) -> Any:
    """Fill a template for a field value: text, or None when every placeholder is empty.

    A template whose fields are all empty would write bare punctuation (" ", ", "), so the
    field is left empty instead. Lists and objects are refused (TransformError).
    """
    chunks: list[str] = []
    has_fields = filled = False
    for literal, name in parts:
        chunks.append(literal)
        if name is None:
            continue
        has_fields = True
        field_value = record.get(name)
        if not is_empty(field_value):
            filled = True
            chunks.append(as_text(field_value, "format"))
    if has_fields and not filled:
        return None
    return "".join(chunks)


def _readable(value: Any) -> str:
    """Any value as a person would want to read it inside a message."""
    if is_empty(value):
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(text for text in map(_readable, value) if text)
    try:
        if isinstance(value, Mapping):
            return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
        return as_text(value, "message")
    except (TransformError, TypeError, ValueError, RecursionError):
        # An odd value must not stop a notification: say what it was instead.
        return describe_kind(value)


def render_text(
    parts: list[TemplatePart], record: Mapping[str, Any], escape: Callable[[str], str] | None = None
) -> str:
    """Fill a template for a message or a URL: empty fields become "", lists are joined.

    `escape` is applied to every filled-in value (never to the literal text), e.g. to
    percent-encode values placed in a URL.
    """
    chunks: list[str] = []
    for literal, name in parts:
        chunks.append(literal)
        if name is not None:
            text = _readable(record.get(name))
            chunks.append(escape(text) if escape is not None else text)
    return "".join(chunks)
