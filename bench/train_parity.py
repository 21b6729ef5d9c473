"""Fidelity training parity: `upres train` vs BasicSR 1.4.2's SRModel on the same paired data.

Question: does upres's fidelity training reach the quality BasicSR reaches with the same model, data and settings?
A quietly wrong learning rate, colour order, normalisation, crop alignment, schedule, EMA or data range would show
as a lower PSNR than the reference trainer users know.

Both trainers get: the same paired folders (HR tiles cut by `upres prepare chunk`, LR made once from them by
`upres prepare lr`, MATLAB-style bicubic), SRVGGNetCompact, random crops of the same size with flips and rotations,
batch, L1, Adam(W) with the same lr and betas, MultiStepLR halving the lr at half the run, EMA 0.999, fp32, one
thread, no loader workers, on the CPU (a GPU, where there is one, is left alone). upres runs through its CLI
(`upres train -c opts.yml`); BasicSR through its SRModel (`feed_data`, `optimize_parameters`,
`update_learning_rate`, as basicsr/train.py calls them) and its PairedImageDataset. Every final model (EMA and
raw weights) is scored twice on the benchmark sets: by `upres eval` and by BasicSR's own route (LR from basicsr's
`imresize`, `tensor2img`, `calculate_psnr` on the Y channel with a border of `scale` pixels cropped).

    pip install basicsr==1.4.2 --no-deps --no-build-isolation   # plus opencv-python-headless if missing
    PYTHONPATH=src python bench/train_parity.py --work /tmp/parity --iters 1500 --seeds 1 2
    PYTHONPATH=src python bench/train_parity.py --work /tmp/parity_smoke --smoke   # seconds; tests run this
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
# upres on the CPU as BasicSR's side (num_gpu 0): `--device auto` took a GPU, whose convolutions run in TF32.
ON_CPU = ("--device", "cpu")
# upres_gt_only: upres from the HR folder alone (no dataroot_lq), each LR crop made on the fly from its HR crop.
SIDES = ("upres", "basicsr", "upres_gt_only")


def _upres(*args: str, cwd: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "upres", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if proc.returncode:
        raise SystemExit(f"upres {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _synthetic_images(folder: Path, count: int, size: int, seed: int) -> None:
    """Smooth colour patterns with edges: something a tiny model can learn in a few steps (--smoke)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        f = rng.uniform(2, 9, size=3)
        img = np.stack([np.sin(f[c] * (xx + (c + 1) * yy) * np.pi) for c in range(3)], -1) * 0.4 + 0.5
        img[(xx - 0.5) ** 2 + (yy - 0.4) ** 2 < rng.uniform(0.02, 0.08)] = rng.uniform(0, 1, 3)
        cv2.imwrite(str(folder / f"synthetic_{i:02d}.png"), (img * 255).round().astype(np.uint8))


def prepare(args: argparse.Namespace) -> tuple[Path, Path]:
    """The paired training folders, made once (reused when present) so both trainers read identical files."""
    hr, lr = args.work / "hr", args.work / f"lr_x{args.scale}"
    if not (lr.is_dir() and any(lr.iterdir())):
        _upres("prepare", "chunk", str(args.hr), "-o", str(hr), "--size", str(args.tile), "--step",
               str(args.tile), "-j", "1", cwd=args.work)  # fmt: skip
        _upres("prepare", "lr", str(hr), "-o", str(lr), "-s", str(args.scale), "-j", "1", cwd=args.work)
    return hr, lr


def _milestones(args: argparse.Namespace) -> list[int]:
    return [max(1, args.iters // 2)]


def upres_options(args: argparse.Namespace, hr: Path, lr: Path | None, seed: int, root: Path) -> dict:
    pair = {"dataroot_gt": str(hr)} | ({"dataroot_lq": str(lr)} if lr else {})
    return {
        "name": root.name,
        "scale": args.scale,
        "manual_seed": seed,
        "use_amp": False,
        "use_channels_last": False,
        "datasets": {
            "train": {
                "name": "train",
                "type": "pairedimagedataset",
                **pair,
                "lq_size": args.lq_size,
                "use_hflip": True,
                "use_rot": True,
                "num_worker_per_gpu": 0,
                "batch_size_per_gpu": args.batch,
            }
        },
        "network_g": {"type": "compact", "num_feat": args.num_feat, "num_conv": args.num_conv},
        "path": {"experiments_root": str(root)},
        "train": {
            "total_iter": args.iters,
            "ema_decay": args.ema,
            "optim_g": {"type": "Adam", "lr": args.lr, "weight_decay": 0, "betas": [0.9, 0.99]},
            "scheduler": {"type": "MultiStepLR", "milestones": _milestones(args), "gamma": 0.5},
            "losses": [{"type": "l1loss", "loss_weight": 1.0}],
        },
        "logger": {
            "print_freq": max(1, args.iters // 10),
            "save_checkpoint_freq": args.iters,
            "save_checkpoint_format": "pth",
            "use_tb_logger": False,
        },
    }


def train_upres(args: argparse.Namespace, hr: Path, lr: Path | None, seed: int, side: str = "upres") -> Path:
    """`upres train -c`; with lr None (side upres_gt_only) from the HR folder alone, LR crops made on the fly."""
    import torch
    import yaml

    root = args.work / f"{side}_seed{seed}"
    shutil.rmtree(root, ignore_errors=True)  # a fresh run each time, as BasicSR's side is
    opts = args.work / f"{side}_seed{seed}.yml"
    opts.write_text(yaml.safe_dump(upres_options(args, hr, lr, seed, root), sort_keys=False))
    _upres("train", "-c", str(opts), *ON_CPU, cwd=args.work)

    # upres writes net_g_<iter> (params) and net_g_ema_<iter> (params_ema): one file as BasicSR's side writes.
    state = {}
    for stem in ("net_g", "net_g_ema"):
        model = root / "models" / f"{stem}_{args.iters}.pth"
        if model.exists():
            state.update(torch.load(model, map_location="cpu", weights_only=True))
    if "params" not in state or bool(args.ema) != ("params_ema" in state):
        raise SystemExit(f"upres train left {sorted(state)} in {root / 'models'} at {args.iters}")
    out = args.work / f"{side}_seed{seed}.pth"
    torch.save(state, out)
    return out


def _basicsr_import():
    import torchvision.transforms.functional as tvf

    # basicsr 1.4.2 imports a torchvision module that was renamed; its contents are those of the new one.
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    import basicsr.archs.srvgg_arch  # noqa: F401  (registers SRVGGNetCompact)
    import basicsr.models.sr_model as sr_model

    return sr_model


def train_basicsr(args: argparse.Namespace, hr: Path, lr: Path, seed: int) -> Path:
    """basicsr/train.py's loop, minus logging and validation, with its SRModel and PairedImageDataset."""
    import torch

    sr_model = _basicsr_import()
    from basicsr.data.paired_image_dataset import PairedImageDataset
    from basicsr.utils import set_random_seed

    set_random_seed(seed)
    opt = {
        "name": f"basicsr_seed{seed}",
        "is_train": True,
        "dist": False,
        "num_gpu": 0,
        "scale": args.scale,
        "network_g": {
            "type": "SRVGGNetCompact",
            "num_in_ch": 3,
            "num_out_ch": 3,
            "num_feat": args.num_feat,
            "num_conv": args.num_conv,
            "upscale": args.scale,
            "act_type": "prelu",
        },
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": args.ema,
            "optim_g": {"type": "Adam", "lr": args.lr, "weight_decay": 0, "betas": [0.9, 0.99]},
            "scheduler": {"type": "MultiStepLR", "milestones": _milestones(args), "gamma": 0.5},
            "total_iter": args.iters,
            "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "val": None,
        "logger": {},
    }
    model = sr_model.SRModel(opt)
    dataset = PairedImageDataset(
        {
            "dataroot_gt": str(hr),
            "dataroot_lq": str(lr),
            "io_backend": {"type": "disk"},
            "filename_tmpl": "{}",
            "gt_size": args.lq_size * args.scale,
            "use_hflip": True,
            "use_rot": True,
            "phase": "train",
            "scale": args.scale,
        }
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, drop_last=True)
    it = 0
    while it < args.iters:
        for batch in loader:
            it += 1
            if it > args.iters:
                break
            model.update_learning_rate(it, warmup_iter=-1)
            model.feed_data(batch)
            model.optimize_parameters(it)
    out = args.work / f"basicsr_seed{seed}.pth"
    state = {"params_ema": model.net_g_ema.state_dict()} if args.ema else {}
    torch.save({**state, "params": model.net_g.state_dict()}, out)
    return out


def _state(path: Path, key: str) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)[key]


def eval_basicsr(args: argparse.Namespace, model_file: Path, key: str, sets: list[Path]) -> dict[str, float]:
    """BasicSR's route: LR from basicsr's MATLAB imresize of the mod-cropped GT, its tensor2img, calculate_psnr."""
    import cv2
    import torch

    _basicsr_import()
    from basicsr.archs.srvgg_arch import SRVGGNetCompact
    from basicsr.metrics.psnr_ssim import calculate_psnr
    from basicsr.utils import img2tensor, tensor2img
    from basicsr.utils.matlab_functions import imresize

    net = SRVGGNetCompact(3, 3, args.num_feat, args.num_conv, args.scale, "prelu")
    net.load_state_dict(_state(model_file, key))
    net.eval()
    scores = {}
    for folder in sets:
        psnrs = []
        for path in sorted(folder.iterdir()):
            gt = cv2.imread(str(path), cv2.IMREAD_COLOR)
            h, w = gt.shape[0] - gt.shape[0] % args.scale, gt.shape[1] - gt.shape[1] % args.scale
            gt = gt[:h, :w]
            # An 8-bit LR, as the PNG files of BasicSR's benchmark folders hold it.
            lq = np.round(np.clip(imresize(gt.astype(np.float32) / 255.0, 1 / args.scale), 0, 1) * 255) / 255
            with torch.no_grad():
                sr = net(img2tensor(lq.astype(np.float32), bgr2rgb=True, float32=True)[None])
            psnrs.append(calculate_psnr(tensor2img(sr), gt, args.scale, test_y_channel=True))
        scores[folder.name] = float(np.mean(psnrs))
    return scores


def eval_upres(args: argparse.Namespace, model_file: Path, key: str, sets: list[Path]) -> dict[str, float]:
    import torch

    source = model_file
    if (
        model_file.suffix == ".pth"
    ):  # `upres eval` reads params_ema first: give it the weights asked for alone
        source = args.work / "eval" / f"{model_file.stem}_{key}.pth"
        source.parent.mkdir(exist_ok=True)
        torch.save({"params": _state(model_file, key)}, source)
    out = json.loads(_upres("eval", "-m", str(source), *map(str, sets), "--scale", str(args.scale), "--json",
                            *ON_CPU, cwd=args.work))  # fmt: skip
    return _psnr_by_set(out)


def _psnr_by_set(report: dict) -> dict[str, float]:
    """The PSNR per set from `upres eval --json` (one model)."""
    return {Path(row["folder"]).name: float(row["psnr"]) for row in report["results"]}


def run(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    hr, lr = prepare(args)
    rows = []
    for seed in args.seeds:
        for side in args.sides:
            start, seconds = time.perf_counter(), None
            model_file = args.work / f"{side}_seed{seed}.pth"
            if not (args.rescore and model_file.exists()):
                if side == "basicsr":
                    model_file = train_basicsr(args, hr, lr, seed)
                else:
                    model_file = train_upres(args, hr, None if side == "upres_gt_only" else lr, seed, side)
                seconds = round(time.perf_counter() - start, 1)
            for key in ("params_ema", "params") if args.ema else ("params",):
                row = {"side": side, "seed": seed, "weights": key, "train_s": seconds}
                row["basicsr_eval"] = eval_basicsr(args, model_file, key, args.sets)
                row["upres_eval"] = eval_upres(args, model_file, key, args.sets)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {"settings": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "summary": summarise(rows)}


def summarise(rows: list[dict]) -> list[dict]:
    """Each side's PSNR per seed, for each weights, evaluation route and set; each mean minus BasicSR's."""
    sides = list(dict.fromkeys(r["side"] for r in rows))
    out = []
    for weights in dict.fromkeys(r["weights"] for r in rows):
        for route in ("basicsr_eval", "upres_eval"):
            for name in rows[0][route]:
                per = {
                    side: [r[route][name] for r in rows if r["side"] == side and r["weights"] == weights]
                    for side in sides
                }
                line = {"weights": weights, "route": route, "set": name, **per}
                if per.get("basicsr"):
                    reference = statistics.fmean(per["basicsr"])
                    for side in sides:
                        if side != "basicsr" and per[side]:
                            line[f"{side} - basicsr"] = round(statistics.fmean(per[side]) - reference, 3)
                out.append(line)
    return out


def markdown(summary: list[dict]) -> str:
    keys = [k for k in summary[0] if k not in ("weights", "route", "set")]
    head = [k if " - " in k else f"{k} (per seed)" for k in keys]
    lines = ["| weights | scored by | set | " + " | ".join(head) + " |", "| --- " * (3 + len(keys)) + "|"]
    for s in summary:
        cells = [f"{s[k]:+.3f}" if " - " in k else " / ".join(f"{v:.3f}" for v in s[k]) for k in keys]
        lines.append(
            f"| {s['weights']} | {s['route'].removesuffix('_eval')} | {s['set']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, help="folder for the data, runs and models (needed to train)")
    p.add_argument("--hr", type=Path, default=SHARED / "train" / "SunHays80", help="HR training photos")
    p.add_argument(
        "--sets", type=Path, nargs="+", default=[SHARED / "benchmark" / s for s in ("Set5", "Set14")]
    )
    p.add_argument("--scale", type=int, default=2)
    p.add_argument("--tile", type=int, default=192, help="HR tile size of `upres prepare chunk`")
    p.add_argument("--num-feat", type=int, default=32)
    p.add_argument("--num-conv", type=int, default=8)
    p.add_argument("--iters", type=int, default=1500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lq-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sides", nargs="+", choices=SIDES, default=["upres", "basicsr"])
    p.add_argument(
        "--merge", type=Path, nargs="+", help="print the table of earlier --json files' rows; train nothing"
    )
    p.add_argument(
        "--rescore",
        action="store_true",
        help="score the models an earlier run left in --work; train the missing",
    )
    p.add_argument("--json", type=Path, help="write the rows and the summary here")
    p.add_argument(
        "--smoke", action="store_true", help="toy sizes on synthetic images, to keep the script working"
    )
    args = p.parse_args(argv)
    if args.work is None and not args.merge:
        p.error("--work is needed to train (or --merge earlier --json files)")
    if args.smoke:
        args.sides = list(SIDES)
        args.hr, args.tile = args.work / "synthetic_hr", 48
        _synthetic_images(args.hr, 3, 96, seed=0)
        _synthetic_images(args.work / "synthetic_val", 2, 40, seed=1)
        args.sets = [args.work / "synthetic_val"]
        args.num_feat, args.num_conv, args.iters, args.batch, args.lq_size, args.seeds = 8, 2, 4, 2, 12, [1]
        args.ema = 0.9
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.merge:
        rows = [row for path in args.merge for row in json.loads(path.read_text())["rows"]]
        print(markdown(summarise(rows)))
        return
    args.work = args.work.resolve()
    report = run(args)
    print(markdown(report["summary"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
