"""The main job: train a small 2x model on scikit-image's bundled photos, evaluate it, upscale a photo.

Everything comes from files that ship with scikit-image, so the demo needs no download.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import skimage.data
import yaml

from upres.errors import shell_word
from upres.io.images import write_image

# Held back for validation; the rest are cut into training tiles.
VAL_PHOTOS = ("astronaut", "coffee")
TRAIN_PHOTOS = (
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "motorcycle_left",
    "retina",
    "horse",
)


def _photo(name: str) -> np.ndarray:
    img = getattr(skimage.data, name)() if name != "motorcycle_left" else skimage.data.stereo_motorcycle()[0]
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    if img.dtype != np.uint8:
        img = (img / img.max() * 255).astype(np.uint8) if img.max() > 1 else (img * 255).astype(np.uint8)
    return np.ascontiguousarray(img[..., :3])


def prepare_photos(root: Path, tile: int = 128) -> tuple[Path, Path]:
    train, val = root / "train", root / "val"
    train.mkdir(parents=True, exist_ok=True)
    val.mkdir(parents=True, exist_ok=True)
    for name in VAL_PHOTOS:
        img = _photo(name)
        h, w = img.shape[:2]
        write_image(val / f"{name}.png", img[h // 2 - 96 : h // 2 + 96, w // 2 - 96 : w // 2 + 96])
    for name in TRAIN_PHOTOS:
        try:
            img = _photo(name)
        except Exception:  # noqa: BLE001 - a sample missing from this scikit-image version is skipped
            continue
        h, w = img.shape[:2]
        for y in range(0, h - tile + 1, tile):
            for x in range(0, w - tile + 1, tile):
                write_image(train / f"{name}_{y}_{x}.png", img[y : y + tile, x : x + tile])
    return train, val


def demo_options(train: Path, val: Path, exp: Path, iterations: int) -> dict:
    return {
        "name": "demo",
        "scale": 2,
        "manual_seed": 0,
        "datasets": {
            "train": {
                "type": "pairedimagedataset",
                "dataroot_gt": str(train),
                "lq_size": 32,
                "batch_size_per_gpu": 4,
                "num_worker_per_gpu": 1,
            },
            "val": {"type": "pairedimagedataset", "dataroot_gt": str(val)},
        },  # fmt: skip
        "network_g": {"type": "compact", "num_feat": 32, "num_conv": 6},
        "path": {"experiments_root": str(exp)},
        "train": {
            "total_iter": iterations,
            "ema_decay": 0.99,
            "optim_g": {"type": "AdamW", "lr": 1e-3, "weight_decay": 0, "betas": [0.9, 0.99]},
            "scheduler": {"type": "CosineAnnealingLR", "eta_min": 5e-5},
            "warmup_iter": 50,
            "losses": [{"type": "l1loss", "loss_weight": 1.0}],
        },
        "val": {
            "val_freq": max(iterations // 4, 1),
            "metrics_enabled": True,  # stated, as the templates do: the demo's file is not a redux file to note
            "metrics": {
                "psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True},
                "ssim": {"type": "calculate_ssim", "crop_border": 2, "test_y_channel": True},
            },
        },
        "logger": {"print_freq": 100, "save_checkpoint_freq": iterations, "use_tb_logger": False},
    }


def run_demo(output: str | Path, iterations: int = 2000) -> dict:
    from upres.metrics.evaluate import bicubic_upscaler, evaluate_folder, model_upscaler
    from upres.train.config import parse_options
    from upres.train.loop import train

    out = Path(output)
    t0 = time.perf_counter()
    train_dir, val_dir = prepare_photos(out / "data")
    options = demo_options(train_dir, val_dir, out / "experiment", iterations)
    (out / "demo.yml").write_text(yaml.safe_dump(options, sort_keys=False))
    print(
        f"upres demo: training a 2x compact model for {iterations} iterations on scikit-image's sample photos"
    )
    opts = parse_options(options, str(out / "demo.yml"))
    # A second demo into the same folder moves the first one's run aside, as `upres train --archive-old` does.
    result = train(opts, options_text=(out / "demo.yml").read_text(), archive_old=True)
    trained = out / "experiment" / "models" / f"net_g_ema_{result.iteration}.safetensors"
    model = out / "model_x2.safetensors"  # a stable name for the docs' next steps
    shutil.copyfile(trained, model)

    bicubic = evaluate_folder(bicubic_upscaler(2), val_dir, 2, method="bicubic")
    ours = evaluate_folder(model_upscaler(model, 2), val_dir, 2, method="upres")
    from upres.infer.tiling import Upscaler
    from upres.io.images import array_to_tensor, read_image, tensor_to_array
    from upres.io.model_files import load_model

    loaded = load_model(model)
    photo = read_image(val_dir / "astronaut.png")
    up = Upscaler(loaded.module, 2)
    write_image(out / "astronaut_x2.png", tensor_to_array(up(array_to_tensor(photo)[None], tile=96)[0]))
    gain = ours.psnr - bicubic.psnr
    print()
    print(f"done in {time.perf_counter() - t0:.0f} s")
    print(f"  model:        {model}  (loads in chaiNNer/spandrel)")
    print(f"  report:       {out / 'experiment' / 'report.html'}")
    print(f"  upscaled:     {out / 'astronaut_x2.png'}")
    print(
        f"  option file:  {out / 'demo.yml'}  (to train on: raise train.total_iter in it, then "
        f"upres train -c {shell_word(out / 'demo.yml')} --resume auto)"
    )
    print(
        f"  validation (Y-PSNR/SSIM, held-back photos): bicubic {bicubic.psnr:.2f} dB / {bicubic.ssim:.4f}, "
        f"upres {ours.psnr:.2f} dB / {ours.ssim:.4f}  ->  {gain:+.2f} dB over bicubic"
    )
    return {"bicubic_psnr": bicubic.psnr, "model_psnr": ours.psnr, "gain_db": gain, "model": str(model)}
