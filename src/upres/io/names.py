"""Names on the file system: fitting a name within its byte limit when upres adds to it, and whether a disk ignores
case."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

# Linux, macOS and Windows file systems take names of up to 255 bytes (UTF-8) or UTF-16 units; bytes are the stricter.
NAME_MAX = 255


def fitted_name(stem: str, tail: str, limit: int = NAME_MAX) -> str:
    """`stem + tail`, or, when that is longer than `limit` bytes, the start of `stem`, "~", a hash of the whole
    stem, then `tail`: the tail (what tells the file's role or format) is kept, and two long stems that share their
    start still get two names."""
    name = stem + tail
    if len(name.encode("utf-8", "surrogateescape")) <= limit:
        return name
    raw = stem.encode("utf-8", "surrogateescape")
    digest = hashlib.blake2b(raw, digest_size=6).hexdigest()
    room = limit - len(tail.encode("utf-8", "surrogateescape")) - len(digest) - 1
    # "ignore" drops a letter cut in the middle of its bytes (é, emoji) rather than leaving half of it
    return raw[: max(room, 0)].decode("utf-8", "ignore") + "~" + digest + tail


# What Windows refuses in a name, or reads as a device (CON, NUL.txt); a name ending in "." or " " loses it there.
_NOT_ON_WINDOWS = frozenset('<>"|?*') | frozenset(map(chr, range(32)))
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{d}{n}" for d in ("COM", "LPT") for n in "123456789¹²³"]
)


def experiment_name_problem(name: str) -> str | None:
    """Why `name` cannot be the folder experiments/<name>/ (on any system: option files travel between them)."""
    if name.strip() in ("", ".", "..") or any(c in name for c in "/\\:\0"):
        return (
            "must be one folder name (no '/', '\\', ':' or '..', not empty): experiments/<name>/ holds the run; to "
            "write elsewhere set path.experiments_root"
        )
    if (odd := sorted(set(name) & _NOT_ON_WINDOWS)) or name.split(".")[0].strip().upper() in _DEVICES:
        why = f"holds {''.join(odd)!r}" if odd else "is a device name there"
        return f"Windows cannot make the folder experiments/<name>/ ({why}); choose another name"
    if name.endswith((".", " ")):
        return (
            "Windows drops a final '.' or space from a folder name (two names would be one folder); remove it"
        )
    return None


def folded(name: str) -> str:
    """`name` as a disk that ignores case sees it (APFS, HFS+, NTFS): case folded, and on macOS's disks the Unicode
    form too (é as one code point or as e + accent is one name there)."""
    return unicodedata.normalize("NFC", name).casefold()


def folds_case(folder: Path) -> bool:
    """Whether names under `folder` ignore case (macOS's and Windows' usual disks): its nearest existing folder
    with a letter in its name is reached by that name in the other case too."""
    for p in (folder, *folder.parents):
        flipped = p.name.swapcase()
        if flipped == p.name or not p.is_dir():
            continue
        try:
            return os.path.samefile(p, p.with_name(flipped))
        except OSError:
            return False
    return False
