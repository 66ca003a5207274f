"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` naming every value, so a
screen reader hears the figures; the page puts the same figures in a table beside it. Every
label is escaped here (the result is marked safe for the templates).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_BAR_H, _GAP, _LABEL_W, _VALUE_W, _WIDTH = 20, 6, 100, 40, 340


@dataclass(frozen=True)
class Bar:
    label: str
    value: float


def bars(chart_id: str, title: str, items: list[Bar]) -> Markup:
    """A horizontal bar chart, bars scaled to the largest value (all zero draws empty tracks)."""
    top = max((b.value for b in items), default=0) or 1
    track = _WIDTH - _LABEL_W - _VALUE_W
    height = max(1, len(items)) * (_BAR_H + _GAP)
    desc = "; ".join(f"{b.label}: {_num(b.value)}" for b in items) or "no data"
    parts = [f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-t" '
             f'aria-describedby="{escape(chart_id)}-d" viewBox="0 0 {_WIDTH} {height}" preserveAspectRatio="xMinYMin meet">',
             f'<title id="{escape(chart_id)}-t">{escape(title)}</title><desc id="{escape(chart_id)}-d">{escape(desc)}</desc>']
    for i, b in enumerate(items):
        y = i * (_BAR_H + _GAP)
        w = round(track * b.value / top, 1)
        parts.append(f'<text x="{_LABEL_W - 8}" y="{y + 14}" text-anchor="end" class="chart-label">{escape(b.label)}</text>'
                     f'<rect x="{_LABEL_W}" y="{y}" width="{track}" height="{_BAR_H}" class="chart-track"/>'
                     f'<rect x="{_LABEL_W}" y="{y}" width="{w}" height="{_BAR_H}" class="chart-bar"/>'
                     f'<text x="{_LABEL_W + track + 6}" y="{y + 14}" class="chart-value">{_num(b.value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap(chart_id: str, title: str, cells: list[dict], value: str = "human") -> Markup:
    """Weekday rows by hour columns, darker for more; ``cells`` as the stats answer them."""
    grid = {(c["weekday"], c["hour"]): c.get(value, 0) for c in cells}
    top = max(grid.values(), default=0) or 1
    cw, ch, left, head = 20, 18, 36, 16
    width, height = left + 24 * cw, head + 7 * ch
    busiest = sorted(((v, k) for k, v in grid.items() if v), reverse=True)[:5]
    desc = ("busiest: " + "; ".join(f"{WEEKDAYS[d]} {h:02d}:00 {_num(v)}" for v, (d, h) in busiest)) if busiest \
        else "no calls yet"
    parts = [f'<svg class="chart heatmap" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-t" '
             f'aria-describedby="{escape(chart_id)}-d" viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet">',
             f'<title id="{escape(chart_id)}-t">{escape(title)}</title><desc id="{escape(chart_id)}-d">{escape(desc)}</desc>']
    for h in range(0, 24, 3):
        parts.append(f'<text x="{left + h * cw + 2}" y="11" class="chart-label small">{h:02d}</text>')
    for d, name in enumerate(WEEKDAYS):
        y = head + d * ch
        parts.append(f'<text x="0" y="{y + 13}" class="chart-label small">{name}</text>')
        for h in range(24):
            v = grid.get((d, h), 0)
            level = 0 if not v else 1 + min(4, int(4 * v / top))
            parts.append(f'<rect x="{left + h * cw}" y="{y}" width="{cw - 2}" height="{ch - 2}" class="heat-{level}">'
                         f'<title>{name} {h:02d}:00: {_num(v)}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
