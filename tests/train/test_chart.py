"""The report's SVG charts: round ticks that cover the data, every point where its value says."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from upres.train.chart import Chart, RefLine, Series, log_ticks, nice_ticks, render, tick_label

NS = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 1000, [0, 200, 400, 600, 800, 1000]),
        (100, 2000, [0, 500, 1000, 1500, 2000]),
        (27.31, 29.87, [27.0, 27.5, 28.0, 28.5, 29.0, 29.5, 30.0]),
        (0, 7.3, [0, 2, 4, 6, 8]),
        (0.8412, 0.8839, [0.84, 0.85, 0.86, 0.87, 0.88, 0.89]),
        (1e-4, 3e-4, [1e-4, 1.5e-4, 2e-4, 2.5e-4, 3e-4]),
        (-0.3, 0.3, [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3]),
    ],
)
def test_nice_ticks(lo, hi, expected):
    assert nice_ticks(lo, hi) == expected


def test_nice_ticks_properties_over_many_ranges():
    for lo, span in [(0.0, 7.3), (31.2, 0.004), (-5e3, 1.2e4), (1e-6, 3.3e-6), (12.0, 0.0)]:
        ticks = nice_ticks(lo, lo + span)
        steps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:])}
        assert len(steps) == 1, ticks  # evenly spaced
        step = steps.pop()
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert round(mantissa, 6) in (1, 2, 5, 10)
        assert ticks[0] <= lo and ticks[-1] >= lo + span
        assert 3 <= len(ticks) <= 12


def test_log_ticks_and_labels():
    assert log_ticks(0.003, 0.4) == [1e-3, 1e-2, 1e-1, 1.0]
    assert tick_label(2e-4, 1e-4, True) == "2e-4" and tick_label(2.5e-4, 5e-5, True) == "2.5e-4"
    assert tick_label(1e-3, 2e-4, True) == "1e-3" and tick_label(3e6, 1e6, True) == "3e6"
    assert tick_label(28.5, 0.5) == "28.5" and tick_label(1500, 500) == "1,500"
    assert tick_label(0.85, 0.01) == "0.85" and tick_label(0, 0.1) == "0"


def test_an_axis_of_small_values_labels_every_tick_alike():
    root = _parse(render(Chart("learning rate", [Series("lr", [(0, 1e-3), (600, 5e-5)])])))
    labels = [t.text for t in root.iter(NS + "text")]
    assert {"0", "2e-4", "4e-4", "6e-4", "8e-4", "1e-3"} <= set(labels)
    assert "0.0010" not in labels


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_points_and_reference_line_are_placed_by_value():
    chart = Chart(
        "val: psnr",
        [Series("psnr", [(100, 28.0), (200, 29.0), (400, 29.5)], markers=True)],
        refs=[RefLine(28.5, "bicubic 28.50")],
    )
    root = _parse(render(chart))
    labels = [t.text for t in root.iter(NS + "text")]
    assert "val: psnr" in labels and "iteration" in labels and "bicubic 28.50" in labels
    # y ticks 28.0 .. 29.5 step 0.5 and x ticks 0 .. 400 step 100 are all labelled
    assert {"28.0", "28.5", "29.0", "29.5"} <= set(labels) and {"100", "200", "300", "400"} <= set(labels)
    circles = [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(NS + "circle")]
    assert len(circles) == 3
    (x1, y1), (x2, y2), (x3, y3) = circles
    assert x2 - x1 == pytest.approx(x3 - x2 - (x2 - x1), abs=0.15)  # 100 -> 200 is half of 200 -> 400
    dash = next(line for line in root.iter(NS + "line") if line.get("stroke-dasharray"))
    assert float(dash.get("y1")) == pytest.approx((y1 + y2) / 2, abs=0.15)  # 28.5 halfway between 28 and 29
    assert y3 < y2 < y1  # higher values are drawn higher


def test_non_finite_values_are_left_out_and_empty_charts_draw_nothing():
    assert render(Chart("t", [Series("a", [(1, float("nan"))])])) == ""
    root = _parse(render(Chart("t", [Series("a", [(1, 1.0), (2, float("inf")), (3, 2.0)])])))
    points = next(root.iter(NS + "polyline")).get("points").split()
    assert len(points) == 2


def test_log_axis_for_losses_spanning_decades():
    root = _parse(
        render(Chart("loss", [Series("l1", [(i, 10 ** (-i / 10)) for i in range(1, 31)])], log_y=True))
    )
    labels = {t.text for t in root.iter(NS + "text")}
    assert {"0.001", "0.01", "0.1", "1"} <= labels and "loss" in labels
