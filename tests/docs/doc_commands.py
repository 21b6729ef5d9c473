"""Pulling shell commands out of Markdown, and the tiny workspace they run in (see test_docs_commands.py)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[2]
SHELL_LANGS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^```(\S*)[ \t]*(.*)$")


@dataclass(frozen=True)
class Command:
    doc: Path
    line: int
    text: str
    mode: str  # "run", "args" (parse only) or "" (plain block: upres/make/pip lines are still checked)
    exit_code: int = 0  # a runnable block that shows a refusal says so with `exits=N` after `runnable`
    ctrl_c: bool = (
        False  # `ctrl-c` after `runnable`: the reader presses Ctrl+C at the first progress line (exit 130)
    )
    needs: str = (
        ""  # `needs=MODULE` after `runnable`: an optional extra's module; without it the block is skipped
    )

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text, comments=True)

    def pipeline(self) -> list[list[str]]:
        """The simple commands of a shell line (split at `&&`, `|`, `;`, `&`), redirections dropped."""
        lex = shlex.shlex(self.text, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        parts: list[list[str]] = [[]]
        redirect = False
        for tok in lex:
            if tok in ("&", "&&", "||", ";", "|"):
                parts.append([])
            elif tok in (">", ">>", "<", "2>", "2>&1"):
                redirect = True
            elif redirect:
                redirect = False
            else:
                parts[-1].append(tok)
        return [p for p in parts if p]

    def where(self) -> str:
        name = self.doc.relative_to(REPO) if self.doc.is_relative_to(REPO) else self.doc
        return f"{name}:{self.line}: {self.text}"


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def extract_commands(doc: Path) -> list[Command]:
    """Every command line of every shell code block (continuation lines joined, comment-only lines dropped), and
    every `yaml merge-into=FILE` block as one Command with mode `merge:FILE`, in the order they appear."""
    out: list[Command] = []
    lang, mode, pending, start, body, exit_code, ctrl_c, needs = None, "", "", 0, [], 0, False, ""
    for n, raw in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        m = FENCE.match(raw.strip())
        if lang is None:
            if m:
                lang, words, start, body = m.group(1).lower(), m.group(2).split(), n + 1, []
                mode = "run" if "runnable" in words else "args" if "args-only" in words else ""
                ctrl_c = "ctrl-c" in words
                needs = next((w.split("=", 1)[1] for w in words if w.startswith("needs=")), "")
                exit_code = next(
                    (int(w.split("=", 1)[1]) for w in words if w.startswith("exits=")), 130 * ctrl_c
                )
                target = [w.split("=", 1)[1] for w in words if w.startswith("merge-into=")]
                if lang == "yaml" and target:
                    mode = f"merge:{target[0]}"
            continue
        if m and raw.strip() == "```":
            if mode.startswith("merge:"):
                out.append(Command(doc, start, "\n".join(body), mode))
            lang = None
            continue
        body.append(raw)
        if lang not in SHELL_LANGS:
            continue
        line = raw.rstrip()
        if not pending:
            start = n
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text and not text.startswith("#"):
            out.append(Command(doc, start, text, mode, exit_code, ctrl_c, needs))
    return out


def merge_into(path: Path, edits: dict) -> None:
    """What a reader does by hand with an `edit these keys` block: nested keys replaced, the rest kept."""

    def merge(base: dict, new: dict) -> dict:
        for k, v in new.items():
            base[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
        return base

    opts = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump(merge(opts, edits), sort_keys=False), encoding="utf-8")


# --- the workspace: placeholders the docs use, made small --------------------------------------------------------


def _photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    return np.ascontiguousarray(img[..., :3])


def _save(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def random_vgg19(path: Path) -> None:
    """A VGG19 `features` state dict with torchvision's key names and shapes and random values."""
    import torch

    from upres.losses.perceptual import _VGG19_CFG

    state, index, cin = {}, 0, 3
    gen = torch.Generator().manual_seed(0)
    for c in _VGG19_CFG:
        if c == "M":
            index += 1
            continue
        state[f"features.{index}.weight"] = torch.randn(c, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
        state[f"features.{index}.bias"] = torch.zeros(c)
        cin, index = c, index + 2
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def make_workspace(root: Path) -> None:
    """photos/, photo.png, datasets/{train,val}/hr, model.safetensors, 2x-Community.pth and docs/examples/ (option
    files the docs name by their path in the repository) under `root`."""
    import shutil

    import torch

    shutil.copytree(REPO / "docs" / "examples", root / "docs" / "examples")

    from upres.archs import build_network
    from upres.io.model_files import save_model

    for name in ("astronaut", "chelsea", "coffee"):
        img = _photo(name)
        _save(root / "photos" / f"{name}.png", img[::2, ::2] if name == "coffee" else img)
    chelsea = _photo("chelsea")
    _save(root / "photo.png", chelsea[60:124, 150:214])
    astro, coffee = _photo("astronaut"), _photo("coffee")
    for i, (y, x) in enumerate([(0, 0), (128, 128), (256, 256)]):
        _save(root / "datasets" / "train" / "hr" / f"astronaut_{i}.png", astro[y : y + 128, x : x + 128])
        _save(root / "datasets" / "train" / "hr" / f"coffee_{i}.png", coffee[y : y + 128, x : x + 128])
    _save(root / "datasets" / "val" / "hr" / "chelsea.png", chelsea[100:164, 150:214])
    _save(root / "datasets" / "val" / "hr" / "coffee.png", coffee[200:264, 300:364])
    torch.manual_seed(0)
    net, info = build_network("compact", scale=2, num_feat=8, num_conv=2)
    save_model(root / "model.safetensors", net, info)
    net, _ = build_network("compact", scale=2, num_feat=8, num_conv=2)
    torch.save({"params_ema": net.state_dict()}, root / "2x-Community.pth")


# --- making long commands short ----------------------------------------------------------------------------------

TINY_NETS = {
    "compact": {"num_feat": 8, "num_conv": 2},
    "ultracompact": {"num_feat": 8, "num_conv": 2},
    "superultracompact": {"num_feat": 8, "num_conv": 2},
    "esrgan": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    "esrgan_lite": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
}
ITERATIONS = 2


def shrink_options(path: Path, cwd: Path) -> list[str]:
    """Rewrite an option file in place for a seconds-long CPU run; returns what it changed that a reader may not
    expect (a pretrain that a shortened earlier run wrote under another iteration number)."""
    opts = yaml.safe_load(path.read_text(encoding="utf-8"))
    notes = []
    for ds in opts.get("datasets", {}).values():
        if "lq_size" in ds or "gt_size" in ds:
            ds.pop("gt_size", None)
            # 32 px GT crops: the smallest a VGG-style discriminator takes (a multiple of 32).
            ds.update(
                lq_size=max(32 // int(opts.get("scale", 4)), 1), batch_size_per_gpu=2, num_worker_per_gpu=0
            )
    opts["use_amp"] = False  # bf16 convolutions are slow on most CPUs; tests/train covers AMP
    g = opts.get("network_g", {})
    g.update(TINY_NETS.get(str(g.get("type")), {}))
    if opts.get("network_d"):
        opts["network_d"]["num_feat"] = 8
    train = opts.setdefault("train", {})
    train["total_iter"] = ITERATIONS
    if opts.get("val"):
        opts["val"]["val_freq"] = ITERATIONS
    logger = opts.setdefault("logger", {})
    logger.update(print_freq=1, save_checkpoint_freq=ITERATIONS, use_tb_logger=False)
    path_opts = opts.get("path") or {}
    pre = path_opts.get("pretrain_network_g")
    if pre and not (cwd / pre).is_file():
        # Same folder, the iteration number of the shortened run; no folder at all stays an error.
        found = sorted((cwd / pre).parent.glob("net_g_ema_*"), key=lambda p: p.stat().st_mtime)
        if found:
            path_opts["pretrain_network_g"] = str(found[-1])
            notes.append(f"pretrain {pre} -> {found[-1]}")
    path.write_text(yaml.safe_dump(opts, sort_keys=False), encoding="utf-8")
    return notes


CHECKPOINT = re.compile(r"^(.*net_g(?:_ema)?_)(\d+)(\.\w+)$")


def shortened_checkpoint(arg: str, cwd: Path) -> str:
    """`.../net_g_ema_2000.safetensors` as the shortened run named it (`..._2.safetensors`), when only that exists."""
    m = CHECKPOINT.match(arg)
    if not m or (cwd / arg).exists():
        return arg
    short = f"{m.group(1)}{ITERATIONS}{m.group(3)}"
    return short if (cwd / short).exists() else arg
