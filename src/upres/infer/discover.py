"""Which files to upscale and where each result goes: folders are searched recursively and mirrored under OUT."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from upres.errors import UpresError
from upres.io.image_files import list_images
from upres.io.images import IMAGE_SUFFIXES, WRITABLE_SUFFIXES
from upres.io.names import NAME_MAX, folded, folds_case

FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tiff"}


@dataclass
class Job:
    source: Path
    target: Path
    skip_reason: str | None = None  # set when the file is not to be processed (skipped or refused)
    skipped: bool = False  # True: counts as skipped (not failed)


def output_suffix(source: Path, fmt: str) -> str:
    """`same` keeps the input's format when upres can write it, PNG otherwise (BMP, GIF, TGA)."""
    if fmt == "same":
        suffix = source.suffix.lower()
        return source.suffix if suffix in WRITABLE_SUFFIXES else ".png"
    if fmt not in FORMATS:
        raise UpresError(f"--format {fmt!r} is not supported; use same, {', '.join(FORMATS)}")
    return FORMATS[fmt]


def names_one_file(inputs: list[Path], output: Path) -> bool:
    """`-o result.png` for one input image: the result is that file, as single-image upscalers write it. For
    several inputs or a folder, -o stays the output folder (and an image name for it is refused). A missing input
    counts as a file, so that it, not -o, is what the error names. One image listed twice (a.png ./a.png) is one
    input, as it runs once."""
    return (
        len({os.path.realpath(p) for p in inputs}) == 1
        and not inputs[0].is_dir()
        and output.suffix.lower() in IMAGE_SUFFIXES
        and not output.is_dir()
    )


_SAME_FORMAT = {".jpeg": ".jpg", ".tif": ".tiff"}


def _file_target(output: Path, fmt: str) -> Path:
    suffix = output.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise UpresError(
            f"-o {output}: upres writes {', '.join(s.lstrip('.') for s in WRITABLE_SUFFIXES)} files; "
            f"name the output e.g. {output.with_suffix('.png').name}"
        )
    if fmt != "same" and output_suffix(output, fmt) != _SAME_FORMAT.get(suffix, suffix):
        raise UpresError(
            f"-o {output} names a {suffix.lstrip('.')} file but --format is {fmt}; drop --format (the name "
            f"decides) or name the file {output.with_suffix(output_suffix(output, fmt)).name}"
        )
    return output


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def find_sources(
    inputs: list[Path], output: Path, unreadable: list[tuple[Path, str]] | None = None
) -> list[tuple[Path, Path]]:
    """(source file, path relative to the output folder) for every image; files under OUT are left out. Folders that
    cannot be listed go to `unreadable` (an error without it)."""
    out_resolved = output.resolve()
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_file():
            found.append((item, Path(item.name)))
        elif item.is_dir():
            folder = item.resolve()
            out_inside = out_resolved != folder and _is_under(out_resolved, folder)
            for path in list_images(item, unreadable):
                if out_inside and _is_under(path.resolve(), out_resolved):
                    continue  # earlier results when OUT lies inside an input folder (not when it holds the input)
                found.append((path, path.relative_to(item)))
        elif item.exists():
            raise UpresError(
                f"{item}: not an image file or a folder (a device or a pipe); give image files or folders"
            )
        else:
            raise UpresError(f"{item}: no such file or folder")
    return found


def _identity(path: Path, fold_case: bool = False) -> tuple[object, ...]:
    """What makes two paths the same file: the inode when it exists (hard links, case-insensitive disks), else the
    resolved, case-normalised path; `fold_case` on a disk that ignores case (os.path.normcase folds only on
    Windows: on macOS two outputs `Cat.png` and `cat.png` were one file, and the second replaced the first)."""
    try:
        st = path.stat()
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        key = os.path.normcase(path.resolve())
        return ("path", folded(key) if fold_case else key)


def plan_jobs(inputs: list[Path], output: Path, fmt: str = "same", skip_existing: bool = False) -> list[Job]:
    """Where each input's result goes: under the output folder, or to `output` itself for one image file named so
    (`names_one_file`). Every planned output is checked against every input and every other output before anything is written: an
    output that would replace an input, and every one of several inputs that would write the same output, is
    refused (reported as failed) while the other files run. Refusing all of a colliding group, not all but the
    first, keeps the result from depending on the order in which the files were listed."""
    planned: list[tuple[Path, Path]] = []
    seen: set[tuple[object, object]] = set()
    unreadable: list[tuple[Path, str]] = []
    one_file = names_one_file(inputs, output)
    fold = folds_case((output.parent if one_file else output).resolve())
    for source, rel in find_sources(inputs, output, unreadable):
        target = (
            _file_target(output, fmt)
            if one_file
            else output / rel.parent / (rel.stem + output_suffix(source, fmt))
        )
        pair = (_identity(source), _identity(target, fold))
        if pair not in seen:  # the same file reached twice (listed and inside a listed folder) runs once
            seen.add(pair)
            planned.append((source, target))
    inputs_by_id = {_identity(source): source for source, _ in planned}
    writers: dict[object, list[tuple[Path, Path]]] = {}
    for source, target in planned:
        writers.setdefault(_identity(target, fold), []).append((source, target))
    # A folder that cannot be listed fails as one entry (its images unknown) while the rest runs: exit code 1.
    jobs = [
        Job(
            folder,
            output,
            f"cannot read this folder ({reason}); its images are not upscaled: make it readable",
        )
        for folder, reason in unreadable
    ]
    for source, target in planned:
        job = Job(source, target)
        target_id = _identity(target, fold)
        overwritten = inputs_by_id.get(target_id)
        others = [s for s, _ in writers[target_id] if s != source]
        alike = [t for _, t in writers[target_id] if str(t) != str(target)]
        cased = any(str(t).casefold() == str(target).casefold() for t in alike)
        formed = not cased and any(folded(str(t)) == folded(str(target)) for t in alike)
        if (size := len(target.name.encode("utf-8", "surrogateescape"))) > NAME_MAX:
            # Found before the model runs, not by the write after it.
            job.skip_reason = (
                f"the output name {target.name} is {size} bytes, over the {NAME_MAX} a file name may have; "
                "rename the input, or choose a --format with a shorter extension"
            )
        elif overwritten is not None:
            whose = "its own input" if overwritten == source else f"the input {overwritten}"
            way = "another -o" if one_file else "another -o or --format"  # one file: its name sets the format
            job.skip_reason = f"the output {target} would overwrite {whose}; choose {way}"
        elif others:
            names = ", ".join(str(s) for s in others)
            job.skip_reason = (
                f"{names} would also be written to {target}"
                + (" (this disk ignores the case of names)" if cased else "")
                + (
                    " (this disk does not tell apart names that differ only in their Unicode form)"
                    if formed
                    else ""
                )
                + "; none of these is written: upscale them separately or use another -o"
            )
        elif target.is_dir():  # not an output that exists (--skip-existing), and found before the model runs
            job.skip_reason = f"the output {target} is a folder; move it away or choose another -o"
        elif skip_existing and target.exists():
            job.skip_reason, job.skipped = "output exists (--skip-existing)", True
        jobs.append(job)
    return jobs


def check_writable(
    folder: Path, keep_made: bool = True, one_file_note: str = "", for_file: Path | None = None
) -> None:
    """Fail before any work when results could not be written. With `keep_made=False` the folders it had to make
    are removed again, so a command that then stops on another error leaves nothing behind (its job makes them
    when it writes). `one_file_note` ends the refusal of an image name for the folder. `for_file`: the folder is
    where that output file (-o) goes, and errors name the file, not a folder the user did not give."""
    if for_file is None and folder.suffix.lower() in IMAGE_SUFFIXES and not folder.is_dir():
        # `-o result.png` made a folder of that name with the results inside, named like their inputs.
        raise UpresError(
            f"-o {folder}: is the output folder, not the output file (the results are written inside it); "
            f"give a folder, e.g. -o {folder.with_suffix('')}{one_file_note}"
        )
    made = [] if keep_made else [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".upres-write-test-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        in_the_way = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if in_the_way is not None and for_file is not None:
            raise UpresError(
                f"{for_file}: output file is not writable: {in_the_way} is a file, not a folder; choose another -o"
            ) from None
        if in_the_way is not None:
            which = "it" if in_the_way == folder else str(in_the_way)
            raise UpresError(
                f"{folder}: output folder is not writable: {which} is a file, not a folder; choose another -o"
            ) from None
        raise UpresError(
            f"{folder}: output folder is not writable ({exc.strerror or exc}); choose another -o"
        ) from None
    finally:
        for p in made:  # innermost first
            with contextlib.suppress(OSError):
                p.rmdir()
