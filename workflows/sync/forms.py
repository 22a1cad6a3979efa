"""Forms for the review queue's decisions. Values are typed as text; an empty box means "empty"."""

from __future__ import annotations

from typing import Any

from django import forms

from connectors.models import Connection
from workflows.sync.models import DuplicateHold, SyncConflict


class ConflictDecisionForm(forms.Form):
    choice = forms.ChoiceField(choices=SyncConflict.Choice.choices)
    value = forms.CharField(required=False, max_length=10_000, strip=False)

    def typed_value(self) -> Any:
        if self.cleaned_data["choice"] != SyncConflict.Choice.VALUE:
            return None
        value: str = self.cleaned_data.get("value") or ""
        return value if value.strip() else None


class BulkConflictDecisionForm(ConflictDecisionForm):
    conflicts = forms.TypedMultipleChoiceField(coerce=int, choices=())

    def __init__(self, *args: Any, conflict_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["conflicts"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(pk, str(pk)) for pk in conflict_ids]


class HoldDecisionForm(forms.Form):
    choice = forms.ChoiceField(choices=DuplicateHold.Choice.choices)
    candidate = forms.CharField(required=False, max_length=120)


class SyncTemplateForm(forms.Form):
    """The two connections a sync template runs between, from the team's connections of the right kinds."""

    a_connection = forms.TypedChoiceField(coerce=int, choices=())
    b_connection = forms.TypedChoiceField(coerce=int, choices=())

    def __init__(self, *args: Any, options: dict[str, list[Connection]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = options
        for side in ("a", "b"):
            field = self.fields[f"{side}_connection"]
            assert isinstance(field, forms.TypedChoiceField)
            field.choices = [(c.pk, c.name) for c in options[side]]

    def connection(self, side: str) -> Connection:
        chosen: int = self.cleaned_data[f"{side}_connection"]
        return next(c for c in self.options[side] if c.pk == chosen)
