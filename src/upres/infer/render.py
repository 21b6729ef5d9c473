"""One decoded image -> its upscaled pixels at the model's scale, written band by band into a uint8/uint16 canvas.

Channel mapping (what the model's `in_channels` needs):
- gray image, RGB model: the gray plane is replicated to RGB and the output averaged back to gray;
- RGB image, gray model: each colour plane goes through the model as its own gray image (a batch of three);
- alpha (`--alpha model`, the default): upscaled through the model as a gray image the same way; a fully opaque
  alpha skips the model (it stays opaque). `resize` resamples it with Lanczos, `discard` drops it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from upres.infer.autotile import bytes_per_input_pixel, memory_budget, pick_tile, retry_halving
from upres.infer.resample import resize_array
from upres.infer.tiling import Upscaler, to_host
from upres.io.model_files import LoadedModel

ALPHA_MODES = ("model", "resize", "discard")


def to_model_planes(x: torch.Tensor, model_in: int) -> torch.Tensor:
    """(1, k, H, W) image planes -> (N, model_in, H, W) model input."""
    k = x.shape[1]
    if k == model_in:
        return x
    if model_in == 1:
        return x.transpose(0, 1)
    rgb = x.expand(-1, 3, -1, -1) if k == 1 else x[:, :3]
    if model_in == 4:
        rgb = torch.cat([rgb, torch.ones_like(rgb[:, :1])], 1)
    return rgb


def from_model_planes(y: torch.Tensor, k: int) -> torch.Tensor:
    """(N, model_out, h, W) model output -> (1, k, h, W) image planes."""
    if y.shape[0] > 1:  # one gray pass per plane
        if y.shape[1] != 1:
            y = y[:, :3].mean(1, keepdim=True)
        return y.transpose(0, 1)
    y = y[:, :3]
    if y.shape[1] == k:
        return y
    if k == 1:
        return y.mean(1, keepdim=True)
    return y.expand(-1, k, -1, -1)


def upload_planes(planes: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWxk planes (or N of them, NxHxWxk) -> (1 or N, k, H, W) float32 on `device`, in the planes' levels (not
    divided); 8-bit planes travel as bytes, from pinned memory."""
    batch = planes if planes.ndim == 4 else planes[None]
    nchw = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
    if batch.dtype != np.uint8:
        nchw = nchw.astype(np.float32)
    elif not nchw.flags.writeable:  # a decoder's read-only buffer (gray, alpha planes): torch warns on those
        nchw = nchw.copy()
    t = torch.from_numpy(nchw)
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    return t.float()


def download(t: torch.Tensor) -> np.ndarray:
    """A device tensor as a host array (through pinned memory from a GPU: `to_host`)."""
    return to_host(t).numpy()


def quantise(t: torch.Tensor, peak: float) -> torch.Tensor:
    """[0, 1] floats -> integer levels 0..peak on the tensor's device (uint8, or int32 for 16-bit: CUDA has no
    uint16 arithmetic), so only 1-4 bytes a value cross back to the host."""
    return t.mul(peak).round_().clamp_(0, peak).to(torch.uint8 if peak == 255 else torch.int32)


@dataclass
class ImageEngine:
    """A model on one device, with the tile policy (`tile` "auto" or a size, 0 = whole image)."""

    model: LoadedModel
    device: torch.device
    dtype: torch.dtype = torch.float32
    tile: int | str = "auto"
    overlap: int = 16
    copy_module: bool = False
    compile: bool = False
    tile_cap: int | None = None  # lowered after an out-of-memory
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        module = copy.deepcopy(self.model.module) if self.copy_module else self.model.module
        info = self.model.info
        self.up = Upscaler(
            module, info.scale, self.device, self.dtype, multiple=info.size_multiple, compile=self.compile
        )
        self._per_pixel: float | None = None

    @property
    def scale(self) -> int:
        return self.model.info.scale

    @property
    def fp32_fallbacks(self) -> int:
        return self.up.fp32_fallbacks

    def _tile_for(self, height: int, width: int, batch: int) -> int:
        if self.tile == "auto":
            if self._per_pixel is None:
                element = torch.empty((), dtype=self.dtype).element_size()
                self._per_pixel = bytes_per_input_pixel(self.up.module, self.model.info.in_channels, element)
            tile = pick_tile(
                height,
                width,
                self.scale,
                self.model.info.out_channels,
                self._per_pixel,
                memory_budget(self.device),
                self.up.overlap_pixels(self.overlap),
                batch,
            )
        else:
            tile = int(self.tile)
        if self.tile_cap is not None and (tile == 0 or tile > self.tile_cap):
            tile = self.tile_cap
        return tile

    def render_planes(self, planes: np.ndarray, dst: np.ndarray) -> None:
        """Upscale HxWxk planes (k = 1 or 3) into dst, an (H*s)x(W*s)xk view of a canvas of planes' dtype."""
        h, w, k = planes.shape
        peak = 65535.0 if planes.dtype == np.uint16 else 255.0
        x = upload_planes(planes, self.up.device).div_(peak)
        xm = to_model_planes(x, self.model.info.in_channels)

        def run(tile: int) -> None:
            # Blending and quantising happen on the model's device; only finished 8/16-bit rows come back.
            for row, band in self.up.bands(xm, tile, self.overlap):
                out = quantise(from_model_planes(band, k)[0].permute(1, 2, 0), peak)
                dst[row : row + out.shape[0]] = download(out)

        def on_retry(tile: int) -> None:
            self.tile_cap = tile
            self.notes.append(f"out of memory; retrying with tile {tile}")

        retry_halving(run, self._tile_for(h, w, xm.shape[0]), max(h, w), on_retry)


def render_image(engine: ImageEngine, arr: np.ndarray, alpha: str = "model") -> np.ndarray:
    """HxWxC (C 1-4) -> (H*s)x(W*s)xC' canvas of the same dtype; C' drops the alpha when alpha == 'discard'."""
    h, w, c = arr.shape
    s = engine.scale
    colour = 1 if c in (1, 2) else 3
    keep_alpha = c in (2, 4) and alpha != "discard"
    canvas = np.empty((h * s, w * s, colour + int(keep_alpha)), arr.dtype)
    engine.render_planes(arr[..., :colour], canvas[..., :colour])
    if keep_alpha:
        plane = arr[..., c - 1 : c]
        peak = np.iinfo(arr.dtype).max
        if bool((plane == peak).all()):
            canvas[..., colour] = peak
        elif alpha == "model":
            engine.render_planes(plane, canvas[..., colour:])
        else:
            canvas[..., colour:] = resize_array(plane, w * s, h * s)
    return canvas
