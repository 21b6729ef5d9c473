"""What a model file holds by its first bytes, against what its suffix says: a .pth that is a safetensors file (or
the other way round) was reported as unreadable, with nothing saying that renaming it is the fix."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from upres.errors import ModelFileError

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt")
# torch.save's legacy (non-zip) format opens with this pickled magic number.
LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"


def content_kind(path: Path) -> str | None:
    """ "torch" (a torch zip archive or a pickle), "safetensors", or None when the first bytes are neither."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    # torch.save writes a zip archive ("PK"); the legacy format and plain pickles start with the PROTO opcode.
    if head[:2] == b"PK" or head[:1] == b"\x80":
        return "torch"
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    if len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= path.stat().st_size - 8:
        return "safetensors"
    return None


def check_kind(path: Path) -> None:
    """ModelFileError when the contents are not what the suffix (.safetensors, or .pth/.pt/.ckpt) names; a file
    whose contents are the other format says which name to give it (chaiNNer and others also go by the suffix)."""
    suffix = path.suffix.lower()
    kind = content_kind(path)
    if suffix == ".safetensors" and kind == "torch" and _surely_torch(path):
        raise ModelFileError(
            f"{path}: a PyTorch (.pth) file named {suffix}; rename it to {path.with_suffix('.pth').name}"
        )
    if suffix in PICKLE_SUFFIXES and kind == "safetensors":
        raise ModelFileError(
            f"{path}: a safetensors file named {suffix}; rename it to {path.with_suffix('.safetensors').name}"
        )
    if suffix in PICKLE_SUFFIXES and kind == "torch" and _is_torchscript(path):
        raise ModelFileError(
            f"{path}: a TorchScript program (torch.jit.save), which upres does not run; use the .pth or "
            ".safetensors of its weights (torch.save(model.state_dict()) where it was made)"
        )
    if suffix in PICKLE_SUFFIXES and kind is None:
        raise ModelFileError(f"{path}: not a PyTorch file (neither a torch zip archive nor a pickle)")


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive holds constants.pkl beside its code; torch's loader then said "Cannot use
    weights_only=True", which read as advice to turn the safe loader off."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.rpartition("/")[2] == "constants.pkl" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False  # the loader says what is wrong with it


def _surely_torch(path: Path) -> bool:
    """Two bytes say "maybe torch"; a damaged .safetensors starting with them by chance must not be told to become
    a .pth. A whole zip archive, or the legacy format's magic number, says it surely."""
    with open(path, "rb") as fh:
        head = fh.read(len(LEGACY_MAGIC))
    return head == LEGACY_MAGIC or zipfile.is_zipfile(path)
