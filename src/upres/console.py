"""Lines for the user from library code (train(), a batch's progress), whatever the caller's streams are.

The CLI wraps sys.stdout/sys.stderr (cli/streams.py); called from Python they are the caller's: a file or pipe in the
locale's encoding (cp1252 under Windows' `python run.py > out.txt`), which cannot show every file name, or None in a
windowed app.
"""

from __future__ import annotations

from typing import TextIO


def say(text: str, stream: TextIO | None) -> None:
    """`print(text, file=stream, flush=True)`, with what the stream's encoding cannot show written escaped (a run
    ended with UnicodeEncodeError at the first non-Latin path it named); nothing when there is no stream."""
    if stream is None:
        return
    try:
        print(text, file=stream, flush=True)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "utf-8"
        print(text.encode(encoding, "backslashreplace").decode(encoding), file=stream, flush=True)
