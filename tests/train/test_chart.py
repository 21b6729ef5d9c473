"""The report's SVG charts (matplotlib): round ticks that span the data, every point and the bicubic line where their
values say, a legend naming every series, deterministic and small output that inlines into HTML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from upres.train.chart import Chart, RefLine, Series, bracket, e_label, render

NS = "{http://www.w3.org/2000/svg}"


def _svg(chart: Chart) -> ET.Element:
    return ET.fromstring(render(chart))


def _group(root: ET.Element, gid: str) -> ET.Element:
    return next(g for g in root.iter(NS + "g") if g.get("id") == gid)


def _value(label: str) -> float:
    return float(label.replace(",", "").replace("\u2212", "-"))


def _ticks(root: ET.Element, axis: str) -> list[tuple[float, float]]:
    """(value of the label, pixel position of the grid line) of each labelled tick of the x or y axis."""
    out = []
    for g in root.iter(NS + "g"):
        if (g.get("id") or "").startswith(f"{axis}tick_"):
            label = next(g.iter(NS + "text")).text
            d = next(g.iter(NS + "path")).get("d").split()
            out.append((_value(label), float(d[1] if axis == "x" else d[2])))
    return out


def _frame(root: ET.Element) -> tuple[float, float, float, float]:
    """left, right, top, bottom of the plot area, in pixels."""
    d = next(_group(root, "patch_2").iter(NS + "path")).get("d").split()
    xs, ys = [float(d[i]) for i in (1, 4, 7, 10)], [float(d[i]) for i in (2, 5, 8, 11)]
    return min(xs), max(xs), min(ys), max(ys)


def _to_data(ticks: list[tuple[float, float]], log: bool = False):
    """The map from pixels back to data values, from the first and last tick (checked against the others)."""
    f = math.log10 if log else (lambda v: v)
    (v0, p0), (v1, p1) = ticks[0], ticks[-1]

    def value(pixel: float) -> float:
        t = f(v0) + (pixel - p0) / (p1 - p0) * (f(v1) - f(v0))
        return 10**t if log else t

    for v, p in ticks:
        assert value(p) == pytest.approx(v, rel=1e-3, abs=1e-3 * abs(v1 - v0)), (v, p)
    return value


def _vertices(g: ET.Element) -> list[tuple[float, float]]:
    d = next(g.iter(NS + "path")).get("d").replace("M", "").replace("L", "").split()
    return [(float(d[i]), float(d[i + 1])) for i in range(0, len(d), 2)]


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(27.31, 29.87), (0.8412, 0.8839), (0.0, 7.3), (-0.3, 0.25), (31.2, 31.204), (-5e3, 7e3), (12.0, 12.0)],
)
def test_y_ticks_are_round_evenly_spaced_and_span_the_data(lo, hi):
    root = _svg(Chart("t", [Series("a", [(0, lo), (50, (lo + hi) / 2), (100, hi)])]))
    ticks = _ticks(root, "y")
    values = [v for v, _ in ticks]
    assert values[0] <= lo and values[-1] >= hi
    steps = [b - a for a, b in zip(values, values[1:])]
    assert all(s == pytest.approx(steps[0], rel=1e-6) for s in steps)
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert round(mantissa, 6) in (1, 2, 2.5, 5)
    assert 3 <= len(values) <= 8
    left, right, top, bottom = _frame(root)
    assert ticks[0][1] == pytest.approx(bottom, abs=0.02) and ticks[-1][1] == pytest.approx(top, abs=0.02)
    x_ticks = _ticks(root, "x")
    assert [v for v, _ in x_ticks] == [0, 20, 40, 60, 80, 100]
    assert x_ticks[0][1] == pytest.approx(left, abs=0.02) and x_ticks[-1][1] == pytest.approx(right, abs=0.02)


@pytest.mark.parametrize(("lo", "hi"), [(100, 2000), (1000, 3000), (3, 7), (2000, 2000), (0, 400_000)])
def test_x_ticks_are_whole_iterations_spanning_the_run(lo, hi):
    root = _svg(Chart("t", [Series("a", [(lo, 1.0), (hi, 2.0)])]))
    values = [v for v, _ in _ticks(root, "x")]
    assert values[0] <= lo and values[-1] >= hi and values[0] >= 0
    assert all(v == int(v) for v in values) and 2 <= len(values) <= 8
    labels = [
        t.text
        for g in root.iter(NS + "g")
        if (g.get("id") or "").startswith("xtick_")
        for t in g.iter(NS + "text")
    ]
    assert all("," in label for label, v in zip(labels, values) if v >= 1000)  # 1,500: thousands separated


def test_an_axis_of_small_values_labels_every_tick_alike():
    root = _svg(Chart("learning rate", [Series("lr", [(0, 1e-3), (600, 5e-5)])]))
    labels = [t.text for t in root.iter(NS + "text")]
    assert {"0", "2e-4", "4e-4", "6e-4", "8e-4", "1e-3"} <= set(labels)
    assert "0.0010" not in labels


def test_e_label():
    assert e_label(2e-4) == "2e-4" and e_label(2.5e-4) == "2.5e-4" and e_label(1e-3) == "1e-3"
    assert e_label(3e6) == "3e6" and e_label(-2e-4) == "-2e-4" and e_label(0) == "0"
    assert e_label(2.0000000000000004e-4) == "2e-4"


def test_bracket_keeps_the_ticks_that_enclose_the_range():
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2]
    assert bracket(ticks, 0.25, 0.8) == [0.2, 0.4, 0.6, 0.8]
    assert bracket(ticks, 0.2 + 1e-12, 0.81) == [0.2, 0.4, 0.6, 0.8, 1.0]


def test_points_and_reference_line_are_placed_by_value():
    points = [(100, 28.0), (200, 29.0), (400, 29.5)]
    chart = Chart(
        "val: psnr",
        [Series("psnr", points, markers=True)],
        y_label="psnr",
        refs=[RefLine(28.5, "bicubic 28.50")],
    )
    root = _svg(chart)
    labels = [t.text for t in root.iter(NS + "text")]
    assert "val: psnr" in labels and "iteration" in labels and "psnr" in labels
    x, y = _to_data(_ticks(root, "x")), _to_data(_ticks(root, "y"))
    uses = list(_group(root, "series-0").iter(NS + "use"))
    markers = [(x(float(u.get("x"))), y(float(u.get("y")))) for u in uses]
    assert markers == [pytest.approx(p, abs=0.01) for p in points]
    assert [u.find(NS + "title").text for u in uses] == [
        "psnr at 100: 28",
        "psnr at 200: 29",
        "psnr at 400: 29.5",
    ]
    line = _vertices(_group(root, "series-0"))
    assert [(x(px), y(py)) for px, py in line] == [pytest.approx(p, abs=0.01) for p in points]
    ref = _vertices(_group(root, "ref-0"))
    assert {round(y(py), 3) for _, py in ref} == {28.5}
    assert _group(root, "ref-0").find(f".//{NS}path").get("style").count("stroke-dasharray") == 1
    assert [t.text for t in _group(root, "ref-0-label").iter(NS + "text")] == ["bicubic 28.50"]


def test_a_reference_line_outside_the_data_widens_the_axis():
    root = _svg(Chart("v", [Series("psnr", [(1, 28.0), (2, 29.0)])], refs=[RefLine(26.3, "bicubic 26.30")]))
    y = _to_data(_ticks(root, "y"))
    assert _ticks(root, "y")[0][0] <= 26.3
    assert y(_vertices(_group(root, "ref-0"))[0][1]) == pytest.approx(26.3, abs=0.005)


def test_the_reference_label_stays_inside_the_plot():
    for value, above in [(28.2, True), (30.0, False)]:  # low on the axis, and on its top edge
        root = _svg(Chart("v", [Series("psnr", [(1, 28.0), (2, 30.0)])], refs=[RefLine(value, "bicubic")]))
        line_y = _vertices(_group(root, "ref-0"))[0][1]
        text_y = float(next(_group(root, "ref-0-label").iter(NS + "text")).get("y"))  # the baseline
        _, _, top, _ = _frame(root)
        assert (text_y < line_y) if above else (text_y > line_y + 6)
        assert text_y - 8 > top


def test_log_axis_for_losses_spanning_decades():
    points = [(i, 10 ** (-i / 10)) for i in range(1, 31)]
    root = _svg(Chart("loss", [Series("l1", points)], y_label="loss", log_y=True))
    labels = {t.text for t in root.iter(NS + "text")}
    assert {"0.001", "0.01", "0.1", "1"} <= labels and "loss (log)" in labels
    y = _to_data(_ticks(root, "y"), log=True)  # evenly spaced decades
    x = _to_data(_ticks(root, "x"))
    drawn = [(x(px), y(py)) for px, py in _vertices(_group(root, "series-0"))]
    assert drawn[0] == pytest.approx(points[0], rel=1e-3) and drawn[-1] == pytest.approx(points[-1], rel=1e-3)
    # Not log where the values do not span a decade (or cannot be drawn on one)
    flat = _svg(Chart("loss", [Series("l1", [(1, 0.09), (2, 0.11)])], y_label="loss", log_y=True))
    assert "loss (log)" not in {t.text for t in flat.iter(NS + "text")}


def test_every_series_has_its_colour_and_its_name_in_the_legend():
    series = [Series(n, [(i, v * (i + 1)) for i in range(5)]) for n, v in [("l_pix", 1.0), ("l_percep", 2.0)]]
    series.append(Series("l_gan", [(i, 3.0 * (i + 1)) for i in range(5)], color="#000000"))
    root = _svg(Chart("loss", series))
    legend = [t.text for t in _group(root, "legend_1").iter(NS + "text")]
    assert legend == ["l_pix", "l_percep", "l_gan"]
    colours = [next(_group(root, f"series-{i}").iter(NS + "path")).get("style") for i in range(3)]
    assert (
        "stroke: #1565c0" in colours[0]
        and "stroke: #e65100" in colours[1]
        and "stroke: #000000" in colours[2]
    )
    single = _svg(Chart("lr", [Series("lr", [(0, 1.0), (1, 2.0)])]))
    assert not any(g.get("id") == "legend_1" for g in single.iter(NS + "g"))  # the title says it


def test_non_finite_values_are_left_out_and_empty_charts_draw_nothing():
    assert render(Chart("t", [Series("a", [(1, float("nan"))])])) == ""
    root = _svg(
        Chart("t", [Series("a", [(1, 1.0), (2, float("inf")), (3, 2.0)]), Series("b", [(1, math.nan)])])
    )
    assert len(_vertices(_group(root, "series-0"))) == 2
    assert not any(g.get("id") == "series-1" for g in root.iter(NS + "g"))


def test_output_is_deterministic_inline_svg_with_text_as_text():
    series = [Series("psnr", [(1, 28.0), (2, 29.0)], markers=True)]
    chart = Chart("val: a & $b$", series, refs=[RefLine(28.2, "x")])
    svg = render(chart)
    assert svg == render(chart)  # matplotlib salts its ids with a new uuid each time unless told otherwise
    assert svg.startswith('<svg class="chart" role="img" aria-label="val: a &amp; $b$" ')
    assert svg.endswith("</svg>") and "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg
    root = ET.fromstring(svg)
    assert "val: a & $b$" in [t.text for t in root.iter(NS + "text")]  # not TeX
    glyphs = [p for p in root.iter(NS + "path") if (p.get("id") or "").startswith("DejaVu")]
    assert glyphs == []  # text as text, not outlines
    assert root.get("width") == "405pt" and root.get("viewBox") == "0 0 405 195"  # 540 x 260 CSS pixels


def test_charts_stay_small_for_long_runs():
    many = [Series(f"l{k}", [(i, 1 + math.sin(i / 50 + k)) for i in range(0, 400_000, 10)]) for k in range(3)]
    svg = render(Chart("loss", many, y_label="loss"))
    assert len(svg.encode()) < 40_000
    root = ET.fromstring(svg)
    assert all(len(_vertices(_group(root, f"series-{k}"))) <= 401 for k in range(3))
