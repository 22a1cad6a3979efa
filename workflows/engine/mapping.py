"""Mapping specs: which source fields feed which target field, through which transforms.

A spec is plain JSON so it can live in a JSONField and be edited in the UI::

    {"fields": [
        {"target": "name", "source": ["firstname", "lastname"],
         "transforms": [{"name": "join", "args": {"separator": " "}}]},
        {"target": "email", "source": "email", "transforms": [{"name": "trim"}, {"name": "lower"}],
         "empty": "keep"},
    ]}

`source` names a field of the source record, or is a JMESPath expression into nested
JSON when it starts with "$.". `empty` says what to do when the result is empty: "keep"
(default) leaves the target's data alone, "clear" writes None.

`compile_mapping` checks a spec once and turns every row into a closure, so applying it
to each record does no validation and never raises. Transforms that reach outside the
record (`lookup_link`) get their ports from the `ApplyContext` passed to `apply`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from connectors.base import FieldSchema, ObjectSchema
from workflows.engine.lookups import ApplyContext
from workflows.engine.paths import PATH_PREFIX, Reader, compile_path, first_line, path_reader, path_root
from workflows.engine.transforms import (
    TRANSFORMS,
    ContextStep,
    DropValue,
    RecordStep,
    TransformError,
    TransformSpec,
    is_empty,
    template_fields,
)

__all__ = [
    "ApplyContext",
    "CompiledMapping",
    "Issue",
    "MappedRecord",
    "MappingSpecError",
    "RowSpec",
    "RowTrace",
    "compile_mapping",
    "parse_spec",
    "path_root",
    "validate_against_schemas",
]

EmptyPolicy = Literal["keep", "clear"]
_ROW_KEYS = frozenset({"target", "source", "transforms", "empty"})
_PATH_PREFIX = PATH_PREFIX


class MappingSpecError(ValueError):
    """The spec can't be compiled; `messages` lists every problem, each naming its row."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class Issue:
    level: Literal["error", "warning"]
    message: str
    row: int | None = None
    target: str | None = None


# Not frozen: a frozen dataclass costs 3x to build, and one is built per record.
@dataclass(slots=True)
class MappedRecord:
    values: dict[str, Any]
    dropped: list[tuple[str, str]]
    errors: list[tuple[str, str]]


@dataclass(frozen=True)
class RowSpec:
    """One checked row of a spec; `index` is 1-based as the user sees it."""

    index: int
    target: str
    sources: tuple[str, ...]
    transforms: tuple[tuple[TransformSpec, dict[str, Any]], ...]
    empty: EmptyPolicy
    paths: dict[str, ParsedResult] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"Row {self.index} ({self.target})"


def row_label(index: int, target: Any) -> str:
    return f"Row {index} ({target})" if isinstance(target, str) and target.strip() else f"Row {index}"


# ---------------------------------------------------------------------------------------------
# Parsing and checking a spec
# ---------------------------------------------------------------------------------------------


def parse_spec(spec: Any) -> tuple[list[RowSpec], list[Issue]]:
    """Check a spec's structure; return the rows that are sound and an error per problem."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("fields"), list):
        return [], [Issue("error", "The mapping must have a list of fields")]
    rows: list[RowSpec] = []
    issues: list[Issue] = []
    first_row_for: dict[str, int] = {}
    for index, raw in enumerate(spec["fields"], start=1):
        row, problems = _parse_row(index, raw)
        target = raw.get("target") if isinstance(raw, Mapping) else None
        target = target.strip() if isinstance(target, str) and target.strip() else None
        if target is not None:
            # Even a broken row claims its target, so a duplicate is reported on the later row.
            earlier = first_row_for.setdefault(target, index)
            if earlier != index:
                problems.append(f"target '{target}' is already mapped in row {earlier}")
        issues.extend(
            Issue("error", f"{row_label(index, target)}: {problem}", index, target) for problem in problems
        )
        if row is not None and not problems:
            rows.append(row)
    return rows, issues


def _parse_row(index: int, raw: Any) -> tuple[RowSpec | None, list[str]]:
    if not isinstance(raw, Mapping):
        return None, ["must be a set of settings"]
    problems = [f"unknown setting '{key}'" for key in raw if key not in _ROW_KEYS]
    target = raw.get("target")
    if not isinstance(target, str) or not target.strip():
        problems.append("choose a target field")
    sources, paths, source_problems = _parse_sources(raw.get("source"))
    problems.extend(source_problems)
    transforms = _parse_transforms(raw.get("transforms"), problems)
    empty = raw.get("empty", "keep")
    if empty not in ("keep", "clear"):
        problems.append("'empty' must be 'keep' or 'clear'")
    if transforms is not None and not source_problems:
        problems.extend(_chain_problems(sources, [spec for spec, _ in transforms]))
    if problems or transforms is None or not isinstance(target, str):
        return None, problems
    return RowSpec(index, target.strip(), sources, tuple(transforms), empty, paths), problems


def _parse_sources(raw: Any) -> tuple[tuple[str, ...], dict[str, ParsedResult], list[str]]:
    if raw is None:
        return (), {}, []
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(name, str) and name.strip() for name in names):
        return (), {}, ["source must be a field name or a list of field names"]
    sources = tuple(name.strip() for name in names)
    paths: dict[str, ParsedResult] = {}
    problems = []
    for name in sources:
        if name.startswith(_PATH_PREFIX):
            try:
                paths[name] = compile_path(name)
            except ValueError as exc:
                problems.append(str(exc))
    return sources, paths, problems


def _parse_transforms(raw: Any, problems: list[str]) -> list[tuple[TransformSpec, dict[str, Any]]] | None:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append("transforms must be a list")
        return None
    parsed = []
    for position, step in enumerate(raw, start=1):
        name = step.get("name") if isinstance(step, Mapping) else None
        spec = TRANSFORMS.get(name) if isinstance(name, str) else None
        if spec is None:
            known = f"unknown transform {name!r}" if isinstance(name, str) else "choose a transform"
            problems.append(f"transform {position}: {known}")
            continue
        extra = [key for key in step if key not in ("name", "args")]
        args, arg_problems = spec.validate_args(step.get("args"))
        arg_problems += [f"unknown setting '{key}'" for key in extra]
        problems.extend(f"transform {position} ({name}): {problem}" for problem in arg_problems)
        parsed.append((spec, args))
    return None if len(parsed) != len(raw) else parsed


def _chain_problems(sources: tuple[str, ...], chain: list[TransformSpec]) -> list[str]:
    if not sources and not (chain and chain[0].name in ("format", "default")):
        return ["choose a source field (only 'format' and 'default' work without one)"]
    if len(sources) > 1 and not (chain and chain[0].accepts_list):
        combiners = ", ".join(name for name, spec in TRANSFORMS.items() if spec.accepts_list)
        return [f"several source fields need a first transform that combines them ({combiners})"]
    return []


def compile_mapping(spec: Any) -> CompiledMapping:
    """Check `spec` and build its appliers; raise MappingSpecError listing every problem."""
    rows, issues = parse_spec(spec)
    if issues:
        raise MappingSpecError([issue.message for issue in issues])
    return CompiledMapping(rows)


# ---------------------------------------------------------------------------------------------
# Applying
# ---------------------------------------------------------------------------------------------


def _reader(row: RowSpec) -> Reader:
    if len(row.sources) > 1 and not row.paths:
        names = row.sources
        return lambda fields: list(map(fields.get, names))
    readers = [
        path_reader(row.paths[name]) if name in row.paths else operator.methodcaller("get", name)
        for name in row.sources
    ]
    if not readers:
        return lambda fields: None
    if len(readers) == 1:
        return readers[0]
    return lambda fields: [read(fields) for read in readers]


def _source_is_empty(read: Reader, fields: Mapping[str, Any], several: bool) -> bool:
    value = read(fields)
    if several:
        return all(is_empty(item) for item in value)
    return is_empty(value)


def _runner(row: RowSpec, read: Reader) -> Reader:
    """One closure per row. Short chains are unrolled: at ~1 µs per field budget, a loop
    and an extra call per step are a noticeable share of the cost."""
    value_steps = [spec.bind_value(args) for spec, args in row.transforms]
    steps = [step for step in value_steps if step is not None]
    if len(steps) != len(value_steps):
        return _record_runner(read, [spec.bind(args) for spec, args in row.transforms])
    if not steps:
        return read
    plain = len(row.sources) == 1 and not row.paths
    name = row.sources[0] if plain else ""
    if len(steps) == 1:
        (first,) = steps
        if plain:
            return lambda fields: first(fields.get(name))
        return lambda fields: first(read(fields))
    if len(steps) == 2:
        first, second = steps
        if plain:
            return lambda fields: second(first(fields.get(name)))
        return lambda fields: second(first(read(fields)))

    def run(fields: Mapping[str, Any]) -> Any:
        value = read(fields)
        for step in steps:
            value = step(value)
        return value

    return run


def _record_runner(read: Reader, steps: list[RecordStep]) -> Reader:
    def run(fields: Mapping[str, Any]) -> Any:
        value = read(fields)
        for step in steps:
            value = step(value, fields)
        return value

    return run


ContextRunner = Callable[[Mapping[str, Any], ApplyContext | None], Any]


def _context_runner(read: Reader, steps: list[ContextStep]) -> ContextRunner:
    def run(fields: Mapping[str, Any], context: ApplyContext | None) -> Any:
        value = read(fields)
        for step in steps:
            value = step(value, fields, context)
        return value

    return run


def _with_context(run: ContextRunner, context: ApplyContext | None) -> Reader:
    return lambda fields: run(fields, context)


Column = Callable[[Sequence[Mapping[str, Any]]], list[Any]]


@dataclass(frozen=True, slots=True)
class _CompiledRow:
    target: str
    run: Reader
    read: Reader
    several: bool
    clear: bool
    names: str  # transform names, for the rare unexpected-error message
    # The row over a whole batch at once (None: the row reads the record or the apply context).
    # It may raise; then the batch runs this row record by record, as `apply` does.
    column: Column | None = None


# Text transforms whose whole work on a str is one str method: over a column of exact str values the
# method runs in C, with no Python call per value. Any other value in the column (None, numbers, a str
# subclass, whose own method the transform would call) sends the column through the transform itself.
_TEXT_METHODS: dict[Callable[..., Any], Callable[[str], str]] = {
    TRANSFORMS["trim"].func: str.strip,
    TRANSFORMS["lower"].func: str.lower,
    TRANSFORMS["upper"].func: str.upper,
}


_ONLY_TEXT = {str}


def _column(row: RowSpec, read: Reader) -> Column | None:
    """The row's values for a batch of records, transform by transform instead of record by record."""
    value_steps = [spec.bind_value(args) for spec, args in row.transforms]
    steps = [(step, _TEXT_METHODS.get(step)) for step in value_steps if step is not None]
    if len(steps) != len(value_steps):
        return None
    if row.paths or not row.sources:
        source: Column = lambda records: list(map(read, records))  # noqa: E731
    elif len(row.sources) == 1:
        get_one = operator.methodcaller("get", row.sources[0])
        source = lambda records: list(map(get_one, records))  # noqa: E731
    else:
        getters = [operator.methodcaller("get", name) for name in row.sources]
        # One list per record, as the record-at-a-time reader gives.
        source = lambda records: list(map(list, zip(*[map(get, records) for get in getters], strict=True)))  # noqa: E731

    def column(records: Sequence[Mapping[str, Any]]) -> list[Any]:
        values = source(records)
        for step, method in steps:
            if method is not None and set(map(type, values)) == _ONLY_TEXT:
                values = list(map(method, values))
            else:
                values = list(map(step, values))
        return values

    return column


class _Failed:
    """A row's outcome for one record that is not a value: dropped or an error, with its message."""

    __slots__ = ("dropped", "message")

    def __init__(self, dropped: bool, message: str) -> None:
        self.dropped = dropped
        self.message = message


def _run_row(run: Reader, row: _CompiledRow, fields: Mapping[str, Any]) -> Any:
    """One row for one record: its value, or a _Failed saying why there is none."""
    try:
        return run(fields)
    except DropValue as exc:
        return _Failed(True, exc.message)
    except TransformError as exc:
        return _Failed(False, exc.message)
    except JMESPathError as exc:
        return _Failed(False, f"couldn't read the source field: {first_line(exc)}")
    except Exception as exc:  # one malformed record must not stop the whole batch
        return _Failed(False, f"internal error in {row.names}: {type(exc).__name__}: {exc}")


def _is_empty_value(value: Any) -> bool:
    # is_empty() for exact types only, as `apply` checks every value.
    kind = value.__class__
    return (
        value is None
        or (kind is str and (not value or value.isspace()))
        or ((kind is list or kind is dict or kind is tuple) and not value)
    )


def _empty_positions(values: list[Any]) -> list[int]:
    """Where a column holds an empty value. A column of non-blank text is cleared in C."""
    if set(map(type, values)) == _ONLY_TEXT and "" not in values and not any(map(str.isspace, values)):
        return []
    # Something other than exact text (whose comparisons may even raise): look at each value.
    return [index for index, value in enumerate(values) if _is_empty_value(value)]


# Not frozen for the same reason as MappedRecord: previews build one per row.
@dataclass(slots=True)
class RowTrace:
    """What one row did with one record, for the mapping preview.

    `status` is "mapped", "cleared" (written as None), "dropped" (target left alone) or
    "error"; `message` says why for the last two.
    """

    target: str
    source: Any
    status: Literal["mapped", "cleared", "dropped", "error"]
    value: Any = None
    message: str | None = None


_Row = tuple[str, Reader, _CompiledRow]


class CompiledMapping:
    """A checked spec with one closure per row; build it with `compile_mapping`."""

    def __init__(self, rows: list[RowSpec]) -> None:
        self.rows = tuple(rows)
        self.targets = tuple(row.target for row in rows)
        self.source_fields = frozenset(_source_fields(rows))
        compiled = []
        # Rows with a transform that needs the apply context (lookup_link), by position.
        context_runners: list[tuple[int, ContextRunner]] = []
        for position, row in enumerate(rows):
            read = _reader(row)
            names = ", ".join(spec.name for spec, _ in row.transforms) or "reading the source"
            if any(spec.uses_context for spec, _ in row.transforms):
                context_run = _context_runner(
                    read, [spec.bind_context(args) for spec, args in row.transforms]
                )
                context_runners.append((position, context_run))
                # Without a context the row still runs, and its transform explains what is missing.
                run: Reader = _with_context(context_run, None)
            else:
                run = _runner(row, read)
            compiled.append(
                _CompiledRow(
                    row.target,
                    run,
                    read,
                    len(row.sources) > 1,
                    row.empty == "clear",
                    names,
                    _column(row, read),
                )
            )
        self._rows: tuple[_Row, ...] = tuple((row.target, row.run, row) for row in compiled)
        self._context_runners = tuple(context_runners)
        self._bound: tuple[ApplyContext, tuple[_Row, ...]] | None = None

    @property
    def uses_context(self) -> bool:
        """Whether some row needs ports from an ApplyContext (otherwise it fails those rows)."""
        return bool(self._context_runners)

    def _rows_for(self, context: ApplyContext | None) -> tuple[_Row, ...]:
        if context is None or not self._context_runners:
            return self._rows
        # A batch passes the same context for every record: bind it once, not per record.
        bound = self._bound
        if bound is not None and bound[0] is context:
            return bound[1]
        rows = list(self._rows)
        for position, context_run in self._context_runners:
            target, _, row = rows[position]
            rows[position] = (target, _with_context(context_run, context), row)
        bound_rows = tuple(rows)
        self._bound = (context, bound_rows)
        return bound_rows

    def apply(self, fields: Mapping[str, Any], context: ApplyContext | None = None) -> MappedRecord:
        """Map one source record; problems become `.errors`/`.dropped`, never exceptions.

        `context` gives transforms such as lookup_link the ports they need.
        """
        values: dict[str, Any] = {}
        dropped: list[tuple[str, str]] = []
        errors: list[tuple[str, str]] = []
        # The loop below is the hot path of every sync (tens of thousands of records a
        # second), which is why it is written out here and not shared with `trace`.
        for target, run, row in self._rows if context is None else self._rows_for(context):
            try:
                value = run(fields)
            except DropValue as exc:
                dropped.append((target, exc.message))
                continue
            except TransformError as exc:
                errors.append((target, exc.message))
                continue
            except JMESPathError as exc:
                errors.append((target, f"couldn't read the source field: {first_line(exc)}"))
                continue
            except Exception as exc:  # one malformed record must not stop the whole batch
                errors.append((target, f"internal error in {row.names}: {type(exc).__name__}: {exc}"))
                continue
            # is_empty() inlined (exact types only): this check runs for every field of every record.
            kind = value.__class__
            if (
                value is None
                or (kind is str and (not value or value.isspace()))
                or ((kind is list or kind is dict or kind is tuple) and not value)
            ):
                if row.clear:
                    values[target] = None
                else:
                    dropped.append((target, _empty_reason(row, fields)))
                continue
            values[target] = value
        return MappedRecord(values, dropped, errors)

    def apply_many(
        self, records: Sequence[Mapping[str, Any]], context: ApplyContext | None = None
    ) -> list[MappedRecord]:
        """`[self.apply(fields, context) for fields in records]`, computed a row at a time.

        Each row's transforms run over the whole batch in one pass (text methods in C where the
        values are all text), so a batch costs far less per record than `apply` does; a row that
        raises for some record runs again record by record, with `apply`'s outcome for each.
        """
        rows = self._rows if context is None else self._rows_for(context)
        if len(records) < 2 or not rows:
            return [self.apply(fields, context) for fields in records]
        columns: list[list[Any]] = []
        # Per record (by index), the rows (by position) whose value is empty or failed, in row order.
        fixes: dict[int, list[int]] = {}
        for position, (_, run, row) in enumerate(rows):
            values: list[Any] | None = None
            if row.column is not None:
                try:
                    values = row.column(records)
                except Exception:  # some record fails this row: see which, and why, one at a time
                    values = None
            if values is None:
                values = [_run_row(run, row, fields) for fields in records]
                for index, value in enumerate(values):
                    if value.__class__ is _Failed:
                        fixes.setdefault(index, []).append(position)
            for index in _empty_positions(values):
                fixes.setdefault(index, []).append(position)
            columns.append(values)
        targets = self.targets
        mapped = [
            MappedRecord(dict(zip(targets, values, strict=True)), [], [])
            for values in zip(*columns, strict=True)
        ]
        for index, positions in fixes.items():
            record, fields = mapped[index], records[index]
            for position in positions:
                target, row = targets[position], rows[position][2]
                value = columns[position][index]
                if value.__class__ is _Failed:
                    del record.values[target]
                    (record.dropped if value.dropped else record.errors).append((target, value.message))
                elif row.clear:
                    record.values[target] = None
                else:
                    del record.values[target]
                    record.dropped.append((target, _empty_reason(row, fields)))
        return mapped

    def trace(self, fields: Mapping[str, Any], context: ApplyContext | None = None) -> list[RowTrace]:
        """Map one record row by row, keeping what each row read; slower than `apply`."""
        traces = []
        for target, run, row in self._rows_for(context):
            try:
                source = row.read(fields)
            except Exception:  # the row's own run reports the read error below
                source = None
            traces.append(_trace_row(target, run, row, fields, source))
        return traces


def _trace_row(
    target: str, run: Reader, row: _CompiledRow, fields: Mapping[str, Any], source: Any
) -> RowTrace:
    value = _run_row(run, row, fields)
    if value.__class__ is _Failed:
        return RowTrace(target, source, "dropped" if value.dropped else "error", message=value.message)
    if is_empty(value):
        if row.clear:
            return RowTrace(target, source, "cleared", None, "empty, so the target field is cleared")
        return RowTrace(target, source, "dropped", message=_empty_reason(row, fields))
    return RowTrace(target, source, "mapped", value)


def _empty_reason(row: _CompiledRow, fields: Mapping[str, Any]) -> str:
    try:
        source_empty = _source_is_empty(row.read, fields, row.several)
    except Exception:  # the same read just succeeded; this only guards the message
        source_empty = True
    return "empty in source" if source_empty else "empty after transforms"


def _source_fields(rows: list[RowSpec]) -> set[str]:
    """Top-level source fields the mapping reads, so a connector can ask for just those."""
    names: set[str] = set()
    for row in rows:
        for source in row.sources:
            root = path_root(source) if source.startswith(_PATH_PREFIX) else source
            if root:
                names.add(root)
        for spec, args in row.transforms:
            if spec.name == "format":
                names.update(template_fields(args["template"]))
    return names


# ---------------------------------------------------------------------------------------------
# Checking a spec against the two systems' schemas
# ---------------------------------------------------------------------------------------------

_KIND_OF_TYPE: dict[str, str] = {
    "string": "text",
    "email": "text",
    "phone": "text",
    "enumeration": "text",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "json": "any",
}
_TEXTUAL = frozenset({"text", "any", "date", "datetime"})
# Target field type -> the value kinds that fit it, and the transform that converts the rest.
_FITS: dict[str, tuple[frozenset[str], str]] = {
    "string": (_TEXTUAL, "to_string"),
    "email": (_TEXTUAL, "to_string"),
    "phone": (_TEXTUAL, "to_string"),
    "enumeration": (frozenset({"text", "any"}), "value_map"),
    "number": (frozenset({"number", "integer", "any"}), "to_number"),
    "boolean": (frozenset({"boolean", "any"}), "to_boolean"),
    "date": (frozenset({"date", "any"}), "to_date"),
    "datetime": (frozenset({"datetime", "date", "any"}), "to_datetime"),
}
_KIND_NAMES = {
    "text": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "yes/no",
    "date": "a date",
    "datetime": "a date and time",
    "list": "several values",
}


def validate_against_schemas(
    spec: Any, source_schema: ObjectSchema, target_schema: ObjectSchema
) -> list[Issue]:
    """Everything the mapping editor should show: spec errors, then schema errors and warnings."""
    rows, issues = parse_spec(spec)
    for row in rows:
        issues.extend(_source_issues(row, source_schema))
        target = target_schema.field(row.target)
        if target is None:
            issues.append(_issue("error", row, f"'{row.target}' is not a field of {target_schema.label}"))
            continue
        if target.read_only:
            issues.append(_issue("error", row, f"'{target.label}' is read-only in {target_schema.label}"))
            continue
        issues.extend(_type_issues(row, source_schema, target))
    mapped = {row.target for row in rows}
    for target in target_schema.fields:
        if target.required and not target.read_only and target.name not in mapped:
            message = f"'{target.label}' ({target.name}) is required by {target_schema.label} but not mapped"
            issues.append(Issue("error", message, None, target.name))
    return issues


def _issue(level: Literal["error", "warning"], row: RowSpec, message: str) -> Issue:
    return Issue(level, f"{row.label}: {message}", row.index, row.target)


def _source_issues(row: RowSpec, schema: ObjectSchema) -> list[Issue]:
    issues = []
    template_names = [
        name
        for spec, args in row.transforms
        if spec.name == "format"
        for name in template_fields(args["template"])
    ]
    for name in [*row.sources, *template_names]:
        if not name.startswith(_PATH_PREFIX):
            if schema.field(name) is None:
                issues.append(_issue("error", row, f"'{name}' is not a field of {schema.label}"))
            continue
        # A path may reach into data the schema doesn't describe, so this is only a hint.
        root = path_root(name)
        if root is not None and schema.field(root) is None:
            issues.append(
                _issue("warning", row, f"'{name}' starts at '{root}', which {schema.label} doesn't list")
            )
    return issues


def _produced_kind(row: RowSpec, schema: ObjectSchema) -> str:
    kind = "any"
    if len(row.sources) > 1:
        kind = "list"
    elif row.sources and not row.sources[0].startswith(_PATH_PREFIX):
        source = schema.field(row.sources[0])
        kind = _KIND_OF_TYPE.get(source.type, "any") if source else "any"
    for spec, args in row.transforms:
        if spec.name == "value_map":
            kind = _kind_of_values(list(args["map"].values()))
        elif spec.output != "same":
            kind = spec.output
    return kind


def _kind_of_values(values: list[Any]) -> str:
    kinds = {
        "boolean" if isinstance(v, bool) else "number" if isinstance(v, int | float) else "text"
        for v in values
        if v is not None
    }
    return kinds.pop() if len(kinds) == 1 else "any"


def _type_issues(row: RowSpec, source_schema: ObjectSchema, target: FieldSchema) -> list[Issue]:
    issues = []
    kind = _produced_kind(row, source_schema)
    fits, suggestion = _FITS.get(target.type, (None, ""))
    if fits is not None and kind not in fits:
        issues.append(
            _issue(
                "warning",
                row,
                f"this sends {_KIND_NAMES.get(kind, kind)} to '{target.label}',"
                f" which is a {target.type} field; add '{suggestion}' to convert it",
            )
        )
    if target.type == "enumeration" and target.options:
        allowed = {option.value for option in target.options}
        sent = _enumeration_values(row, source_schema)
        unknown = sorted(str(value) for value in sent if str(value) not in allowed)
        if unknown:
            issues.append(
                _issue(
                    "warning",
                    row,
                    f"{', '.join(unknown[:5])} {'is' if len(unknown) == 1 else 'are'} not an option of"
                    f" '{target.label}'; add or fix a 'value_map'",
                )
            )
    return issues


def _enumeration_values(row: RowSpec, schema: ObjectSchema) -> list[Any]:
    """The values a row can send to a picklist, when they are knowable up front."""
    maps = [args for spec, args in row.transforms if spec.name == "value_map"]
    if maps:
        return [value for value in maps[-1]["map"].values() if value is not None]
    if len(row.sources) == 1 and not row.transforms:
        source = schema.field(row.sources[0])
        if source is not None:
            return [option.value for option in source.options]
    return []
