"""How many validations' pictures `visualization/` keeps. Each validation writes a strip per image (bicubic, the
model and the ground truth side by side, at full size): with a DIV2K-sized validation set that is a gigabyte or more
a validation, and a run of 10^6 iterations validating every 5,000 filled the disk with them. The latest
`val.keep_img` validations are kept, and the one that wrote net_g_best."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

ITERATION = re.compile(r"(\d+)_")  # validate.run_validation names a picture `<iteration>_<image>.png`


def prune_pictures(vis: Path, it: int, keep: int, best_iter: int | None) -> int:
    """Remove the pictures of validations up to iteration `it` but the latest `keep` and `best_iter`'s (0: keep
    every one); returns how many files it removed. Pictures of later iterations stay: an earlier session trained
    past the state this one resumed from, and this run writes them again when it gets there."""
    if keep == 0 or not vis.is_dir():
        return 0
    found: dict[int, list[Path]] = {}
    for path in vis.rglob("*.png"):
        m = ITERATION.match(path.name)
        if m and int(m[1]) <= it and path.is_file():
            found.setdefault(int(m[1]), []).append(path)
    kept = set(sorted(found)[-keep:]) | {best_iter}
    removed = 0
    for iteration, paths in found.items():
        if iteration in kept:
            continue
        for path in paths:
            # A picture held open elsewhere (Windows) goes at the next validation.
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def later_pictures(vis: Path, it: int) -> list[Path]:
    """The validation pictures of iterations after `it`."""
    if not vis.is_dir():
        return []
    return [p for p in sorted(vis.rglob("*.png")) if (m := ITERATION.match(p.name)) and int(m[1]) > it]


def pruning_note(keep: int) -> str:
    return (
        f"visualization/ keeps the pictures of the latest {keep} validations and of the best one (val.keep_img; "
        "0 keeps every one)"
    )
