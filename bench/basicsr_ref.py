"""Load basicsr 1.4.2's degradation code without its package __init__ (which imports every model, tensorboard,
and a torchvision module removed since), for tests and benchmarks that compare against it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

MODULES = {
    "degradations": "data/degradations.py",
    "img_process_util": "utils/img_process_util.py",
    "diffjpeg": "utils/diffjpeg.py",
}


def basicsr_root() -> Path | None:
    spec = importlib.util.find_spec("basicsr")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def load(name: str) -> ModuleType:
    """One of MODULES by name; raises ImportError when basicsr is not installed."""
    root = basicsr_root()
    if root is None:
        raise ImportError("basicsr is not installed: pip install basicsr==1.4.2 (the `dev` extra)")
    import torchvision.transforms.functional as tvf

    sys.modules.setdefault("torchvision.transforms.functional_tensor", tvf)
    key = f"_basicsr_ref_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, root / MODULES[name])
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]
