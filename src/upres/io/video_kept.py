"""What a written `upres video` output kept of its copied streams' language, title and disposition flags.

Each muxer stores only some of them, and drops the rest without a word: FFmpeg's MOV muxer writes only the old
QuickTime language codes ('fra', not Matroska's usual 'fre'; 'deu' and 'zho' go too) and no flag but 'default';
Matroska has no 'captions' or 'descriptions'; MP4 no 'lyrics' or 'karaoke'. Read back from the file, so what is
said is what a player will see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from upres.io.video import ffmpeg_name, require_av, stream_info


def _language(meta: dict[str, str]) -> str | None:
    lang = meta.get("language")
    return None if lang in (None, "", "und") else lang  # 'und' is what a muxer writes for none


def _title(meta: dict[str, str]) -> str | None:
    return meta.get("title") or meta.get("name")  # MP4/MOV titles read back as "name"


def lost_tags(container: Any, mapping: dict[int, Any], written: Path, fmt: str, suffix: str) -> list[str]:
    """One line per copied stream of `container` (input index -> output stream in `mapping`) whose language,
    title or disposition flags the file `written` (format `fmt`, e.g. "mov") does not hold."""
    av = require_av()
    lines = []
    with av.open(ffmpeg_name(written)) as out:
        for index, ostream in mapping.items():
            src, got = container.streams[index], out.streams[ostream.index]
            lost = []
            if _language(src.metadata) and _language(got.metadata) != _language(src.metadata):
                lost.append(f"language '{_language(src.metadata)}'")
            if _title(src.metadata) and _title(got.metadata) != _title(src.metadata):
                lost.append(f"title '{_title(src.metadata)}'")
            flags = [
                f.name
                for f in av.stream.Disposition
                if src.disposition & f and not got.disposition & f
                and not (fmt == "mov" and f == av.stream.Disposition.forced)  # said before the run
            ]  # fmt: skip
            if flags:
                lost.append(f"{' and '.join(repr(f) for f in flags)} flag{'s' if len(flags) > 1 else ''}")
            if lost:
                them = "them" if len(lost) > 1 or len(flags) > 1 else "it"
                lines.append(
                    f"{stream_info(src).describe()} lost its {', its '.join(lost)} in {suffix}, which cannot "
                    f"store {them}; the stream itself is copied"
                )
    return lines
