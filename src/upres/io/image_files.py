"""Which files of a folder are images: a recursive listing that follows links and says what it cannot read."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from upres.errors import UpresError
from upres.io.images import IMAGE_SUFFIXES


def list_images(root: str | Path, unreadable: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Image files under `root` (or `root` itself), sorted. Hidden files and folders (names starting with ".", such as
    macOS's "._photo.png" resource forks that zip archives carry along) and "__MACOSX" folders are not images.

    A folder that cannot be listed (no permission) would leave its images out without a word (os.walk skips it): it
    is an error naming the folder, or, given `unreadable`, appended there as (folder, reason) for the caller to
    report while the rest goes on (a batch job)."""
    root = Path(root)
    if root.is_file():
        return [root]

    def cannot_list(exc: OSError) -> None:
        folder = Path(exc.filename) if exc.filename else root
        reason = exc.strerror or str(exc)
        if unreadable is None:
            raise UpresError(
                f"{folder}: cannot read this folder ({reason}); its images would be left out: make it readable, "
                f"or move it out of {root}"
            )
        unreadable.append((folder, reason))

    found: list[Path] = []
    seen: set[tuple[int, int]] = (
        set()
    )  # folders walked, by identity: a link to a folder above would loop for ever
    # Linked folders are followed (a dataset assembled from links), each once; Path.rglob skipped them silently.
    for folder, dirs, files in os.walk(root, onerror=cannot_list, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in files:
            path = Path(folder) / name
            # A broken link (its target on an unmounted drive) is a missing image, reported where it is read; left
            # out, a dataset or an evaluation was silently smaller.
            if (
                path.suffix.lower() in IMAGE_SUFFIXES
                and not name.startswith(".")
                and (path.is_file() or path.is_symlink())
            ):
                found.append(path)
    return sorted(found)


def broken_link(path: Path) -> str:
    """Why a link cannot be read as an image, naming its target."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return f"a link to {target}, which cannot be reached (moved, or on a drive that is not mounted?)"


def other_files_hint(roots: Iterable[str | Path], limit: int = 10_000) -> str:
    """For "no images found": what the folders hold instead, by extension (an iPhone's .heic, an .avif, a
    camera's raw files), and which extensions upres reads; '' when they hold no other files. Looks at `limit` files
    at most (the error path of a folder that may be large)."""
    kinds: Counter[str] = Counter()
    hidden = seen = 0
    for root in roots:
        if not Path(root).is_dir():
            continue
        for _, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__MACOSX"]
            for name in files:
                if not name.startswith("."):
                    kinds[Path(name).suffix.lower() or "no extension"] += 1
                # ._x: macOS metadata, not an image
                elif not name.startswith("._") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    hidden += 1
            seen += len(files)
            if seen >= limit:
                break
    notes = []
    if kinds:
        held = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common(4)) + (
            " ..." if len(kinds) > 4 else ""
        )
        notes.append(f"there are other files: {held}; upres reads {' '.join(IMAGE_SUFFIXES)}")
    if hidden:
        notes.append(
            f"{hidden} hidden image file{'s' * (hidden > 1)} (names starting with '.') are skipped; rename them"
        )
    return f" ({'; '.join(notes)})" if notes else ""
