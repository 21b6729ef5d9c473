"""`upres train -c OPTIONS [--resume auto|PATH] [--archive-old] [--dry-run]`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from upres.errors import ConfigError

EXAMPLE = """examples:
  upres init esrgan_x2_fidelity my_run.yml     # copy a template, then edit its paths
  upres train -c my_run.yml --dry-run          # validate, build, one iteration: time and peak memory
  upres train -c my_run.yml                    # train
  upres train -c my_run.yml --resume auto      # continue from the newest complete training state
  upres train -c my_run.yml --archive-old      # start again; the earlier run moves to <name>_archived_<time>
  torchrun --nproc_per_node 4 -m upres train -c my_run.yml   # 4 GPUs with DDP"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from an option file",
        description=f"Trains from a traiNNer-redux style option file.\n\n{EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-c", "-opt", "--config", dest="config", type=Path, required=True, help="YAML option file")
    p.add_argument("--resume", default=None, help="'auto' (newest complete state) or a .state file")
    p.add_argument(
        "--archive-old",
        action="store_true",
        help="a fresh start into a folder that holds an earlier run moves that run to <folder>_archived_<time> "
        "(without this flag, such a start stops with an error)",
    )
    p.add_argument("--dry-run", action="store_true", help="build everything, run one iteration, report, exit")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (a GPU if there is one), cpu, cuda or cuda:N; under torchrun each process takes its local GPU",
    )
    # BasicSR's and traiNNer-redux's train.py flags, so their documented commands run unchanged (`torchrun ...
    # train.py -opt X --launcher pytorch --auto_resume`): upres's processes come from torchrun's environment.
    p.add_argument(
        "--launcher",
        choices=("none", "pytorch", "slurm"),
        help="accepted from BasicSR/traiNNer-redux commands, no effect: torchrun starts the processes",
    )
    p.add_argument("--auto_resume", action="store_true", help="as --resume auto (BasicSR's flag)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from upres.option_file import read_option_text
    from upres.train.loop import train
    from upres.train.option_problems import load_checked_options

    if args.launcher == "slurm" and "WORLD_SIZE" not in os.environ:
        raise ConfigError(
            "--launcher slurm: upres's processes come from torchrun, not from srun's tasks (each would train alone); "
            "in the job, start one torchrun per machine: srun torchrun --nnodes N --nproc_per_node GPUS "
            "--rdzv_backend c10d --rdzv_endpoint HOST:29500 -m upres train -c OPTIONS"
        )
    if args.auto_resume and args.resume is None:
        args.resume = "auto"
    opts = load_checked_options(args.config, resuming=args.resume is not None)
    text = read_option_text(args.config)
    result = train(
        opts,
        resume=args.resume,
        dry_run=args.dry_run,
        options_text=text,
        device=args.device,
        archive_old=args.archive_old,
    )
    if result.rank != 0:
        return 0
    if args.dry_run:
        # The time depends first on where and how it ran: say so, so that a slow CPU estimate is not a surprise.
        print(
            f"dry run OK: one iteration took {result.dry_run_seconds:.2f} s on {result.device}, {result.precision} "
            f"(the first iteration includes warm-up), peak memory {result.peak_memory_mb:.0f} MB"
            + (
                f"; it trained iteration {result.dry_run_iteration}, the first with every loss on"
                if result.dry_run_iteration > 1
                else ""
            )
        )
    else:
        print(f"finished at iteration {result.iteration}; experiment folder: {result.exp_dir}")
    return 0
