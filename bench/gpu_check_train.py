"""Training figures of `bench/gpu_check.py`: `upres train` against a bare PyTorch loop, and the data loader.

Both sides train the same generator (and, for the GAN stage, the same discriminator and VGG) with AdamW, bf16
autocast and channels-last. The bare loop holds one batch on the device; upres runs its real loop (EMA, gradient-norm
bookkeeping, NaN guard, logging) over an in-memory dataset through two loader workers, as users run it (collating
and pinning off the main thread; the first H200 check ran it with none, which put both on the step's thread), so
decoding costs nothing and the numbers compare the step. Each figure says how much of upres's time went to waiting
for batches. TFLOP/s: the bare step's FLOPs (torch's FlopCounterMode, forward and backward) times the
rate, next to the matmul peak measured in the same run.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

import upres.train.setup as setup_mod
from gpu_check_common import Row, Sizes, photo, sync
from upres.io.images import write_image
from upres.train.config import parse_options
from upres.train.loop import train
from upres.train.sampler import ResumableBatchSampler

DEFAULT_MODE = "upres's default compile_mode"


class Tensors(Dataset):
    """Random LR/HR pairs already decoded: the loader is not what is measured here."""

    def __init__(self, sizes: Sizes, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        s = sizes.arch["scale"]
        self.lq = torch.rand(n, 3, sizes.lq, sizes.lq, generator=g)
        self.gt = torch.rand(n, 3, sizes.lq * s, sizes.lq * s, generator=g)

    def __len__(self) -> int:
        return len(self.lq)

    def __getitem__(self, index):
        i = index[1] if isinstance(index, tuple) else index
        return {"lq": self.lq[i], "gt": self.gt[i], "lq_path": "", "gt_path": ""}


def random_vgg(work: Path) -> Path:
    """torchvision's VGG19 feature layout with random values (no download; speed does not depend on them), the same
    values in every folder, so that runs in different folders train the same losses."""
    import torchvision

    path = work / "vgg19_random.pth"
    if not path.exists():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
        torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def d_feat(sizes: Sizes) -> int:
    return 64 if sizes.arch.get("num_feat", 64) >= 64 else 8


def upres_options(
    sizes: Sizes, work: Path, gan: bool, compiled: bool, compile_mode: str | None = None, run: int = 0
) -> dict:
    warm = sizes.compile_warm if compiled else sizes.train_warm
    opts = {
        "name": "gpu_check", "scale": sizes.arch["scale"], "manual_seed": 0,
        "use_amp": sizes.amp, "amp_bf16": True, "use_channels_last": True, "use_compile": compiled,
        "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": str(work / "in_memory"), "lq_size": sizes.lq,
                               "batch_size_per_gpu": sizes.batch, "num_worker_per_gpu": sizes.train_workers}},
        "network_g": {k: v for k, v in sizes.arch.items() if k != "scale"},
        "path": {"experiments_root": str(work / f"exp_{'gan' if gan else 'fid'}_{int(compiled)}_{run}")},
        "train": {"total_iter": warm + sizes.train_iters, "ema_decay": 0.999,
                  "optim_g": {"type": "AdamW", "lr": 1e-4}, "losses": [{"type": "l1loss", "loss_weight": 1.0}]},
        "logger": {"print_freq": min(10, warm), "save_checkpoint_freq": 10**9, "use_tb_logger": False},
    }  # fmt: skip
    if compile_mode:
        opts["compile_mode"] = compile_mode
    if gan:
        opts["network_d"] = {"type": sizes.gan_d, "num_feat": d_feat(sizes)}
        opts["train"]["optim_d"] = {"type": "AdamW", "lr": 1e-4}
        opts["train"]["losses"] = [
            {"type": "l1loss", "loss_weight": 0.01},
            {"type": "perceptualloss", "loss_weight": 1.0, "layer_weights": {sizes.perceptual_layer: 1.0},
             "vgg_weights_path": str(random_vgg(work))},
            {"type": "ganloss", "gan_type": "ragan", "loss_weight": 0.005},
        ]  # fmt: skip
    return opts


def train_in_memory(opts: dict, sizes: Sizes, device: torch.device):
    """`upres train` on `opts` with the training set replaced by random tensors already decoded."""
    data = Tensors(sizes, max(4 * sizes.batch, 8))
    saved = setup_mod.build_train_dataset, setup_mod.check_train_data
    setup_mod.build_train_dataset = lambda o, seed: (data, o.train_dataset)
    setup_mod.check_train_data = lambda o, announce=None: []
    try:
        return train(parse_options(opts), device=str(device))
    finally:
        setup_mod.build_train_dataset, setup_mod.check_train_data = saved


def upres_rate(
    sizes: Sizes,
    device: torch.device,
    work: Path,
    gan: bool,
    compiled: bool,
    compile_mode: str | None = None,
    run: int = 0,
) -> tuple[float, dict, float]:
    """Iterations/s of `upres train` after its warm-up window, the losses of its last window, and the share of the
    measured time its loop waited for batches (here collating and pinning the in-memory samples in the main process:
    the part of upres's step time that the bare loop, its batch already on the device, does not have)."""
    opts = upres_options(sizes, work, gan, compiled, compile_mode, run)  # each run its own experiment folder
    result = train_in_memory(opts, sizes, device)
    log = (Path(opts["path"]["experiments_root"]) / "log.txt").read_text()
    line = r" iter (\d+)/\d+ .*?\| ([\d.]+) it/s [\d.]+ samples/s, data wait (\d+)%"
    windows = [(int(i), float(r), int(w) / 100) for i, r, w in re.findall(line, log)]
    warm = sizes.compile_warm if compiled else sizes.train_warm
    seconds, iters, waited, previous = 0.0, 0, 0.0, None
    for it, rate, wait in windows:
        # Windows of 10 iterations; those inside the warm-up (cudnn autotuning, the compile) are left out.
        if previous is not None and previous >= warm and rate > 0:
            seconds += (it - previous) / rate
            waited += wait * (it - previous) / rate
            iters += it - previous
        previous = it
    if not seconds:
        return float("nan"), dict(result.last_losses), float("nan")
    return iters / seconds, dict(result.last_losses), waited / seconds


def bare_step(
    sizes: Sizes, device: torch.device, work: Path, gan: bool, d_reuse: bool = False
) -> Callable[[], None]:
    """One iteration of the loop every tutorial writes, with AMP and channels-last, its data already on the device.
    GAN stage: D runs four times (BasicSR's layout, D frozen for G's step); with `d_reuse`, twice, as upres's step
    does: D's outputs keep their graph through G's backward (restricted to G's parameters) for D's loss."""
    from upres.archs import build_network

    torch.manual_seed(0)
    arch = dict(sizes.arch)
    net = build_network(arch.pop("type"), **arch)[0].to(device, memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    # cudnn picks its fastest kernels, as `upres train` has it do (the setting is global: the first H200 check ran
    # the fidelity bare loop without it and the later ones with it, since upres had switched it on).
    torch.backends.cudnn.benchmark = True
    data = Tensors(sizes, sizes.batch)
    lq = data.lq.to(device).contiguous(memory_format=torch.channels_last)
    gt = data.gt.to(device)
    l1 = torch.nn.functional.l1_loss

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=sizes.amp)

    if not gan:

        def step() -> None:
            with autocast():
                loss = l1(net(lq), gt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    else:
        from upres.archs.discriminators import build_discriminator
        from upres.losses.perceptual import PerceptualLoss

        net_d = build_discriminator(sizes.gan_d, num_feat=d_feat(sizes)).to(device)
        opt_d = torch.optim.AdamW(net_d.parameters(), lr=1e-4)
        percep = PerceptualLoss({sizes.perceptual_layer: 1.0}, vgg_weights_path=random_vgg(work)).to(device)
        bce = torch.nn.functional.binary_cross_entropy_with_logits

        def ragan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            """BCE of (a - mean b) as real and (b - mean a) as fake: ESRGAN's relativistic average loss."""
            x, y = a - b.mean(), b - a.mean()
            return (bce(x, torch.ones_like(x)) + bce(y, torch.zeros_like(y))) / 2

        def step() -> None:
            net_d.requires_grad_(False)
            with autocast():
                sr = net(lq)
                real, fake = net_d(gt).detach(), net_d(sr)
                loss = 0.01 * l1(sr, gt) + percep(sr, gt) + 0.005 * ragan(fake, real)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            net_d.requires_grad_(True)
            with autocast():
                l_d = ragan(net_d(gt), net_d(sr.detach()))
            opt_d.zero_grad(set_to_none=True)
            l_d.backward()
            opt_d.step()

        if d_reuse:
            g_params, d_params = list(net.parameters()), list(net_d.parameters())

            def step() -> None:
                with autocast():
                    sr = net(lq)
                    real, fake = net_d(gt), net_d(sr)
                    loss = 0.01 * l1(sr, gt) + percep(sr, gt) + 0.005 * ragan(fake, real.detach())
                opt.zero_grad(set_to_none=True)
                loss.backward(inputs=g_params, retain_graph=True)
                opt.step()
                with autocast():
                    l_d = ragan(real, fake)
                opt_d.zero_grad(set_to_none=True)
                l_d.backward(inputs=d_params)
                opt_d.step()

    return step


def bare_rate(
    sizes: Sizes, device: torch.device, work: Path, gan: bool, d_reuse: bool = False
) -> tuple[float, float]:
    """(iterations/s, FLOPs per iteration) of `bare_step`."""
    from torch.utils.flop_counter import FlopCounterMode

    step = bare_step(sizes, device, work, gan, d_reuse)
    step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    for _ in range(sizes.train_warm):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(sizes.train_iters):
        step()
    sync(device)
    return sizes.train_iters / (time.perf_counter() - start), float(flops)


def _stage_label(sizes: Sizes, gan: bool) -> tuple[str, str]:
    stage = "GAN" if gan else "fidelity"
    return (
        stage,
        f"{stage}, batch {sizes.batch}, lq {sizes.lq}, {'bf16' if sizes.amp else 'fp32'}, channels-last",
    )


def bench_training(sizes: Sizes, device: torch.device, work: Path, peak: float) -> tuple[dict, list[Row]]:
    """Eager `upres train` against the bare eager loop, fidelity and GAN stage."""
    data, rows = {}, []
    for gan in (False, True):
        stage, what = _stage_label(sizes, gan)
        rounds = []
        for n in range(max(sizes.train_rounds, 1)):
            base, flops = bare_rate(sizes, device, work, gan)
            eager, eager_losses, wait = upres_rate(sizes, device, work, gan, compiled=False, run=n)
            rounds.append((eager / base, base, eager, wait))
        # The round whose ratio is the median (the lower middle one for an even count) gives every figure.
        ratio, base, eager, wait = sorted(rounds)[(len(rounds) - 1) // 2]
        data[stage.lower()] = {
            "bare_eager_it_per_s": base,
            "flops_per_iter": flops,
            "bare_tflops": flops * base / 1e12,
            "upres_eager_it_per_s": eager,
            "upres_eager_last_losses": eager_losses,
            "upres_eager_data_wait": wait,
            "rounds": [{"ratio": r, "bare_it_per_s": b, "upres_it_per_s": u} for r, b, u, _ in rounds],
        }
        each = f"; rounds {', '.join(f'{r:.2f}x' for r, *_ in rounds)}" if len(rounds) > 1 else ""
        rows.append(
            Row(
                f"`upres train` eager, {what}",
                f"{eager:.2f} it/s ({wait:.0%} of it waiting for data{each})",
                f"{base:.2f} it/s (bare loop, {flops * base / 1e12:.3g} TFLOP/s = "
                f"{100 * flops * base / 1e12 / peak:.1f}% of peak)",
                ratio,
                ">= 1.0x",
            )
        )
    return data, rows


def bench_training_compiled(
    sizes: Sizes, device: torch.device, work: Path, peak: float, eager: dict, compile_mode: str | None = None
) -> tuple[dict, list[Row]]:
    """`use_compile` runs against the bare eager loop; the bare figures come from the eager section when it ran
    (compiling takes minutes, so the compiled runs come last and can be left out on their own)."""
    data, rows = {}, []
    for gan in (False, True):
        stage, what = _stage_label(sizes, gan)
        known = eager.get(stage.lower())
        base, flops = (
            (known["bare_eager_it_per_s"], known["flops_per_iter"])
            if known
            else bare_rate(sizes, device, work, gan)
        )
        fast, fast_losses, _ = upres_rate(sizes, device, work, gan, True, compile_mode)
        data[stage.lower()] = {
            "bare_eager_it_per_s": base,
            "upres_compile_it_per_s": fast,
            "upres_compile_last_losses": fast_losses,
            "upres_compile_tflops": flops * fast / 1e12,
        }
        rows.append(
            Row(
                f"`upres train` use_compile ({compile_mode or DEFAULT_MODE}), {what}",
                f"{fast:.2f} it/s ({flops * fast / 1e12:.3g} TFLOP/s = {100 * flops * fast / 1e12 / peak:.1f}% of peak)",
                f"{base:.2f} it/s (bare eager loop)",
                fast / base,
                ">= 1.5x",
            )
        )
    return data, rows


def loader_folder(sizes: Sizes, work: Path) -> Path:
    """The loader figures' training set: `loader_images` photo-like PNGs (made once per work folder)."""
    hr = work / "loader_hr"
    if not hr.is_dir():
        hr.mkdir()
        for i in range(sizes.loader_images):
            write_image(
                hr / f"{i:03d}.png", photo(sizes.loader_image_size, sizes.loader_image_size, 2000 + i)
            )
    return hr


def bench_loader(sizes: Sizes, work: Path, step_samples_per_s: float) -> tuple[dict, list[Row]]:
    """Samples/s per loader worker, paired (bicubic LR on the fly) and with the on-the-fly degradations."""
    hr, n = loader_folder(sizes, work), sizes.loader_image_size
    data, rows = {}, []
    workers = sizes.loader_workers
    for kind in ("paired", "otf"):
        opts = {
            "name": "loader", "scale": sizes.arch["scale"], "high_order_degradation": kind == "otf",
            "datasets": {"train": {"type": "realesrgandataset" if kind == "otf" else "pairedimagedataset",
                                   "dataroot_gt": str(hr), "lq_size": sizes.lq, "batch_size_per_gpu": sizes.batch,
                                   "use_hflip": True, "use_rot": True}},
            "network_g": {"type": "compact"},
        }  # fmt: skip
        dataset, _ = setup_mod.build_train_dataset(parse_options(opts), 0)
        sampler = ResumableBatchSampler(len(dataset), sizes.batch, seed=0)
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, prefetch_factor=4)
        batches = iter(loader)
        next(batches)  # worker start-up is paid once per run
        start = time.perf_counter()
        for _ in range(sizes.loader_batches):
            next(batches)
        rate = sizes.loader_batches * sizes.batch / (time.perf_counter() - start)
        per_worker = rate / max(workers, 1)
        needed = (
            math.ceil(step_samples_per_s / per_worker)
            if per_worker and math.isfinite(step_samples_per_s)
            else 0
        )
        data[kind] = {
            "workers": workers,
            "samples_per_s": rate,
            "per_worker": per_worker,
            "workers_needed": needed,
        }
        rows.append(
            Row(
                f"loader {kind}, {n}px PNGs, lq {sizes.lq}, batch {sizes.batch}",
                f"{per_worker:.1f} samples/s per worker ({workers} workers: {rate:.1f})",
                f"{step_samples_per_s:.1f} samples/s (the eager step's need)",
                rate / step_samples_per_s if step_samples_per_s else None,
                f"workers needed: {needed}",
            )
        )
    return data, rows
