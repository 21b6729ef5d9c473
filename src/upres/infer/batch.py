"""`upres upscale`: folders of images through one model, pipelined so the model never waits on disk.

Three stages joined by bounded queues, all threads (no processes, so it behaves the same on Windows):
readers decode the next images, one worker per device runs the model (several GPUs pull from the same queue, so
the files are split among them and a faster GPU takes more), writers resample (--outscale) and encode the previous
results. A failure is recorded against its file and the batch goes on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from upres.devices import resolve_devices
from upres.errors import UpresError, one_line
from upres.infer.discover import Job, check_writable, names_one_file, plan_jobs
from upres.infer.render import ALPHA_MODES, ImageEngine, render_image
from upres.infer.resample import output_size, over_side_limit, resize_array
from upres.infer.tiling import resolve_precision
from upres.infer.watch import Cancelled, FiniteWatch, stop_between_blocks
from upres.io.atomic import sweep_stale_parts
from upres.io.image_files import other_files_hint
from upres.io.images import decode_image, write_image
from upres.io.model_files import check_finite_weights, load_model

DEFAULT_MAX_PIXELS = 100_000_000
# zlib level 1, as OpenCV writes PNGs (Real-ESRGAN, chaiNNer): about 5x faster to encode than Pillow's default 6
# for files about 15% larger; on a CPU-only machine encoding competes with the model for the cores.
PNG_LEVEL = 1
# 2^31 pixels: 6 GiB as 8-bit RGB, held in memory while it is resampled and encoded.
MAX_OUTPUT_PIXELS = 2**31
NOT_FINITE = (
    "the model's output is not finite (NaN or infinity) for this image, so it would be black or garbage; "
    "nothing was written. Try --precision fp32, or another model"
)


def default_writers() -> int:
    """Encoding threads. A 2560x1920 PNG takes ~0.2 s to encode (zlib level 1, on the 2-core dev machine) and each
    file is fsynced, so two writers hold a run to ~10 images/s or less: under one GPU's rate on 640x480 inputs at x4.
    Encoding releases the GIL: one writer per core beyond two (decoding, the model), up to 8."""
    return max(2, min(8, (os.cpu_count() or 2) - 2))


@dataclass
class UpscaleOptions:
    model: Path
    inputs: list[Path]
    output: Path
    tile: int | str = "auto"
    overlap: int = 16
    outscale: float | None = None
    format: str = "same"
    quality: int = 95
    precision: str = "auto"
    device: str = "auto"
    compile: bool = False  # torch.compile the model (see infer/compiled.py)
    skip_existing: bool = False
    alpha: str = "model"
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    readers: int = 2
    writers: int = field(default_factory=default_writers)


@dataclass
class FileResult:
    source: Path
    target: Path
    status: str  # "done", "skipped" or "failed"
    reason: str = ""
    input_megapixels: float = 0.0
    size: tuple[int, int] | None = None  # output width, height
    device: str = ""
    fp32_fallbacks: int = 0
    notes: list[str] = field(default_factory=list)
    finished_s: float = 0.0  # when its result came, in seconds from the batch's start (steady-state rates)


@dataclass
class BatchSummary:
    results: list[FileResult]
    seconds: float
    notes: list[str] = field(
        default_factory=list
    )  # about the model file (its header disagrees with its tensors)
    # Seconds per pipeline stage, summed over its threads: which stage sets the pace (decode, model, encode, and the
    # model's waits for input and for the writers).
    stages: dict[str, float] = field(default_factory=dict)
    threads: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def exit_code(self) -> int:
        return 1 if self.count("failed") else 0

    def lines(self) -> list[str]:
        done, skipped, failed = self.count("done"), self.count("skipped"), self.count("failed")
        mp = sum(r.input_megapixels for r in self.results if r.status == "done")
        lines = [
            f"upscaled {done}, skipped {skipped}, failed {failed} in {self.seconds:.1f} s"
            + (f" ({mp / self.seconds:.2f} input MP/s)" if done and self.seconds > 0 else "")
        ]
        fallbacks = [r for r in self.results if r.fp32_fallbacks]
        if fallbacks:
            lines.append(
                f"half precision gave non-finite or black results for {len(fallbacks)} file(s); "
                "those tiles were redone in fp32:"
            )
            lines += [f"  {r.source} ({r.fp32_fallbacks} tile(s))" for r in fallbacks]
        lines += [f"skipped: {r.source}: {r.reason}" for r in self.results if r.status == "skipped"]
        lines += [f"failed: {r.source}: {r.reason}" for r in self.results if r.status == "failed"]
        return [one_line(line) for line in lines]


def _validate(opts: UpscaleOptions) -> None:
    if opts.alpha not in ALPHA_MODES:
        raise UpresError(f"--alpha {opts.alpha!r}: use one of {', '.join(ALPHA_MODES)}")
    if opts.tile != "auto" and (not isinstance(opts.tile, int) or opts.tile < 0):
        raise UpresError(f"--tile {opts.tile!r}: use auto, 0 (whole image) or a size in pixels")
    if opts.overlap < 0:
        raise UpresError(f"--tile-overlap {opts.overlap}: must be 0 or more")
    if opts.outscale is not None and not 0 < opts.outscale < float("inf"):
        raise UpresError(f"--outscale {opts.outscale}: must be a number greater than 0")
    if opts.outscale is not None and opts.outscale > MAX_OUTPUT_PIXELS**0.5:  # a 1x1 image would be too large
        raise UpresError(
            f"--outscale {opts.outscale:g}: even a 1x1 image would be over the {MAX_OUTPUT_PIXELS / 1e6:,.0f} MP "
            f"upres writes; use at most {int(MAX_OUTPUT_PIXELS**0.5)}"
        )
    if opts.max_pixels is not None and opts.max_pixels < 0:
        raise UpresError(f"--max-pixels {opts.max_pixels}: must be 0 (no limit) or more")
    if not 1 <= opts.quality <= 100:
        raise UpresError(f"--quality {opts.quality}: must be between 1 and 100")


def _oversized(width: int, height: int, outscale: float) -> str:
    """Why --outscale makes too large an output for this image ('' when it does not), said before the model runs."""
    try:
        ow, oh = output_size(width, height, outscale)
    except (OverflowError, ValueError):  # a size past any integer
        ow = oh = MAX_OUTPUT_PIXELS + 1
    if ow * oh <= MAX_OUTPUT_PIXELS:
        return ""
    return (
        f"--outscale {outscale:g} would make a {ow}x{oh} output ({ow * oh / 1e6:,.0f} MP), over the "
        f"{MAX_OUTPUT_PIXELS / 1e6:,.0f} MP upres writes; use a smaller --outscale"
    )


def _alpha_for(target: Path, alpha: str) -> str:
    """JPEG stores no alpha: the model's pass over it (half the time of an RGBA image) would be thrown away."""
    return "discard" if target.suffix.lower() in (".jpg", ".jpeg") else alpha


def _reason(exc: BaseException, source: Path) -> str:
    text = str(exc) or type(exc).__name__
    prefix = f"{source}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _write_failure(target: Path, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"cannot write {target} ({why}); free space there (or raise the file size limit) and run again with --skip-existing"
    return f"cannot write {target} ({why})"


def _put(q: queue.Queue, item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


class StageClock:
    """Seconds spent in each pipeline stage, summed over the threads that run it (thread-safe)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def _close_after(threads: list[threading.Thread], q: queue.Queue, consumers: int) -> None:
    for t in threads:
        t.join()
    for _ in range(consumers):
        q.put(None)


def _start(target: Callable, *args: object, name: str) -> threading.Thread:
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    t.start()
    return t


def _join_in_order(threads: list[threading.Thread]) -> None:
    """Join each stage after the one that feeds it; a second Ctrl+C while waiting is passed on to the caller."""
    for t in threads:
        while t.is_alive():
            t.join(0.1)


def run_batch(
    opts: UpscaleOptions,
    on_result: Callable[[FileResult, int, int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> BatchSummary:
    """Upscale every input: on_start(n_files) once the work is known and the model loaded, then
    on_result(result, n_finished, n_total) from this thread after each file."""
    _validate(opts)
    devices = resolve_devices(opts.device)  # before the output folder is made: a missing GPU leaves nothing
    started = time.perf_counter()
    # Checked before any work, and made again by the first write: a bad model or no inputs leave no empty folder.
    one_file = names_one_file(opts.inputs, opts.output)
    check_writable(
        opts.output.parent if one_file else opts.output,
        keep_made=False,
        one_file_note=" (-o names the output file only for one input image)",
        for_file=opts.output if one_file else None,
    )
    jobs = plan_jobs(opts.inputs, opts.output, opts.format, opts.skip_existing)
    if not jobs:
        raise UpresError(
            f"no images found in {', '.join(str(p) for p in opts.inputs)}{other_files_hint(opts.inputs)}"
        )
    model = load_model(opts.model)
    check_finite_weights(model, opts.model)
    sweep_stale_parts(job.target for job in jobs if not job.skip_reason)
    engines = [
        ImageEngine(
            model,
            dev,
            resolve_precision(opts.precision, dev),
            opts.tile,
            opts.overlap,
            copy_module=len(devices) > 1,
            compile=opts.compile,
        )
        for dev in devices
    ]
    results: list[FileResult] = []
    total = len(jobs)
    if on_start:
        on_start(total)

    def report(result: FileResult) -> None:
        result.finished_s = time.perf_counter() - started
        results.append(result)
        if on_result:
            on_result(result, len(results), total)

    runnable: queue.Queue[Job] = queue.Queue()
    for job in jobs:
        if job.skip_reason:
            report(
                FileResult(job.source, job.target, "skipped" if job.skipped else "failed", job.skip_reason)
            )
        else:
            runnable.put(job)
    pending = runnable.qsize()
    events: queue.Queue[FileResult] = queue.Queue()
    decoded: queue.Queue = queue.Queue(maxsize=2 * len(engines))
    rendered: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    clock = StageClock()

    def fail(job: Job, exc: BaseException, device: str = "") -> None:
        events.put(FileResult(job.source, job.target, "failed", _reason(exc, job.source), device=device))

    def read() -> None:
        while not stop.is_set():
            try:
                job = runnable.get_nowait()
            except queue.Empty:
                return
            try:
                with clock.timing("decode"):
                    image = decode_image(job.source, opts.max_pixels)
            except Exception as exc:
                fail(job, exc)
                continue
            _put(decoded, (job, image), stop)

    def infer(engine: ImageEngine, watch: FiniteWatch) -> None:
        while True:
            with clock.timing("model_waiting_for_input"):
                item = decoded.get()
            if item is None:
                break
            job, image = item
            if stop.is_set():
                continue  # drain until the readers' end marker
            h, w = image.array.shape[:2]
            fallbacks, notes = engine.fp32_fallbacks, len(engine.notes)
            watch.reset()
            try:  # everything that can fail for this file fails it alone: a dead thread here hung the whole batch
                if opts.outscale is not None and (big := _oversized(w, h, opts.outscale)):
                    raise UpresError(big)
                if too_wide := over_side_limit(job.target, w, h, engine.scale, opts.outscale):
                    raise UpresError(too_wide)
                with clock.timing("model"):
                    canvas = render_image(engine, image.array, _alpha_for(job.target, opts.alpha))
                if watch.tripped():
                    raise UpresError(NOT_FINITE)
            except Cancelled:
                continue
            except Exception as exc:
                fail(job, exc, str(engine.device))
                continue
            result = FileResult(
                job.source,
                job.target,
                "done",
                input_megapixels=h * w / 1e6,
                device=str(engine.device),
                fp32_fallbacks=engine.fp32_fallbacks - fallbacks,
                notes=engine.notes[notes:],
            )
            if image.frames > 1:
                result.notes.append(f"{image.frames} frames or pages: only the first is upscaled")
            with clock.timing("model_waiting_for_writers"):
                _put(rendered, (job, image, canvas, result), stop)

    def write() -> None:
        while (item := rendered.get()) is not None:
            job, image, canvas, result = item
            if stop.is_set():
                continue
            try:
                with clock.timing("encode"):
                    if opts.outscale is not None:
                        h, w = image.array.shape[:2]
                        canvas = resize_array(canvas, *output_size(w, h, opts.outscale))
                    write_image(job.target, canvas, opts.quality, image.icc_profile, PNG_LEVEL)
            except OSError as exc:  # a full disk, a file size limit: the output is what could not be written
                fail(job, UpresError(_write_failure(job.target, exc)), result.device)
                continue
            except Exception as exc:
                fail(job, exc, result.device)
                continue
            result.size = (canvas.shape[1], canvas.shape[0])
            events.put(result)

    watches = [FiniteWatch(e.up) for e in engines]
    hooks = [h for e in engines for h in stop_between_blocks(e.up, stop)]
    readers = [_start(read, name=f"upres-read-{i}") for i in range(max(1, opts.readers))]
    workers = [
        _start(infer, e, w, name=f"upres-infer-{e.device}") for e, w in zip(engines, watches, strict=True)
    ]
    writers = [_start(write, name=f"upres-write-{i}") for i in range(max(1, opts.writers))]
    closers = [
        _start(_close_after, readers, decoded, len(workers), name="upres-close-read"),
        _start(_close_after, workers, rendered, len(writers), name="upres-close-infer"),
    ]
    try:
        try:
            for _ in range(pending):
                report(events.get())
        finally:
            # On Ctrl+C every stage sees `stop`, finishes or drops what it holds (a write in progress completes
            # or removes its temporary file) and ends; joining them all before returning keeps the interpreter
            # from shutting down under a thread that is still inside torch (it aborted with "terminate called").
            if sys.exc_info()[0] is not None:
                stop.set()
            _join_in_order([*readers, closers[0], *workers, closers[1], *writers])
    finally:
        for h in [*hooks, *watches]:
            h.remove()
    threads = {"readers": len(readers), "devices": len(workers), "writers": len(writers)}
    return BatchSummary(results, time.perf_counter() - started, model.notes, {**clock.seconds}, threads)
