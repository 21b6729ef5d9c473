"""Import torch with a Ctrl+C held back until the import is over.

torch's C extension imports numpy from C and takes any exception there for "numpy is missing": a KeyboardInterrupt
raised inside was swallowed (the command then ran to its end and exited 0) or, at other moments, aborted the
process. The command's own code imports torch lazily (so `--help` stays fast); `main` imports it first, here."""

from __future__ import annotations

import importlib
import signal
import threading


def import_holding_ctrl_c(name: str = "torch") -> None:
    """Import `name`; a Ctrl+C pressed meanwhile is raised as KeyboardInterrupt once the import is complete."""
    held = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if not held:  # another thread, or SIGINT ignored (a background job) or handled by the embedding program
        importlib.import_module(name)
        return
    pressed: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        importlib.import_module(name)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if pressed:
        raise KeyboardInterrupt
