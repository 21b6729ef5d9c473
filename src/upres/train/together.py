"""Under torchrun, an error one process meets in work the others wait on ends every process cleanly.

Process 0 alone checks the dataset, takes the experiment folder's lock and chooses the state to resume from while
the others wait for it in a collective. When it stopped with an error there, the others' collective failed on the
vanished peer: each printed a traceback of gloo's ("Connection closed by peer ... GLHF!") under the one line that
said what was wrong. The processes now meet after such work and learn whether any of them failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch.distributed as dist

from upres.errors import UpresError
from upres.train.distributed import DistContext


class StoppedElsewhere(UpresError):
    """Another process stopped with an error (it prints it): this one stops too, with its exit code. The first
    process of each other machine says so (its terminal does not show the error); the rest stay quiet."""

    def __init__(self, rank: int, exit_code: int, ctx: DistContext) -> None:
        per_machine = ctx.world_size // ctx.machines
        machine = rank // per_machine
        super().__init__(
            f"process {rank} (on machine {machine}) stopped with the error it printed there; every process stops"
        )
        self.rank, self.exit_code = rank, exit_code
        self.said_elsewhere = ctx.local_rank != 0 or ctx.rank // per_machine == machine


@contextlib.contextmanager
def together(ctx: DistContext) -> Iterator[None]:
    """The block runs on every process, then they meet (as `distributed.barrier` does): an error raised in it on one
    process is raised there, and every other process raises StoppedElsewhere instead of going on alone. The block
    must hold no collective of its own (a process that raised before it would leave the others waiting there)."""
    try:
        yield
    except Exception as exc:  # an out-of-memory error too, which the loop turns into its line after this
        _meet(ctx, getattr(exc, "exit_code", 1))
        raise
    _meet(ctx, None)


def _meet(ctx: DistContext, failed: int | None) -> None:
    if not ctx.enabled:
        return
    codes: list[int | None] = [None] * ctx.world_size
    dist.all_gather_object(codes, failed, group=ctx.cpu_group)
    if failed is None:
        for rank, code in enumerate(codes):
            if code is not None:
                raise StoppedElsewhere(rank, code, ctx)


# What gloo and NCCL say when a peer vanished in the middle of a collective (the all-reduce of a backward): that
# process printed its own error (on its machine); this one has nothing to add but a traceback of the collective.
_PEER_LOST = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "remote process exited")


def peer_lost(exc: BaseException) -> bool:
    """A collective failed because another process stopped (its error is its own to print)."""
    return any(text in str(exc) for text in _PEER_LOST)
