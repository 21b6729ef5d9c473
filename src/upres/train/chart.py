"""Line charts as inline SVG for report.html: axes, "nice" ticks, grid, legend, reference lines.

Hand-written rather than matplotlib (not a dependency of upres; importing it at every validation costs about a second
and its SVGs draw every glyph as a path, tens of KB a chart): the report needs only lines on linear or log axes, and
the tick rules below are the whole of what makes such a chart readable. A few KB a chart, no script, no font files.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

PALETTE = ("#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#4e342e", "#ad1457")


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    color: str = ""
    markers: bool = False  # a dot per point (validation), with its value on hover


@dataclass
class RefLine:
    """A horizontal reference (the bicubic baseline), dashed, labelled at the right end."""

    value: float
    label: str
    color: str = "#757575"


@dataclass
class Chart:
    title: str
    series: list[Series]
    x_label: str = "iteration"
    y_label: str = ""
    refs: list[RefLine] = field(default_factory=list)
    log_y: bool = False
    width: int = 540
    height: int = 260


def nice_step(span: float, target: int) -> float:
    """1, 2 or 5 times a power of ten: the one giving the number of steps over `span` nearest to `target`
    (Heckbert's "nice numbers")."""
    power = 10.0 ** math.floor(math.log10(span / max(target, 1)))
    candidates = [m * power for m in (1, 2, 5, 10)]
    return min(candidates, key=lambda step: abs(span / step - target))


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round values from at or below `lo` to at or above `hi`, evenly spaced: the axis spans the first to the last."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"axis range must be finite, got {lo}..{hi}")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, target)
    first = math.floor(lo / step + 1e-9) * step
    n = math.ceil((hi - first) / step - 1e-9)
    return [_clean(first + i * step, step) for i in range(n + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten from at or below `lo` to at or above `hi` (both positive)."""
    a, b = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
    if a == b:
        b += 1
    return [10.0**k for k in range(a, b + 1)]


def _clean(value: float, step: float) -> float:
    # 0.1 * 3 is 0.30000000000000004: round to the step's decimals so labels and positions are exact.
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return round(value, digits) + 0.0


def tick_label(value: float, step: float, exponent: bool = False) -> str:
    """`exponent`: the axis holds very small or very large values, and all of its labels use the e-notation."""
    if value == 0:
        return "0"
    if exponent:
        return f"{value:.1e}".replace(".0e", "e").replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:,.{decimals}f}" if abs(value) >= 1000 else f"{value:.{decimals}f}"


def _exponent_axis(ticks: list[float]) -> bool:
    top = max(abs(t) for t in ticks)
    return top < 1e-2 or top >= 1e6


def _finite(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in points if math.isfinite(y)]


def thin(points: list[tuple[float, float]], limit: int = 400) -> list[tuple[float, float]]:
    """At most about `limit` points, keeping the first and the last (a long run logs thousands)."""
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    kept = points[::stride]
    return kept if kept[-1] == points[-1] else [*kept, points[-1]]


def render(chart: Chart) -> str:
    """The chart as an <svg> element; an empty string when nothing finite is there to draw."""
    series = [Series(s.name, _finite(thin(s.points)), s.color, s.markers) for s in chart.series]
    series = [s for s in series if s.points]
    if not series:
        return ""
    for i, s in enumerate(series):
        s.color = s.color or PALETTE[i % len(PALETTE)]
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points] + [r.value for r in chart.refs if math.isfinite(r.value)]
    x_ticks = nice_ticks(min(xs), max(xs), 6)
    if min(xs) >= 0:
        x_ticks = [t for t in x_ticks if t >= 0] or [0.0]
    # A log axis only where it helps (losses falling over decades) and where it can hold every value.
    log_y = chart.log_y and min(ys) > 0 and max(ys) / min(ys) > 10
    y_ticks = log_ticks(min(ys), max(ys)) if log_y else nice_ticks(min(ys), max(ys), 5)
    left, right, top, bottom = 64, 16, 28, 42
    w, h = chart.width - left - right, chart.height - top - bottom
    x0, x1 = x_ticks[0], x_ticks[-1] if x_ticks[-1] > x_ticks[0] else x_ticks[0] + 1
    if log_y:
        ly0, ly1 = math.log10(y_ticks[0]), math.log10(y_ticks[-1])

        def fy(y: float) -> float:
            return top + h - (math.log10(y) - ly0) / (ly1 - ly0) * h
    else:
        y0, y1 = y_ticks[0], y_ticks[-1]

        def fy(y: float) -> float:
            return top + h - (y - y0) / (y1 - y0) * h

    def fx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * w

    out = [
        f'<svg class="chart" viewBox="0 0 {chart.width} {chart.height}" width="{chart.width}" '
        f'height="{chart.height}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{html.escape(chart.title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html.escape(chart.title)}</text>',
    ]
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    x_exp = _exponent_axis(x_ticks)
    for t in x_ticks:
        px = fx(t)
        out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + h}" stroke="#e0e0e0"/>')
        out.append(
            f'<text x="{px:.1f}" y="{top + h + 14}" text-anchor="middle">{tick_label(t, x_step, x_exp)}</text>'
        )
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0
    y_exp = _exponent_axis(y_ticks) and not log_y
    for t in y_ticks:
        py = fy(t)
        out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{left + w}" y2="{py:.1f}" stroke="#e0e0e0"/>')
        label = tick_label(t, t if log_y else y_step, y_exp or (log_y and t < 1e-3))
        out.append(f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{label}</text>')
    out.append(
        f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#9e9e9e"/>'
        f'<text x="{left + w / 2:.1f}" y="{chart.height - 6}" text-anchor="middle">'
        f"{html.escape(chart.x_label)}</text>"
    )
    if chart.y_label:
        out.append(
            f'<text transform="translate(14 {top + h / 2:.1f}) rotate(-90)" text-anchor="middle">'
            f"{html.escape(chart.y_label)}{' (log)' if log_y else ''}</text>"
        )
    for r in chart.refs:
        if not math.isfinite(r.value):
            continue
        py = fy(r.value)
        out.append(
            f'<line x1="{left}" y1="{py:.1f}" x2="{left + w}" y2="{py:.1f}" stroke="{r.color}" '
            f'stroke-dasharray="6 4" stroke-width="1.5"><title>{html.escape(r.label)}</title></line>'
            f'<text x="{left + w - 4}" y="{py - 4:.1f}" text-anchor="end" fill="{r.color}">'
            f"{html.escape(r.label)}</text>"
        )
    for s in series:
        pts = " ".join(f"{fx(x):.1f},{fy(y):.1f}" for x, y in s.points)
        out.append(f'<polyline fill="none" stroke="{s.color}" stroke-width="1.6" points="{pts}"/>')
        if s.markers:
            out.extend(
                f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="3" fill="{s.color}">'
                f"<title>{html.escape(s.name)} at {x:g}: {y:.5g}</title></circle>"
                for x, y in s.points
            )
    if len(series) > 1:
        for i, s in enumerate(series):
            # Top right: losses fall, so that corner is usually empty.
            ly, lx = top + 14 + i * 14, left + w - 130
            out.append(
                f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 16}" y2="{ly - 4}" stroke="{s.color}" '
                f'stroke-width="2"/><text x="{lx + 20}" y="{ly}">{html.escape(s.name)}</text>'
            )
    out.append("</svg>")
    return "".join(out)
