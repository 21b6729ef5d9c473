"""What `upres prepare` checks before it writes into an output folder: the settings the folder was prepared with
(a rerun resumes only the same work: outputs of other settings would count as finished), files with output names in
a folder prepare did not make, and outputs that two sources would share (`photo.png` and `photo.jpg` both give
`photo.png`)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from upres.errors import UpresError
from upres.io.names import folded, folds_case

RECORD = ".upres-prepare.json"


def check_and_record(dst: str | Path, kind: str, settings: dict) -> None:
    """Refuse a folder prepared with other settings, or whose record cannot be read; record these in a new one."""
    path = Path(dst) / RECORD
    wanted = json.loads(json.dumps({"command": kind, **settings}, default=str))
    recorded = read_record(dst)
    if recorded is not None and recorded != wanted:
        differ = sorted(k for k in wanted.keys() | recorded.keys() if wanted.get(k) != recorded.get(k))
        was = ", ".join(f"{k} {recorded.get(k)!r}" for k in differ)
        now = ", ".join(f"{k} {wanted.get(k)!r}" for k in differ)
        raise UpresError(
            f"{dst}: prepared with {was} ({RECORD}), this run asks for {now}; its outputs would count as finished: "
            "give -o another folder, or remove this one to start again"
        )
    if recorded is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(wanted, indent=1), encoding="utf-8")


def read_record(dst: str | Path) -> dict | None:
    """The settings recorded in dst, None when it has no record; a record that cannot be read is an error: its
    settings, and so whether dst's files are this run's finished work, are unknown."""
    path = Path(dst) / RECORD
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _unreadable(path, getattr(exc, "strerror", None) or str(exc)) from None
    if not text.strip():
        raise _unreadable(path, "empty")
    try:
        recorded = json.loads(text)
    except ValueError:
        raise _unreadable(path, "not JSON") from None
    if not isinstance(recorded, dict):
        raise _unreadable(path, "not a JSON object")
    if "command" not in recorded:
        raise _unreadable(path, "no command")
    return recorded


def _unreadable(path: Path, why: str) -> UpresError:
    # Not "delete the record": the files it describes would stay, made with settings nobody knows.
    return UpresError(
        f"{path}: this record of an earlier `upres prepare` cannot be read ({why}), so the settings of the files in "
        f"{path.parent} are unknown: remove {path.parent} to start again, or give -o another folder"
    )


def refuse_shared_outputs(sources: list[tuple[Path, Path]], output_of, dst: str | Path) -> None:
    """Two sources whose outputs have one name (by stem: LR copies pair with their GT by stem, chunks are named
    after it): the second was reported finished with the first one's output. On a `dst` disk that ignores case
    (macOS, Windows; a Linux-made folder prepared onto one), `IMG.png` and `img.png` give one name too."""
    fold = folds_case(Path(dst).resolve())
    taken: dict[object, tuple[Path, Path]] = {}
    for path, rel in sources:
        key = output_of(path, rel)
        other, other_key = taken.setdefault(folded(str(key)) if fold else key, (path, key))
        if other != path:
            cased = " (this disk ignores the case of names)" if other_key != key else ""
            raise UpresError(f"{other} and {path} would both be written as {key}{cased}; rename one")


_TILE_NUMBER = re.compile(r"_s\d{3,}(?=\.[^.]*$)")


def refuse_outputs_of_unknown_origin(
    dst: str | Path, sources: list[tuple[Path, Path]], output_of, tiled: bool
) -> None:
    """A folder without a record that holds files with this run's output names: prepare did not write them (LRs of
    another tool, another scale), so they can be neither taken for finished work nor written over. `tiled`: outputs
    are numbered tiles, which `output_of` names `<stem>_sNNN<suffix>`."""
    wanted = {output_of(path, rel) for path, rel in sources}
    found: list[Path] = []
    for folder, dirs, files in os.walk(dst):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder).relative_to(dst)
        for name in sorted(files):
            key = _TILE_NUMBER.sub("_sNNN", name) if tiled else name
            if not name.startswith(".") and here / key in wanted:
                found.append(Path(folder) / name)
    if found:
        them, they = ("them", "they") if len(found) > 1 else ("it", "it")
        raise UpresError(
            f"{dst}: holds {len(found)} file{'s' if len(found) > 1 else ''} named as this run's outputs ({found[0]} "
            f"first) but no {RECORD}, so `upres prepare` did not write {them}: {they} would be taken for finished "
            f"work or written over; give -o another folder, or remove {them}"
        )


def outputs_without_source(
    dst: str | Path, src: str | Path, sources: list[tuple[Path, Path]], output_of, tiled: bool
) -> list[Path]:
    """Images in a folder prepare made that no source of this run gives: the outputs of a source removed or renamed
    since (a rerun updates the others, and training reads these too), or of another SRC prepared into it. SRC's own
    tree (when it lies inside dst) and other prepare outputs under dst are left out."""
    from upres.io.images import IMAGE_SUFFIXES

    wanted = {output_of(path, rel) for path, rel in sources}
    src_root = Path(src).resolve()
    found: list[Path] = []
    for folder, dirs, files in os.walk(dst):
        here = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and not (here / d / RECORD).is_file()
            and (here / d).resolve() != src_root
        )
        rel = here.relative_to(dst)
        for name in sorted(files):
            key = _TILE_NUMBER.sub("_sNNN", name) if tiled else name
            if (
                not name.startswith(".")
                and Path(name).suffix.lower() in IMAGE_SUFFIXES
                and rel / key not in wanted
            ):
                found.append(here / name)
    return found
