"""What a connection can do with an object, and what a flow between two objects can honestly promise.

Everything here is worked out from the providers' declared metadata (Capabilities, the documented rate
limit), never by calling the systems, so pages and the workflow editor can show it instantly. Timing
labels follow the house rule: a webhook is "real-time", a poll "near-real-time (every N)", a schedule
"batched"; anything weaker than the user might assume is spelled out as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from connectors.base import Capabilities, Provider, RateLimit
from connectors.models import Connection
from connectors.registry import get_provider

TRIGGERS = ("webhook", "poll", "schedule", "manual", "file")


@dataclass(frozen=True)
class Support:
    """One line of "what this object supports", for pages."""

    label: str
    supported: bool
    detail: str = ""


@dataclass(frozen=True)
class ObjectFeasibility:
    """What one object of one kind of system supports.

    `declared` is False when the provider lists no capabilities for the object (connectors whose objects
    come from their settings); the defaults are then assumed and the flow check says so.
    """

    kind: str
    system: str
    object_name: str
    object_label: str
    capabilities: Capabilities
    declared: bool
    known_object: bool
    rate_limit: RateLimit | None

    @property
    def name(self) -> str:
        return f"{self.system} {self.object_label}"

    @property
    def rate_limit_label(self) -> str:
        return rate_limit_label(self.rate_limit)

    @property
    def supports(self) -> tuple[Support, ...]:
        caps = self.capabilities
        return (
            Support("Read", caps.read),
            Support(
                "Incremental read",
                caps.read and caps.incremental,
                "only what changed since the last poll"
                if caps.incremental
                else "every poll reads everything",
            ),
            Support("Webhooks", caps.webhooks, "real-time" if caps.webhooks else "polling only"),
            Support("Create", caps.create),
            Support("Update", caps.update),
            Support(
                "Upsert",
                caps.upsert_key is not None,
                f"matched by {caps.upsert_key}" if caps.upsert_key else "matched by link only",
            ),
            Support("Delete", caps.delete),
            Support("Batch size", True, f"{caps.batch_size} records per request"),
            Support("Rate limit", self.rate_limit is not None, self.rate_limit_label),
        )


@dataclass(frozen=True)
class Feasibility:
    """Whether a flow can run, how fresh its data can be, and what the user should know first.

    `freshness_seconds`: the longest a change waits before the flow picks it up, by design (0 for a
    webhook, the interval for a poll; None when a schedule or a person decides).
    """

    possible: bool
    timing: str
    freshness_seconds: int | None
    warnings: tuple[str, ...] = ()
    blockers: tuple[str, ...] = ()


def rate_limit_label(limit: RateLimit | None) -> str:
    if limit is None:
        return "no documented limit"
    return f"{limit.requests} requests per {_duration(limit.interval_seconds)}"


def _duration(seconds: float) -> str:
    if seconds == 1:
        return "second"
    if seconds == 60:
        return "minute"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def object_feasibility(
    provider: type[Provider], object_name: str, *, rate_limit: RateLimit | None = None
) -> ObjectFeasibility:
    """From the provider's metadata alone; `rate_limit` replaces its documented one (a connection's own)."""
    declared = provider.capabilities.get(object_name)
    # A provider with no fixed object list (a table, a manifest) takes any object its settings name.
    known = object_name in provider.objects if provider.objects else True
    return ObjectFeasibility(
        kind=provider.key,
        system=provider.label,
        object_name=object_name,
        object_label=provider.objects.get(object_name, object_name),
        capabilities=declared or Capabilities(),
        declared=declared is not None,
        known_object=known,
        rate_limit=rate_limit if rate_limit is not None else provider.rate_limit,
    )


def connection_objects(*, connection: Connection) -> dict[str, str]:
    """The objects (name -> label) this connection exposes: the connector's fixed list, or for a manifest
    or a table the ones its settings declare. Never asks the system."""
    return get_provider(connection.kind).objects_for(connection.config)


def connection_object_feasibility(*, connection: Connection, object_name: str) -> ObjectFeasibility:
    """As `object_feasibility`, with what the connection's settings declare (a manifest's objects and
    write endpoints, a table's key) and the connection's own rate limit when it has one."""
    provider = get_provider(connection.kind)
    feasibility = object_feasibility(provider, object_name, rate_limit=connection.rate_limit())
    objects = provider.objects_for(connection.config)
    declared = provider.capabilities_for(connection.config, object_name)
    known = feasibility.known_object
    if not provider.objects and objects:
        # Objects come from the settings, and these settings list them: anything else is unknown.
        known = object_name in objects
    elif object_name in objects:
        # Settings may add objects to a fixed list too (HubSpot's custom objects).
        known = True
    # Named after the connection, which is how users know it ("CRM contacts", not "HubSpot CRM contacts").
    return ObjectFeasibility(
        kind=feasibility.kind,
        system=connection.name,
        object_name=feasibility.object_name,
        object_label=objects.get(object_name, feasibility.object_label),
        capabilities=declared or Capabilities(),
        declared=declared is not None,
        known_object=known,
        rate_limit=feasibility.rate_limit,
    )


def flow_feasibility(
    *,
    source: tuple[Connection, str] | None,
    target: tuple[Connection, str],
    trigger: str,
    interval_seconds: int | None = None,
) -> Feasibility:
    """Can records flow from `source` to `target` with this trigger, and how fresh can they be?

    `source` is None for a webhook (or file) workflow that has no source connection: whoever calls the
    URL is the source. `interval_seconds` is the poll interval (default: HUB_DEFAULT_POLL_SECONDS).
    """
    source_side = (
        connection_object_feasibility(connection=source[0], object_name=source[1]) if source else None
    )
    target_side = connection_object_feasibility(connection=target[0], object_name=target[1])
    return plan_feasibility(
        source=source_side, target=target_side, trigger=trigger, interval_seconds=interval_seconds
    )


def plan_feasibility(
    *,
    source: ObjectFeasibility | None,
    target: ObjectFeasibility,
    trigger: str,
    interval_seconds: int | None = None,
) -> Feasibility:
    """The pure part of `flow_feasibility`, over object metadata."""
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
    warnings: list[str] = []
    blockers: list[str] = []
    interval = interval_seconds if interval_seconds is not None else settings.HUB_DEFAULT_POLL_SECONDS
    every = _every(interval)

    if trigger == "webhook":
        timing, freshness = "real-time (webhook)", 0
        if source is not None and not source.capabilities.webhooks:
            warnings.append(
                f"{source.name} does not send webhooks by itself: the flow is real-time only if another "
                "system calls the workflow's webhook URL; otherwise poll instead"
            )
    elif trigger == "poll":
        timing, freshness = f"near-real-time (polling every {every})", interval
        if source is not None and not source.capabilities.webhooks:
            warnings.append(f"no webhooks: polling every {every}")
        elif source is not None:
            warnings.append(f"{source.name} can send webhooks: a webhook trigger would be real-time")
    elif trigger == "schedule":
        timing, freshness = "batched (schedule)", None
    elif trigger == "file":
        timing, freshness = "batched (file upload)", None
    else:
        timing, freshness = "manual (run now)", None

    if trigger in {"poll", "schedule", "manual"}:
        _check_source(source, trigger, warnings, blockers)
    _check_target(target, warnings, blockers)
    return Feasibility(
        possible=not blockers,
        timing=timing,
        freshness_seconds=freshness,
        warnings=tuple(warnings),
        blockers=tuple(blockers),
    )


def _every(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min" if minutes and not rest else f"{seconds} s"


def _check_source(
    source: ObjectFeasibility | None, trigger: str, warnings: list[str], blockers: list[str]
) -> None:
    if source is None:
        blockers.append(f"a {trigger} workflow reads from a source connection: choose one")
        return
    if not source.known_object:
        blockers.append(f"{source.system} has no object {source.object_name!r}")
        return
    if not source.declared:
        warnings.append(
            f"{source.name} does not declare what it supports; assuming it can be read incrementally"
        )
    caps = source.capabilities
    if not caps.read:
        blockers.append(f"{source.name} cannot be read, so it cannot be a source")
    elif not caps.incremental:
        what = "every poll" if trigger == "poll" else "every run"
        warnings.append(f"source has no incremental read: {what} reads everything")


def _check_target(target: ObjectFeasibility, warnings: list[str], blockers: list[str]) -> None:
    if not target.known_object:
        blockers.append(f"{target.system} has no object {target.object_name!r}")
        return
    if not target.declared:
        warnings.append(f"{target.name} does not declare what it supports; assuming create and update")
    caps = target.capabilities
    if not caps.create and not caps.update:
        blockers.append(f"{target.name} cannot be written, so it cannot be a target")
        return
    if caps.upsert_key is None:
        warnings.append(
            "target cannot upsert: records are matched by link only, so a record that already exists "
            f"in {target.name} before its first sync is created again"
        )
    if not caps.create:
        warnings.append(f"target cannot create: only records that already exist in {target.name} are updated")
    if not caps.update:
        warnings.append(
            f"target cannot update: each record is created once in {target.name}; later changes are not synced"
        )
