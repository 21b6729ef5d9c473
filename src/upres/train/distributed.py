"""DDP set-up from the environment `torchrun` provides; nothing here schedules processes itself."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from upres.devices import training_device
from upres.errors import ConfigError

# Process 0 alone checks the dataset (every image decoded, on a first run), validates and writes checkpoints while
# the others wait for it. On the default group that wait ends at torch's collective timeout (10 min under NCCL, 30
# under gloo), and the run with it; those waits go through the CPU group, which waits this long. A process that dies
# meanwhile is still seen at once: torchrun ends the others.
WAIT_FOR_MAIN = timedelta(hours=24)


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    # A CPU (gloo) group for the ranks' Ctrl+C agreement (interrupt.StopAgreement) and for waiting on process 0
    # (`barrier`, `broadcast_object`); None for one process.
    cpu_group: object | None = None
    machines: int = 1  # the machines the processes run on (torchrun's nodes)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> DistContext:
    """torchrun sets RANK/LOCAL_RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT; without them this is one process.
    `device` is checked first (devices.training_device): a GPU asked for and missing is an error, not the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = training_device(str(device), local_rank, world)
    use_cuda = dev.type == "cuda"
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        _check_rendezvous(world)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    cpu_group = dist.new_group(backend="gloo", timeout=WAIT_FOR_MAIN) if world > 1 else None
    per_machine = max(int(os.environ.get("LOCAL_WORLD_SIZE", world)), 1)
    return DistContext(rank, local_rank, world, dev, cpu_group, machines=-(-world // per_machine))


def _check_rendezvous(world: int) -> None:
    """WORLD_SIZE without torchrun's other variables (left in the shell, or set by a script that starts the
    processes itself): torch's ValueError came with a traceback."""
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT", "RANK") if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE is {world} but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: start "
            f"several processes with torchrun (torchrun --nproc_per_node {world} -m upres train -c OPTIONS), or "
            "unset WORLD_SIZE to train in one process"
        )


def barrier(ctx: DistContext) -> None:
    """Every process waits for the others, process 0's work alone included (see WAIT_FOR_MAIN)."""
    if ctx.enabled:
        dist.barrier(group=ctx.cpu_group)


def broadcast_object(ctx: DistContext, obj: object) -> object:
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=ctx.cpu_group)
    return box[0]


def gather_to_main(ctx: DistContext, obj: object) -> list | None:
    """Every rank's `obj`, in rank order, on the main process (None elsewhere); all ranks must call it."""
    if not ctx.enabled:
        return [obj]
    out = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def mean_over_ranks(ctx: DistContext, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each value averaged over the processes (all must call it with the same keys): what the whole batch saw, not
    the main process's share of it."""
    if not ctx.enabled or not values:
        return values
    stacked = torch.stack([torch.as_tensor(v, device=ctx.device).float() for v in values.values()])
    dist.all_reduce(stacked)
    return dict(zip(values, stacked / ctx.world_size))


def average_grads(ctx: DistContext, params: list[torch.Tensor]) -> None:
    """The parameters' gradients averaged over the processes as DDP averages them (each scaled by 1/world size,
    then summed), in one collective: for gradients DDP's hooks do not see. Every process must hold gradients for
    the same parameters."""
    grads = [p.grad for p in params if p.grad is not None]
    if not ctx.enabled or not grads:
        return
    flat = torch._utils._flatten_dense_tensors(grads).mul_(1.0 / ctx.world_size)
    dist.all_reduce(flat)
    torch._foreach_copy_(grads, torch._utils._unflatten_dense_tensors(flat, grads))


def teardown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
        # gloo's worker threads free a finished collective's tensors just after it completes; freeing one that
        # Python created takes the GIL, and a thread that asks for it while the interpreter is finalizing dies inside
        # C++: the process aborts ("terminate called without an active exception", pytorch/pytorch#179291) after a
        # run that finished. Sleeping hands them the GIL before this process exits.
        time.sleep(0.2)
