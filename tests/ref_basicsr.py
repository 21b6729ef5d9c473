"""basicsr 1.4.2 as an independent reference in tests."""

from __future__ import annotations

import pytest


def import_basicsr(module: str):
    """Import a basicsr 1.4.2 module (the reference implementation), or skip when it is not installed."""
    import sys

    try:
        import torchvision.transforms.functional as tvf
    except ImportError:
        pytest.skip("torchvision is needed to import basicsr")
    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.skip(f"basicsr 1.4.2 (the reference implementation, dev extra) is not importable: {exc}")
