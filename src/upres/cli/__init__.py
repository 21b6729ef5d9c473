"""Command-line entry point: one module per command, each with `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import warnings
from typing import NoReturn

from upres import __version__
from upres.cli.argtypes import expand_home
from upres.cli.streams import describe_os_error, pipe_safe_stdio, settle_threads
from upres.cli.torch_import import import_holding_ctrl_c
from upres.errors import UpresError, one_line

# Explicit list instead of auto-discovery: the module that owns each command is visible here.
COMMANDS: dict[str, str] = {
    "demo": "upres.cli.demo",
    "info": "upres.cli.info",
    "convert": "upres.cli.convert",
    "interp": "upres.cli.interp",
    "eval": "upres.cli.eval",
    "prepare": "upres.cli.prepare",
    "doctor": "upres.cli.doctor",
    "train": "upres.cli.train",
    "test": "upres.cli.test",
    "schema": "upres.cli.schema",
    "init": "upres.cli.init",
    "degrade": "upres.cli.degrade",
    "video": "upres.cli.video",
    "upscale": "upres.cli.upscale",
}


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line (it printed the command's whole usage first) that says where the
    options are listed; exit code 2 as before. Subcommands' parsers are of this class too."""

    argv: list[str] = []  # the arguments being parsed, for the hint below

    def error(self, message: str) -> NoReturn:
        prog = self.prog
        if message.startswith("unrecognized arguments") and prog == "upres":
            # argparse reports a subcommand's extra arguments from the top parser: name the command's own help.
            command = next((a for a in _Parser.argv if a in COMMANDS), None)
            prog = f"upres {command}" if command else prog
            message += _TRAIN_FORCE_HINT if command == "train" and "--force" in message.split() else ""
        self.exit(2, f"error: {prog}: {message}{_dash_name_hint(_Parser.argv)} (see {prog} --help)\n")


# `--force` overwrites in upscale, video and other tools; a training run is never written over.
_TRAIN_FORCE_HINT = "; train never writes over a run: --resume auto continues it, --archive-old moves it aside and starts again"


def _dash_name_hint(argv: list[str]) -> str:
    """A file whose name starts with "-" reads as an option: argparse then said an input was missing."""
    names = [a for a in argv if a.startswith("-") and len(a) > 1 and a != "--" and os.path.lexists(a)]
    if not names:
        return ""
    return f"; {names[0]} is a file: write ./{names[0]}, or put -- before names that start with '-'"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="upres",
        description="Train, evaluate and run ESRGAN-family super-resolution models.",
    )
    parser.add_argument("--version", action="version", version=f"upres {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        # A second Ctrl+C that lands in the first one's clean-up (a message being printed, threads settling) still
        # ends with the documented 130 instead of Python's death by SIGINT.
        settle_threads(130, leaving=argv is None)
        code = 130
    if code == 130 and argv is None and threading.current_thread() is threading.main_thread():
        # The interpreter resets Python's SIGINT handler to the default while it shuts down (which takes a while
        # with torch loaded): a second Ctrl+C then would kill the process by signal instead of exit 130.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _said_by_rank_0(exc: UpresError) -> bool:
    """Under torchrun every process reads the same option file: its errors, and others every process meets alike
    (`same_on_every_process`), are printed once, by rank 0 (each process printed the same line). Other errors may be
    a process's own and are printed wherever they happen."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if hasattr(exc, "said_elsewhere"):  # another process met it and printed it (together.StoppedElsewhere)
        return exc.said_elsewhere
    return exc.same_on_every_process and world > 1 and rank > 0


def _main(argv: list[str] | None) -> int:
    # Pillow's two-line Python warning for a damaged EXIF block: the image reads fine (the tag is left out), and the
    # warning's source line in the middle of a command's output reads like a crash.
    warnings.filterwarnings("ignore", message=r"(Possibly )?[Cc]orrupt EXIF data", category=UserWarning)
    with pipe_safe_stdio():
        try:
            parser = build_parser()
            _Parser.argv = expand_home(list(sys.argv[1:] if argv is None else argv))
            args = parser.parse_args(_Parser.argv)
            if not getattr(args, "func", None):
                parser.print_help()
                return 2
            import_holding_ctrl_c()  # every command uses torch; --help and usage errors are answered without it
            return int(args.func(args) or 0)
        except UpresError as exc:
            if not _said_by_rank_0(exc):
                # Several problems of one option file: each on its own line (OptionProblems.lines)
                lines = getattr(exc, "lines", None) or [str(exc)]
                print("error: " + "\n".join(map(one_line, lines)), file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt as stop:
            print("interrupted", file=sys.stderr)
            code = 128 + int(getattr(stop, "signum", signal.SIGINT))  # 143 after SIGTERM (train)
            settle_threads(code, leaving=argv is None)
            return code
        except OSError as exc:
            # A file system refusal no command foresaw (a full disk, permissions, a file where a folder is
            # needed): the path and the reason are the whole story, a traceback adds nothing.
            print(f"error: {one_line(describe_os_error(exc))}", file=sys.stderr)
            return 2
