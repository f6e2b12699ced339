"""Small bar charts as inline SVG, rendered on the server: no script, no external asset.

Each chart is an ``<svg role="img">`` with a title and a description that states the total
and the peak, so a screen reader gets the same facts; each bar has a ``<title>`` tooltip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH = 288
HEIGHT = 64


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    value: float


def bar_chart(
    chart_id: str, title: str, points: Sequence[Point], fmt: Callable[[float], str] = str
) -> Markup:
    """One bar per point, scaled to the largest; an empty series draws a baseline only."""
    peak = max((p.value for p in points), default=0.0)
    total = sum(p.value for p in points)
    width = WIDTH / max(len(points), 1)
    bars = []
    for index, point in enumerate(points):
        height = 0.0 if peak <= 0 else (HEIGHT - 2) * point.value / peak
        x = index * width
        bars.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - height:.1f}" width="{max(width - 1, 1):.1f}" '
            f'height="{height:.1f}"><title>{escape(point.label)}: {escape(fmt(point.value))}'
            "</title></rect>"
        )
    peak_label = next((p.label for p in points if p.value == peak and peak > 0), None)
    summary = f"total {fmt(total)}" + (
        f", peak {fmt(peak)} at {peak_label}" if peak_label else ", nothing recorded"
    )
    return Markup(  # noqa: S704 (every interpolated text is escaped above and below)
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(summary)}</desc>'
        f'<line x1="0" y1="{HEIGHT - 0.5}" x2="{WIDTH}" y2="{HEIGHT - 0.5}" class="axis"/>'
        + "".join(bars)
        + "</svg>"
    )


__all__ = ["Point", "bar_chart"]
