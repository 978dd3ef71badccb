"""Charts as inline SVG strings built in Python.

The report must render anywhere (a browser offline, a mail client, an archived artifact), so charts
are drawn here rather than by a charting library from a CDN. Every text that reaches the markup goes
through `html.escape`; colours come from CSS classes so that the page's single style sheet (pinned
by hash in its Content-Security-Policy) styles everything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

FONT_PX = 12
BAR_PX = 14
BAR_GAP_PX = 3
GROUP_GAP_PX = 10


@dataclass(frozen=True)
class Series:
    """One data series of a chart: its legend name and the CSS class that colours its bars."""

    name: str
    css: str


@dataclass(frozen=True)
class Bar:
    """One bar of a distribution panel: label, count and kind (value, other or suppressed)."""

    label: str
    count: int
    kind: str = "value"


def percent(x: float) -> str:
    """A share as a percentage with two decimals: risk figures are compared at that precision."""
    return f"{100.0 * x:.2f}%"


def _n(x: float) -> str:
    """Coordinates with one decimal: short markup, sub-pixel precision is useless."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def clip_text(text: str, limit: int) -> str:
    """Shorten a label to fit its column (before escaping, so no entity is ever cut)."""
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


def _open(width: float, height: float, title: str, kind: str) -> list[str]:
    t = escape(title)
    return [
        f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{t}" '
        f'width="{_n(width)}" height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}">',
        f"<title>{t}</title>",
    ]


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts: list[str] = []
    for s in series:
        parts.append(f'<rect class="{escape(s.css)}" x="{_n(x)}" y="{_n(y - 9)}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{_n(x + 14)}" y="{_n(y)}">{escape(s.name)}</text>')
        x += 24 + 7 * len(s.name)
    return parts


def hbar_chart(
    rows: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[Series],
    *,
    title: str,
    maximum: float = 1.0,
    value_fmt: Callable[[float], str] = percent,
    tick_fmt: Callable[[float], str] = lambda x: f"{100 * x:.0f}%",
    width: float = 620,
    label_width: float = 210,
) -> str:
    """Horizontal grouped bars on a 0…maximum axis (risk and utility figures are all in [0, 1])."""
    value_room = 64.0
    plot_w = width - label_width - value_room
    top = 30.0 if len(series) > 1 else 14.0
    group_h = len(series) * (BAR_PX + BAR_GAP_PX) - BAR_GAP_PX
    height = top + len(rows) * (group_h + GROUP_GAP_PX) + 18
    parts = _open(width, height, title, "hbar")
    if len(series) > 1:
        parts += _legend(series, label_width, 14)
    axis_bottom = height - 16
    for i in range(5):
        x = label_width + plot_w * i / 4
        parts.append(f'<line class="grid" x1="{_n(x)}" y1="{_n(top - 4)}" x2="{_n(x)}" y2="{_n(axis_bottom)}"/>')
        parts.append(f'<text class="tick" x="{_n(x)}" y="{_n(height - 4)}">{escape(tick_fmt(maximum * i / 4))}'
                     "</text>")
    y = top
    for label, values in rows:
        mid = y + group_h / 2 + FONT_PX / 2 - 2
        parts.append(f'<text class="label" x="{_n(label_width - 8)}" y="{_n(mid)}">'
                     f"<title>{escape(label)}</title>{escape(clip_text(label, 30))}</text>")
        for s, value in zip(series, values, strict=True):
            if value is None:
                parts.append(f'<text class="value na" x="{_n(label_width + 4)}" y="{_n(y + BAR_PX - 3)}">'
                             "not reported</text>")
            else:
                share = min(max(value / maximum, 0.0), 1.0) if maximum > 0 else 0.0
                w = max(plot_w * share, 1.0)
                tip = f"{s.name}: {label} = {value_fmt(value)}" if len(series) > 1 else f"{label} = {value_fmt(value)}"
                parts.append(f'<rect class="bar {escape(s.css)}" x="{_n(label_width)}" y="{_n(y)}" width="{_n(w)}" '
                             f'height="{BAR_PX}"><title>{escape(tip)}</title></rect>')
                parts.append(f'<text class="value" x="{_n(label_width + w + 4)}" y="{_n(y + BAR_PX - 3)}">'
                             f"{escape(value_fmt(value))}</text>")
            y += BAR_PX + BAR_GAP_PX
        y += GROUP_GAP_PX - BAR_GAP_PX
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    categories: Sequence[tuple[str, str]],
    values: Sequence[Sequence[float]],
    series: Sequence[Series],
    *,
    title: str,
    x_title: str,
    width: float = 620,
    height: float = 260,
) -> str:
    """Vertical grouped columns of shares (0–100 %), one group per category; a histogram look for
    the distribution of records by risk. ``categories`` are (first line, second line) labels."""
    left, right, top, bottom = 48.0, 10.0, 30.0, 58.0
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = _open(width, height, title, "columns")
    parts += _legend(series, left, 14)
    for i in range(5):
        y = top + plot_h * (1 - i / 4)
        parts.append(f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(left + plot_w)}" y2="{_n(y)}"/>')
        parts.append(f'<text class="tick end" x="{_n(left - 4)}" y="{_n(y + 4)}">{25 * i}%</text>')
    slot = plot_w / max(len(categories), 1)
    bar_w = min(28.0, (slot - 8) / max(len(series), 1))
    for c, (line1, line2) in enumerate(categories):
        x0 = left + c * slot + (slot - bar_w * len(series)) / 2
        for s_index, s in enumerate(series):
            share = min(max(values[s_index][c], 0.0), 1.0)
            h = plot_h * share
            x = x0 + s_index * bar_w
            tip = f"{s.name}, {line1} ({line2}): {percent(share)} of the records"
            parts.append(f'<rect class="bar {escape(s.css)}" x="{_n(x)}" y="{_n(top + plot_h - h)}" '
                         f'width="{_n(bar_w - 1)}" height="{_n(max(h, 0.5))}"><title>{escape(tip)}</title></rect>')
            if share >= 0.005:
                parts.append(f'<text class="value mid" x="{_n(x + bar_w / 2)}" y="{_n(top + plot_h - h - 3)}">'
                             f"{100 * share:.0f}%</text>")
        cx = left + c * slot + slot / 2
        parts.append(f'<text class="tick" x="{_n(cx)}" y="{_n(top + plot_h + 14)}">{escape(line1)}</text>')
        parts.append(f'<text class="tick sub" x="{_n(cx)}" y="{_n(top + plot_h + 27)}">{escape(line2)}</text>')
    parts.append(f'<text class="axis-title" x="{_n(left + plot_w / 2)}" y="{_n(height - 8)}">'
                 f"{escape(x_title)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def distribution_chart(
    name: str,
    panels: Sequence[tuple[Series, int, Sequence[Bar]]],
    *,
    width: float = 560,
) -> str:
    """Side-by-side horizontal bar panels (source | target) of one attribute's value shares.

    Each panel is (series, total count, bars); bar lengths are shares of that panel's total so the
    two sides compare even when suppressed rows were dropped from the target.
    """
    gap = 16.0
    panel_w = (width - gap * (len(panels) - 1)) / max(len(panels), 1)
    label_w = panel_w * 0.42
    value_room = 46.0
    row_h = BAR_PX + 2
    rows = max((len(bars) for _, _, bars in panels), default=0)
    height = 22 + max(rows, 1) * row_h + 4
    parts = _open(width, height, f"Distribution of {name}: source vs target", "dist")
    for p, (series, total, bars) in enumerate(panels):
        x0 = p * (panel_w + gap)
        parts.append(f'<text class="panel-title" x="{_n(x0)}" y="13">{escape(series.name)}</text>')
        bar_x, plot_w = x0 + label_w, panel_w - label_w - value_room
        if not bars:
            parts.append(f'<text class="value na" x="{_n(x0)}" y="34">no values reported</text>')
        for r, bar in enumerate(bars):
            y = 22 + r * row_h
            share = bar.count / total if total > 0 else 0.0
            w = max(plot_w * min(share, 1.0), 1.0)
            css = {"other": "other", "suppressed": "suppressed"}.get(bar.kind, series.css)
            tip = f"{series.name}: {bar.label}: {bar.count:,} records ({percent(share)})"
            parts.append(f'<text class="label small" x="{_n(bar_x - 4)}" y="{_n(y + BAR_PX - 3)}">'
                         f"{escape(clip_text(bar.label, max(int(label_w / 6.9), 4)))}</text>")
            parts.append(f'<rect class="bar {css}" x="{_n(bar_x)}" y="{_n(y)}" width="{_n(w)}" height="{BAR_PX}">'
                         f"<title>{escape(tip)}</title></rect>")
            parts.append(f'<text class="value" x="{_n(bar_x + w + 3)}" y="{_n(y + BAR_PX - 3)}">'
                         f"{100 * share:.1f}%</text>")
    parts.append("</svg>")
    return "".join(parts)
