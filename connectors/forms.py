"""The connection form, built from the connector's config model and the secrets the connection needs.

Each setting of the connector's pydantic config model becomes a field of the matching kind (text,
number, yes/no, a choice, a multi-line text for a manifest); a setting marked
`json_schema_extra={"form_widget": "none"}` is left out (e.g. a base URL a connector does not use).
The whole config is validated by the model itself, and each error is shown next to its field.

Secrets are the provider's fixed credential fields, or for a manifest the secrets its `auth` names.
They are write-only: the inputs never render a stored value, and a blank input keeps the stored one.
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from collections.abc import Collection, Iterator, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from annotated_types import Ge, Le
from django import forms
from django.conf import settings
from django.http import QueryDict
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from connectors.base import ConnectionSettings, ConnectorError, Provider
from connectors.http import forbidden_reason

# Form field names of secrets a manifest names (any text) get this prefix, so they never collide with
# a setting ("name", "manifest").
SECRET_PREFIX = "secret__"  # noqa: S105 - a field name prefix, not a secret
_NUMERIC_HOST = frozenset("0123456789abcdefxABCDEFX.")


def inward_reason(url: str) -> str | None:
    """Why `url` points inside the network (loopback, private, metadata...), judged from the URL alone.

    Catches the addresses typed as addresses (any spelling the resolver accepts: 2130706433,
    0177.0.0.1, [::ffff:127.0.0.1]) and localhost, unless an administrator allowed the host in
    HUB_HTTP_ALLOWED_PRIVATE_HOSTS. Names that resolve inward are refused by the HTTP layer's guard
    when a request is made, which also re-checks every redirect.
    """
    host = (urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    if not host:
        return None
    address = _literal_address(host)
    if address is not None and forbidden_reason(address) == "cloud metadata":
        return "cloud metadata"
    allowed = {h.strip().lower().rstrip(".") for h in settings.HUB_HTTP_ALLOWED_PRIVATE_HOSTS if h.strip()}
    if host in allowed:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    return forbidden_reason(address) if address is not None else None


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if set(host) <= _NUMERIC_HOST:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def inward_message(reason: str) -> str:
    return (
        f"This URL points at a {reason} address, which connections may not reach. Use the system's "
        "public address, or ask an administrator to allow the host in HUB_HTTP_ALLOWED_PRIVATE_HOSTS."
    )


def _widget_hint(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, Mapping):
        hint = extra.get("form_widget")
        if isinstance(hint, str):
            return hint
    return ""


def _label(name: str, info: FieldInfo) -> str:
    return info.title or name.replace("_", " ").capitalize()


def _is_url_setting(name: str) -> bool:
    return name == "base_url" or name.endswith("_url")


def _form_field(name: str, info: FieldInfo) -> forms.Field:
    """The form field for one config setting, by its type."""
    annotation = info.annotation
    required = info.is_required()
    initial = None if required or info.default_factory is not None else info.default
    common: dict[str, Any] = {
        "label": _label(name, info),
        "help_text": info.description or "",
        "required": required,
    }
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if annotation is bool:
        return forms.BooleanField(**{**common, "required": False}, initial=initial)
    if annotation is int:
        low = next((m.ge for m in info.metadata if isinstance(m, Ge)), None)
        high = next((m.le for m in info.metadata if isinstance(m, Le)), None)
        return forms.IntegerField(**common, initial=initial, min_value=low, max_value=high)  # type: ignore[arg-type]
    if typing.get_origin(annotation) is Literal:
        choices = [(str(value), str(value)) for value in typing.get_args(annotation)]
        return forms.ChoiceField(**common, initial=initial, choices=choices)
    if typing.get_origin(annotation) is dict:
        # Typed as "key:value, key:value"; the config model parses the text (e.g. CSV column types).
        return forms.CharField(**common, initial=_dict_text(initial))
    widget: forms.Widget | None = None
    hint = _widget_hint(info)
    if hint == "textarea":
        widget = forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"})
    elif _is_url_setting(name):
        widget = forms.URLInput(attrs={"placeholder": "https://", "inputmode": "url"})
    if args and annotation is not str:
        # Optional text (str | None): blank means "not set".
        common["required"] = False
    return forms.CharField(**common, initial=initial, widget=widget, strip=hint != "textarea")


def _dict_text(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ", ".join(f"{key}:{item}" for key, item in value.items())
    return value


def initial_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config as the form's initial values (mappings shown the way they are typed)."""
    return {name: _dict_text(value) for name, value in config.items()}


def _pydantic_message(error: Mapping[str, Any]) -> list[str]:
    cause = (error.get("ctx") or {}).get("error")
    messages = getattr(cause, "messages", None)
    if isinstance(messages, list) and messages:
        # A manifest reports every problem, each naming its key: one line each.
        return [str(message) for message in messages]
    message = str(error.get("msg", ""))
    return [message.removeprefix("Value error, ")]


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=120)

    def __init__(
        self,
        provider: type[Provider],
        *args: Any,
        editing: bool = False,
        stored_secrets: Collection[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.editing = editing
        self.config_names: list[str] = []
        # form field name -> secret name
        self.secret_fields: dict[str, str] = {}
        for name, info in provider.config_model.model_fields.items():
            if _widget_hint(info) == "none":
                continue
            self.fields[name] = _form_field(name, info)
            self.config_names.append(name)
        for secret in provider.secret_names(self._raw_config()):
            self._add_secret(secret, stored=secret in stored_secrets)

    # -- building ----------------------------------------------------------------------------------

    def _raw_config(self) -> dict[str, Any]:
        """The settings as submitted (or, unbound, as initially shown): enough to name the secrets."""
        source: Mapping[str, Any] = self.data if self.is_bound else self.initial
        return {name: source.get(name) for name in self.config_names if source.get(name) not in (None, "")}

    def _add_secret(self, secret: str, *, stored: bool) -> None:
        field_name = secret if secret in self.provider.credential_fields else f"{SECRET_PREFIX}{secret}"
        fixed = secret in self.provider.credential_fields
        label = secret.replace("_", " ").capitalize() if fixed else secret
        keep = self.editing and stored
        if keep:
            help_text = "Stored encrypted. Leave blank to keep the stored value."
        elif fixed:
            help_text = "Stored encrypted and never shown again."
        else:
            help_text = "Named by the manifest's auth. Stored encrypted and never shown again."
        self.fields[field_name] = forms.CharField(
            label=label,
            # Stored secrets are never sent back to the browser; blank keeps the stored value.
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            required=not keep,
            strip=False,
            help_text=help_text,
            error_messages={
                "required": "This secret is required."
                if fixed
                else f"The manifest's auth names the secret {secret!r}: enter its value."
            },
        )
        self.secret_fields[field_name] = secret

    # -- for the template ----------------------------------------------------------------------------

    def setting_fields(self) -> Iterator[forms.BoundField]:
        for name in ["name", *self.config_names]:
            yield self[name]

    def secret_bound_fields(self) -> Iterator[forms.BoundField]:
        for name in self.secret_fields:
            yield self[name]

    # -- validation ----------------------------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if any(name in self.errors for name in self.config_names):
            return cleaned
        try:
            validated = self.provider.config_model.model_validate(self.config())
        except ValidationError as exc:
            for error in exc.errors():
                location = error["loc"]
                field = str(location[0]) if location else None
                for message in _pydantic_message(error):
                    self.add_error(field if field in self.fields else None, message)
            return cleaned
        for name in self.config_names:
            value = getattr(validated, name, None)
            if isinstance(value, dict):
                # Typed as text ("age:number, vip:boolean"), stored as the mapping the model parsed.
                cleaned[name] = value
            if _is_url_setting(name) and isinstance(value, str) and value:
                reason = inward_reason(value)
                if reason is not None:
                    self.add_error(name, inward_message(reason))
        manifest_url = self._manifest_base_url(validated)
        if manifest_url and not cleaned.get("base_url"):
            reason = inward_reason(manifest_url)
            if reason is not None and "manifest" in self.fields:
                self.add_error("manifest", f"base_url: {inward_message(reason)}")
        return cleaned

    @staticmethod
    def _manifest_base_url(validated: Any) -> str:
        text = getattr(validated, "manifest", None)
        if not isinstance(text, str):
            return ""
        from connectors.providers.rest_manifest.manifest import ManifestError, parse_manifest

        try:
            return parse_manifest(text).base_url
        except ManifestError:
            return ""

    def check(self) -> dict[str, str] | None:
        """Validate the settings without saving, as a "check" button does: secrets left blank are not
        errors yet (a manifest names them, so they are only asked for now). Returns the objects the
        settings declare when they are valid, else None (the errors are on the form)."""
        self.is_valid()
        for field_name in self.secret_fields:
            if not self.data.get(field_name):
                self.errors.pop(field_name, None)
        if self.errors:
            return None
        return self.provider.objects_for(self.config())

    def discover(self, stored_credentials: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        """Fill in the settings the system can tell itself (the provider's `discover_config`), read with
        the secrets typed in (or those stored, when editing). The form then shows them for a person to
        review and save. Returns them, or None when the settings or the call failed (errors on the form)."""
        self.is_valid()
        for field_name in self.secret_fields:
            if not self.data.get(field_name):
                self.errors.pop(field_name, None)
        if self.errors:
            return None
        typed = {name: value for name, value in self.credentials().items() if value}
        connection = ConnectionSettings(
            connection_id=None, config=self.config(), credentials={**(stored_credentials or {}), **typed}
        )
        try:
            found = self.provider.discover_config(connection)
        except ConnectorError as exc:
            self.add_error(None, exc.message)
            return None
        # A copy (the request's data is immutable), mutable whether it came from a request or a dict.
        data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        for name, value in found.items():
            if name in self.config_names:
                data[name] = _dict_text(value)
        self.data = data
        return found

    def field_for(self, key: str) -> str | None:
        """The form field a service error names (a setting or a secret), or None for the whole form."""
        if key in self.fields:
            return key
        prefixed = f"{SECRET_PREFIX}{key}"
        return prefixed if prefixed in self.fields else None

    # -- results -----------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            name: self.cleaned_data[name]
            for name in self.config_names
            if self.cleaned_data.get(name) not in (None, "", {})
        }

    def credentials(self) -> dict[str, str]:
        return {
            secret: self.cleaned_data.get(field_name) or ""
            for field_name, secret in self.secret_fields.items()
        }
