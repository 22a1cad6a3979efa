"""Template helpers for the hub's pages: links that may not exist yet, run progress, durations."""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from workflows.models import Run
from workflows.run_progress import RunProgress, run_progress

register = template.Library()


@register.simple_tag
def optional_url(*names: str) -> str:
    """The first of `names` that resolves, or "": a page may link a feature that is still being built
    (the review queue) without breaking while it is absent."""
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return ""


@register.simple_tag
def progress_of(run: Run) -> RunProgress | None:
    """The run's progress: set in bulk by the list views (attach_progress), else read for this run."""
    attached: RunProgress | None = getattr(run, "progress", None)
    return attached if attached is not None else run_progress(run)


@register.filter
def seconds(value: float | None) -> str:
    """A duration for people: "0.4 s", "12 s", "3.5 min", "2.0 h"."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min".replace(".0 ", " ")
    return f"{value / 3600:.1f} h".replace(".0 ", " ")


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"
