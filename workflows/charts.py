"""Line charts as plain numbers for an inline SVG template: no JavaScript, no chart library.

`line_chart` scales the series into the SVG's coordinate box and returns the polyline points, tick labels
and the values again as rows, so the page can show the same numbers as a table for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 640
HEIGHT = 200
# Room for the y labels on the left and the x labels below.
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Line:
    name: str
    css_class: str
    points: str
    dots: tuple[tuple[float, float, str], ...]


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    lines: tuple[Line, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str], ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    names: tuple[str, ...]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def empty(self) -> bool:
        return not any(line.dots for line in self.lines)

    @property
    def plot_left(self) -> int:
        return _LEFT

    @property
    def plot_right(self) -> int:
        return self.width - _RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - _BOTTOM


def _format(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%"
    if unit == "s" and value >= 120:
        return f"{value / 60:.0f} min"
    return f"{value:.1f} {unit}".strip() if value < 10 else f"{value:.0f} {unit}".strip()


def line_chart(
    title: str,
    labels: list[str],
    series: dict[str, list[float | None]],
    *,
    unit: str,
    classes: tuple[str, ...] = ("line-a", "line-b"),
) -> Chart:
    """Scale `series` (one value per label, None for a gap) to the chart box; y starts at 0."""
    values = [v for points in series.values() for v in points if v is not None]
    top = max(values, default=0.0) or 1.0
    top = top * 1.1
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    step = plot_w / max(len(labels) - 1, 1)

    def x(index: int) -> float:
        return round(_LEFT + (index * step if len(labels) > 1 else plot_w / 2), 1)

    def y(value: float) -> float:
        return round(_TOP + plot_h - (value / top) * plot_h, 1)

    lines = []
    for (name, points), css_class in zip(series.items(), classes, strict=False):
        dots = tuple(
            (x(i), y(value), f"{labels[i]}: {_format(value, unit)}")
            for i, value in enumerate(points)
            if value is not None
        )
        lines.append(Line(name, css_class, " ".join(f"{px},{py}" for px, py, _ in dots), dots))
    ticks = tuple((y(top * f / 1.1), _format(top * f / 1.1, unit)) for f in (0.0, 0.55, 1.1))
    # At most about six x labels, so they never overlap on a phone.
    every = max(1, len(labels) // 6)
    x_labels = tuple((x(i), label) for i, label in enumerate(labels) if i % every == 0)
    rows = tuple(
        (
            label,
            tuple(
                "—" if points[i] is None else _format(points[i] or 0.0, unit) for points in series.values()
            ),
        )
        for i, label in enumerate(labels)
    )
    return Chart(title, unit, tuple(lines), ticks, x_labels, rows, tuple(series))
