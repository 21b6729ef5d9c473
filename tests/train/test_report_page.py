"""report.html: best table with the bicubic gain, curves with axes, per-image scores, 1:1 crops, run facts; one
self-contained file under 2 MB; renders in a real headless browser without console errors."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

from upres.data import build_dataset
from upres.data.options import parse_dataset_options
from upres.io.images import write_image
from upres.train.config import ValOptions
from upres.train.crops import Crops
from upres.train.report_html import Page, render_page
from upres.train.run_record import RunRecord, metric_infos
from upres.train.validate import ImageResult, SetResult, build_metrics, run_validation

METRICS = {
    "psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True},
    "ssim": {"type": "calculate_ssim", "crop_border": 2, "test_y_channel": True},
}


class Blurry:
    """A stand-in model: bicubic-ish output nudged towards the truth is not available, so nearest 2x."""

    def __call__(self, lq: torch.Tensor, tile: int = 0, overlap: int = 16) -> torch.Tensor:
        return lq.repeat_interleave(2, -2).repeat_interleave(2, -1)


def _page(folder: Path, iterations: int = 3000, validations: tuple[int, ...] = (1000, 2000, 3000)) -> Page:
    val = ValOptions(metrics=METRICS)
    metrics = build_metrics(val)
    ds = build_dataset(parse_dataset_options({"type": "pairedimagedataset", "dataroot_gt": str(folder)}), 2)
    record = RunRecord("my_run", metric_infos(metrics), total_iter=iterations)
    history: dict[str, list[tuple[int, float]]] = {}
    for it in validations:
        results = run_validation(
            Blurry(), {"val": ds}, metrics, val, 2, None, it, it == 1000, with_crops=True
        )
        record.record(it, results, improved=it == 2000)
        for name, value in results["val"].means.items():
            history.setdefault(f"val/val/{name}", []).append((it, value + it / 1e4))
    history["train/l_g_total"] = [(i, 0.5 * math.exp(-i / 800)) for i in range(100, iterations + 1, 100)]
    history["train/l_pix"] = [(i, 0.05 * math.exp(-i / 800)) for i in range(100, iterations + 1, 100)]
    history["train/lr"] = [(i, 1e-4 * (0.5 if i > 1500 else 1)) for i in range(100, iterations + 1, 100)]
    record.facts = {"device": "cpu", "AMP": "off", "parameters": "1,234", "batch": "4", "speed": "3.10 it/s"}
    record.finished = True
    best = {"psnr": (history["val/val/psnr"][1][1], 2000), "ssim": (history["val/val/ssim"][1][1], 2000)}
    return Page(record, history, best, "psnr", ["a note"], "name: my_run\n")


@pytest.fixture
def val_folder(tmp_path):
    import skimage.data

    folder = tmp_path / "val"
    write_image(folder / "astronaut.png", skimage.data.astronaut()[100:260, 150:310])
    write_image(folder / "coffee.png", skimage.data.coffee()[50:210, 200:360])
    return folder


SVG = "{http://www.w3.org/2000/svg}"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_page_holds_gain_curves_per_image_scores_crops_and_facts(val_folder):
    text = render_page(_page(val_folder))
    parser = Tags()
    parser.feed(text)
    tags = [t for t, _ in parser.tags]
    assert tags.count("svg") == 4  # psnr, ssim (with bicubic lines), loss, learning rate
    assert "val: psnr" in text and "training loss (generator)" in text and "learning rate" in text
    assert re.search(r"Best psnr [\d.]+ at iteration 2000, [+-][\d.]+ dB over bicubic on val", text)
    assert text.count("bicubic 2") + text.count("bicubic 3") >= 1  # the dashed bicubic line's label
    charts = {
        c.get("aria-label"): c for c in map(ET.fromstring, re.findall(r"<svg .*?</svg>", text, flags=re.S))
    }
    assert set(charts) == {"val: psnr", "val: ssim", "training loss (generator)", "learning rate"}
    for name in ("val: psnr", "val: ssim"):  # the bicubic line, labelled, and a dot per validation
        gids = {g.get("id"): g for g in charts[name].iter(SVG + "g")}
        assert {"ref-0", "ref-0-label", "series-0"} <= set(gids)
        assert len(list(gids["series-0"].iter(SVG + "use"))) == 3
    legend = next(g for g in charts["training loss (generator)"].iter(SVG + "g") if g.get("id") == "legend_1")
    assert [t.text for t in legend.iter(SVG + "text")] == ["l_g_total", "l_pix"]
    assert {"5e-5", "1e-4"} <= {t.text for t in charts["learning rate"].iter(SVG + "text")}
    assert "Per image at iteration 2000 (the best iteration)" in text
    assert "<td>astronaut</td>" in text and "<td>coffee</td>" in text
    imgs = [a for t, a in parser.tags if t == "img"]
    assert len(imgs) == 8 and all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    assert [a["alt"] for a in imgs[:4]] == ["LR (nearest)", "bicubic", "model @ 2000", "ground truth"]
    assert "<td>parameters</td><td>1,234</td>" in text and "a note" in text and "name: my_run" in text
    assert 'src="http' not in text and "src='http" not in text  # self-contained


def test_report_stays_under_2_mb_for_a_large_validation_set(val_folder):
    # 60 validation images whose crops are noise (what PNG compresses worst): the crop budget holds the size down.
    page = _page(val_folder, validations=(1000, 2000))
    rng = np.random.default_rng(0)
    images = []
    for i in range(60):
        noise = [rng.integers(0, 256, (n, n, 3), dtype=np.uint8) for n in (64, 128, 128, 128)]
        images.append(ImageResult(f"{i:02d}", {"psnr": 30.0, "ssim": 0.9}, None, Crops(0, 0, 128, *noise)))
    page.record.best["val"] = SetResult({"psnr": 30.0, "ssim": 0.9}, images)
    page.history = {
        k: [(i, v) for i in range(0, 400_000, 10) for _, v in pts[:1]] for k, pts in page.history.items()
    }
    text = render_page(page)
    assert len(text.encode()) < 2_000_000
    shown = text.count("data:image/png;base64,") // 4
    assert 5 < shown < 60 and f"{60 - shown} more image(s) left out to keep this file small" in text


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium_without_console_errors(val_folder, tmp_path):
    # The page's own script must run: a probe appended after it clicks the first comparison row and records the
    # magnified width of its images; --dump-dom prints the DOM after the scripts ran.
    probe = (
        "<script>var row=document.querySelector('.cmp');row.click();"
        "document.body.dataset.zoomed=getComputedStyle(row.querySelector('img')).width;"
        "document.body.dataset.svgs=document.querySelectorAll('svg').length;</script>"
    )
    page = tmp_path / "report.html"
    page.write_text(
        render_page(_page(val_folder)).removesuffix("</html>") + probe + "</html>", encoding="utf-8"
    )
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    assert 'data-svgs="4"' in done.stdout
    size = int(re.search(r'data-zoomed="(\d+)px"', done.stdout).group(1))
    assert size == 2 * 128  # one click: 2x the 128 px crop
    shot = tmp_path / "shot.png"
    cmd = [*cmd[:-2], "--hide-scrollbars", "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=120).returncode == 0
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert (
        pixels.shape == (1600, 1200) and pixels.std() > 20
    )  # drawn: text, charts and crops, not a blank page
