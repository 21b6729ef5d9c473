"""report.html: one self-contained page, the first thing to open after (or during) a run.

Top to bottom: where the run stands and whether it beats bicubic, a table of best values, curves (validation with
the bicubic line, losses, learning rate), per-image scores and 1:1 crops at the best iteration, run facts, notes,
the option file. Images are inline PNG crops, charts inline SVG, so the file can be mailed or attached to an issue.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field

from upres.train.chart import Chart, RefLine, Series, render
from upres.train.crops import png_bytes
from upres.train.run_record import RunRecord
from upres.train.validate import SetResult

# Bytes of PNG crops a report may hold: with charts and text it stays under 2 MB however large the validation set.
CROP_BUDGET = 1_300_000

CSS = """
body{font-family:system-ui,sans-serif;max-width:1180px;margin:1em auto;padding:0 1em;color:#212121}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #e0e0e0}
.sub{color:#616161}.headline{font-size:1.25em;margin:.6em 0}.good{color:#2e7d32}.bad{color:#c62828}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}.facts td{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:8px}
.cmp{display:flex;gap:6px;overflow-x:auto;cursor:zoom-in;padding-bottom:4px;--z:1}
.cmp figure{margin:0}.cmp img{width:calc(var(--px) * var(--z));image-rendering:pixelated;display:block}
.cmp figcaption{font-size:12px;color:#424242}
pre{background:#f5f5f5;padding:8px;overflow-x:auto}
"""

# Click a comparison row to cycle its magnification 1x, 2x, 3x, 4x (nearest neighbour, so pixels stay pixels).
SCRIPT = """
document.querySelectorAll('.cmp').forEach(function (row) {
  row.addEventListener('click', function () {
    var z = (Number(row.dataset.zoom || 1) % 4) + 1;
    row.dataset.zoom = z;
    row.style.setProperty('--z', z);
    row.style.cursor = z === 4 ? 'zoom-out' : 'zoom-in';
  });
});
"""


@dataclass
class Page:
    record: RunRecord
    history: dict[str, list[tuple[int, float]]]
    best: dict[str, tuple[float, int]] = field(default_factory=dict)
    tracked: str | None = None
    notes: list[str] = field(default_factory=list)
    options_text: str = ""


def render_page(page: Page) -> str:
    r = page.record
    e = html.escape
    state = "finished" if r.finished else "in progress"
    where = f"iteration {r.latest_iter} of {r.total_iter}" if r.latest_iter is not None else ""
    parts = [
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{e(r.name)}: upres report</title>",
        f"<meta name='viewport' content='width=device-width'><style>{CSS}</style>",
        f"<h1>{e(r.name)}</h1><p class='sub'>upres training report, {state}"
        f"{', last validation at ' + where if where else ''}; written {dt.datetime.now():%Y-%m-%d %H:%M:%S}</p>",
        _headline(page),
        _best_table(page),
        _charts(page),
        _per_image(page),
        _comparisons(page),
        _facts(r),
    ]
    if page.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in page.notes) + "</ul>")
    if page.options_text:
        parts.append(
            f"<h2>Options</h2><details><summary>option file</summary><pre>{e(page.options_text)}</pre></details>"
        )
    parts.append(f"<script>{SCRIPT}</script></html>")
    return "\n".join(p for p in parts if p)


def _headline(page: Page) -> str:
    r = page.record
    text = r.headline(page.best, page.tracked)
    if not text:
        return "<p class='headline'>No validation yet.</p>" if not r.latest else ""
    set_name = r.tracked_set
    info = r.metrics.get(page.tracked or "")
    base = r.baseline.get(set_name or "", {}).get(page.tracked or "")
    cls = ""
    if info is not None and base is not None:
        value = page.best[page.tracked][0]
        cls = "good" if (value > base if info.higher_is_better else value < base) else "bad"
    return f"<p class='headline {cls}'>Best {html.escape(text)}</p>"


def _best_table(page: Page) -> str:
    r = page.record
    rows = []
    for key in sorted(k for k in page.history if k.startswith("val/")):
        _, set_name, metric = key.split("/", 2)
        info = r.metrics.get(metric)
        points = page.history[key]
        if not points or info is None:
            continue
        pick = max if info.higher_is_better else min
        value, it = pick(((v, i) for i, v in points), key=lambda p: p[0])
        if set_name == r.tracked_set and metric in page.best:
            value, it = page.best[metric]  # the tracker survives a resume, the in-memory curve does not
        base = r.baseline.get(set_name, {}).get(metric)
        rows.append(
            f"<tr><td>{html.escape(set_name)}</td><td>{html.escape(metric)}</td><td>{value:.4f}</td><td>{it}</td>"
            f"<td>{points[-1][1]:.4f}</td><td>{'' if base is None else f'{base:.4f}'}</td>"
            f"<td>{html.escape(r.gain(set_name, metric, value))}</td></tr>"
        )
    if not rows:
        return ""
    return (
        "<h2>Best values</h2><table><tr><th>set</th><th>metric</th><th>best</th><th>at iteration</th><th>last</th>"
        "<th>bicubic</th><th>best vs bicubic</th></tr>" + "".join(rows) + "</table>"
    )


def _charts(page: Page) -> str:
    r = page.record
    charts = []
    for key in sorted(k for k in page.history if k.startswith("val/")):
        _, set_name, metric = key.split("/", 2)
        base = r.baseline.get(set_name, {}).get(metric)
        refs = [RefLine(base, f"bicubic {base:.4f}")] if base is not None else []
        series = [Series(metric, page.history[key], markers=True)]
        charts.append(Chart(f"{set_name}: {metric}", series, y_label=metric, refs=refs))
    train = {k.removeprefix("train/"): v for k, v in page.history.items() if k.startswith("train/")}
    lr = train.pop("lr", None)
    d_keys = [k for k in train if k.startswith(("l_d", "out_d"))]
    g_series = [Series(k, v) for k, v in train.items() if k not in d_keys]
    if g_series:
        charts.append(Chart("training loss (generator)", g_series, y_label="loss", log_y=True))
    if d_keys:
        charts.append(Chart("discriminator", [Series(k, train[k]) for k in d_keys], y_label="value"))
    if lr:
        charts.append(Chart("learning rate", [Series("lr", lr)], y_label="lr"))
    drawn = [render(c) for c in charts]
    return (
        "<h2>Curves</h2><div class='charts'>" + "".join(d for d in drawn if d) + "</div>"
        if any(drawn)
        else ""
    )


def _shown(r: RunRecord) -> tuple[dict[str, SetResult], int | None, str]:
    if r.best:
        return r.best, r.best_iter, "the best iteration"
    return r.latest, r.latest_iter, "the last validation"


def _per_image(page: Page) -> str:
    r = page.record
    results, it, which = _shown(r)
    if not results:
        return ""
    out = [f"<h2>Per image at iteration {it} ({which})</h2>"]
    for set_name, res in results.items():
        names = list(res.means)
        head = "".join(f"<th>{html.escape(n)}</th><th>vs bicubic</th>" for n in names)
        rows = []
        base_images = r.baseline_images.get(set_name, {})
        for img in res.images:
            base = base_images.get(img.name, {})
            cells = "".join(
                f"<td>{img.values[n]:.4f}</td><td>{html.escape(_gain(r, n, img.values[n], base.get(n)))}</td>"
                for n in names
            )
            rows.append(f"<tr><td>{html.escape(img.name)}</td>{cells}</tr>")
        mean = "".join(
            f"<th>{res.means[n]:.4f}</th><th>{html.escape(_gain(r, n, res.means[n], r.baseline.get(set_name, {}).get(n)))}</th>"
            for n in names
        )
        out.append(
            f"<h3>{html.escape(set_name)}</h3><table><tr><th>image</th>{head}</tr>{''.join(rows)}"
            f"<tr><th>mean</th>{mean}</tr></table>"
        )
    return "".join(out)


def _gain(r: RunRecord, metric: str, value: float, base: float | None) -> str:
    from upres.train.run_record import gain_text

    info = r.metrics.get(metric)
    return "" if base is None or info is None else gain_text(value, base, info).removesuffix(" over bicubic")


def _comparisons(page: Page) -> str:
    r = page.record
    results, it, which = _shown(r)
    rows, spent, left_out = [], 0, 0
    for set_name, res in results.items():
        for img in res.images:
            c = img.crops
            if c is None or c.size == 0:
                continue
            if left_out:  # the budget is spent: the rest are counted, not encoded
                left_out += 1
                continue
            encoded = [png_bytes(a) for a in (c.lq, c.bicubic, c.sr, c.gt)]
            size = sum(len(b) for b in encoded)
            if spent + size > CROP_BUDGET:
                left_out += 1
                continue
            spent += size
            labels = ("LR (nearest)", "bicubic", f"model @ {it}", "ground truth")
            figures = "".join(
                f"<figure><img alt='{label}' src='data:image/png;base64,{base64.b64encode(b).decode()}'>"
                f"<figcaption>{label}</figcaption></figure>"
                for label, b in zip(labels, encoded)
            )
            scores = ", ".join(f"{k} {v:.4f}" for k, v in img.values.items())
            rows.append(
                f"<h3>{html.escape(set_name)} / {html.escape(img.name)} <span class='sub'>({scores}; region "
                f"x {c.x}, y {c.y}, {c.size} px)</span></h3><div class='cmp' style='--px:{c.size}px' "
                f"title='click to magnify'>{figures}</div>"
            )
    if not rows:
        return ""
    head = (
        f"<h2>Comparisons at iteration {it} ({which})</h2><p class='sub'>The most detailed region of each "
        "validation image at 1:1 (one screen pixel per output pixel). Click a row to magnify it 2x, 3x, 4x.</p>"
    )
    tail = (
        f"<p class='sub'>{left_out} more image(s) left out to keep this file small; the full strips are in "
        "visualization/.</p>"
        if left_out
        else ""
    )
    return head + "".join(rows) + tail


def _facts(r: RunRecord) -> str:
    if not r.facts:
        return ""
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in r.facts.items())
    return f"<h2>Run</h2><table class='facts'>{rows}</table>"
