"""Running a compiled workflow for one source record, step by step, over plain data.

`execute_record` walks the steps in order: filters may stop the record ("skipped"),
branches pick an arm, lookups and actions go through the `Ports` the caller provides, and
a delay suspends the walk with a JSON-able state that `resume_record` continues from.
Each step adds its outputs to the record's namespace, so later mappings and conditions
can read "steps.<id>.<output>" as if it were a field of the record.

Nothing here raises on odd data: bad values become failed steps with messages a business
user can act on. Ports may raise `ConnectorError` (see ports.py) and the step fails, with
`retryable` saying whether trying again later may help.

The definition format and `compile_definition` live in definition.py and are re-exported
here, so callers need only this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from connectors.base import ConnectorError, SourceRecord, WriteItem
from workflows.engine.definition import (
    ActionStep,
    BranchStep,
    CompiledWorkflow,
    DefinitionError,
    DelayStep,
    FilterStep,
    HttpStep,
    LookupStep,
    NotifyStep,
    Position,
    Step,
    WebhookStep,
    compile_definition,
)
from workflows.engine.diff import canonical, diff, fingerprint
from workflows.engine.idempotency import action_key, record_key, source_version
from workflows.engine.lookups import ApplyContext, ConnectionRef
from workflows.engine.mapping import CompiledMapping, MappedRecord
from workflows.engine.paths import display_name, first_line
from workflows.engine.placeholders import render_text
from workflows.engine.plan import LinkState
from workflows.engine.ports import HttpRequest, Ports
from workflows.engine.values import describe_kind, is_empty, show

__all__ = [
    "CompiledWorkflow",
    "DefinitionError",
    "RecordExecution",
    "StepOutcome",
    "Suspension",
    "compile_definition",
    "execute_record",
    "resume_record",
]

Outcome = Literal["created", "updated", "unchanged", "skipped", "failed", "suspended"]
StepStatus = Literal["executed", "skipped", "failed"]
Effect = Literal["created", "updated", "unchanged"]
DelayMode = Literal["suspend", "skip_over"]

STATE_FORMAT = 1
# A tuple, not a set: a damaged state may hold unhashable values.
_EFFECTS = ("created", "updated", "unchanged")


@dataclass
class StepOutcome:
    """What one step did for one record.

    `written` is what was sent (the fields of a write, a message, a request); `diff` is
    {field: (old, new)} against what this step last wrote for the record; `link` is what
    to remember for the next run of this step on this record (after a create, update or
    upsert); `effect` is how the step counts towards the record's outcome.
    """

    step_id: str
    kind: str
    status: StepStatus
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    written: dict[str, Any] = field(default_factory=dict)
    diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    idempotency_key: str | None = None
    link: LinkState | None = None
    effect: Effect | None = None
    retryable: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for the run log."""
        return {
            "step_id": self.step_id,
            "kind": self.kind,
            "status": self.status,
            "message": self.message,
            "outputs": canonical(self.outputs),
            "written": canonical(self.written),
            "diff": {name: canonical([old, new]) for name, (old, new) in self.diff.items()},
            "dropped": [list(item) for item in self.dropped],
            "idempotency_key": self.idempotency_key,
            "effect": self.effect,
            "retryable": self.retryable,
        }


@dataclass(frozen=True)
class Suspension:
    """A delay: continue with `resume_record(compiled, state, ports)` at `until`."""

    until: datetime
    resume_after: str
    state: dict[str, Any]


@dataclass
class RecordExecution:
    """Every step's outcome for one record, and the record's overall outcome.

    `outcome` is created/updated when any step created/changed something, unchanged when
    the steps ran but nothing needed writing, skipped when a filter (or a lookup set to
    skip) stopped the record first, failed when a step failed, suspended at a delay.
    """

    record_id: str
    record_key: str
    outcome: Outcome
    steps: list[StepOutcome]
    message: str = ""
    suspended: Suspension | None = None
    retryable: bool = False

    def step(self, step_id: str) -> StepOutcome | None:
        return next((outcome for outcome in self.steps if outcome.step_id == step_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "record_key": self.record_key,
            "outcome": self.outcome,
            "message": self.message,
            "retryable": self.retryable,
            "steps": [outcome.to_dict() for outcome in self.steps],
            "suspended": None
            if self.suspended is None
            else {"until": self.suspended.until.isoformat(), "resume_after": self.suspended.resume_after},
        }


@dataclass(frozen=True)
class _Stop:
    """Why the walk ended early."""

    outcome: Literal["failed", "skipped", "suspended"]
    message: str
    suspension: Suspension | None = None
    retryable: bool = False


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def execute_record(
    compiled: CompiledWorkflow,
    record: SourceRecord,
    ports: Ports,
    *,
    previous: Mapping[str, Any] | None = None,
    links: Mapping[str, LinkState] | None = None,
    now: datetime | None = None,
    delays: DelayMode = "suspend",
) -> RecordExecution:
    """Run every step for `record`.

    `previous`: the record's field values when this workflow last saw it (for the
    'changed' operator; None counts every field as changed). `links`: per action step id,
    what that step last wrote for this record (its target id, fingerprint and values), so
    an unchanged record writes nothing and a created record isn't created twice.
    `delays="skip_over"` runs through delays without suspending (for previews).
    """
    key = record_key(compiled.workflow_id, compiled.version, record.id, record.updated_at)
    run = _Run(
        compiled,
        ports,
        record_id=record.id,
        updated_at=source_version(record.updated_at),
        fields=record.fields,
        previous=previous,
        key=key,
        outputs={},
        effects=[],
        links=links or {},
        now=now or datetime.now(UTC),
        delays=delays,
    )
    return run.start(None)


def resume_record(
    compiled: CompiledWorkflow,
    state: Mapping[str, Any],
    ports: Ports,
    *,
    links: Mapping[str, LinkState] | None = None,
    now: datetime | None = None,
) -> RecordExecution:
    """Continue a record suspended at a delay, from the step after it.

    `state` is `Suspension.state` as stored (JSON round trip included). A state that
    doesn't belong to `compiled` fails the record with a message instead of raising.
    """
    problem = _state_problem(compiled, state)
    if problem is not None:
        record = state.get("record") if isinstance(state, Mapping) else None
        record_id = str(record.get("id", "")) if isinstance(record, Mapping) else ""
        key = state.get("record_key") if isinstance(state, Mapping) else None
        message = f"can't continue after the delay: {problem}"
        return RecordExecution(record_id, key if isinstance(key, str) else "", "failed", [], message)
    record = state["record"]
    run = _Run(
        compiled,
        ports,
        record_id=str(record["id"]),
        updated_at=str(record["updated_at"]),
        fields=record["fields"],
        previous=state.get("previous"),
        key=state["record_key"],
        outputs=dict(state["outputs"]),
        effects=list(state["effects"]),
        links=links or {},
        now=now or datetime.now(UTC),
        delays="suspend",
    )
    return run.start(compiled.positions[state["resume_after"]])


def _state_problem(compiled: CompiledWorkflow, state: Any) -> str | None:
    if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
        return "the saved state is not one this version of the engine wrote"
    made_by = (state.get("workflow_id"), state.get("version"))
    if tuple(map(_same, made_by)) != (_same(compiled.workflow_id), _same(compiled.version)):
        return (
            f"it was paused by workflow {made_by[0]} version {made_by[1]}, not by"
            f" workflow {compiled.workflow_id} version {compiled.version}"
        )
    record = state.get("record")
    if (
        not isinstance(record, Mapping)
        or not isinstance(record.get("fields"), Mapping)
        or "id" not in record
        or "updated_at" not in record
    ):
        return "the saved record is missing"
    resume_after = state.get("resume_after")
    step = compiled.step(resume_after) if isinstance(resume_after, str) else None
    if not isinstance(step, DelayStep):
        return f"the workflow has no delay step {show(resume_after)}"
    outputs, effects = state.get("outputs"), state.get("effects")
    if not isinstance(outputs, Mapping) or not all(isinstance(value, Mapping) for value in outputs.values()):
        return "the saved step outputs are missing"
    if not isinstance(effects, list) or not all(effect in _EFFECTS for effect in effects):
        return "the saved outcome so far is missing"
    if not isinstance(state.get("record_key"), str) or (
        state.get("previous") is not None and not isinstance(state.get("previous"), Mapping)
    ):
        return "the saved record is incomplete"
    return None


def _same(value: Any) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# The walk
# ---------------------------------------------------------------------------------------------


class _TrackedLookups:
    """Passes lookups to the ports and remembers transient failures, which a mapping turns
    into field errors: the step then knows retrying may help."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports
        self.transient = False

    def linked_id(self, connection: ConnectionRef, object_name: str, source_id: str) -> str | None:
        try:
            return self.ports.linked_id(connection, object_name, source_id)
        except ConnectorError as error:
            self.transient = self.transient or not error.permanent
            raise


class _Run:
    def __init__(
        self,
        compiled: CompiledWorkflow,
        ports: Ports,
        *,
        record_id: str,
        updated_at: str,
        fields: Mapping[str, Any],
        previous: Mapping[str, Any] | None,
        key: str,
        outputs: dict[str, Mapping[str, Any]],
        effects: list[str],
        links: Mapping[str, LinkState],
        now: datetime,
        delays: DelayMode,
    ) -> None:
        self.compiled = compiled
        self.ports = ports
        self.record_id = record_id
        self.updated_at = updated_at
        self.fields = fields
        self.previous = previous
        self.key = key
        self.effects = effects
        self.links = links
        self.now = now
        self.delays = delays
        self.outcomes: list[StepOutcome] = []
        # The record as later steps see it: its fields, "trigger.id", and the outputs of
        # the steps so far both flat ("steps.a.id") and nested under "steps" for paths.
        self.namespace: dict[str, Any] = dict(fields)
        self.namespace["trigger.id"] = record_id
        self.step_outputs: dict[str, Mapping[str, Any]] = {}
        self.namespace["steps"] = self.step_outputs
        for step_id, step_output in outputs.items():
            self.publish(step_id, step_output)

    def publish(self, step_id: str, outputs: Mapping[str, Any]) -> None:
        self.step_outputs[step_id] = outputs
        prefix = f"steps.{step_id}."
        for name, value in outputs.items():
            self.namespace[prefix + name] = value
        found_fields = outputs.get("fields")
        if isinstance(found_fields, Mapping):
            for name, value in found_fields.items():
                self.namespace[f"{prefix}fields.{name}"] = value

    def start(self, resume_after: Position | None) -> RecordExecution:
        stop = self.run_list(self.compiled.steps, resume_after)
        return self.finish(stop)

    def run_list(self, steps: tuple[Step, ...], resume_after: Position | None) -> _Stop | None:
        """Run `steps`, or only those after the step at `resume_after` (a delay)."""
        begin = 0
        if resume_after:
            (index, arm), inner = resume_after[0], resume_after[1:]
            branch = steps[index]
            if arm and isinstance(branch, BranchStep):
                # Finish the arm the delay was in, then go on after the branch.
                stop = self.run_list(branch.arm(arm), inner)
                if stop is not None:
                    return stop
            begin = index + 1
        for step in steps[begin:]:
            stop = self.run_step(step)
            if stop is not None:
                return stop
        return None

    def run_step(self, step: Step) -> _Stop | None:
        if isinstance(step, BranchStep):
            return self.run_branch(step)
        runner = _RUNNERS[type(step)]
        outcome, stop = runner(self, step)
        self.outcomes.append(outcome)
        # An action with nothing to write is "skipped" but still hands on the record's id.
        if outcome.status != "failed" and outcome.outputs:
            self.publish(step.id, outcome.outputs)
        if outcome.effect is not None:
            self.effects.append(outcome.effect)
        if stop is None and outcome.status == "failed":
            stop = _Stop("failed", f"{step.label}: {outcome.message}", retryable=outcome.retryable)
        return stop

    def finish(self, stop: _Stop | None) -> RecordExecution:
        changed: Outcome | None = None
        if "created" in self.effects:
            changed = "created"
        elif "updated" in self.effects:
            changed = "updated"
        if stop is not None and stop.outcome == "suspended":
            return RecordExecution(
                self.record_id, self.key, "suspended", self.outcomes, stop.message, stop.suspension
            )
        if stop is not None and stop.outcome == "failed":
            return RecordExecution(
                self.record_id, self.key, "failed", self.outcomes, stop.message, retryable=stop.retryable
            )
        if stop is not None:
            # A filter after some writes stops the record, but the writes did happen.
            return RecordExecution(
                self.record_id, self.key, changed or "skipped", self.outcomes, stop.message
            )
        return RecordExecution(self.record_id, self.key, changed or "unchanged", self.outcomes)

    # -- control steps ------------------------------------------------------------------------

    def run_filter(self, step: FilterStep) -> tuple[StepOutcome, _Stop | None]:
        explanation = step.condition.explain(self.namespace, self.previous)
        if explanation.passed:
            return StepOutcome(step.id, step.kind, "executed", explanation.message), None
        message = f"skipped: {explanation.message}"
        return StepOutcome(step.id, step.kind, "skipped", message), _Stop("skipped", message)

    def run_branch(self, step: BranchStep) -> _Stop | None:
        explanation = step.condition.explain(self.namespace, self.previous)
        arm = "then" if explanation.passed else "else"
        self.outcomes.append(
            StepOutcome(step.id, step.kind, "executed", f"took '{arm}': {explanation.message}")
        )
        return self.run_list(step.arm(arm), None)

    def run_delay(self, step: DelayStep) -> tuple[StepOutcome, _Stop | None]:
        if self.delays == "skip_over":
            return StepOutcome(
                step.id, step.kind, "executed", f"would wait {step.seconds} seconds here"
            ), None
        until = self.now + timedelta(seconds=step.seconds)
        message = f"waiting until {until.isoformat()}"
        suspension = Suspension(until, step.id, self.state(step.id))
        return StepOutcome(step.id, step.kind, "executed", message), _Stop("suspended", message, suspension)

    def state(self, resume_after: str) -> dict[str, Any]:
        """Everything `resume_record` needs, as JSON-able data."""
        return {
            "format": STATE_FORMAT,
            "workflow_id": self.compiled.workflow_id,
            "version": self.compiled.version,
            "record": {"id": self.record_id, "updated_at": self.updated_at, "fields": canonical(self.fields)},
            "previous": None if self.previous is None else canonical(self.previous),
            "record_key": self.key,
            "resume_after": resume_after,
            "outputs": canonical(self.step_outputs),
            "effects": sorted(set(self.effects)),
        }

    # -- steps that reach out -----------------------------------------------------------------

    def run_lookup(self, step: LookupStep) -> tuple[StepOutcome, _Stop | None]:
        failed = self._failure(step)
        try:
            value = step.read_value(self.namespace)
        except Exception as exc:  # a JMESPath function given the wrong kind of value
            return failed(f"couldn't read {display_name(step.value_from)}: {first_line(exc)}"), None
        name = display_name(step.value_from)
        found = None
        if is_empty(value):
            reason = f"{name} is empty, so nothing was looked up"
        elif isinstance(value, Mapping | list | tuple):
            return failed(f"{name} is {describe_kind(value)}, not a single value to look up"), None
        else:
            reason = f"no {step.object_name} record has {step.by_field} {show(value)}"
            try:
                found = self.ports.lookup(step.connection, step.object_name, step.by_field, value)
            except ConnectorError as error:
                return failed(
                    f"couldn't search {step.object_name}: {error.message}", not error.permanent
                ), None
        if found is not None:
            outputs = {"id": found.id, "found": True, "fields": dict(found.fields)}
            message = f"found {step.object_name} {found.id} by {step.by_field} {show(value)}"
            return StepOutcome(step.id, step.kind, "executed", message, outputs), None
        if step.if_not_found == "fail":
            return failed(reason), None
        if step.if_not_found == "skip":
            message = f"skipped: {reason}"
            return StepOutcome(step.id, step.kind, "skipped", message), _Stop("skipped", message)
        outputs = {"id": None, "found": False, "fields": {}}
        return StepOutcome(step.id, step.kind, "executed", reason, outputs), None

    def run_action(self, step: ActionStep) -> tuple[StepOutcome, _Stop | None]:
        return _Action(self, step).run(), None

    def run_notify(self, step: NotifyStep) -> tuple[StepOutcome, _Stop | None]:
        key = action_key(self.key, step.id)
        failed = self._failure(step, key)
        message = render_text(list(step.template), self.namespace).strip()
        if not message:
            return failed("the message is empty for this record"), None
        written = {"channel": step.channel, "message": message}
        try:
            delivery = self.ports.notify(step.connection, step.channel, message, idempotency_key=key)
        except ConnectorError as error:
            return failed(f"couldn't send the message: {error.message}", not error.permanent), None
        if not delivery.ok:
            return failed(delivery.error or "the message was not accepted"), None
        where = f" to {step.channel}" if step.channel else ""
        outcome = StepOutcome(
            step.id, step.kind, "executed", f"sent the message{where}", {"id": delivery.id}, written
        )
        outcome.idempotency_key, outcome.effect = key, "updated"
        return outcome, None

    def run_http(self, step: HttpStep) -> tuple[StepOutcome, _Stop | None]:
        key = action_key(self.key, step.id)
        failed = self._failure(step, key)
        url = render_text(list(step.url), self.namespace, escape=lambda text: quote(text, safe=""))
        body = None
        dropped: list[tuple[str, str]] = []
        if step.body is not None:
            mapped, transient = self.apply(step.body)
            if mapped.errors:
                return failed(_field_errors(mapped), transient), None
            body, dropped = mapped.values, mapped.dropped
        written = {"method": step.method, "url": url, "body": body}
        request = HttpRequest(step.method, url, body, step.headers, step.connection)
        try:
            response = self.ports.http(request, idempotency_key=key)
        except ConnectorError as error:
            return failed(f"the request to {url} failed: {error.message}", not error.permanent), None
        outputs = {
            "status": response.status,
            "body": response.body,
            "fields": dict(response.body) if isinstance(response.body, Mapping) else {},
        }
        if response.status >= 400:
            retryable = response.status == 429 or response.status >= 500
            outcome = failed(f"{step.method} {url} answered {response.status}", retryable)
            outcome.written = written
            return outcome, None
        outcome = StepOutcome(
            step.id,
            step.kind,
            "executed",
            f"{step.method} {url} answered {response.status}",
            outputs,
            written,
        )
        outcome.dropped, outcome.idempotency_key = dropped, key
        # A GET only reads: it changes nothing the record's outcome should count.
        outcome.effect = None if step.method == "GET" else "updated"
        return outcome, None

    def run_webhook(self, step: WebhookStep) -> tuple[StepOutcome, _Stop | None]:
        key = action_key(self.key, step.id)
        failed = self._failure(step, key)
        dropped: list[tuple[str, str]] = []
        if step.payload is None:
            payload: dict[str, Any] = dict(self.fields)
        else:
            mapped, transient = self.apply(step.payload)
            if mapped.errors:
                return failed(_field_errors(mapped), transient), None
            payload, dropped = mapped.values, mapped.dropped
        try:
            delivery = self.ports.webhook(step.url, step.event, payload, idempotency_key=key)
        except ConnectorError as error:
            return failed(f"couldn't deliver the webhook: {error.message}", not error.permanent), None
        if not delivery.ok:
            return failed(delivery.error or f"{step.url} did not accept the webhook"), None
        outputs = {"id": delivery.id, "status": delivery.status}
        outcome = StepOutcome(
            step.id, step.kind, "executed", f"delivered to {step.url}", outputs, {"payload": payload}
        )
        outcome.dropped, outcome.idempotency_key, outcome.effect = dropped, key, "updated"
        return outcome, None

    # -- helpers ------------------------------------------------------------------------------

    def apply(self, mapping: CompiledMapping) -> tuple[MappedRecord, bool]:
        """Map the namespace; also say whether a lookup failed in a way a retry may fix."""
        if not mapping.uses_context:
            return mapping.apply(self.namespace), False
        lookups = _TrackedLookups(self.ports)
        return mapping.apply(self.namespace, ApplyContext(lookups=lookups)), lookups.transient

    def _failure(self, step: Step, key: str | None = None) -> Callable[..., StepOutcome]:
        def failed(message: str, retryable: bool = False) -> StepOutcome:
            return StepOutcome(
                step.id, step.kind, "failed", message, idempotency_key=key, retryable=retryable
            )

        return failed


_RUNNERS: dict[type[Step], Callable[[_Run, Any], tuple[StepOutcome, _Stop | None]]] = {
    FilterStep: _Run.run_filter,
    DelayStep: _Run.run_delay,
    LookupStep: _Run.run_lookup,
    ActionStep: _Run.run_action,
    NotifyStep: _Run.run_notify,
    HttpStep: _Run.run_http,
    WebhookStep: _Run.run_webhook,
}


def _field_errors(mapped: MappedRecord) -> str:
    return "; ".join(f"{target}: {message}" for target, message in mapped.errors)


# ---------------------------------------------------------------------------------------------
# Actions: create, update, upsert, delete, archive
# ---------------------------------------------------------------------------------------------

_DONE = {"create": "created", "update": "updated", "delete": "deleted", "archive": "archived"}


class _Action:
    """One write step for one record: decide what to send, send it, describe the result."""

    def __init__(self, run: _Run, step: ActionStep) -> None:
        self.record_run = run
        self.step = step
        self.key = action_key(run.key, step.id)
        self.link = run.links.get(step.id)

    def outcome(self, status: StepStatus, message: str, **details: Any) -> StepOutcome:
        step = self.step
        return StepOutcome(step.id, step.kind, status, message, idempotency_key=self.key, **details)

    def run(self) -> StepOutcome:
        step, link = self.step, self.link
        if step.mapping is not None:
            mapped, transient = self.record_run.apply(step.mapping)
        else:
            mapped, transient = MappedRecord({}, [], []), False
        if mapped.errors:
            return self.outcome("failed", _field_errors(mapped), dropped=mapped.dropped, retryable=transient)
        values, dropped = mapped.values, mapped.dropped
        target_id, problem = self.target_id()
        if problem is not None:
            return self.outcome("failed", problem, dropped=dropped)
        if step.operation == "create" and link is not None:
            # This step already created a record for this source record (an earlier version
            # of it): creating again would make a duplicate.
            message = f"already created as {link.target_id} for this record; use upsert to keep it up to date"
            return self.unchanged(link.target_id, values, dropped, message)
        digest = fingerprint(values)
        fields = dict(values)
        changes: dict[str, tuple[Any, Any]] = {}
        if step.operation in ("create", "update", "upsert"):
            same_target = link is not None and target_id == link.target_id
            changes = diff(link.last_values if same_target and link is not None else None, values)
            if (
                same_target
                and link is not None
                and (digest == link.last_fingerprint or (link.last_values is not None and not changes))
            ):
                return self.unchanged(target_id, values, dropped, "nothing changed since the last write")
            if same_target and link is not None and link.last_values is not None:
                # Only what changed: an edit made in the target to another field survives.
                fields = {name: new for name, (_, new) in changes.items()}
        if target_id is None and step.operation != "create":
            match_value = values.get(step.match_field) if step.match_field else None
            if is_empty(match_value):
                message = f"no {step.match_field} to match on, so there is no record to {step.operation}"
                return self.outcome("failed", message, dropped=dropped)
        return self.write(target_id, values, fields, digest, changes, dropped)

    def unchanged(
        self, target_id: str | None, values: dict[str, Any], dropped: list[tuple[str, str]], message: str
    ) -> StepOutcome:
        """Nothing to write; later steps still get the record's id and values."""
        outputs = {"id": target_id, "action": "unchanged", "fields": values}
        return self.outcome("skipped", message, outputs=outputs, dropped=dropped, effect="unchanged")

    def target_id(self) -> tuple[str | None, str | None]:
        """The id of the record to write, if known, or a problem that stops the step."""
        step, link = self.step, self.link
        if step.read_record_id is not None and step.record_id is not None:
            try:
                value = step.read_record_id(self.record_run.namespace)
            except Exception:  # a path that can't read this record: treated as no id
                value = None
            if isinstance(value, str | int) and not isinstance(value, bool) and not is_empty(value):
                return str(value), None
            if step.match_field is None:
                name = display_name(step.record_id)
                return None, f"{name} is empty, so there is no record to {step.operation}"
        if link is not None and step.operation != "create":
            return link.target_id, None
        return None, None

    def write(
        self,
        target_id: str | None,
        values: dict[str, Any],
        fields: dict[str, Any],
        digest: str,
        changes: dict[str, tuple[Any, Any]],
        dropped: list[tuple[str, str]],
    ) -> StepOutcome:
        step, run = self.step, self.record_run
        item = WriteItem(key=run.record_id, fields=fields, target_id=target_id)
        try:
            result = run.ports.write(
                step.connection,
                step.object_name,
                step.operation,
                item,
                step.match_field,
                idempotency_key=self.key,
            )
        except ConnectorError as error:
            message = f"couldn't {step.operation} the {step.object_name} record: {error.message}"
            return self.outcome(
                "failed", message, written=fields, dropped=dropped, retryable=not error.permanent
            )
        if not result.ok:
            message = result.error or f"{step.object_name} refused the record"
            return self.outcome("failed", message, written=fields, dropped=dropped)
        new_id = result.target_id or target_id
        if step.operation == "upsert":
            done = "created" if result.action == "created" else "updated"
        else:
            done = _DONE[step.operation]
        effect: Effect = "created" if done == "created" else "updated"
        outputs = {"id": new_id, "action": done, "fields": values}
        link = None
        if step.operation in ("create", "update", "upsert") and new_id is not None:
            link = LinkState(new_id, digest, values)
        shown = f" {new_id}" if new_id is not None else ""
        return self.outcome(
            "executed",
            f"{done} {step.object_name}{shown}",
            outputs=outputs,
            written=fields,
            diff=changes,
            dropped=dropped,
            link=link,
            effect=effect,
        )
