"""Workflow definitions: the JSON a user builds in the editor, checked and compiled.

    {"trigger": {"type": "webhook", "connection": 1, "object": "form_submissions"},
     "steps": [
        {"type": "filter", "condition": {"field": "email", "op": "is_not_empty"}},
        {"type": "lookup", "id": "find_company", "connection": 2, "object": "companies",
         "by": {"field": "domain", "value_from": "$.email_domain"}},
        {"type": "branch", "if": {"field": "steps.find_company.found", "op": "equals", "value": false},
         "then": [{"type": "action", "id": "create_company", "connection": 2, "object": "companies",
                   "operation": "create", "mapping": {...}}]},
        {"type": "action", "id": "create_contact", "connection": 2, "object": "contacts",
         "operation": "upsert", "match_field": "email", "mapping": {...}},
        {"type": "delay", "seconds": 3600},
        {"type": "notify", "id": "tell_sales", "connection": 5, "channel": "#sales",
         "format": "New lead {firstname} {lastname}: contact {steps.create_contact.id}"},
     ]}

Mappings and conditions read the trigger record's fields and, by name, what earlier steps
produced: "steps.create_company.id", "steps.find_company.fields.name" (or, as JMESPath,
"$.steps.find_company.fields.address.city"). These are plain dict lookups; a definition
may only name steps that run before the one that reads them.

`compile_definition` reports every problem at once, each message naming its step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from workflows.engine.conditions import Condition, ConditionSpecError, compile_condition
from workflows.engine.lookups import ConnectionRef, check_connection
from workflows.engine.mapping import CompiledMapping, MappingSpecError, compile_mapping
from workflows.engine.paths import PATH_PREFIX, Reader, compile_path, field_reader, referenced_chains
from workflows.engine.placeholders import TemplatePart, parse_template, template_fields, template_problems
from workflows.engine.ports import HTTP_METHODS, OPERATIONS, HttpMethod, Operation
from workflows.engine.values import show

StepKind = Literal["filter", "branch", "lookup", "action", "notify", "http", "webhook", "delay"]
TRIGGER_TYPES = ("webhook", "poll", "schedule", "manual", "file")
NOT_FOUND_POLICIES = ("continue", "skip", "fail")

# What each kind of step makes available to later steps as "steps.<id>.<output>".
OUTPUTS: dict[str, frozenset[str]] = {
    "lookup": frozenset({"id", "found", "fields"}),
    "action": frozenset({"id", "action", "fields"}),
    "notify": frozenset({"id"}),
    "http": frozenset({"status", "body", "fields"}),
    "webhook": frozenset({"id", "status"}),
}
STEPS_NAMESPACE = "steps"

_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_STEPS = 100
_MAX_NESTING = 10
_MAX_DELAY_SECONDS = 90 * 24 * 3600
_NEEDS_ID = frozenset({"lookup", "action", "notify", "http", "webhook"})
_KEYS: dict[str, frozenset[str]] = {
    "filter": frozenset({"condition"}),
    "branch": frozenset({"if", "then", "else"}),
    "lookup": frozenset({"connection", "object", "by", "if_not_found"}),
    "action": frozenset({"connection", "object", "operation", "match_field", "record_id", "mapping"}),
    "notify": frozenset({"connection", "channel", "format"}),
    "http": frozenset({"method", "url", "body", "headers", "connection"}),
    "webhook": frozenset({"url", "event", "payload"}),
    "delay": frozenset({"seconds"}),
}


# A step's id, place and label, shared by every kind of step.
_Base = tuple[str, str, str]


class DefinitionError(ValueError):
    """The definition can't be compiled; `messages` lists every problem, each naming its step."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


# ---------------------------------------------------------------------------------------------
# Compiled steps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """`place` is where the step sits, 1-based as the user sees it: "3" or "2.then.1";
    `label` names the step in messages: "step 3 (create_contact)"."""

    kind: ClassVar[StepKind]
    id: str
    place: str
    label: str


@dataclass(frozen=True)
class FilterStep(Step):
    kind: ClassVar[StepKind] = "filter"
    condition: Condition


@dataclass(frozen=True)
class BranchStep(Step):
    kind: ClassVar[StepKind] = "branch"
    condition: Condition
    then: tuple[Step, ...]
    otherwise: tuple[Step, ...]

    def arm(self, name: str) -> tuple[Step, ...]:
        return self.then if name == "then" else self.otherwise


@dataclass(frozen=True)
class LookupStep(Step):
    kind: ClassVar[StepKind] = "lookup"
    connection: ConnectionRef
    object_name: str
    by_field: str
    value_from: str
    read_value: Reader
    if_not_found: Literal["continue", "skip", "fail"]


@dataclass(frozen=True)
class ActionStep(Step):
    kind: ClassVar[StepKind] = "action"
    connection: ConnectionRef
    object_name: str
    operation: Operation
    match_field: str | None
    record_id: str | None
    read_record_id: Reader | None
    mapping: CompiledMapping | None


@dataclass(frozen=True)
class NotifyStep(Step):
    kind: ClassVar[StepKind] = "notify"
    connection: ConnectionRef
    channel: str | None
    template: tuple[TemplatePart, ...]


@dataclass(frozen=True)
class HttpStep(Step):
    kind: ClassVar[StepKind] = "http"
    method: HttpMethod
    url: tuple[TemplatePart, ...]
    headers: Mapping[str, str]
    body: CompiledMapping | None
    connection: ConnectionRef | None


@dataclass(frozen=True)
class WebhookStep(Step):
    kind: ClassVar[StepKind] = "webhook"
    url: str
    event: str | None
    payload: CompiledMapping | None


@dataclass(frozen=True)
class DelayStep(Step):
    kind: ClassVar[StepKind] = "delay"
    seconds: int


# Where a step sits: (index in its list, arm entered there) from the top list down, the
# last with arm "": the 1st step of the 'then' arm of step 2 is ((1, "then"), (0, "")).
Position = tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class CompiledWorkflow:
    """A checked definition, ready for `execute_record`."""

    definition: Mapping[str, Any]
    trigger: Mapping[str, Any]
    steps: tuple[Step, ...]
    workflow_id: str | int | None
    version: int | str | None
    positions: Mapping[str, Position]

    def step(self, step_id: str) -> Step | None:
        return next((step for step in self.walk() if step.id == step_id), None)

    def walk(self) -> Iterator[Step]:
        """Every step in document order, branch arms included."""
        yield from _walk(self.steps)


def _walk(steps: tuple[Step, ...]) -> Iterator[Step]:
    for step in steps:
        yield step
        if isinstance(step, BranchStep):
            yield from _walk(step.then)
            yield from _walk(step.otherwise)


# ---------------------------------------------------------------------------------------------
# Compiling
# ---------------------------------------------------------------------------------------------


def compile_definition(
    definition: Any, *, workflow_id: str | int | None = None, version: int | str | None = None
) -> CompiledWorkflow:
    """Check `definition` and compile it; raise DefinitionError listing every problem.

    `workflow_id` and `version` go into every idempotency key, so a new version of a
    workflow acts again on records an earlier version handled.
    """
    if not isinstance(definition, Mapping):
        raise DefinitionError(["the workflow must be a set of settings with a trigger and steps"])
    compiler = _Compiler()
    trigger = definition.get("trigger")
    compiler.check_trigger(trigger)
    raw_steps = definition.get("steps")
    steps: tuple[Step, ...] = ()
    if not isinstance(raw_steps, list):
        compiler.problems.append("the workflow needs a list of steps")
    elif not raw_steps:
        compiler.problems.append("add at least one step")
    else:
        steps = compiler.compile_list(raw_steps, (), "", set(), 0)
    if compiler.count > _MAX_STEPS:
        compiler.problems.append(f"a workflow has at most {_MAX_STEPS} steps (this one has {compiler.count})")
    if compiler.problems:
        raise DefinitionError(compiler.problems)
    return CompiledWorkflow(
        definition, dict(trigger or {}), steps, workflow_id, version, dict(compiler.positions)
    )


class _Compiler:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.positions: dict[str, Position] = {}
        self.kinds: dict[str, str] = {}
        self.count = 0

    # -- trigger ------------------------------------------------------------------------------

    def check_trigger(self, trigger: Any) -> None:
        if not isinstance(trigger, Mapping):
            self.problems.append("trigger: choose what starts the workflow")
            return
        kind = trigger.get("type")
        if kind not in TRIGGER_TYPES:
            self.problems.append(f"trigger: 'type' must be one of: {', '.join(TRIGGER_TYPES)}")
            return
        if kind in ("webhook", "poll"):
            if check_connection(trigger.get("connection")) is not None:
                self.problems.append("trigger: choose the connection whose records start the workflow")
            if not _text(trigger.get("object")):
                self.problems.append("trigger: choose the object whose records start the workflow")

    # -- lists and steps ----------------------------------------------------------------------

    def compile_list(
        self, raw_steps: list[Any], parents: Position, place: str, visible: set[str], depth: int
    ) -> tuple[Step, ...]:
        """Compile one list of steps; `visible` grows with the ids later steps may refer to."""
        compiled = []
        for index, raw in enumerate(raw_steps):
            step_place = f"{place}.{index + 1}" if place else str(index + 1)
            step = self.compile_step(raw, (*parents, (index, "")), step_place, visible, depth)
            if step is not None:
                compiled.append(step)
        return tuple(compiled)

    def compile_step(
        self, raw: Any, position: Position, place: str, visible: set[str], depth: int
    ) -> Step | None:
        self.count += 1
        if not isinstance(raw, Mapping):
            self.problems.append(f"step {place}: must be a set of settings")
            return None
        kind = raw.get("type")
        if not isinstance(kind, str) or kind not in _KEYS:
            self.problems.append(f"step {place}: 'type' must be one of: {', '.join(_KEYS)}")
            return None
        step_id, label = self._identify(raw, kind, place)
        unknown = [str(key) for key in raw if key not in _KEYS[kind] and key not in ("type", "id")]
        if unknown:
            self.problems.append(f"{label}: unknown setting {', '.join(map(show, unknown))}")
        if step_id is None:
            return None
        self.positions[step_id] = position
        self.kinds[step_id] = kind
        step = self._compile_kind(kind, raw, (step_id, place, label), position, visible, depth)
        # Visible only after its own settings are checked: a step can't read its own outputs.
        visible.add(step_id)
        return step

    def _identify(self, raw: Mapping[str, Any], kind: str, place: str) -> tuple[str | None, str]:
        given = raw.get("id")
        if given is None and kind not in _NEEDS_ID:
            # Filters, branches and delays are rarely referred to; their place names them.
            auto = f"{kind}_{place.replace('.', '_')}"
            label = f"step {place} ({kind})"
            if auto in self.kinds:
                self.problems.append(f"{label}: give the step an id; '{auto}' is taken by another step")
                return None, label
            return auto, label
        if not isinstance(given, str) or not _ID.fullmatch(given):
            self.problems.append(
                f"step {place} ({kind}): give the step an id of letters, digits and _"
                " (it names the step's outputs, e.g. steps.create_contact.id)"
            )
            return None, f"step {place}"
        label = f"step {place} ({given})"
        if given in self.kinds:
            self.problems.append(f"{label}: the id '{given}' is used by another step")
            return None, label
        return given, label

    def _compile_kind(
        self,
        kind: str,
        raw: Mapping[str, Any],
        base: _Base,
        position: Position,
        visible: set[str],
        depth: int,
    ) -> Step | None:
        if kind == "filter":
            return self._filter(raw, base, visible)
        if kind == "branch":
            return self._branch(raw, base, position, visible, depth)
        if kind == "lookup":
            return self._lookup(raw, base, visible)
        if kind == "action":
            return self._action(raw, base, visible)
        if kind == "notify":
            return self._notify(raw, base, visible)
        if kind == "http":
            return self._http(raw, base, visible)
        if kind == "webhook":
            return self._webhook(raw, base, visible)
        return self._delay(raw, base)

    # -- each kind ----------------------------------------------------------------------------

    def _filter(self, raw: Mapping[str, Any], base: _Base, visible: set[str]) -> Step | None:
        condition = self._condition(raw.get("condition"), base[2], "condition", visible)
        return None if condition is None else FilterStep(*base, condition)

    def _branch(
        self,
        raw: Mapping[str, Any],
        base: _Base,
        position: Position,
        visible: set[str],
        depth: int,
    ) -> Step | None:
        place, label = base[1], base[2]
        condition = self._condition(raw.get("if"), label, "if", visible)
        if depth + 1 > _MAX_NESTING:
            self.problems.append(f"{label}: branches are nested too deeply (at most {_MAX_NESTING} levels)")
            return None
        arms: dict[str, tuple[Step, ...]] = {}
        seen: set[str] = set()
        for arm in ("then", "else"):
            steps = raw.get(arm, [])
            if not isinstance(steps, list):
                self.problems.append(f"{label}: '{arm}' must be a list of steps")
                steps = []
            # Each arm sees what ran before the branch, never the other arm's steps.
            arm_visible = set(visible)
            inside = (*position[:-1], (position[-1][0], arm))
            arms[arm] = self.compile_list(steps, inside, f"{place}.{arm}", arm_visible, depth + 1)
            seen |= arm_visible
        if not raw.get("then") and not raw.get("else"):
            self.problems.append(f"{label}: add steps to 'then' or 'else'")
        # After the branch, either arm may have run: their outputs may be read (empty if not).
        visible |= seen
        if condition is None:
            return None
        return BranchStep(*base, condition, arms["then"], arms["else"])

    def _lookup(self, raw: Mapping[str, Any], base: _Base, visible: set[str]) -> Step | None:
        label = base[2]
        before = len(self.problems)
        connection = self._connection(raw, label)
        object_name = self._object(raw, label)
        by = raw.get("by")
        by_field = value_from = None
        if not isinstance(by, Mapping) or set(by) - {"field", "value_from"}:
            self.problems.append(f"{label}: 'by' must name the 'field' to search and the 'value_from' field")
        else:
            by_field, value_from = _text(by.get("field")), _text(by.get("value_from"))
            if by_field is None:
                self.problems.append(f"{label}: choose the field to search by")
            if value_from is None:
                self.problems.append(f"{label}: choose the field whose value is searched for ('value_from')")
            else:
                self._check_names([value_from], label, visible)
        policy = raw.get("if_not_found", "continue")
        if policy not in NOT_FOUND_POLICIES:
            self.problems.append(f"{label}: 'if_not_found' must be one of: {', '.join(NOT_FOUND_POLICIES)}")
        if len(self.problems) > before or by_field is None or value_from is None:
            return None
        reader = self._reader(value_from, label)
        if reader is None or connection is None or object_name is None:
            return None
        return LookupStep(*base, connection, object_name, by_field, value_from, reader, policy)

    def _action(self, raw: Mapping[str, Any], base: _Base, visible: set[str]) -> Step | None:
        label = base[2]
        before = len(self.problems)
        connection = self._connection(raw, label)
        object_name = self._object(raw, label)
        operation = raw.get("operation")
        if operation not in OPERATIONS:
            self.problems.append(f"{label}: 'operation' must be one of: {', '.join(OPERATIONS)}")
            return None
        match_field = raw.get("match_field")
        if match_field is not None and _text(match_field) is None:
            self.problems.append(f"{label}: 'match_field' must be a field name")
        record_id = raw.get("record_id")
        if record_id is not None and _text(record_id) is None:
            self.problems.append(f"{label}: 'record_id' must name the field holding the record's id")
        mapping = None
        if raw.get("mapping") is not None:
            mapping = self._mapping(raw["mapping"], label, "mapping", visible)
        elif operation in ("create", "update", "upsert"):
            self.problems.append(f"{label}: add a mapping: it says what to write")
        self._check_action_matching(label, operation, match_field, record_id, mapping, raw.get("mapping"))
        read_record_id = None
        if isinstance(record_id, str) and record_id.strip():
            self._check_names([record_id.strip()], label, visible)
            read_record_id = self._reader(record_id.strip(), label)
        if len(self.problems) > before or connection is None or object_name is None:
            return None
        return ActionStep(
            *base,
            connection,
            object_name,
            operation,
            match_field.strip() if isinstance(match_field, str) else None,
            record_id.strip() if isinstance(record_id, str) else None,
            read_record_id,
            mapping,
        )

    def _check_action_matching(
        self,
        label: str,
        operation: str,
        match_field: Any,
        record_id: Any,
        mapping: CompiledMapping | None,
        raw_mapping: Any,
    ) -> None:
        if operation == "create" and record_id is not None:
            self.problems.append(f"{label}: a record being created has no id yet; remove 'record_id'")
        if operation == "upsert" and match_field is None:
            self.problems.append(f"{label}: an upsert needs a 'match_field' to find an existing record by")
        if operation in ("update", "delete", "archive") and match_field is None and record_id is None:
            self.problems.append(
                f"{label}: say which record to {operation}: set 'record_id' (e.g. steps.find_company.id)"
                " or a 'match_field'"
            )
        if isinstance(match_field, str) and match_field.strip():
            if mapping is not None and match_field.strip() not in mapping.targets:
                self.problems.append(
                    f"{label}: the match field '{match_field.strip()}' is not a target of the mapping"
                )
            elif raw_mapping is None:
                self.problems.append(
                    f"{label}: add a mapping that gives the match field '{match_field.strip()}'"
                )

    def _notify(self, raw: Mapping[str, Any], base: _Base, visible: set[str]) -> Step | None:
        label = base[2]
        before = len(self.problems)
        connection = self._connection(raw, label)
        channel = raw.get("channel")
        if channel is not None and _text(channel) is None:
            self.problems.append(f"{label}: 'channel' must be text")
        template = _text(raw.get("format"))
        if template is None:
            self.problems.append(f"{label}: write the message ('format'), e.g. 'New lead: {{email}}'")
            return None
        self.problems.extend(f"{label}: {problem}" for problem in template_problems(template))
        self._check_names(template_fields(template), label, visible)
        if len(self.problems) > before or connection is None:
            return None
        return NotifyStep(*base, connection, _text(channel), tuple(parse_template(template)))

    def _http(self, raw: Mapping[str, Any], base: _Base, visible: set[str]) -> Step | None:
        label = base[2]
        before = len(self.problems)
        method = raw.get("method", "POST")
        if method not in HTTP_METHODS:
            self.problems.append(f"{label}: 'method' must be one of: {', '.join(HTTP_METHODS)}")
        url = raw.get("url")
        parts = self._url(url, label, visible, placeholders=True)
        headers = raw.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in headers.items()
        ):
            self.problems.append(f"{label}: 'headers' must map header names to text")
            headers = {}
        connection = raw.get("connection")
        if connection is not None and check_connection(connection) is not None:
            self.problems.append(f"{label}: 'connection' must name a connection")
        body = None
        if raw.get("body") is not None:
            if method in ("GET", "DELETE"):
                self.problems.append(f"{label}: a {method} request has no body")
            body = self._mapping(raw["body"], label, "body", visible)
        if len(self.problems) > before or parts is None:
            return None
        return HttpStep(*base, method, parts, dict(headers), body, connection)

    def _webhook(self, raw: Mapping[str, Any], base: _Base, visible: set[str]) -> Step | None:
        label = base[2]
        before = len(self.problems)
        url = raw.get("url")
        self._url(url, label, visible, placeholders=False)
        event = raw.get("event")
        if event is not None and _text(event) is None:
            self.problems.append(f"{label}: 'event' must be text")
        payload = None
        if raw.get("payload") is not None:
            payload = self._mapping(raw["payload"], label, "payload", visible)
        if len(self.problems) > before:
            return None
        return WebhookStep(*base, str(url).strip(), _text(event), payload)

    def _delay(self, raw: Mapping[str, Any], base: _Base) -> Step | None:
        seconds = raw.get("seconds")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int)
            or not 1 <= seconds <= _MAX_DELAY_SECONDS
        ):
            self.problems.append(
                f"{base[2]}: 'seconds' must be a whole number from 1 to {_MAX_DELAY_SECONDS} (90 days)"
            )
            return None
        return DelayStep(*base, seconds)

    # -- shared checks ------------------------------------------------------------------------

    def _connection(self, raw: Mapping[str, Any], label: str) -> ConnectionRef | None:
        connection = raw.get("connection")
        if isinstance(connection, int | str) and check_connection(connection) is None:
            return connection
        self.problems.append(f"{label}: choose a connection")
        return None

    def _object(self, raw: Mapping[str, Any], label: str) -> str | None:
        object_name = _text(raw.get("object"))
        if object_name is None:
            self.problems.append(f"{label}: choose an object, e.g. contacts")
        return object_name

    def _condition(self, tree: Any, label: str, what: str, visible: set[str]) -> Condition | None:
        if tree is None:
            self.problems.append(f"{label}: add a condition ('{what}')")
            return None
        try:
            condition = compile_condition(tree)
        except ConditionSpecError as exc:
            self.problems.extend(f"{label}: {what}: {message}" for message in exc.messages)
            return None
        self._check_names(list(condition.fields), label, visible)
        return condition

    def _mapping(self, spec: Any, label: str, what: str, visible: set[str]) -> CompiledMapping | None:
        try:
            mapping = compile_mapping(spec)
        except MappingSpecError as exc:
            self.problems.extend(f"{label}: {what}: {message}" for message in exc.messages)
            return None
        names = [source for row in mapping.rows for source in row.sources]
        names += [
            name
            for row in mapping.rows
            for spec_, args in row.transforms
            if spec_.name == "format"
            for name in template_fields(args["template"])
        ]
        self._check_names(names, label, visible)
        return mapping

    def _reader(self, name: str, label: str) -> Reader | None:
        try:
            return field_reader(name)
        except ValueError as exc:
            self.problems.append(f"{label}: {exc}")
            return None

    def _url(
        self, url: Any, label: str, visible: set[str], *, placeholders: bool
    ) -> tuple[TemplatePart, ...] | None:
        if not isinstance(url, str) or not url.strip().lower().startswith(("https://", "http://")):
            self.problems.append(f"{label}: 'url' must start with https:// or http://")
            return None
        url = url.strip()
        parts = parse_template(url)
        fields = [name for _, name in parts if name is not None]
        if fields and not placeholders:
            self.problems.append(f"{label}: the url can't contain {{fields}}")
            return None
        self.problems.extend(f"{label}: {problem}" for problem in template_problems(url))
        # Record values may fill the path and query, never the host: a field must not be
        # able to point the request at another server.
        fixed = parts[0][0] if fields else url
        host_end = fixed.find("/", fixed.find("://") + 3)
        if fields and host_end == -1:
            self.problems.append(f"{label}: fields can only be used in the url after the host name")
            return None
        self._check_names(fields, label, visible)
        return tuple(parts)

    def _check_names(self, names: list[str], label: str, visible: set[str]) -> None:
        """Every step a name refers to must have run before the step that reads it."""
        for name in names:
            for step_id, output in _step_references(name):
                problem = self._reference_problem(name, step_id, output, visible)
                if problem:
                    self.problems.append(f"{label}: {problem}")

    def _reference_problem(
        self, name: str, step_id: str | None, output: str | None, visible: set[str]
    ) -> str | None:
        if step_id is None:
            return f"'{name}' should name a step and its output, e.g. steps.create_contact.id"
        if step_id not in visible:
            if step_id in self.kinds:
                return f"'{name}' refers to step {step_id}, which doesn't run before this step"
            return f"'{name}' refers to step {step_id}, which runs later or doesn't exist"
        outputs = OUTPUTS.get(self.kinds[step_id], frozenset())
        if not outputs:
            return f"'{name}' refers to step {step_id}, which has no outputs"
        if output is not None and output not in outputs:
            return f"'{name}': step {step_id} has no output '{output}' (it has {', '.join(sorted(outputs))})"
        return None


def _step_references(name: str) -> list[tuple[str | None, str | None]]:
    """(step id, output) for each reference to a step in a field name or path."""
    if name.startswith(PATH_PREFIX):
        try:
            chains = referenced_chains(compile_path(name))
        except ValueError:  # reported where the path itself is checked
            return []
        return [
            (chain[1], chain[2] if len(chain) > 2 else None)
            for chain in chains
            if chain[0] == STEPS_NAMESPACE and len(chain) > 1
        ]
    parts = name.split(".")
    if parts[0] != STEPS_NAMESPACE or len(parts) == 1:
        return []
    if len(parts) < 3:
        return [(None, None)]
    return [(parts[1], parts[2])]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
