"""The connection form, built from the connector's config model and credential fields."""

from __future__ import annotations

from typing import Any

from django import forms

from connectors.base import Provider


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=120)

    def __init__(self, provider: type[Provider], *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.config_names: list[str] = []
        for name, info in provider.config_model.model_fields.items():
            self.fields[name] = forms.CharField(
                label=info.title or name.replace("_", " ").capitalize(),
                required=info.is_required(),
                help_text=info.description or "",
                initial=None if info.is_required() else info.default,
            )
            self.config_names.append(name)
        for name in provider.credential_fields:
            self.fields[name] = forms.CharField(
                label=name.replace("_", " ").capitalize(),
                # Stored secrets are never sent back to the browser; blank keeps the stored value.
                widget=forms.PasswordInput(render_value=False),
                required=not editing,
                help_text="Leave blank to keep the stored value." if editing else "",
            )

    def config(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data[name]
            for name in self.config_names
            if self.cleaned_data.get(name) not in (None, "")
        }

    def credentials(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in self.provider.credential_fields}
