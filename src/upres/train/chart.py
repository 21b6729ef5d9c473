"""Line charts as inline SVG for report.html, drawn by matplotlib: axes with round ticks, grid, legend, reference lines.

matplotlib is imported inside `render` only (it costs most of a second, once per process), never by `upres --help`.
Text stays text (`svg.fonttype: none`), so a chart is 6-12 KB; a fixed hash salt and no date make the output
deterministic. Artists carry ids (`series-<i>`, `ref-<i>`) so tests and readers can find them in the SVG.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from io import StringIO
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PALETTE = ("#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#4e342e", "#ad1457")

RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "upres-report",
    # One named font and the generic family: matplotlib writes the whole alias list into every <text> otherwise.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8.25,  # points; the SVG is sized so that a point is one CSS pixel: 8.25 -> 11 px
    "axes.edgecolor": "#9e9e9e",
    "axes.grid": True,
    "grid.color": "#e0e0e0",
    "grid.linewidth": 0.75,
    "xtick.color": "#616161",
    "ytick.color": "#616161",
    "xtick.labelcolor": "#212121",
    "ytick.labelcolor": "#212121",
    "legend.fontsize": 8.25,
    "legend.frameon": False,
}
# Tick spacing: one of these times a power of ten (matplotlib's MaxNLocator also allows 3, 4, 6, ...).
STEPS = (1, 2, 2.5, 5, 10)


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
    width: int = 540  # CSS pixels
    height: int = 260


def e_label(value: float) -> str:
    """Compact e-notation for axes of very small or very large values: 2.5e-4, 1e-3, 3e6, 0."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _log_label(value: float) -> str:
    return e_label(value) if value < 1e-3 or value >= 1e6 else f"{value:g}"


_NUMBER = re.compile(r"-?\d+\.\d{3,}")


def _hundredths(number: re.Match[str]) -> str:
    return f"{float(number[0]):.2f}".rstrip("0").rstrip(".")


def _plain(text: str) -> str:
    # Names come from the option file: a pair of $ in one must not turn it into (maybe invalid) TeX.
    return text.replace("$", r"\$")


def _finite(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]


def thin(points: list[tuple[float, float]], limit: int = 400) -> list[tuple[float, float]]:
    """At most about `limit` points, keeping the first and the last (a long run logs thousands)."""
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    kept = points[::stride]
    return kept if kept[-1] == points[-1] else [*kept, points[-1]]


def bracket(ticks: list[float], lo: float, hi: float) -> list[float]:
    """The ticks from the last at or below `lo` to the first at or above `hi`: the axis spans them, so its first and
    last labels enclose every value drawn."""
    tol = 1e-9 * max(abs(lo), abs(hi), hi - lo)
    first = max((t for t in ticks if t <= lo + tol), default=lo)
    last = min((t for t in ticks if t >= hi - tol), default=hi)
    return [first, *(t for t in ticks if first < t < last), last]


def _span(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:  # one value (the first validation): an axis around it
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = (lo - pad if lo - pad >= 0 or lo < 0 else 0.0), hi + pad
    return lo, hi


def render(chart: Chart) -> str:
    """The chart as an <svg> element to inline in HTML; an empty string when nothing finite is there to draw."""
    series = [Series(s.name, _finite(thin(s.points)), s.color, s.markers) for s in chart.series]
    series = [s for s in series if s.points]
    if not series:
        return ""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    refs = [r for r in chart.refs if math.isfinite(r.value)]
    with matplotlib.rc_context(RC):
        # matplotlib's SVG unit is the point (1/72 in): at 96 dpi a point is then one CSS pixel.
        fig = Figure(figsize=(chart.width / 96, chart.height / 96))
        FigureCanvasSVG(fig)
        # Fixed margins in pixels (room for labels like 2.5e-4) rather than a layout engine: half the time, and
        # the plots of all charts line up.
        left, right, top, bottom = 64, 24, 28, 42
        fig.subplots_adjust(
            left=left / chart.width, right=1 - right / chart.width, top=1 - top / chart.height,
            bottom=bottom / chart.height,
        )  # fmt: skip
        ax = fig.add_subplot()
        ax.set_title(_plain(chart.title), loc="left", fontsize=9.75, fontweight="bold")
        log_y = _axes(ax, chart, series, refs)
        ax.set_xlabel(_plain(chart.x_label))
        if chart.y_label:
            ax.set_ylabel(_plain(chart.y_label) + (" (log)" if log_y else ""))
            # The label's far side 4 px from the left edge, wherever the tick labels end.
            ax.yaxis.set_label_coords(-(left - 16) / (chart.width - left - right), 0.5)
        for i, s in enumerate(series):
            # Unclipped and above the frame: a value at the edge of the axis stays whole.
            style = {"marker": "o", "markersize": 4} if s.markers else {}
            color = s.color or PALETTE[i % len(PALETTE)]
            ax.plot(
                *zip(*s.points), color=color, lw=1.2, label=_plain(s.name), clip_on=False, zorder=3, **style
            )
            ax.lines[-1].set_gid(f"series-{i}")
        for i, r in enumerate(refs):
            ax.axhline(r.value, color=r.color, linestyle=(0, (6, 4)), linewidth=1.1, gid=f"ref-{i}")
            # Above the line, or below it where the line runs along the top of the plot.
            below = ax.transAxes.inverted().transform(ax.transData.transform((0, r.value)))[1] > 0.85
            ax.annotate(
                _plain(r.label), (1, r.value), xycoords=("axes fraction", "data"), xytext=(-4, -2 if below else 2),
                textcoords="offset points", ha="right", va="top" if below else "bottom", color=r.color,
                gid=f"ref-{i}-label",
            )  # fmt: skip
        if len(series) > 1:
            ax.legend(loc="best")
        out = StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = _inline(out.getvalue(), chart.title)
    for i, s in enumerate(series):
        if s.markers:
            svg = _hover(svg, f"series-{i}", [f"{s.name} at {x:g}: {y:.5g}" for x, y in s.points])
    return svg


def _hover(svg: str, gid: str, texts: list[str]) -> str:
    """A tooltip on each of the group's markers (<use> elements, one a point, in order)."""
    start = svg.index(f'<g id="{gid}">')
    labels = iter(texts)
    tail = re.sub(
        r"<use ([^>]*)/>", lambda m: f"<use {m[1]}><title>{html.escape(next(labels))}</title></use>", svg[start:],
        count=len(texts),
    )  # fmt: skip
    return svg[:start] + tail


def _axes(ax: Axes, chart: Chart, series: list[Series], refs: list[RefLine]) -> bool:
    """Ticks, labels and limits; whether the y axis is logarithmic."""
    from matplotlib import ticker

    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points] + [r.value for r in refs]
    # A log axis only where it helps (losses falling over decades) and where it can hold every value.
    log_y = chart.log_y and min(ys) > 0 and max(ys) / min(ys) > 10
    x_ticks = bracket(
        list(ticker.MaxNLocator(6, steps=STEPS, integer=True).tick_values(*_span(xs))), *_span(xs)
    )
    y_locator = ticker.LogLocator(numticks=8) if log_y else ticker.MaxNLocator(6, steps=STEPS, min_n_ticks=3)
    y_ticks = bracket(list(y_locator.tick_values(*_span(ys))), *_span(ys))
    ax.tick_params(left=False, bottom=False, which="both")  # the grid shows where a tick is
    ax.xaxis.set_major_locator(ticker.FixedLocator(x_ticks))
    ax.xaxis.set_major_formatter(
        ticker.FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) < 1e6 else e_label(v))
    )
    ax.set_xlim(x_ticks[0], x_ticks[-1])
    if log_y:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _log_label(v)))
        ax.yaxis.set_minor_locator(ticker.NullLocator())  # neither drawn nor labelled: only costs time
    elif max(abs(t) for t in y_ticks) < 1e-2 or max(abs(t) for t in y_ticks) >= 1e6:
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: e_label(v)))  # the learning rate
    else:
        ax.yaxis.set_major_formatter(ticker.ScalarFormatter(useOffset=False))
    ax.yaxis.set_major_locator(ticker.FixedLocator(y_ticks))
    ax.set_ylim(y_ticks[0], y_ticks[-1])
    return log_y


def _inline(svg: str, title: str) -> str:
    svg = svg[svg.index("<svg") :].strip()  # no XML prolog or doctype: the element goes inline into the HTML
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    # Whitespace between elements and in path data, and the no-op rotation of every label: a third of the bytes.
    svg = re.sub(r">\s+<", "><", svg.replace(" \n", " "))
    svg = re.sub(r' transform="rotate\(-0 [\d.]+ [\d.]+\)"', "", svg)
    # Coordinates to a hundredth of a pixel (matplotlib writes millionths).
    svg = re.sub(r'\b(d|x|y|width|height|transform)="[^"]*"', lambda m: _NUMBER.sub(_hundredths, m[0]), svg)
    return svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{html.escape(title)}" ', 1)
