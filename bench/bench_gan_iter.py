"""One ESRGAN GAN iteration on CPU: upres's GAN step functions vs BasicSR 1.4.2's ESRGANModel.optimize_parameters.

Setting (ESRGAN paper): RRDBNet 23 blocks x4, VGG-style D (batch norm), L1 1e-2 + perceptual conv5_4 (pre-activation,
random VGG19 weights from a temp file) 1 + RaGAN 5e-3, Adam 1e-4, batch 2, lq 32 (gt 128).
Both sides use the same G and D modules (deep copies) and the same batches, so the ratio measures the iteration's
procedure: BasicSR runs D five times per iteration; upres runs it twice and reuses the outputs.
The reference *is* BasicSR's method, called on a duck-typed `self` holding the same pieces it builds in
`init_training_settings` (its L1Loss, PerceptualLoss and GANLoss). Runs are interleaved in one process; median.

    pip install basicsr==1.4.2 --no-deps --no-build-isolation   # plus opencv-python-headless if missing
    python bench/bench_gan_iter.py --reps 5
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
import torchvision

from upres.archs import build_network
from upres.archs.discriminators import build_discriminator
from upres.losses import build_losses
from upres.train.config import OptimizerOptions
from upres.train.gan_step import (
    d_forward,
    discriminator_step,
    gan_entry,
    generator_backward,
    generator_loss_terms,
)
from upres.train.schedule import build_optimizer


def _random_vgg_file(folder: Path) -> Path:
    torch.manual_seed(123)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    path = folder / "vgg19-random.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def _basicsr(vgg_file: Path):
    import torchvision.transforms.functional as tvf

    sys.modules.setdefault(
        "torchvision.transforms.functional_tensor", tvf
    )  # basicsr 1.4.2 imports the old name
    import basicsr.archs.vgg_arch as vgg_arch
    from basicsr.losses.basic_loss import L1Loss, PerceptualLoss
    from basicsr.losses.gan_loss import GANLoss
    from basicsr.models.base_model import BaseModel
    from basicsr.models.esrgan_model import ESRGANModel

    def vgg19(pretrained: bool = False, **_: object) -> torch.nn.Module:
        net = torchvision.models.vgg19(weights=None)
        state = torch.load(vgg_file, weights_only=True)
        net.features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
        return net

    # Offline: give BasicSR's extractor the same random VGG19 instead of its ImageNet download.
    vgg_arch.vgg = types.SimpleNamespace(vgg19=vgg19)
    vgg_arch.VGG_PRETRAIN_PATH = str(vgg_file.parent / "absent.pth")
    cri = {
        "cri_pix": L1Loss(loss_weight=1e-2),
        "cri_perceptual": PerceptualLoss(
            {"conv5_4": 1.0}, vgg_type="vgg19", perceptual_weight=1.0, style_weight=0.0
        ),
        "cri_gan": GANLoss("vanilla", loss_weight=5e-3),
    }
    return ESRGANModel, BaseModel, cri


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--fast",
        action="store_true",
        help="upres side as its templates train: bf16 autocast + channels_last (BasicSR side stays fp32)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        vgg_file = _random_vgg_file(Path(tmp))
        esrgan_model, base_model, cri = _basicsr(vgg_file)
        entries, _ = build_losses(
            [
                {"type": "l1loss", "loss_weight": 1e-2},
                {
                    "type": "perceptualloss",
                    "loss_weight": 1.0,
                    "layer_weights": {"conv5_4": 1.0},
                    "vgg_weights_path": str(vgg_file),
                },
                {"type": "ganloss", "gan_type": "ragan", "loss_weight": 5e-3},
            ]
        )

    torch.manual_seed(0)
    net_g, _ = build_network("esrgan", scale=4)
    net_d = build_discriminator("vggstylediscriminator", num_feat=64, norm="batch")
    gan = gan_entry(entries).module

    def adam(params):
        return torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.99))

    ref_g, ref_d = copy.deepcopy(net_g), copy.deepcopy(net_d)
    if args.fast:
        net_g, net_d = (n.to(memory_format=torch.channels_last) for n in (net_g, net_d))
    ours = types.SimpleNamespace(net_g=net_g, net_d=net_d)
    # What `upres train` builds: fused Adam where the platform has it.
    opt_opts = OptimizerOptions(type="Adam", lr=1e-4, betas=(0.9, 0.99))
    ours.opt_g, ours.opt_d = (
        build_optimizer(net_g.parameters(), opt_opts),
        build_optimizer(net_d.parameters(), opt_opts),
    )

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.fast)

    ref = types.SimpleNamespace(net_g=ref_g, net_d=ref_d, **cri)
    ref.optimizer_g, ref.optimizer_d = adam(ref.net_g.parameters()), adam(ref.net_d.parameters())
    ref.net_d_iters, ref.net_d_init_iters, ref.ema_decay = 1, 0, 0
    ref.opt = {"dist": False}
    ref.reduce_loss_dict = types.MethodType(base_model.reduce_loss_dict, ref)

    def run_ours(it: int, lq: torch.Tensor, gt: torch.Tensor) -> None:
        if args.fast:
            lq = lq.contiguous(memory_format=torch.channels_last)
        with autocast():
            sr = ours.net_g(lq)
            outs = d_forward(ours.net_d, sr, gt)
            terms = generator_loss_terms(entries, it, sr, gt, d_outs=outs)
        ours.opt_g.zero_grad(set_to_none=True)
        generator_backward(terms["l_g_total"], ours.net_g)
        ours.opt_g.step()
        logs = discriminator_step(ours.net_d, ours.opt_d, gan, outs, autocast=autocast)
        {k: v.item() for k, v in {**terms, **logs}.items()}  # same host reads as BasicSR's log dict

    def run_ref(it: int, lq: torch.Tensor, gt: torch.Tensor) -> None:
        ref.lq, ref.gt = lq, gt
        esrgan_model.optimize_parameters(ref, it)

    # Wall time, and the process's CPU time (less sensitive to other jobs on a shared machine).
    times: dict[str, list[float]] = {"upres": [], "basicsr": []}
    cpu: dict[str, list[float]] = {"upres": [], "basicsr": []}
    runners = {"upres": run_ours, "basicsr": run_ref}
    for it in range(1, args.reps + 2):
        lq, gt = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 128, 128)
        order = ["upres", "basicsr"] if it % 2 else ["basicsr", "upres"]
        for name in order:
            t0, c0 = time.perf_counter(), time.process_time()
            runners[name](it, lq, gt)
            if it > 1:  # first iteration is warm-up
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        if it == 1:
            diff = max(
                (a - b).abs().max().item()
                for a, b in zip(
                    [*ours.net_g.parameters(), *ours.net_d.parameters()],
                    [*ref.net_g.parameters(), *ref.net_d.parameters()],
                    strict=True,
                )
            )
            print(
                f"after one iteration, max |param difference| upres vs basicsr: {diff:.2e}"
                + (" (bf16 on the upres side)" if args.fast else "")
            )
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    for k, v in times.items():
        print(
            f"{k:8s} median {med[k]:.3f} s/iter wall, {med_cpu[k]:.3f} s CPU  "
            f"(wall runs: {', '.join(f'{x:.2f}' for x in v)})"
        )
    # Each upres run and the BasicSR run next to it saw about the same load from other jobs: their ratio is the
    # steadiest wall-clock measure on a shared machine.
    paired = statistics.median(b / u for u, b in zip(times["upres"], times["basicsr"], strict=True))
    print(
        f"speed-up upres / basicsr: {med['basicsr'] / med['upres']:.2f}x wall (medians), {paired:.2f}x wall "
        f"(median of paired ratios), "
        f"{med_cpu['basicsr'] / med_cpu['upres']:.2f}x CPU time  (threads={args.threads})"
    )


if __name__ == "__main__":
    main()
