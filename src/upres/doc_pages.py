"""How a message names a page of upres's documentation.

The docs/ folder lives in upres's source tree; a wheel does not carry it, so a bare `docs/video.md` names a path
that an installed user does not have (or, run from any other folder, a different one). Messages say where it is.
"""

from __future__ import annotations

SOURCE = "in upres's source tree"


def doc_page(page: str) -> str:
    """`video.md` or `troubleshooting.md#slow-data-loading` as a message writes it."""
    return f"docs/{page} {SOURCE}"
