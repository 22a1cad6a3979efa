"""The workflow builder's form: the posted fields read into a Draft, and a Draft turned into service input.

The builder posts one form whose rows are added and removed in the browser, so a Django Form with fixed
fields does not fit: every row has its own key and the keys are posted in order (`row`, `r-<key>-...`).
A Draft is the whole editor state, whether read from a post, from a saved workflow or from a template;
the page is always rendered from a Draft, so what the person typed survives every validation error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from workflows.builder_schema import coerce_for
from workflows.builder_steps import (
    ConditionDraft,
    StepDraft,
    drafts_from_json,
    drafts_from_post,
    new_key,
    steps_from_drafts,
)
from workflows.engine.conditions import OPERATORS
from workflows.engine.transforms import TRANSFORMS, TransformSpec
from workflows.models import Workflow

# Interval choices for a poll or an interval schedule; a saved value that is not listed is added.
POLL_CHOICES = (30, 60, 120, 300, 600, 900, 1800, 3600, 21600, 86400)
MIN_POLL_SECONDS = 5
TRIGGER_LABELS = {
    Workflow.Trigger.WEBHOOK: "real-time (webhook)",
    Workflow.Trigger.POLL: "near-real-time (polling)",
    Workflow.Trigger.SCHEDULE: "batched (schedule)",
    Workflow.Trigger.FILE: "batched (CSV file upload)",
    Workflow.Trigger.MANUAL: "manual (run now only)",
}
# Triggers that read from a source connection (the others take what is sent to the hub).
READING_TRIGGERS = frozenset({Workflow.Trigger.POLL, Workflow.Trigger.SCHEDULE, Workflow.Trigger.MANUAL})
# The one action step a builder-made filtered workflow has; any other shape of steps is kept as it is.
WRITE_STEP_ID = "write"


@dataclass
class TransformDraft:
    key: str
    name: str
    # Each argument as typed ("on" for a ticked box); the value map's rows as (from, to) text pairs.
    raw: dict[str, str] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    # Settings the saved spec spelled out even at their default: written back, so a save changes nothing.
    explicit: set[str] = field(default_factory=set)

    @property
    def spec(self) -> TransformSpec | None:
        return TRANSFORMS.get(self.name)


@dataclass
class RowDraft:
    key: str
    sources: list[str] = field(default_factory=list)
    target: str = ""
    empty: str = "keep"
    transforms: list[TransformDraft] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Why the builder suggested this row ("same label"); empty for rows a person made.
    suggested: str = ""

    @property
    def blank(self) -> bool:
        return not self.target and not self.sources and not self.transforms


@dataclass
class Draft:
    name: str = ""
    description: str = ""
    trigger: str = Workflow.Trigger.POLL
    source_connection_id: int | None = None
    source_object: str = ""
    target_connection_id: int | None = None
    target_object: str = ""
    poll_interval_seconds: int = 300
    schedule_cron: str = ""
    start_from: str = Workflow.StartFrom.EVERYTHING
    match_field: str = "email"
    rows: list[RowDraft] = field(default_factory=list)
    conjunction: str = "all"
    conditions: list[ConditionDraft] = field(default_factory=list)
    # A multi-step workflow (lookups, branches, several actions, messages...) instead of one mapping:
    # `steps` is its definition, `step_drafts` the step list editor's rows for it.
    multi_step: bool = False
    steps: list[Any] = field(default_factory=list)
    step_drafts: list[StepDraft] = field(default_factory=list)
    # "json": the steps were posted from the advanced JSON box, not from the step list editor.
    steps_mode: str = "editor"
    sample: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def reads_source(self) -> bool:
        return self.trigger in READING_TRIGGERS

    @property
    def filled_rows(self) -> list[RowDraft]:
        return [row for row in self.rows if not row.blank]

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    # -- out -------------------------------------------------------------------------------------

    def mapping_spec(self, target_types: dict[str, str] | None = None) -> dict[str, Any]:
        """The mapping JSON (workflows.engine.mapping); `target_types` coerce typed constants."""
        return self._mapping(target_types or {})[0]

    def mapping_problems(self, target_types: dict[str, str] | None = None) -> dict[str, list[str]]:
        """What the mapping JSON had to leave out, per row key (an unreadable number, a missing setting)."""
        return self._mapping(target_types or {})[1]

    def _mapping(self, types: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        fields = []
        problems: dict[str, list[str]] = {}
        for row in self.filled_rows:
            spec_row: dict[str, Any] = {"target": row.target, "source": list(row.sources)}
            row_problems = problems.setdefault(row.key, [])
            chain = [
                _transform_json(transform, types.get(row.target), row_problems)
                for transform in row.transforms
                if transform.name
            ]
            if chain:
                spec_row["transforms"] = chain
            if row.empty != "keep":
                spec_row["empty"] = row.empty
            fields.append(spec_row)
        return {"fields": fields}, {key: found for key, found in problems.items() if found}

    def condition_tree(self) -> dict[str, Any] | None:
        leaves = []
        for condition in self.conditions:
            if condition.blank:
                continue
            operator = OPERATORS.get(condition.op)
            leaf: dict[str, Any] = {"field": condition.field.strip(), "op": condition.op}
            if operator is not None and operator.value == "list":
                leaf["value"] = [part.strip() for part in condition.value.split(",") if part.strip()]
            elif operator is None or operator.value != "none":
                leaf["value"] = condition.value
            leaves.append(leaf)
        return {self.conjunction: leaves} if leaves else None

    def steps_json(self, mapping: dict[str, Any]) -> list[Any]:
        """The steps to save: the step list, or a filter and the write when there are conditions."""
        if self.multi_step or self.steps:
            return self.steps
        tree = self.condition_tree()
        if tree is None:
            return []
        write: dict[str, Any] = {
            "type": "action",
            "id": WRITE_STEP_ID,
            "connection": self.target_connection_id,
            "object": self.target_object,
            # An upsert needs a field to find the record by; without one a record is created once.
            "operation": "upsert" if self.match_field else "create",
            "mapping": mapping,
        }
        if self.match_field:
            write["match_field"] = self.match_field
        return [{"type": "filter", "condition": tree}, write]

    def sample_record(self) -> tuple[dict[str, Any] | None, str]:
        """The pasted or fetched sample as a record, or why it is not one."""
        if not self.sample.strip():
            return None, "Fetch a record or paste one as JSON first."
        try:
            data = json.loads(self.sample)
        except json.JSONDecodeError as exc:
            return None, f"The sample is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        if not isinstance(data, dict):
            return None, 'The sample must be one record: a JSON object such as {"email": "ada@example.com"}.'
        return data, ""


def _transform_json(transform: TransformDraft, target_type: str | None, errors: list[str]) -> dict[str, Any]:
    spec = transform.spec
    if spec is None:
        errors.append(f"There is no transform called {transform.name!r}.")
        return {"name": transform.name}
    args: dict[str, Any] = {}
    for arg in spec.args:
        if arg.type == "mapping":
            args[arg.name] = {
                source: coerce_for(target_type, target)
                for source, target in transform.pairs
                if source.strip() and target.strip()
            }
            continue
        raw = transform.raw.get(arg.name, "")
        value: Any
        if arg.type == "boolean":
            value = raw == "on"
        elif raw == "":
            if arg.required:
                errors.append(f"{spec.label}: fill in “{arg.label}”.")
            continue
        elif arg.type == "integer":
            try:
                value = int(raw)
            except ValueError:
                errors.append(f"{spec.label}: “{arg.label}” must be a whole number.")
                continue
        elif arg.type == "text_list":
            value = [line.strip() for line in raw.splitlines() if line.strip()]
        elif arg.name == "connection":
            value = int(raw) if raw.isdigit() else raw
        elif arg.type == "any":
            value = coerce_for(target_type, raw)
        else:
            value = raw
        default = list(arg.default) if isinstance(arg.default, tuple) else arg.default
        # Settings left at their default are not written, so versions differ only where a person chose.
        if value != default or arg.required or arg.name in transform.explicit:
            args[arg.name] = value
    return {"name": spec.name, "args": args} if args else {"name": spec.name}


# ---------------------------------------------------------------------------------------------
# In: a post
# ---------------------------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def draft_from_post(data: QueryDict) -> Draft:
    """Everything the builder form posted; unknown or malformed parts are left out, never guessed."""
    draft = Draft(
        name=data.get("name", "").strip(),
        description=data.get("description", "").strip(),
        trigger=data.get("trigger") or Workflow.Trigger.POLL,
        source_connection_id=_int(data.get("source_connection")),
        source_object=data.get("source_object", "").strip(),
        target_connection_id=_int(data.get("target_connection")),
        target_object=data.get("target_object", "").strip(),
        poll_interval_seconds=_int(data.get("poll_interval_seconds")) or 300,
        schedule_cron=data.get("schedule_cron", "").strip(),
        start_from=data.get("start_from") or Workflow.StartFrom.EVERYTHING,
        match_field=data.get("match_field", "").strip(),
        conjunction="any" if data.get("conjunction") == "any" else "all",
        sample=data.get("sample", ""),
    )
    if draft.trigger not in Workflow.Trigger.values:
        draft.add_error("trigger", "Choose how the workflow starts.")
        draft.trigger = Workflow.Trigger.POLL
    if draft.start_from not in Workflow.StartFrom.values:
        draft.start_from = Workflow.StartFrom.EVERYTHING
    draft.rows = [_row_from_post(data, key) for key in data.getlist("row") if key.isalnum()]
    draft.conditions = [
        ConditionDraft(
            key=key,
            field=data.get(f"c-{key}-field", "").strip(),
            op=data.get(f"c-{key}-op", "equals"),
            value=data.get(f"c-{key}-value", ""),
        )
        for key in data.getlist("condition")
        if key.isalnum()
    ]
    draft.multi_step = data.get("multi_step") == "on"
    if draft.multi_step:
        _steps_from_post(draft, data)
    return draft


def _steps_from_post(draft: Draft, data: QueryDict) -> None:
    """The step list as the editor posted it, or as typed in the advanced JSON box when that is chosen."""
    if data.get("steps_mode") != "json":
        draft.step_drafts = drafts_from_post(data)
        draft.steps = steps_from_drafts(draft.step_drafts)
        return
    draft.steps_mode = "json"
    raw = data.get("steps_json", "")
    try:
        steps = json.loads(raw)
    except json.JSONDecodeError as exc:
        draft.add_error("steps_json", f"This is not valid JSON: {exc.msg} (line {exc.lineno}).")
        steps = None
    if steps is not None and not isinstance(steps, list):
        draft.add_error("steps_json", "The steps are a list: [ {...}, {...} ].")
        steps = None
    if steps is None:
        # Nothing usable was typed: keep the editor's steps, so nothing the person built is lost.
        draft.step_drafts = drafts_from_post(data)
        draft.steps = steps_from_drafts(draft.step_drafts)
        return
    draft.steps = steps
    draft.step_drafts = drafts_from_json(steps)


def _row_from_post(data: QueryDict, key: str) -> RowDraft:
    prefix = f"r-{key}"
    transforms = []
    for t_key in data.getlist(f"{prefix}-t"):
        if not t_key.isalnum():
            continue
        t_prefix = f"{prefix}-t-{t_key}"
        name = data.get(f"{t_prefix}-name", "")
        spec = TRANSFORMS.get(name)
        raw = {}
        if spec is not None:
            raw = {arg.name: data.get(f"{t_prefix}-a-{arg.name}", "") for arg in spec.args}
        pairs = list(zip(data.getlist(f"{t_prefix}-from"), data.getlist(f"{t_prefix}-to"), strict=False))
        explicit = set(data.getlist(f"{t_prefix}-set"))
        transforms.append(TransformDraft(key=t_key, name=name, raw=raw, pairs=pairs, explicit=explicit))
    return RowDraft(
        key=key,
        sources=[s.strip() for s in data.getlist(f"{prefix}-source") if s.strip()],
        target=data.get(f"{prefix}-target", "").strip(),
        empty="clear" if data.get(f"{prefix}-empty") == "clear" else "keep",
        transforms=transforms,
    )


# ---------------------------------------------------------------------------------------------
# In: a saved workflow, or a template's definition
# ---------------------------------------------------------------------------------------------


def rows_from_mapping(mapping: Any) -> list[RowDraft]:
    rows = []
    for raw in (mapping or {}).get("fields") or []:
        if not isinstance(raw, dict):
            continue
        sources = raw.get("source") or []
        rows.append(
            RowDraft(
                key=new_key(),
                sources=[sources] if isinstance(sources, str) else [str(s) for s in sources],
                target=str(raw.get("target") or ""),
                empty=str(raw.get("empty") or "keep"),
                transforms=[
                    transform_from_json(t) for t in raw.get("transforms") or [] if isinstance(t, dict)
                ],
            )
        )
    return rows


def transform_from_json(data: dict[str, Any]) -> TransformDraft:
    name = str(data.get("name") or "")
    args = data.get("args") or {}
    spec = TRANSFORMS.get(name)
    raw: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for arg in spec.args if spec is not None else ():
        value = args.get(arg.name, arg.default)
        if arg.type == "mapping":
            pairs = [(str(k), _text(v)) for k, v in (value or {}).items()]
        elif arg.type == "boolean":
            raw[arg.name] = "on" if value else ""
        elif arg.type == "text_list":
            raw[arg.name] = "\n".join(str(v) for v in value or ())
        else:
            raw[arg.name] = _text(value)
    explicit = {str(name) for name in args if name != "map"} if isinstance(args, dict) else set()
    return TransformDraft(key=new_key(), name=name, raw=raw, pairs=pairs, explicit=explicit)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def draft_from_workflow(workflow: Workflow) -> Draft:
    draft = Draft(
        name=workflow.name,
        description=workflow.description,
        trigger=workflow.trigger,
        source_connection_id=workflow.source_connection_id,
        source_object=workflow.source_object,
        target_connection_id=workflow.target_connection_id,
        target_object=workflow.target_object,
        poll_interval_seconds=workflow.poll_interval_seconds,
        schedule_cron=workflow.schedule_cron,
        start_from=workflow.start_from,
        match_field=workflow.match_field,
        rows=rows_from_mapping(workflow.mapping),
    )
    apply_steps(draft, workflow.steps or [])
    return draft


def apply_steps(draft: Draft, steps: list[Any]) -> None:
    """Read a filter-then-write pair back into the condition editor; keep any other steps untouched."""
    if not steps:
        return
    conditions = _builder_conditions(steps, draft)
    if conditions is None:
        draft.multi_step = True
        draft.steps = steps
        draft.step_drafts = drafts_from_json(steps)
        return
    draft.conjunction, draft.conditions = conditions
    write = steps[1]
    if write.get("mapping"):
        draft.rows = rows_from_mapping(write["mapping"])


def _builder_conditions(steps: list[Any], draft: Draft) -> tuple[str, list[ConditionDraft]] | None:
    """The conditions of steps shaped exactly as `Draft.steps_json` writes them, else None."""
    if len(steps) != 2 or not all(isinstance(step, dict) for step in steps):
        return None
    check, write = steps
    if check.get("type") != "filter" or write.get("type") != "action" or write.get("id") != WRITE_STEP_ID:
        return None
    # A write elsewhere than the workflow's own target (made over the API) is more than the editor shows.
    writes_target = (
        str(write.get("connection")) == str(draft.target_connection_id)
        and write.get("object") == draft.target_object
        and (write.get("match_field") or "") == draft.match_field
    )
    if not writes_target:
        return None
    tree = check.get("condition")
    if not isinstance(tree, dict) or len(tree) != 1:
        return None
    conjunction, leaves = next(iter(tree.items()))
    if conjunction not in ("all", "any") or not isinstance(leaves, list):
        return None
    conditions = []
    for leaf in leaves:
        # A nested group is more than the simple editor shows: keep the steps as they are instead.
        if not isinstance(leaf, dict) or "field" not in leaf:
            return None
        value = leaf.get("value", "")
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else _text(value)
        conditions.append(ConditionDraft(new_key(), str(leaf["field"]), str(leaf.get("op", "equals")), text))
    return conjunction, conditions


def convert_to_steps(draft: Draft, mapping: dict[str, Any]) -> None:
    """Turn the single mapping (and its conditions) into the same workflow as a list of steps."""
    steps: list[Any] = []
    tree = draft.condition_tree()
    if tree is not None:
        steps.append({"type": "filter", "condition": tree})
    write: dict[str, Any] = {
        "type": "action",
        "id": WRITE_STEP_ID,
        "connection": draft.target_connection_id or "",
        "object": draft.target_object,
        "operation": "upsert" if draft.match_field else "create",
    }
    if draft.match_field:
        write["match_field"] = draft.match_field
    write["mapping"] = mapping
    steps.append(write)
    draft.multi_step = True
    draft.steps = steps
    draft.step_drafts = drafts_from_json(steps)
    draft.conditions = []
