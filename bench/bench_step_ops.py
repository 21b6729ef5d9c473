"""Operations a training step dispatches: `upres train`'s loop against the bare loop of the GPU check.

Each operation that reaches the dispatcher is a kernel launch (or more) on a GPU, and an eager GPU step of RRDBNet is
bound by launching them, so the count per step is a proxy for the host work a GPU step waits for, measurable on a
CPU. Only top-level calls are counted (a mode does not see what an operation calls inside itself), so a CPU's
per-tensor loops inside foreach operations do not inflate it. The bare loop uses AdamW's foreach implementation, the
default on a GPU; upres uses its fused one. Full RRDBNet 64/23 topology at a tiny crop (the count does not depend
on the crop), AMP bf16 and channels-last as in the GPU check.

With `--time` it times the same two steps instead, on one thread: at this crop each operation's arithmetic is tiny,
so a step's time is mostly the host's (Python, autograd, dispatch), the regime of the eager GPU step.

    PYTHONPATH=src python bench/bench_step_ops.py [--gan] [--time]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_check_train as check  # noqa: E402
import upres.train.step as step_mod  # noqa: E402
from gpu_check_common import Sizes  # noqa: E402

STEPS = 2
WARM = 3


class CountOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


class Observe:
    """Around each observed step: counts its operations, or adds up its wall time."""

    def __init__(self, timing: bool) -> None:
        self.timing, self.seconds, self.mode = timing, 0.0, CountOps()

    def __enter__(self) -> None:
        self.start = time.perf_counter()
        if not self.timing:
            self.mode.__enter__()

    def __exit__(self, *exc) -> None:
        if not self.timing:
            self.mode.__exit__(*exc)
        self.seconds += time.perf_counter() - self.start


def observe_bare(sizes: Sizes, work: Path, gan: bool, watch: Observe, steps: int) -> None:
    adamw = torch.optim.AdamW
    torch.optim.AdamW = lambda params, **kw: adamw(params, foreach=True, **kw)  # the default on a GPU
    try:
        step = check.bare_step(sizes, torch.device("cpu"), work, gan)
    finally:
        torch.optim.AdamW = adamw
    for _ in range(WARM):
        step()
    for _ in range(steps):
        with watch:
            step()


def observe_upres(sizes: Sizes, work: Path, gan: bool, watch: Observe, steps: int) -> None:
    opts = check.upres_options(sizes, work, gan, compiled=False)
    opts.update(use_amp_on_cpu=True)  # AMP as on a GPU
    opts["datasets"]["train"]["num_worker_per_gpu"] = 0
    opts["train"]["total_iter"] = WARM + steps + 1
    real, calls = step_mod.TrainStep.__call__, [0]

    def counted(self, it, next_batch):
        calls[0] += 1
        if WARM < calls[0] <= WARM + steps:
            with watch:
                return real(self, it, next_batch)
        return real(self, it, next_batch)

    step_mod.TrainStep.__call__ = counted
    try:
        check.train_in_memory(opts, sizes, torch.device("cpu"))
    finally:
        step_mod.TrainStep.__call__ = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gan", action="store_true", help="the GAN stage (VGG-style D, perceptual, RaGAN)")
    parser.add_argument("--time", action="store_true", help="time the steps on one thread instead")
    parser.add_argument("--steps", type=int, default=20, help="steps timed with --time (default 20)")
    args = parser.parse_args()
    gan = args.gan
    sizes = Sizes(batch=2, lq=8 if gan else 4, train_warm=3)  # batch 2: the VGG-style D's BatchNorm needs it
    work = Path(tempfile.mkdtemp())
    if args.time:
        torch.set_num_threads(1)
        for round_ in range(2):  # a change in the machine's load shows as a difference between rounds
            work = Path(tempfile.mkdtemp())
            bare, upres = Observe(timing=True), Observe(timing=True)
            observe_bare(sizes, work, gan, bare, args.steps)
            observe_upres(sizes, work, gan, upres, args.steps)
            ms = [1000 * w.seconds / args.steps for w in (bare, upres)]
            print(
                f"round {round_ + 1}: ms per step: bare loop {ms[0]:.1f}, upres {ms[1]:.1f} ({ms[0] / ms[1]:.2f}x)"
            )
        return
    watches = Observe(timing=False), Observe(timing=False)
    observe_bare(sizes, work, gan, watches[0], STEPS)
    observe_upres(sizes, work, gan, watches[1], STEPS)
    bare, upres = watches[0].mode.counts, watches[1].mode.counts
    print(
        f"operations per step: bare loop {sum(bare.values()) / STEPS:.0f}, upres {sum(upres.values()) / STEPS:.0f}"
    )
    print("largest differences (upres - bare, per step):")
    diffs = sorted(((upres[k] - bare[k]) / STEPS, k) for k in set(bare) | set(upres))
    for d, name in sorted(diffs, key=lambda x: -abs(x[0]))[:12]:
        if d:
            print(f"  {name:32s} {d:+8.1f}")


if __name__ == "__main__":
    main()
