"""Names that fit the file system when upres adds to a user's name (a temporary tail, an output's suffix)."""

from __future__ import annotations

import hashlib

# Linux, macOS and Windows file systems take names of up to 255 bytes (UTF-8) or UTF-16 units; bytes are the stricter.
NAME_MAX = 255


def fitted_name(stem: str, tail: str, limit: int = NAME_MAX) -> str:
    """`stem + tail`, or, when that is longer than `limit` bytes, the start of `stem`, "~", a hash of the whole
    stem, then `tail`: the tail (what tells the file's role or format) is kept, and two long stems that share their
    start still get two names."""
    name = stem + tail
    if len(name.encode("utf-8", "surrogateescape")) <= limit:
        return name
    raw = stem.encode("utf-8", "surrogateescape")
    digest = hashlib.blake2b(raw, digest_size=6).hexdigest()
    room = limit - len(tail.encode("utf-8", "surrogateescape")) - len(digest) - 1
    # "ignore" drops a letter cut in the middle of its bytes (é, emoji) rather than leaving half of it
    return raw[: max(room, 0)].decode("utf-8", "ignore") + "~" + digest + tail
