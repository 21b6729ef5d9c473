from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from ref_basicsr import import_basicsr

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Under pytest-xdist (`make test`) each of the N processes takes its share of the cores: torch's default, one thread
# per core in every process, would run twice as many threads as there are cores.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    torch.set_num_threads(max(1, torch.get_num_threads() // _WORKERS))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (only CI and developer machines have it)")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_the_commands_under_test():
    """A harness that starts pytest in the background (`nohup`, `&` in a script, some remote runners) hands it
    SIGINT ignored, and every command a test starts inherits that: the Ctrl+C tests would then press a key nobody
    hears. Give SIGINT the handler a terminal session has, for this process and the commands it starts."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own empty cache folder: no test sees another's cached image checks, or the user's."""
    monkeypatch.setenv("UPRES_CACHE_DIR", str(tmp_path_factory.mktemp("upres-cache")))


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def basicsr_module():
    """basicsr 1.4.2 (dev extra) as an independent reference; skips when it is not installed."""
    pytest.importorskip("cv2", reason="the basicsr reference needs opencv (dev extra)")
    return import_basicsr("basicsr")
