from __future__ import annotations

import copy
import socket
import subprocess
import sys
from pathlib import Path

import yaml

# The least an option file needs to parse (nothing is read from disk): for tests of option reading alone.
MINIMAL_OPTIONS = {
    "name": "x",
    "scale": 2,
    "datasets": {"train": {"type": "pairedimagedataset", "dataroot_gt": "hr", "lq_size": 16}},
    "network_g": {"type": "compact"},
}


def base_options(hr: Path, exp: Path, **train) -> dict:
    return {
        "name": "test",
        "scale": 2,
        "manual_seed": 5,
        "deterministic": True,
        "datasets": {
            "train": {
                "type": "pairedimagedataset",
                "dataroot_gt": str(hr),
                "lq_size": 16,
                "batch_size_per_gpu": 2,
                "num_worker_per_gpu": 0,
            },
        },
        "network_g": {"type": "compact", "num_feat": 8, "num_conv": 2},
        "path": {"experiments_root": str(exp)},
        "train": {"total_iter": 10, "optim_g": {"type": "AdamW", "lr": 1e-3}, "ema_decay": 0.9, **train},
        "logger": {"print_freq": 5, "save_checkpoint_freq": 5, "use_tb_logger": False},
    }


def small_gan(gan_type: str = "vanilla", **train) -> dict:
    """The option patch of a small perceptual stage: a PatchGAN D, L1 plus the adversarial loss, `train` keys on top."""
    return {
        "network_d": {"type": "patchgandiscriminatorsn", "num_feat": 8, "num_layers": 2},
        "train": {
            "optim_d": {"type": "AdamW", "lr": 1e-3},
            "losses": [
                {"type": "l1loss", "loss_weight": 1.0},
                {"type": "ganloss", "gan_type": gan_type, "loss_weight": 0.1},
            ],
            **train,
        },
    }


def merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in patch.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write(path: Path, options: dict) -> Path:
    path.write_text(yaml.safe_dump(options))
    return path


def train_stops_at_iteration_7(hr: Path, tmp_path: Path, capsys) -> tuple[str, str]:
    """`upres train` (CLI, CPU, 10 iterations, a state every 5) made to fail at iteration 7 by the caller's patch:
    exit 2, the one error line and the log, with the state of iteration 5 kept and nothing saved after it."""
    from upres.cli import main

    exp = tmp_path / "exp"
    cfg = write(tmp_path / "train.yml", base_options(hr, exp))
    assert main(["train", "-c", str(cfg), "--device", "cpu"]) == 2
    assert sorted(p.name for p in (exp / "training_states").iterdir()) == ["5.state"]
    return capsys.readouterr().err.strip().splitlines()[-1], (exp / "log.txt").read_text()


def patch_forward(monkeypatch, on_call) -> None:
    """Every generator built from now on runs `on_call(n, forward, x)` for its n-th forward call (1-based)."""
    import upres.train.setup as setup_mod

    real_build = setup_mod.build_network_for
    calls = {"n": 0}

    def build(*a, **k):
        net, info = real_build(*a, **k)
        forward = net.forward

        def patched(x):
            calls["n"] += 1
            return on_call(calls["n"], forward, x)

        net.forward = patched
        return net, info

    monkeypatch.setattr(setup_mod, "build_network_for", build)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_machine(node: int, port: int, target: list[str], cwd: Path, env: dict, stdout=subprocess.DEVNULL):
    """torchrun of one process as machine `node` of two (`--nnodes 2`, rendezvous on `port`), running `target`
    (`["-m", "upres", "train", ...]` or a script and its arguments); stderr is piped, a session of its own."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(node),
           "--nproc_per_node", "1", "--master_addr", "127.0.0.1", "--master_port", str(port), *target]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
