"""Which device a command runs on, from its `--device` value: one rule for every command, checked before any work.

`auto` takes the GPUs when there are any, else the CPU; naming a GPU that is not there is an error, never a silent
fall back to the CPU (a week of training on the wrong device is worse than a failed start).
"""

from __future__ import annotations

import torch

from upres.errors import UpresError


def resolve_devices(spec: str) -> list[torch.device]:
    """`auto`: every visible GPU, else the CPU; `cuda`: every GPU; `cuda:N`, `cpu`; or a comma-separated list."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if parts == ["auto"]:
        return [torch.device("cuda", i) for i in range(gpus)] or [torch.device("cpu")]
    devices: list[torch.device] = []
    for part in parts:
        try:
            dev = torch.device(part)
        except RuntimeError:
            raise UpresError(f"--device {part!r} is not a device; use auto, cpu, cuda or cuda:N") from None
        if dev.type == "cuda":
            if not gpus:
                raise UpresError(f"--device {part}: no CUDA GPU is visible; use --device cpu")
            if dev.index is None:
                devices += [torch.device("cuda", i) for i in range(gpus)]
                continue
            if dev.index >= gpus:
                raise UpresError(f"--device {part}: only {gpus} GPU(s) visible (cuda:0 to cuda:{gpus - 1})")
        elif dev.type != "cpu":
            raise UpresError(f"--device {part!r} is not supported; use auto, cpu, cuda or cuda:N")
        elif (
            dev.index
        ):  # torch accepts any index and runs on the one CPU device: a typo for cuda:N, most likely
            raise UpresError(
                f"--device {part}: the CPU is one device; use cpu (or cuda:{dev.index} for a GPU)"
            )
        devices.append(dev)
    if not devices:
        raise UpresError("--device is empty; use auto, cpu, cuda or cuda:N")
    return devices


def resolve_single_device(spec: str) -> torch.device:
    """One device for commands that run on one (`video`, `eval`): `auto` and `cuda` mean the first GPU."""
    if "," in spec:
        raise UpresError(f"--device {spec}: this command runs on one device; give cpu, cuda or cuda:N")
    return resolve_devices(spec)[0]


def training_device(spec: str, local_rank: int, world_size: int) -> torch.device:
    """The device of one training process. Alone: as `resolve_single_device`. Under torchrun with several
    processes each takes its local GPU (LOCAL_RANK), so `--device` can only say auto, cuda or cpu."""
    if world_size <= 1:
        if "," in spec:
            raise UpresError(
                f"--device {spec}: a training process runs on one device; for several GPUs start it with "
                "torchrun --nproc_per_node N"
            )
        return resolve_single_device(spec)
    # Every process of the machine meets these alike: said once, by process 0 (each printed the same line).
    if spec not in ("auto", "cuda", "cpu"):
        raise _alike(
            UpresError(
                f"--device {spec}: under torchrun each process takes its local GPU; give auto, cuda or cpu and "
                "choose the GPUs with CUDA_VISIBLE_DEVICES"
            )
        )
    try:
        devices = resolve_devices(spec)  # auto: every GPU, else the CPU; cuda without one is an error
    except UpresError as exc:
        raise _alike(exc) from None
    if devices[0].type == "cpu":
        return devices[0]
    if local_rank >= len(devices):
        raise UpresError(
            f"LOCAL_RANK {local_rank} but only {len(devices)} GPU(s) visible: start at most {len(devices)} "
            "processes per machine (torchrun --nproc_per_node)"
        )
    return devices[local_rank]


def _alike(exc: UpresError) -> UpresError:
    exc.same_on_every_process = True
    return exc
