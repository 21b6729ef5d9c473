"""What a folder that is not there is called in an error: "no such folder datasets/train/hr" left the user to find
which folder a relative path starts from, and that the folder is `HR` on a case-sensitive file system."""

from __future__ import annotations

import difflib
from pathlib import Path


def no_such_folder(path: str | Path) -> str:
    """'no such folder PATH', with where a relative path starts and the folder probably meant, when one is close."""
    path = Path(path)
    text = f"no such folder {path}"
    if not path.is_absolute():
        text += f" (relative paths start in the current folder, {Path.cwd()})"
    guess = _probably_meant(path)
    return f"{text}; did you mean {guess}?" if guess is not None else text


def _probably_meant(path: Path) -> Path | None:
    """`path` with its first missing part replaced by the closest name of a folder beside it, when that gives an
    existing folder (a letter's case, a typo: `hr` for `HR`, `trian` for `train`)."""
    base = Path(path.anchor) if path.is_absolute() else Path()
    parts = path.parts[1:] if path.is_absolute() else path.parts
    for i, part in enumerate(parts):
        if (base / part).is_dir():
            base = base / part
            continue
        try:
            names = [p.name for p in base.iterdir() if p.is_dir()]
        except OSError:
            return None
        folded = [n for n in names if n.casefold() == part.casefold()]
        close = folded or difflib.get_close_matches(part, names, n=1, cutoff=0.75)
        if not close:
            return None
        guess = base.joinpath(close[0], *parts[i + 1 :])
        return guess if guess.is_dir() else None
    return None
