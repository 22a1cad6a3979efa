"""Template helpers for "Connect with ..." buttons: which connectors can sign in with OAuth here."""

from __future__ import annotations

from django import template

from connectors.oauth import oauth_available
from connectors.registry import UnknownConnector, choices, get_provider

register = template.Library()


@register.simple_tag
def oauth_connectable() -> list[tuple[str, str]]:
    """(kind, label) of every connector whose OAuth app this installation has configured."""
    return [(kind, label) for kind, label in choices() if oauth_available(kind)]


@register.filter
def oauth_enabled(kind: str) -> bool:
    return oauth_available(kind)


@register.filter
def connector_label(kind: str) -> str:
    try:
        return get_provider(kind).label
    except UnknownConnector:
        # A connection whose connector was removed still renders; it just shows its kind.
        return kind
