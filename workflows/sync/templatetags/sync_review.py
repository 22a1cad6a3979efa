"""The review queue's size, for the dashboard, without touching the dashboard's view."""

from __future__ import annotations

from typing import Any

from django import template

from workflows.sync.selectors import review_queue_size as queue_size

register = template.Library()


@register.simple_tag(takes_context=True)
def review_queue_size(context: dict[str, Any]) -> int:
    """Open conflicts and duplicate holds of the signed-in member's team (0 without a team)."""
    membership = context.get("membership")
    if membership is None:
        return 0
    return queue_size(team=membership.team)
