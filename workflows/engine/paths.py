"""Naming a value in a record: a plain field name, or a JMESPath expression after "$.".

Shared by mappings, conditions and workflow steps so a name means the same everywhere:
"email" is the record's `email` field (even if the name contains dots, like
"steps.find_company.id"), "$.address.city" walks into nested JSON.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

PATH_PREFIX = "$."

Reader = Callable[[Mapping[str, Any]], Any]


def first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def compile_path(name: str) -> ParsedResult:
    """Compile the JMESPath after "$."; raise ValueError with a readable message."""
    try:
        return jmespath.compile(name[len(PATH_PREFIX) :])
    except JMESPathError as exc:
        raise ValueError(f"'{name}' is not a valid path ({first_line(exc)})") from None


def _plain_keys(node: Mapping[str, Any]) -> list[str] | None:
    """The keys of a path made only of field names ("address.city"), else None."""
    if node["type"] == "field":
        return [node["value"]]
    if node["type"] == "subexpression" and all(child["type"] == "field" for child in node["children"]):
        return [child["value"] for child in node["children"]]
    return None


def path_reader(path: ParsedResult) -> Reader:
    keys = _plain_keys(path.parsed)
    if keys is None:
        return path.search

    # jmespath's interpreter costs microseconds per call; a plain field path is walked
    # directly with its semantics: a field of anything but an object is null.
    def read(fields: Mapping[str, Any]) -> Any:
        value: Any = fields
        for key in keys:
            try:
                value = value.get(key)
            except AttributeError:
                return None
        return value

    return read


def field_reader(name: str, path: ParsedResult | None = None) -> Reader:
    """A reader for `name`; pass the compiled path of a "$." name to avoid compiling twice."""
    if name.startswith(PATH_PREFIX):
        return path_reader(path if path is not None else compile_path(name))
    return operator.methodcaller("get", name)


def path_root(source: str) -> str | None:
    """The top-level field a "$." path starts from ("$.address.city" -> "address"), if plain."""
    head = source[len(PATH_PREFIX) :].split(".", 1)[0].split("[", 1)[0]
    return head if head.isidentifier() else None


def display_name(name: str) -> str:
    """How a field is named to a person: "$.address.city" reads as "address.city"."""
    return name[len(PATH_PREFIX) :] if name.startswith(PATH_PREFIX) else name


_CHAIN_NODES = frozenset(
    {"index_expression", "projection", "filter_projection", "value_projection", "flatten"}
)


def _leading_fields(node: Mapping[str, Any]) -> list[str]:
    """The field names an expression starts with: "steps.a.fields[0]" -> steps, a, fields."""
    kind = node.get("type")
    if kind == "field":
        return [node["value"]]
    if kind == "subexpression":
        chain: list[str] = []
        for child in node["children"]:
            if child.get("type") != "field":
                chain.extend(_leading_fields(child))
                break
            chain.append(child["value"])
        return chain
    if kind in _CHAIN_NODES and node.get("children"):
        return _leading_fields(node["children"][0])
    return []


def referenced_chains(path: ParsedResult) -> list[list[str]]:
    """The chains of field names a path reads, wherever they sit in the expression.

    "steps.a.id || length(steps.b.fields)" -> [["steps", "a", "id"], ["steps", "b", "fields"]].
    Used to find which workflow steps a path refers to. Names inside projections are
    relative to each element, so a chain found there may name nothing at the root; callers
    only look at chains that start with a name they reserve.
    """
    chains: list[list[str]] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        chain = _leading_fields(node)
        if chain:
            chains.append(chain)
        for child in node.get("children", []):
            # A subexpression's own fields are already part of its chain.
            if (
                node.get("type") == "subexpression"
                and isinstance(child, dict)
                and child.get("type") == "field"
            ):
                continue
            walk(child)

    walk(path.parsed)
    return chains
