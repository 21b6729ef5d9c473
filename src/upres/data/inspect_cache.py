"""What `upres doctor` learned about each image file, kept between runs so a restart does not decode a large
dataset again.

Entries are keyed by absolute path and stay valid while the file's size, modification and change times and inode are unchanged. The
cache is one JSON file in `$UPRES_CACHE_DIR` (default `$XDG_CACHE_HOME/upres` or `~/.cache/upres`); writing it is
atomic, and a cache that cannot be read or written is ignored: it only ever saves time.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from upres.data.doctor_findings import ImageInfo
from upres.io.atomic import atomic_write

CACHE_NAME = "image-checks-v1.json"


def cache_file() -> Path | None:
    """Where the cache lives, or None when there is nowhere to keep it (no $HOME and no passwd entry, as for a
    container run with `--user 1234`)."""
    if root := os.environ.get("UPRES_CACHE_DIR"):
        return Path(root) / CACHE_NAME
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # Path.home(): "Could not determine home directory."
        return None
    return base / "upres" / CACHE_NAME


def signature(path: Path) -> list[int] | None:
    """[size, mtime_ns, inode, ctime_ns] of the file, or None when it cannot be stat'ed. A replaced file gets a new
    inode; one rewritten in place with its old mtime put back (cp -p, exiftran -p) a new ctime, which no tool sets
    back (a chmod also moves it: one more decode, never a stale answer)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


def load() -> dict[str, dict]:
    path = cache_file()
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lookup(cache: dict[str, dict], path: Path) -> dict | None:
    """The cached fields of `path` when its signature still matches and they are the fields this version records:
    the cache in ~/.cache is shared by every upres a user runs, older or newer than this one."""
    entry = cache.get(str(path.resolve()))
    if isinstance(entry, dict) and entry.get("signature") == signature(path):
        fields = entry.get("fields")
        if isinstance(fields, dict) and fields.keys() == _recorded():
            return fields
    return None


def _recorded() -> set[str]:
    return {f.name for f in dataclasses.fields(ImageInfo)} - {"path"}


def store(cache: dict[str, dict], path: Path, fields: dict) -> None:
    sig = signature(path)
    if sig is not None:
        cache[str(path.resolve())] = {"signature": sig, "fields": fields}


def save(cache: dict[str, dict]) -> None:
    path = cache_file()
    if path is None:
        return
    try:
        latest = load()  # another process may have added entries meanwhile
        latest.update(cache)
        # Files deleted since they were checked would only make the cache grow.
        latest = {k: v for k, v in latest.items() if os.path.exists(k)}
        text = json.dumps(latest, separators=(",", ":"))
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError:
        pass
