"""Errors the CLI turns into one line and an exit code.

Raise them where the problem is known, with the file or key and the fix in the message.
"""

import re
import signal

# torch re-raises an error of a DataLoader worker process as `type(error)(text)`, the text being this line, then the
# worker's whole traceback, which ends with "module.Name: the message".
_FROM_WORKER = re.compile(r"Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback")


def worker_message(text: str) -> str:
    """The error's own message when `text` is torch's report of it from a DataLoader worker; else `text`."""
    caught = _FROM_WORKER.match(text)
    if caught is None:
        return text
    raised = list(re.finditer(rf"^(?:[\w.]+\.)?{caught[1]}: ", text, re.MULTILINE))
    return text[raised[-1].end() :].rstrip("\n") if raised else text


class UpresError(Exception):
    """A problem the user can fix; the CLI prints `error: <message>` and exits with `exit_code`."""

    exit_code = 2
    # Under torchrun: every process meets this error alike (the same option file, the iteration they agreed on), so
    # the CLI prints it once, from process 0. Left False where one process may meet it alone (its own GPU's memory).
    same_on_every_process = False

    def __init__(self, *args: object) -> None:
        # From a loader worker, the message the user can act on, not a traceback squeezed onto one line.
        if len(args) == 1 and isinstance(args[0], str):
            args = (worker_message(args[0]),)
        super().__init__(*args)


class ModelFileError(UpresError):
    """A model file that cannot be read, recognised or written."""


class ConfigError(UpresError):
    """An option file or command-line value that is not valid."""

    same_on_every_process = True


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, `docker stop`), raised like Ctrl+C's KeyboardInterrupt so the same clean-up runs; the
    CLI exits with 128 + `signum` (143)."""

    signum = signal.SIGTERM


def did_you_mean(name: str, known) -> str:
    """' (did you mean 'x'?)' for the closest known name, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_line(text: str) -> str:
    """`text` with its control characters escaped (a newline in a file name as `\\n`): a message stays one line,
    so a log reader or `grep error:` sees it whole."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def shell_word(path: object) -> str:
    """`path` as one word of a command a message suggests, quoted when a shell would split it ("my run.yml")."""
    import os
    import re
    import shlex

    text = str(path)
    if not text or re.search(r"[^\w@%+=:,./\\-]", text):
        # Double quotes are what Windows' cmd and PowerShell understand; POSIX shells take single quotes literally.
        return f'"{text}"' if os.name == "nt" else shlex.quote(text)
    return text


def check_keywords(where: str, constructor, options) -> None:
    """ConfigError naming the first of `options` that `constructor` takes no parameter for, with the closest
    parameter and the list, instead of Python's "__init__() got an unexpected keyword argument"."""
    import inspect

    params = inspect.signature(constructor).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n, p in params.items() if n != "self" and p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for key in options:
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {key!r}{did_you_mean(key, known)}; known: {', '.join(known)}"
            )
