"""Dataset preparation: cut large images into overlapping sub-images, make bicubic LR copies.

Work is spread over processes (spawn-safe: jobs are top-level functions of plain arguments). Every output is
written atomically, and a source whose outputs are all finished (`prepare_resume`) is skipped, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from upres.console import say
from upres.data.prepare_jobs import PrepareResult, run_jobs
from upres.data.prepare_record import (
    RECORD,
    check_and_record,
    outputs_without_source,
    read_record,
    refuse_outputs_of_unknown_origin,
    refuse_shared_outputs,
)
from upres.data.prepare_resume import output_is_finished, source_changed_ns
from upres.data.resize import imresize
from upres.errors import one_line
from upres.io.image_files import list_images
from upres.io.images import decode_image, read_image, write_image
from upres.io.names import fitted_name

# Lossy sources are written as PNG: sub-images and LR copies must not add a second round of compression.
LOSSLESS = (".png", ".tif", ".tiff", ".bmp", ".webp")


def _out_suffix(src: Path) -> str:
    return src.suffix.lower() if src.suffix.lower() in (".png", ".tif", ".tiff", ".bmp") else ".png"


def tile_starts(length: int, size: int, step: int, min_size: int) -> list[int]:
    """BasicSR's extract_subimages positions, plus one edge-anchored tile when the remainder exceeds min_size."""
    if length < size:
        return [0] if length >= min_size else []
    starts = list(range(0, length - size + 1, step))
    if length - (starts[-1] + size) > min_size:
        starts.append(length - size)
    return starts


def tile_name(src: Path, number: str) -> str:
    """`<stem>_s<number><suffix>`, the stem shortened when the name would be too long for the file system."""
    return fitted_name(src.stem, f"_s{number}{_out_suffix(src)}")


def chunk_names(
    src: Path, rel: Path, h: int, w: int, size: int, step: int, min_size: int
) -> list[tuple[Path, int, int]]:
    ys, xs = tile_starts(h, size, step, min_size), tile_starts(w, size, step, min_size)
    out, i = [], 0
    for y in ys:
        for x in xs:
            i += 1
            out.append((rel.parent / tile_name(src, f"{i:03d}"), y, x))
    return out


def _oriented_size(path: Path) -> tuple[int, int]:
    """(height, width) after EXIF orientation, from the header only (resuming must not decode finished images)."""
    from PIL import Image

    from upres.io.pillow_limit import pillow_limit_lifted

    try:
        with pillow_limit_lifted(), Image.open(path) as img:
            w, h = img.size
            if img.format == "TIFF" and 256 in img.tag_v2 and 257 in img.tag_v2:
                w, h = (
                    img.tag_v2[256],
                    img.tag_v2[257],
                )  # Pillow gives a TIFF's size with its orientation applied
            if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
            return h, w
    except Exception:
        arr = read_image(path)  # raises ImageReadError with the reason
        return arr.shape[0], arr.shape[1]


def chunk_one(
    src: str, rel: str, dst: str, size: int, step: int, min_size: int
) -> tuple[str, int] | tuple[str, int, str]:
    """Cut one image; returns (status, files written[, why it is small or a note]). Only unfinished tiles are written."""
    src_p, dst_p = Path(src), Path(dst)
    h, w = _oriented_size(src_p)
    names = chunk_names(src_p, Path(rel), h, w, size, step, min_size)
    if not names:
        gone = _remove_tiles_after(dst_p / Path(rel).parent, src_p, 0)
        return (
            "small",
            0,
            f"{w}x{h} is smaller than --min-size {min_size}; no sub-image written" + _removed(gone),
        )
    since = source_changed_ns(src_p)
    todo = [
        (name, y, x)
        for name, y, x in names
        if not output_is_finished(dst_p / name, since, (min(size, h - y), min(size, w - x)))
    ]
    if not todo:
        return "skipped", 0
    decoded = decode_image(src_p)
    arr = decoded.array
    if arr.shape[:2] != (h, w):  # the header said otherwise: cut what was decoded
        names = todo = chunk_names(src_p, Path(rel), arr.shape[0], arr.shape[1], size, step, min_size)
    for name, y, x in todo:
        write_image(dst_p / name, np.ascontiguousarray(arr[y : y + size, x : x + size]))
    _remove_tiles_after(dst_p / Path(rel).parent, src_p, len(names))
    return "done", len(todo), *first_frame_only(decoded.frames)


def _remove_tiles_after(folder: Path, src: Path, count: int) -> int:
    """A source that changed to fewer tiles: its old further tiles would stay in the dataset as its crops."""
    i = count + 1
    while (old := folder / tile_name(src, f"{i:03d}")).is_file():
        old.unlink()
        i += 1
    return i - count - 1


def _removed(count: int) -> str:
    """What a source that is now too small lost: the outputs of what it was, which would pair with what it is."""
    return f" (its {count} earlier output(s) removed)" if count else ""


def lr_one(
    src: str, rel: str, dst: str, scale: int, degradations: dict | None = None, seed: int = 0
) -> tuple[str, int] | tuple[str, int, str]:
    """LR of one image (ground truth cropped to a multiple of the scale first): MATLAB bicubic, or the on-the-fly
    degradation pipeline when `degradations` (plain option values, so they pickle to workers) is given."""
    src_p = Path(src)
    target = Path(dst) / Path(rel).with_suffix(_out_suffix(src_p))
    if target.exists():
        h, w = _oriented_size(src_p)
        if output_is_finished(target, source_changed_ns(src_p), (h // scale, w // scale)):
            return "skipped", 0
    decoded = decode_image(src_p)
    h, w = decoded.array.shape[:2]
    arr = decoded.array[: h - h % scale, : w - w % scale]
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        stale = target.is_file()
        target.unlink(missing_ok=True)
        return "small", 0, f"{w}x{h} is smaller than the scale {scale}; no LR written" + _removed(int(stale))
    if degradations is None:
        write_image(target, imresize(arr, 1 / scale))
        return "done", 1, *first_frame_only(decoded.frames)
    from upres.data.degradations.options import DegradationOptions
    from upres.data.degradations.pipeline import degrade, make_generators
    from upres.io.images import array_to_tensor, tensor_to_array

    # Each file's degradation depends only on the seed and its relative path: reruns and resumes agree.
    rng, gen = make_generators(
        (seed, int.from_bytes(hashlib.blake2b(rel.encode(), digest_size=8).digest(), "little"))
    )
    # The colour is degraded, gray as gray; alpha (no JPEG or noise of its own) is resized as the bicubic LR's is, so
    # the loader's `alpha` setting composites LR and GT alike (dropped, the transparent parts' hidden colours met a
    # GT composited on white).
    colour, alpha = (arr[..., :3], arr[..., 3:]) if arr.shape[2] >= 3 else (arr[..., :1], arr[..., 1:])
    lr = degrade(
        array_to_tensor(np.array(colour)), DegradationOptions.model_validate(degradations), scale, rng, gen
    )
    lr_arr = tensor_to_array(lr, arr.dtype)
    if alpha.shape[2]:
        lr_arr = np.concatenate([lr_arr, imresize(alpha, 1 / scale)], axis=2)
    write_image(target, lr_arr)
    return "done", 1, *first_frame_only(decoded.frames)


def tiff_one(
    src: str, rel: str, dst: str, tile: int, compression: str
) -> tuple[str, int] | tuple[str, int, str]:
    """A lossless tiled-TIFF copy of one image (orientation applied, bit depth, alpha and ICC profile kept)."""
    from upres.io.tiff_regions import write_tiled_tiff

    target = Path(dst) / Path(rel).with_suffix(".tif")
    if target.exists() and output_is_finished(
        target, source_changed_ns(Path(src)), _oriented_size(Path(src))
    ):
        return "skipped", 0
    image = decode_image(src)
    write_tiled_tiff(target, image.array, tile, compression, image.icc_profile)
    return "done", 1, *first_frame_only(image.frames)


def first_frame_only(frames: int) -> tuple[str, ...]:
    """The note for a source with several frames or pages (an animated GIF, a multi-page TIFF), of which only the
    first is read: said, not left to be found in the dataset."""
    return (f"{frames} frames or pages, only the first used",) if frames > 1 else ()


def _sources(src: str | Path, dst: str | Path) -> list[tuple[Path, Path]]:
    """(image, its path relative to src) for every image under src, leaving out dst's own files when dst lies inside
    src: a second run would otherwise take its own outputs for sources (lr/lr/..., chunks of chunks)."""
    from upres.errors import UpresError

    root = Path(src)
    if not root.exists():
        raise UpresError(f"{root}: no such file or folder")
    out = Path(dst).resolve()
    if (root if root.is_dir() else root.parent).resolve() == out:
        # Every output would have a source's name: the sources would be taken for finished work, or overwritten.
        raise UpresError(f"{dst}: the output folder is the source folder; give -o another folder")
    folder = (root if root.is_dir() else root.parent).resolve()
    out_inside = out != folder and out.is_relative_to(folder)
    files = [p for p in list_images(root) if not (out_inside and p.resolve().is_relative_to(out))]
    if root.is_dir():
        files = _leave_out_prepared_folders(root, files)
    return [(p, p.relative_to(root) if root.is_dir() else Path(p.name)) for p in files]


def _leave_out_prepared_folders(root: Path, files: list[Path]) -> list[Path]:
    """`files` less those in folders under root that hold another prepare's record (said in one note): a second run
    into nest/x2 read the first one's nest/x4 as sources (LR of LR). Root itself may be a prepare output (chunks,
    then LR copies of the chunks)."""
    has_record: dict[Path, bool] = {}

    def prepared_folder(path: Path) -> Path | None:
        found = None
        for folder in path.relative_to(root).parents[:-1]:  # innermost first, root left out
            here = root / folder
            if here not in has_record:
                has_record[here] = (here / RECORD).is_file()
            if has_record[here]:
                found = here  # keep going: the outermost one is named
        return found

    kept, left_out = [], set()
    for path in files:
        folder = prepared_folder(path)
        if folder is None:
            kept.append(path)
        else:
            left_out.add(folder)
    if left_out:
        names = sorted(str(f) for f in left_out)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        print(
            one_line(
                f"note: left out {len(names)} folder{'s' if len(names) > 1 else ''} under {root} that an earlier "
                f"`upres prepare` wrote ({'they hold' if len(names) > 1 else 'it holds'} {RECORD}): {shown}"
            ),
            file=sys.stderr,
        )
    return kept


def _checked_sources(src, dst, kind: str, settings: dict, output_of) -> list[tuple[Path, Path]]:
    """`_sources`, once no two of them share an output and dst holds no work of other settings (then recorded)."""
    sources = _sources(src, dst)
    if sources:  # nothing to prepare: the caller says so, and dst gets no record
        refuse_shared_outputs(sources, output_of, dst)
        # SRC inside DST: an output can be another source (d/x/x/a.png -> d/x/a.png), which then counted as
        # "already finished" and its LR was never made (exit 0).
        from upres.errors import UpresError

        inputs = {path.resolve(): path for path, _ in sources}
        for path, rel in sources:
            target = Path(dst) / output_of(path, rel)
            if target.resolve() in inputs:
                raise UpresError(
                    f"{path}: its output {target} is the source {inputs[target.resolve()]}; choose a DST that holds "
                    "no source"
                )
        rerun = read_record(dst) is not None
        if not rerun:
            refuse_outputs_of_unknown_origin(dst, sources, output_of, tiled=kind == "chunk")
        check_and_record(dst, kind, settings)
        if rerun and (stale := outputs_without_source(dst, src, sources, output_of, tiled=kind == "chunk")):
            print(
                one_line(
                    f"note: {dst} holds {len(stale)} image{'s' if len(stale) > 1 else ''} that no source under {src} "
                    f"gives ({stale[0]} first): "
                    "outputs of a source removed or renamed since, or of another SRC; training reads them too, so "
                    "remove them if their source is gone"
                ),
                file=sys.stderr,
            )
    return sources


def _sweep_outputs(dst: str | Path) -> None:
    """Before a (resumed) run: the hidden part files that a killed run's writes left anywhere under dst."""
    from upres.io.atomic import sweep_stale_parts_in

    for folder, _, _ in os.walk(dst):
        sweep_stale_parts_in(Path(folder))


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def prepare_chunks(
    src: str | Path,
    dst: str | Path,
    size: int = 512,
    step: int = 256,
    min_size: int = 128,
    workers: int | None = None,
    progress: Callable[[int, int, str, str], None] | None = None,
) -> PrepareResult:
    """Cut every image under src into size x size sub-images every `step` pixels, into dst (same sub-folders)."""
    settings = {"size": size, "step": step, "min_size": min_size}
    sources = _checked_sources(src, dst, "chunk", settings, lambda p, rel: rel.parent / tile_name(p, "NNN"))
    jobs = [(str(p), str(rel), str(dst), size, step, min_size) for p, rel in sources]
    _sweep_outputs(dst)
    return run_jobs(chunk_one, jobs, workers or default_workers(), progress)


def prepare_lr(
    src: str | Path,
    dst: str | Path,
    scale: int = 4,
    workers: int | None = None,
    progress: Callable[[int, int, str, str], None] | None = None,
    degradations: dict | None = None,
    seed: int = 0,
) -> PrepareResult:
    """Write an LR copy of every image under src into dst (same relative paths and stems): MATLAB bicubic, or the
    degradation pipeline of an option file (`degradations`: DegradationOptions values)."""
    settings = {
        "scale": scale,
        "degradations": degradations,
        "seed": seed if degradations is not None else None,
    }
    sources = _checked_sources(src, dst, "lr", settings, lambda p, rel: rel.with_suffix(_out_suffix(p)))
    jobs = [(str(p), str(rel), str(dst), scale, degradations, seed) for p, rel in sources]
    _sweep_outputs(dst)
    return run_jobs(lr_one, jobs, workers or default_workers(), progress)


def check_tiff_settings(tile: int, compression: str) -> None:
    """Refuse settings `prepare_tiff` cannot write, before anything (the output folder included) is made."""
    from upres.errors import UpresError
    from upres.io.tiff_regions import TILED_COMPRESSIONS

    if tile < 16 or tile % 16:
        raise UpresError(f"--tile must be a positive multiple of 16 (a TIFF rule), not {tile}")
    if compression not in TILED_COMPRESSIONS:
        raise UpresError(f"--compression {compression!r}: choose one of {', '.join(TILED_COMPRESSIONS)}")


def prepare_tiff(
    src: str | Path,
    dst: str | Path,
    tile: int = 128,
    compression: str = "zlib",
    workers: int | None = None,
    progress: Callable[[int, int, str, str], None] | None = None,
) -> PrepareResult:
    """Copy every image under src into dst as a tiled TIFF (same relative paths and stems, `.tif`), so training
    reads only each crop's tiles instead of decoding whole large images."""

    check_tiff_settings(tile, compression)
    settings = {"tile": tile, "compression": compression}
    sources = _checked_sources(src, dst, "tiff", settings, lambda p, rel: rel.with_suffix(".tif"))
    jobs = [(str(p), str(rel), str(dst), tile, compression) for p, rel in sources]
    _sweep_outputs(dst)
    return run_jobs(tiff_one, jobs, workers or default_workers(), progress)


def iter_progress_lines() -> Callable[[int, int, str, str], None]:
    """Plain `[i/n] status path` lines, for logs and pipes where a progress bar would be noise; one line each, a
    newline in a name escaped (scripts read them line by line)."""

    def report(i: int, total: int, path: str, status: str) -> None:
        say(f"[{i}/{total}] {status} {one_line(path)}", sys.stdout)

    return report
