"""Every /api/v1/ endpoint and method, read from the URL resolver, with sample arguments for each.

The permission matrix and the secret crawl iterate over `api_operations()`. A new endpoint that has
no sample here makes those tests fail with a message saying what to add, so none is forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse

if TYPE_CHECKING:
    from tests.api.conftest import World


@dataclass(frozen=True)
class Operation:
    name: str  # URL name in the "api" namespace, e.g. "connection-test"
    method: str  # "get", "post", ...
    action: str  # the viewset action, e.g. "test"
    route: str  # the pattern, for messages
    kwargs: tuple[str, ...]  # URL keyword arguments
    view: Any

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.name}"

    @property
    def openapi_path(self) -> str:
        """The route as the OpenAPI schema writes it: /api/v1/connections/{id}/test."""
        plain = "/" + self.route.replace("^", "").replace("$", "")
        return re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: "{id}" if m[1] == "pk" else "{" + m[1] + "}", plain)

    @property
    def is_object(self) -> bool:
        """Addresses one team-owned object (which other teams must not find)."""
        return "pk" in self.kwargs


def _walk(
    patterns: list[Any], prefix: str, namespace: str | None
) -> Iterator[tuple[str, URLPattern, str | None]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry, namespace


def api_operations() -> list[Operation]:
    operations = []
    for route, pattern, namespace in _walk(get_resolver().url_patterns, "", None):
        if namespace != "api" or "v1/" not in route:
            continue
        callback = pattern.callback
        actions: dict[str, str] = getattr(callback, "actions", None) or {}
        assert actions, f"{route}: every /api/v1/ endpoint is a viewset route"
        for method, action in actions.items():
            if method == "head":
                # DRF adds HEAD (as GET) to a route's actions when it first serves it: not an operation.
                continue
            operations.append(
                Operation(
                    name=str(pattern.name),
                    method=method,
                    action=action,
                    route=route,
                    kwargs=tuple(pattern.pattern.regex.groupindex),
                    view=callback.cls,  # type: ignore[attr-defined]
                )
            )
    return sorted(operations, key=lambda op: (op.name, op.method))


def url_for(operation: Operation, world: World) -> str:
    objects: dict[str, Callable[[World], dict[str, Any]]] = {
        "connector-type": lambda w: {"kind": "hubspot"},
        "connection": lambda w: {"pk": w.spare.pk if operation.method == "delete" else w.crm.pk},
        "workflow": lambda w: {"pk": w.workflow.pk},
        "run": lambda w: {"pk": w.run.pk},
        # Before "sync": "sync-run-detail" also starts with "sync-".
        "sync-run": lambda w: {"pk": w.sync_run.pk},
        "sync": lambda w: {"pk": w.sync.pk},
        "conflict": lambda w: {"pk": w.conflict.pk},
        "duplicate-hold": lambda w: {"pk": w.hold.pk},
    }
    for known, make in objects.items():
        if operation.name.startswith(known + "-"):
            kwargs = {key: value for key, value in make(world).items() if key in operation.kwargs}
            missing = set(operation.kwargs) - set(kwargs)
            assert not missing, f"tests/api/endpoints.py: no sample value of {missing} for {operation.route}"
            return reverse(f"api:{operation.name}", kwargs=kwargs) + QUERIES.get(operation.id, "")
    raise AssertionError(f"tests/api/endpoints.py: add sample objects for the new endpoint {operation.route}")


# Query strings some GET endpoints need to do their work.
QUERIES = {"GET connection-schema": "?object=contacts"}

# Bodies that make each write succeed for a member of the world's team. Every POST and PATCH needs one.
BODIES: dict[str, Callable[[World], dict[str, Any] | None]] = {
    "POST connection-list": lambda w: {
        "name": "Another CRM",
        "kind": "hubspot",
        "config": {"base_url": w.crm.config["base_url"]},
        "credentials": {"access_token": "demo-crm-token"},
    },
    "PATCH connection-detail": lambda w: {"config": dict(w.crm.config)},
    "POST connection-test": lambda w: None,
    "POST workflow-list": lambda w: {
        "name": "Another workflow",
        "source_connection": w.crm.pk,
        "source_object": "contacts",
        "target_connection": w.helpdesk.pk,
        "target_object": "users",
        "mapping": w.workflow.mapping,
    },
    "PATCH workflow-detail": lambda w: {"description": "Edited over the API"},
    "POST workflow-publish": lambda w: None,
    "POST workflow-enable": lambda w: None,
    "POST workflow-disable": lambda w: None,
    "POST workflow-run": lambda w: None,
    "POST workflow-import-document": lambda w: {
        "format": "integrations-hub/workflow",
        "format_version": 1,
        "name": "Imported workflow",
        "trigger": {"type": "poll", "connection": w.crm.name, "object": "contacts"},
        "target": {"connection": w.helpdesk.name, "object": "users"},
        "mapping": w.workflow.mapping,
    },
    "POST workflow-rotate-webhook-secret": lambda w: None,
    "POST run-replay": lambda w: {"record_ids": [w.failed_record.pk], "version": "ran"},
    "POST sync-list": lambda w: {
        "name": "Another sync",
        "a_connection": w.crm.pk,
        "a_object": "contacts",
        "b_connection": w.helpdesk.pk,
        "b_object": "users",
        "fields": [{"key": "email", "a": "email", "b": "email", "direction": "both", "policy": "a_wins"}],
        "match": [{"rule": "email", "a": "email", "b": "email"}],
    },
    "PATCH sync-detail": lambda w: {"poll_interval_seconds": 300},
    "POST sync-run": lambda w: None,
    "POST conflict-resolve": lambda w: {"choice": "a"},
    "POST conflict-resolve-bulk": lambda w: {"conflicts": [w.conflict.pk], "choice": "b"},
    "POST duplicate-hold-resolve": lambda w: {"choice": "link", "candidate": "10002"},
}


def body_for(operation: Operation, world: World) -> dict[str, Any] | None:
    if operation.method not in {"post", "put", "patch"}:
        return None
    assert operation.id in BODIES, f"tests/api/endpoints.py: add a sample body for {operation.id}"
    return BODIES[operation.id](world)


def call(client: Any, operation: Operation, world: World) -> Any:
    """Make the operation's request with its sample URL and body; returns the test response."""
    method = getattr(client, operation.method)
    body = body_for(operation, world)
    if body is None:
        return method(url_for(operation, world))
    return method(url_for(operation, world), body, format="json")
