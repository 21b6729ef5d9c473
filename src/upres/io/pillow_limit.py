"""Pillow's decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`) lifted while upres decodes, and put back after.

upres checks its own pixel limit (`max_pixels`, `UPRES_MAX_PIXELS`) before decoding, so Pillow's must not refuse an
image the caller allowed. Set to None for good, it also switched the protection off for the host program's own
Pillow calls (a web service reading uploads). Reader threads overlap: the first one in lifts it, the last one out
puts the host's value back.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

_lock = threading.Lock()
_readers = 0
_host_limit: int | None = None


@contextmanager
def pillow_limit_lifted() -> Iterator[None]:
    global _readers, _host_limit
    with _lock:
        if _readers == 0:
            _host_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _readers += 1
    try:
        yield
    finally:
        with _lock:
            _readers -= 1
            if _readers == 0:
                Image.MAX_IMAGE_PIXELS = _host_limit


def _fresh_in_child() -> None:
    """A process forked (a data loader worker) while another thread was inside a read: its copy of the lock could
    be held for ever and the reads of that parent thread never end there."""
    global _lock, _readers
    _lock = threading.Lock()
    if _readers:
        _readers = 0
        Image.MAX_IMAGE_PIXELS = _host_limit


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_in_child)
