"""Everything the builder's templates show for a Draft: pickers, row views, feasibility, issues.

Views stay thin by asking this module for a context; the full page and each HTMX fragment are rendered
from the same context, so a fragment never disagrees with the page it is swapped into. Schemas come from
the cache (connectors.schemas), fetched from the system only the first time an object is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from connectors.base import ConnectorError, FieldSchema, ObjectSchema, PicklistOption
from connectors.feasibility import (
    Feasibility,
    ObjectFeasibility,
    connection_object_feasibility,
    flow_feasibility,
)
from connectors.models import Connection
from connectors.registry import UnknownConnector, get_provider
from connectors.schemas import schema_cached, schema_get
from connectors.services import client_for
from workflows.builder_forms import (
    MIN_POLL_SECONDS,
    POLL_CHOICES,
    READING_TRIGGERS,
    TRIGGER_LABELS,
    Draft,
    RowDraft,
    TransformDraft,
    new_key,
)
from workflows.builder_schema import field_note, suggest_pairs, suggested_transforms, value_map_prefill
from workflows.builder_steps import (
    EDITABLE_KINDS,
    NOT_FOUND,
    UNITS,
    Readable,
    StepDraft,
    check_steps,
    operations,
    places,
    readable_before,
    steps_from_drafts,
    typed_text,
)
from workflows.engine.conditions import OPERATORS, ConditionSpecError, compile_condition
from workflows.engine.diff import canonical
from workflows.engine.mapping import Issue, parse_spec, validate_against_schemas
from workflows.engine.preview import preview_definition, preview_mapping
from workflows.engine.transforms import TRANSFORMS, ArgSpec, TransformSpec
from workflows.engine.values import show_value
from workflows.models import Workflow


@dataclass(frozen=True)
class FieldOption:
    """A field as a picker offers it: the option text carries the type and the custom/required marks."""

    name: str
    text: str
    type: str
    custom: bool
    required: bool

    @classmethod
    def of(cls, schema_field: FieldSchema) -> FieldOption:
        return cls(
            schema_field.name,
            f"{schema_field.label} ({schema_field.name}) · {field_note(schema_field)}",
            schema_field.type,
            schema_field.custom,
            schema_field.required,
        )


@dataclass
class Side:
    """One end of the flow: the connection, its objects and the object's fields as discovered."""

    connection: Connection | None = None
    objects: list[tuple[str, str]] = field(default_factory=list)
    schema: ObjectSchema | None = None
    error: str = ""

    @property
    def options(self) -> list[FieldOption]:
        return [FieldOption.of(f) for f in self.schema.fields] if self.schema else []

    def field(self, name: str) -> FieldSchema | None:
        return self.schema.field(name) if self.schema and name else None


@dataclass(frozen=True)
class ArgView:
    spec: ArgSpec
    value: str
    input: str
    id: str
    name: str


@dataclass
class TransformView:
    draft: TransformDraft
    spec: TransformSpec | None
    args: list[ArgView]
    pairs: list[tuple[str, str]]
    target_options: tuple[PicklistOption, ...]
    id: str

    @property
    def is_value_map(self) -> bool:
        return self.draft.name == "value_map"


@dataclass
class RowView:
    row: RowDraft
    sources: list[tuple[str, FieldSchema | None]]
    target: FieldSchema | None
    transforms: list[TransformView]


def _objects(connection: Connection | None) -> list[tuple[str, str]]:
    if connection is None:
        return []
    try:
        return list(get_provider(connection.kind).objects_for(connection.config).items())
    except UnknownConnector:
        return []


def load_side(connection: Connection | None, object_name: str, *, fetch: bool = True) -> Side:
    """The cached fields (however old: the schema page refreshes them), fetched only when never cached.

    Small fragments pass `fetch=False`: a system that is down would otherwise hold every keystroke's
    request through the HTTP layer's retries; the page and the refresh already said it is unreachable.
    """
    side = Side(connection=connection, objects=_objects(connection))
    if connection is None or not object_name:
        return side
    cached = schema_cached(connection=connection, object_name=object_name)
    if cached is not None:
        side.schema = cached.schema
        return side
    if not fetch:
        return side
    try:
        side.schema = schema_get(connection=connection, object_name=object_name)
    except (ConnectorError, ValueError) as exc:
        side.error = getattr(exc, "message", None) or str(exc)
    return side


@dataclass
class Builder:
    """The builder's state for one request: the draft, both sides and what was checked."""

    draft: Draft
    connections: list[Connection]
    source: Side
    target: Side
    workflow: Workflow | None = None
    feasibility: Feasibility | None = None
    source_support: ObjectFeasibility | None = None
    target_support: ObjectFeasibility | None = None
    # Problems in what was typed (a setting that is not a number...): the draft cannot be saved.
    input_errors: int = 0
    mapping_issues: list[str] = field(default_factory=list)
    publish_blockers: list[str] = field(default_factory=list)
    # The sides ("source", "target") whose connection differs from the saved workflow's.
    moved: list[str] = field(default_factory=list)

    @property
    def target_types(self) -> dict[str, str]:
        return {f.name: f.type for f in self.target.schema.fields} if self.target.schema else {}


def builder_for(
    *, draft: Draft, connections: list[Connection], workflow: Workflow | None = None, fetch: bool = True
) -> Builder:
    by_id = {c.pk: c for c in connections}
    source_connection = by_id.get(draft.source_connection_id) if draft.source_connection_id else None
    target_connection = by_id.get(draft.target_connection_id) if draft.target_connection_id else None
    # After a switch to another connection, an object the new one does not have is no choice at all.
    draft.source_object = _known_object(source_connection, draft.source_object)
    draft.target_object = _known_object(target_connection, draft.target_object)
    builder = Builder(
        draft=draft,
        connections=connections,
        source=load_side(source_connection, draft.source_object, fetch=fetch),
        target=load_side(target_connection, draft.target_object, fetch=fetch),
        workflow=workflow,
    )
    if workflow is not None:
        # A saved workflow may move to other connections; the page says what that resets.
        if (source_connection.pk if source_connection else None) != workflow.source_connection_id:
            builder.moved.append("source")
        if (target_connection.pk if target_connection else None) != workflow.target_connection_id:
            builder.moved.append("target")
    builder.feasibility = _feasibility(builder)
    builder.source_support = _support(builder.source.connection, draft.source_object)
    builder.target_support = _support(builder.target.connection, draft.target_object)
    return builder


def _known_object(connection: Connection | None, object_name: str) -> str:
    objects = dict(_objects(connection))
    # Connectors whose objects come from their settings (a table, a manifest) list none: anything goes.
    return object_name if not objects or object_name in objects else ""


def _support(connection: Connection | None, object_name: str) -> ObjectFeasibility | None:
    if connection is None or not object_name:
        return None
    try:
        return connection_object_feasibility(connection=connection, object_name=object_name)
    except UnknownConnector:
        return None


def _feasibility(builder: Builder) -> Feasibility | None:
    draft = builder.draft
    if builder.target.connection is None or not draft.target_object:
        return None
    source = None
    if builder.source.connection is not None and draft.source_object:
        source = (builder.source.connection, draft.source_object)
    try:
        return flow_feasibility(
            source=source,
            target=(builder.target.connection, draft.target_object),
            trigger=draft.trigger,
            interval_seconds=draft.poll_interval_seconds,
        )
    except (UnknownConnector, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Checking a draft
# ---------------------------------------------------------------------------------------------


def check(builder: Builder, *, name_taken: bool) -> None:
    """Fill the draft's field errors, each row's errors and warnings, and what blocks publishing.

    `name_taken`: another workflow of the team has the draft's name (the caller asked the database).
    """
    draft = builder.draft
    if not draft.name:
        draft.add_error("name", "Give the workflow a name.")
    elif name_taken:
        draft.add_error("name", "Your team already has a workflow with this name.")
    if builder.target.connection is None:
        draft.add_error("target_connection", "Choose where the records go.")
    if not draft.target_object:
        draft.add_error("target_object", "Choose what kind of record to write.")
    if draft.trigger in READING_TRIGGERS:
        if builder.source.connection is None:
            draft.add_error("source_connection", "Choose the connection to read from.")
        elif not draft.source_object:
            draft.add_error("source_object", "Choose what kind of record to read.")
    if draft.poll_interval_seconds < MIN_POLL_SECONDS:
        draft.add_error("poll_interval_seconds", f"Check at most every {MIN_POLL_SECONDS} seconds.")
    tree = draft.condition_tree()
    if tree is not None and not draft.multi_step:
        try:
            compile_condition(tree)
        except ConditionSpecError as exc:
            draft.errors["conditions"] = list(exc.messages)
    if draft.multi_step:
        check_step_list(builder)
    check_mapping(builder)
    if builder.feasibility is not None:
        builder.publish_blockers.extend(builder.feasibility.blockers)


def check_mapping(builder: Builder) -> None:
    """Row errors and warnings from the schemas (or the spec alone when a schema is missing)."""
    draft = builder.draft
    if draft.multi_step or draft.steps:
        return
    types = builder.target_types
    spec = draft.mapping_spec(types)
    for key, problems in draft.mapping_problems(types).items():
        row = next(r for r in draft.rows if r.key == key)
        row.errors.extend(problems)
        builder.input_errors += len(problems)
    if builder.source.schema is not None and builder.target.schema is not None:
        issues = validate_against_schemas(spec, builder.source.schema, builder.target.schema)
    else:
        issues = parse_spec(spec)[1]
    # "Required but not mapped" is listed once, by unmapped_required(), next to the rows.
    general = [issue for issue in issues if not (issue.row is None and issue.target)]
    _attach(draft.filled_rows, general, builder.mapping_issues)
    errors = [issue.message for issue in issues if issue.level == "error"]
    builder.publish_blockers.extend(errors)
    if not draft.filled_rows:
        builder.publish_blockers.append("Map at least one field.")


def check_step_list(builder: Builder) -> None:
    """Compile the steps; each problem goes next to its step (and setting), the rest above the list."""
    draft = builder.draft
    for step in draft.step_drafts:
        step.errors.clear()
    # Rebuilt so the problems of reading the post (a number that isn't one) are noted on the steps.
    if draft.steps_mode != "json":
        draft.steps = steps_from_drafts(draft.step_drafts)
    general = check_steps(draft.step_drafts, _step_trigger(draft), draft.steps)
    if general:
        draft.errors["steps"] = general
    problems = sum(len(m) for step in draft.step_drafts for m in step.errors.values()) + len(general)
    builder.input_errors += problems
    if problems:
        builder.publish_blockers.append("Fix the steps marked below.")


def _step_trigger(draft: Draft) -> dict[str, Any]:
    return {
        "type": draft.trigger,
        "connection": draft.source_connection_id or "inbound",
        "object": draft.source_object or "events",
    }


def _attach(rows: list[RowDraft], issues: list[Issue], general: list[str]) -> None:
    for issue in issues:
        # Row messages start "Row 3 (email): "; next to the row itself that prefix only repeats it.
        message = issue.message.split(": ", 1)[1] if issue.row and ": " in issue.message else issue.message
        if issue.row is not None and 0 < issue.row <= len(rows):
            target = rows[issue.row - 1]
            (target.errors if issue.level == "error" else target.warnings).append(message)
        else:
            general.append(issue.message)


# ---------------------------------------------------------------------------------------------
# Rows: views, suggestions, new rows
# ---------------------------------------------------------------------------------------------


def _input_for(arg: ArgSpec) -> str:
    if arg.name == "connection":
        return "connection"
    return {"boolean": "checkbox", "integer": "number", "choice": "select", "text_list": "textarea"}.get(
        arg.type, "text"
    )


def transform_view(
    row: RowDraft, transform: TransformDraft, source: FieldSchema | None, target: FieldSchema | None
) -> TransformView:
    spec = transform.spec
    t_id = f"r-{row.key}-t-{transform.key}"
    args = []
    for arg in spec.args if spec is not None else ():
        if arg.type == "mapping":
            continue
        default = "" if arg.default is None or isinstance(arg.default, tuple) else str(arg.default)
        if isinstance(arg.default, bool):
            default = "on" if arg.default else ""
        value = transform.raw.get(arg.name, default)
        args.append(ArgView(arg, value, _input_for(arg), f"{t_id}-a-{arg.name}", f"{t_id}-a-{arg.name}"))
    pairs = list(transform.pairs)
    if transform.name == "value_map":
        # Every source option gets a row, so a picklist value is never forgotten in the translation.
        known = {source_value for source_value, _ in pairs}
        pairs.extend(pair for pair in value_map_prefill(source, target) if pair[0] not in known)
        if not pairs:
            pairs = [("", "")]
    return TransformView(transform, spec, args, pairs, target.options if target else (), t_id)


def row_view(builder: Builder, row: RowDraft) -> RowView:
    sources = [(name, builder.source.field(name)) for name in row.sources] or [("", None)]
    target = builder.target.field(row.target)
    first_source = sources[0][1]
    return RowView(
        row=row,
        sources=sources,
        target=target,
        transforms=[transform_view(row, t, first_source, target) for t in row.transforms],
    )


def add_transform(builder: Builder, row: RowDraft, name: str) -> None:
    if name not in TRANSFORMS:
        return
    transform = TransformDraft(key=new_key(), name=name)
    if name == "value_map":
        source = builder.source.field(row.sources[0]) if row.sources else None
        transform.pairs = value_map_prefill(source, builder.target.field(row.target))
    row.transforms.append(transform)


def suggest_rows(builder: Builder) -> int:
    """Append a row for every unmapped target field with a source field of the same name or label."""
    if builder.source.schema is None or builder.target.schema is None:
        return 0
    draft = builder.draft
    rows = draft.filled_rows
    pairs = suggest_pairs(
        builder.source.schema,
        builder.target.schema,
        taken_targets={row.target for row in rows},
        taken_sources={name for row in rows for name in row.sources},
    )
    draft.rows = rows
    for pair in pairs:
        row = RowDraft(key=new_key(), sources=[pair.source.name], target=pair.target.name, suggested=pair.why)
        for item in suggested_transforms(pair.source, pair.target):
            transform = TransformDraft(key=new_key(), name=item["name"])
            if item["name"] == "value_map":
                transform.pairs = list(item["args"]["map"].items())
            row.transforms.append(transform)
        draft.rows.append(row)
    return len(pairs)


def unmapped_required(builder: Builder) -> list[FieldSchema]:
    if builder.target.schema is None:
        return []
    mapped = {row.target for row in builder.draft.filled_rows}
    return [
        f for f in builder.target.schema.fields if f.required and not f.read_only and f.name not in mapped
    ]


# ---------------------------------------------------------------------------------------------
# Sample records
# ---------------------------------------------------------------------------------------------


def fetch_sample(connection: Connection, object_name: str) -> tuple[str, str]:
    """The first record of the first page of changes, as pretty JSON; or ("", why not). Writes nothing."""
    try:
        pages = client_for(connection).list_changes(object_name, None, page_size=1)
        iterator = iter(pages)
        try:
            page = next(iterator, None)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
    except (ConnectorError, ValueError) as exc:
        return "", f"Could not read from {connection.name}: {getattr(exc, 'message', None) or exc}"
    if page is None or not page.records:
        return "", f"{connection.name} has no {object_name} to show yet: paste a record as JSON instead."
    return json.dumps(dict(page.records[0].fields), indent=2, default=str, ensure_ascii=False), ""


def check_row(builder: Builder, row: RowDraft) -> None:
    """One row's errors and warnings, for the fragment swapped in when the row changes."""
    single = Draft(rows=[row])
    types = builder.target_types
    row.errors.extend(single.mapping_problems(types).get(row.key, []))
    if row.blank:
        return
    spec = single.mapping_spec(types)
    if builder.source.schema is not None and builder.target.schema is not None:
        issues = validate_against_schemas(spec, builder.source.schema, builder.target.schema)
    else:
        issues = parse_spec(spec)[1]
    # Only this row's own issues: "required but not mapped" is about the whole mapping.
    _attach([row], [issue for issue in issues if issue.row == 1], [])


# ---------------------------------------------------------------------------------------------
# Previews: what the draft would write for the sample, without writing
# ---------------------------------------------------------------------------------------------


@dataclass
class PreviewResult:
    error: str = ""
    ok: bool = False
    fields: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    condition: str = ""
    condition_passed: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)


def _shown(value: Any) -> str:
    """Text in quotes (so spaces and empty text show), numbers and yes/no bare, lists as JSON."""
    if value is None:
        return "(empty)"
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return text if len(text) <= 200 else text[:199] + "…"
    return show_value(value)


def preview(builder: Builder) -> PreviewResult:
    draft = builder.draft
    record, error = draft.sample_record()
    if record is None:
        return PreviewResult(error=error)
    if draft.multi_step or draft.steps:
        return _preview_steps(builder, record)
    result = PreviewResult()
    tree = draft.condition_tree()
    if tree is not None:
        try:
            explanation = compile_condition(tree).explain(record)
        except ConditionSpecError as exc:
            result.condition, result.condition_passed = "; ".join(exc.messages), False
        else:
            result.condition_passed = explanation.passed
            verdict = "passes the conditions" if explanation.passed else "would be skipped"
            result.condition = f"This record {verdict}: {explanation.message}."
    found = preview_mapping(
        draft.mapping_spec(builder.target_types), record, builder.source.schema, builder.target.schema
    )
    result.ok = found.ok and result.condition_passed
    result.fields = [
        {**item.to_dict(), "source_text": _shown(item.source), "value_text": _shown(item.value)}
        for item in found.fields
    ]
    result.issues = found.to_dict()["issues"]
    result.unused = found.unused_source_fields
    return result


def _preview_steps(builder: Builder, record: dict[str, Any]) -> PreviewResult:
    draft = builder.draft
    definition = {"trigger": _step_trigger(draft), "steps": draft.steps}
    found = preview_definition(definition, record)
    result = PreviewResult(ok=found.ok, issues=[{"level": "error", "message": m} for m in found.errors])
    if found.execution is not None:
        data = found.execution.to_dict()
        result.steps = list(data["steps"])
    result.calls = [
        {**call.to_dict(), "details_text": _call_text(call.kind, call.details)} for call in found.calls
    ]
    return result


def _call_text(kind: str, details: Any) -> str:
    """What a planned call would send, in full: the message is what a person checks in a preview."""
    if kind == "notify":
        where = f"to {details.get('channel')}: " if details.get("channel") else ""
        return f"{where}{details.get('message', '')}"
    if kind == "write":
        fields = json.dumps(canonical(details.get("fields") or {}), ensure_ascii=False, default=str)
        return f"{details.get('operation')} {details.get('object')}: {fields}"
    return json.dumps(canonical(details), ensure_ascii=False, default=str)


# ---------------------------------------------------------------------------------------------
# The template context
# ---------------------------------------------------------------------------------------------


def _interval(seconds: int) -> str:
    if seconds < 60 or seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    if minutes < 60 or minutes % 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''}"


def poll_choices(current: int) -> list[tuple[int, str]]:
    return [(value, _interval(value)) for value in sorted({*POLL_CHOICES, current})]


def trigger_choices(interval_seconds: int) -> list[tuple[str, str]]:
    """The trigger kinds, each labelled with how fresh it is; a poll names its interval."""
    every = _interval(interval_seconds)
    return [
        (value, f"near-real-time (polling every {every})" if value == Workflow.Trigger.POLL else label)
        for value, label in TRIGGER_LABELS.items()
    ]


def context(builder: Builder) -> dict[str, Any]:
    draft = builder.draft
    return {
        "b": builder,
        "draft": draft,
        "workflow": builder.workflow,
        "rows": [row_view(builder, row) for row in draft.rows],
        "source_options": builder.source.options,
        "source_names": {option.name for option in builder.source.options},
        "target_options": builder.target.options,
        "transforms": list(TRANSFORMS.values()),
        "operators": list(OPERATORS.values()),
        "triggers": trigger_choices(draft.poll_interval_seconds),
        "poll_choices": poll_choices(draft.poll_interval_seconds),
        "start_choices": Workflow.StartFrom.choices,
        "unmapped_required": unmapped_required(builder),
        "steps_json": json.dumps(draft.steps, indent=2, ensure_ascii=False) if draft.steps else "",
        "step_tree": step_views(builder) if draft.multi_step else [],
        "step_kinds": list(EDITABLE_KINDS.items()),
        **step_choices(),
    }


# ---------------------------------------------------------------------------------------------
# The step list editor
# ---------------------------------------------------------------------------------------------


@dataclass
class StepView:
    """One step as the editor shows it, with its branch arms as nested views."""

    d: StepDraft
    place: str
    first: bool
    last: bool
    readable: list[Readable]
    objects: list[tuple[str, str]]
    fields: list[FieldOption]
    typed: str
    then: list[StepView] = field(default_factory=list)
    otherwise: list[StepView] = field(default_factory=list)

    @property
    def object_listed(self) -> bool:
        return any(name == self.d.object for name, _ in self.objects)

    @property
    def placeholders(self) -> list[str]:
        return ["{" + item.name + "}" for item in self.readable]


def step_views(builder: Builder) -> list[StepView]:
    """The step tree with, for each step, the names it may read and its connection's objects and fields.

    Schemas come from the cache only: a step editor never waits for a system (the schema page fetches).
    """
    draft = builder.draft
    by_id = {str(c.pk): c for c in builder.connections}
    sides: dict[tuple[str, str], Side] = {}

    def side(step: StepDraft) -> Side:
        key = (step.connection, step.object)
        if key not in sides:
            sides[key] = load_side(by_id.get(step.connection), step.object, fetch=False)
        return sides[key]

    step_fields: dict[str, list[str]] = {}
    for step in draft.step_drafts:
        schema = side(step).schema if step.type in ("lookup", "action") else None
        if schema is not None:
            step_fields[step.key] = [f.name for f in schema.fields]
    trigger = [Readable(option.name, option.text) for option in builder.source.options] + [
        Readable("trigger.id", "The id of the record that started the workflow")
    ]
    readable = readable_before(draft.step_drafts, trigger, step_fields)
    where = {step.key: place for place, step in places(draft.step_drafts).items()}
    keys = {step.key for step in draft.step_drafts}
    groups: dict[tuple[str, str], list[StepDraft]] = {}
    for step in draft.step_drafts:
        home = (step.parent, step.arm) if step.parent in keys else ("", "")
        groups.setdefault(home, []).append(step)

    def build(home: tuple[str, str]) -> list[StepView]:
        members = groups.get(home, [])
        views = []
        for index, step in enumerate(members):
            loaded = side(step)
            view = StepView(
                d=step,
                place=where.get(step.key, ""),
                first=index == 0,
                last=index == len(members) - 1,
                readable=readable.get(step.key, []),
                objects=loaded.objects,
                fields=loaded.options,
                typed=typed_text(step),
            )
            if step.type == "branch":
                view.then = build((step.key, "then"))
                view.otherwise = build((step.key, "else"))
            views.append(view)
        return views

    return build(("", ""))


def step_choices() -> dict[str, Any]:
    """The fixed choices the step editor offers."""
    return {"step_operations": operations(), "not_found_choices": NOT_FOUND, "delay_units": UNITS}
