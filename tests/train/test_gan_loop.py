"""The perceptual stage in the training loop, and traiNNer-redux option files running after editing only paths."""

from __future__ import annotations

import pytest
import torch
import yaml
from train_helpers import base_options, merge, small_gan, write

from devices import DEVICES
from upres.cli import main
from upres.io.model_files import read_tensors
from upres.train.checkpoint import load_training_state
from upres.train.config import parse_options
from upres.train.loop import TrainingError, train


def test_gan_stage_trains_d_and_g_and_saves_both(tmp_path, hr_folder, random_vgg):
    exp = tmp_path / "exp"
    opts = merge(
        base_options(hr_folder, exp),
        {
            "network_d": {"type": "patchgandiscriminatorsn", "num_feat": 16, "num_layers": 2},
            "train": {
                "total_iter": 6,
                "d_input_noise": 0.004,
                "gradient_penalty": {"kind": "real", "weight": 10},
                "optim_d": {"type": "AdamW", "lr": 1e-3},
                "losses": [
                    {"type": "l1loss", "loss_weight": 0.01},
                    {
                        "type": "perceptualloss",
                        "loss_weight": 1.0,
                        "layer_weights": {"conv2_2": 1.0},
                        "vgg_weights_path": str(random_vgg),
                    },
                    {"type": "ganloss", "gan_type": "ragan", "loss_weight": 0.005, "start_iter": 3},
                ],
            },
            "logger": {"print_freq": 1, "save_checkpoint_freq": 3},
        },
    )
    train(parse_options(opts))
    log = (exp / "log.txt").read_text().splitlines()
    iters = [line for line in log if " iter " in line]
    assert "l_d_real" not in iters[1] and "l_g_percep" in iters[1]  # GAN starts at iteration 3
    for line in iters[3:]:
        assert "l_g_gan" in line and "l_d_real" in line and "l_d_gp" in line and "out_d_fake" in line
        assert "nan" not in line.lower()
    state = load_training_state(exp / "training_states" / "6.state")
    assert "net_d" in state and "optimizer_d" in state
    d3, d6 = read_tensors(exp / "models" / "net_d_3.pth")[0], read_tensors(exp / "models" / "net_d_6.pth")[0]
    assert any(not torch.equal(d3[k], d6[k]) for k in d3), "D did not train"


REDUX_STYLE = """
name: 4x_redux_style
scale: 4
use_amp: true
amp_bf16: true
use_channels_last: true
fast_matmul: false
num_gpu: auto
high_order_degradation: true
high_order_degradations_debug: false
high_order_degradations_debug_limit: 100
lq_usm: false
lq_usm_radius_range: [1, 25]
blur_prob: 0.0
resize_prob: [0.2, 0.7, 0.1]
resize_mode_list: [bilinear, bicubic, nearest-exact, lanczos]
resize_mode_prob: [0.25, 0.25, 0.25, 0.25]
resize_range: [0.4, 1.5]
gaussian_noise_prob: 0.0
noise_range: [0, 0]
poisson_scale_range: [0, 0]
gray_noise_prob: 0.0
jpeg_prob: 1.0
jpeg_range: [75, 95]
blur_prob2: 0.0
resize_prob2: [0.3, 0.4, 0.3]
resize_mode_list2: [bilinear, bicubic, nearest-exact, lanczos]
resize_mode_prob2: [0.25, 0.25, 0.25, 0.25]
resize_range2: [0.6, 1.2]
gaussian_noise_prob2: 0
noise_range2: [0, 0]
poisson_scale_range2: [0, 0]
gray_noise_prob2: 0.0
jpeg_prob2: 1.0
jpeg_range2: [75, 95]
resize_mode_list3: [bilinear, bicubic, nearest-exact, lanczos]
resize_mode_prob3: [0.25, 0.25, 0.25, 0.25]
queue_size: 180
datasets:
  train:
    name: Train Dataset
    type: RealESRGANDataset
    dataroot_gt: HR_FOLDER
    io_backend: {type: disk}
    blur_kernel_size: 12
    kernel_list: [iso, aniso, generalized_iso, generalized_aniso, plateau_iso, plateau_aniso]
    kernel_prob: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
    kernel_range: [5, 17]
    sinc_prob: 0.0
    blur_sigma: [0.2, 2]
    betag_range: [0.5, 4]
    betap_range: [1, 2]
    final_sinc_prob: 0.0
    final_kernel_range: [5, 17]
    gt_size: 32
    use_hflip: true
    use_rot: true
    num_worker_per_gpu: 0
    batch_size_per_gpu: 2
    accum_iter: 1
    dataset_enlarge_ratio: auto
    prefetch_mode: ~
  val:
    name: Val Dataset
    type: PairedImageDataset
    dataroot_gt: HR_FOLDER
    io_backend: {type: disk}
network_g:
  type: ESRGAN
  num_feat: 8
  num_block: 1
network_d:
  type: DUnet
  num_feat: 8
path:
  param_key_g: ~
  strict_load_g: true
  resume_state: ~
train:
  ema_decay: 0.999
  grad_clip: true
  optim_g: {type: AdamW, lr: !!float 1e-4, weight_decay: 0, betas: [0.9, 0.99]}
  optim_d: {type: AdamW, lr: !!float 1e-4, weight_decay: 0, betas: [0.9, 0.99]}
  scheduler: {type: MultiStepLR, milestones: [200000, 400000], gamma: 0.5}
  total_iter: 2
  warmup_iter: -1
  losses:
    - {type: msssiml1loss, alpha: 0.1, loss_weight: 1.0}
    - {type: perceptualloss, criterion: pd+l1, loss_weight: 0.01, vgg_weights_path: VGG_PATH}
    - {type: hsluvloss, criterion: charbonnier, loss_weight: 1.0}
    - {type: ganloss, gan_type: vanilla, loss_weight: 0.1}
    - {type: distsloss, loss_weight: 0}
    - {type: ldlloss, loss_weight: 0}
    - {type: ffloss, loss_weight: 0}
  use_moa: false
  moa_augs: [none, mixup, cutmix, resizemix, cutblur]
  moa_probs: [0.4, 0.084, 0.084, 0.084, 0.348]
  moa_debug: false
  moa_debug_limit: 100
val:
  val_enabled: false
  val_freq: 1000
  save_img: true
  metrics_enabled: true
  metrics:
    psnr: {type: calculate_psnr, crop_border: 4, test_y_channel: false}
    dists: {type: calculate_dists, better: lower}
logger:
  print_freq: 1
  save_checkpoint_freq: 1000
  save_checkpoint_format: safetensors
  use_tb_logger: false
  wandb: {project: ~, resume_id: ~}
dist_params: {backend: nccl, port: 29500}
"""


def test_traiNNer_redux_style_file_runs_after_editing_paths(
    tmp_path, hr_folder, random_vgg, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    text = REDUX_STYLE.replace("HR_FOLDER", str(hr_folder)).replace("VGG_PATH", str(random_vgg))
    path = tmp_path / "redux.yml"
    path.write_text(text)
    assert main(["train", "-c", str(path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "perceptual criterion 'pd+l1' is not implemented; using 'l1'" in out
    assert "(distsloss) skipped: loss_weight 0" in out
    assert (tmp_path / "experiments" / "4x_redux_style" / "models" / "net_g_2.safetensors").exists()


def test_legacy_loss_blocks_become_the_losses_list(tmp_path, hr_folder):
    opts = base_options(hr_folder, tmp_path)
    opts["train"]["pixel_opt"] = {"type": "L1Loss", "loss_weight": 1.0}
    opts["train"]["perceptual_opt"] = {
        "type": "PerceptualLoss",
        "layer_weights": {"conv5_4": 1},
        "perceptual_weight": 0.5,
        "style_weight": 0,
    }
    parsed = parse_options(opts)
    assert [(s.type, s.loss_weight) for s in parsed.train.losses] == [
        ("l1loss", 1.0),
        ("perceptualloss", 0.5),
    ]
    assert any("read as entries of train.losses" in n for n in parsed.compat_notes)


def test_enabled_unimplemented_feature_is_refused(tmp_path, hr_folder):
    from upres.errors import ConfigError

    opts = merge(base_options(hr_folder, tmp_path), {"train": {"use_moa": True}})
    with pytest.raises(
        ConfigError, match=r"train.use_moa: not implemented in upres: mixture of augmentations \(MoA\)"
    ):
        parse_options(opts)


def test_written_options_record_the_seed(tmp_path, hr_folder):
    opts = base_options(hr_folder, tmp_path / "exp")
    opts.pop("manual_seed")
    path = write(tmp_path / "o.yml", opts)
    assert main(["train", "-c", str(path)]) == 0
    recorded = yaml.safe_load((tmp_path / "exp" / "options.yml").read_text())
    assert isinstance(recorded["manual_seed"], int)


def test_options_recorded_by_a_run_started_from_python_read_back_as_the_same_options(tmp_path, hr_folder):
    """`train(opts)` without the option file's text records the parsed options; they held every optimizer's
    hyperparameters as null (AdamW's `momentum: null`...), which `upres train -c options.yml` refused ("AdamW has no
    parameter momentum, ..."), so the recorded run could not be resumed or repeated from its record."""
    opts = parse_options(merge(base_options(hr_folder, tmp_path / "exp", total_iter=1), small_gan()))
    train(opts, device="cpu")
    recorded = parse_options(yaml.safe_load((tmp_path / "exp" / "options.yml").read_text()))
    assert recorded.model_dump() == opts.model_dump()


@pytest.mark.parametrize("device", DEVICES)
def test_gan_run_with_d_input_noise_resumes_bit_identically_with_another_loader_worker_count(
    tmp_path, hr_folder, device
):
    """D's input noise comes from the process's random stream, restored from the state; starting the loader on resume
    must not draw from that stream (every later noise sample would shift by one draw). Every sample follows from its
    position in the data, so the resumed run may have another number of loader workers (another machine)."""

    def options(root: str, workers: int) -> dict:
        opts = merge(base_options(hr_folder, tmp_path / root), small_gan(d_input_noise=0.05))
        return merge(opts, {"datasets": {"train": {"num_worker_per_gpu": workers}}})

    train(parse_options(options("straight", 1)), device=device)
    state = tmp_path / "straight" / "training_states" / "5.state"
    train(parse_options(options("resumed", 0)), resume=str(state), device=device)
    for name in ("net_g_10.safetensors", "net_d_10.pth"):
        a = read_tensors(tmp_path / "straight" / "models" / name)[0]
        b = read_tensors(tmp_path / "resumed" / "models" / name)[0]
        assert all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.parametrize("device", DEVICES)
def test_otf_run_with_pair_pool_resumes_bit_identically(tmp_path, hr_folder, device):
    """The pair pool and its shuffle generator are part of the training state: resuming mixes the same pairs."""

    def options(root: str) -> dict:
        opts = merge(
            base_options(hr_folder, tmp_path / root),
            {
                "queue_size": 6,  # 3 batches of 2: full after 3 iterations, mixing from then on
                "jpeg_range": [70, 95],
                "train": {"total_iter": 10},
                "logger": {"save_checkpoint_freq": 5},
            },
        )
        opts["datasets"]["train"].update(type="realesrgandataset", lq_size=16)
        return opts

    train(parse_options(options("straight")), device=device)
    state = load_training_state(tmp_path / "straight" / "training_states" / "5.state")
    pool = state["pair_pool"][0]
    assert pool["filled"] == 6 and pool["lq"].shape == (6, 3, 16, 16) and pool["gt"].shape == (6, 3, 32, 32)
    assert pool["lq"].dtype == torch.uint8  # JPEG output holds 8-bit levels: stored 4x smaller, exactly
    train(
        parse_options(options("resumed")),
        resume=str(tmp_path / "straight" / "training_states" / "5.state"),
        device=device,
    )
    a = read_tensors(tmp_path / "straight" / "models" / "net_g_10.safetensors")[0]
    b = read_tensors(tmp_path / "resumed" / "models" / "net_g_10.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "refills" not in (tmp_path / "resumed" / "log.txt").read_text()

    # Without the pool in the state the run still resumes, says so, and differs.
    del state["pair_pool"]
    old = tmp_path / "old.state"
    torch.save(state, old)
    train(parse_options(options("old")), resume=str(old), device=device)
    assert (
        "holds no pair pool: the pool refills from new batches" in (tmp_path / "old" / "log.txt").read_text()
    )
    c = read_tensors(tmp_path / "old" / "models" / "net_g_10.safetensors")[0]
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_otf_training_checks_its_data_first(tmp_path, hr_folder, capsys):
    from upres.errors import ConfigError

    opts = merge(base_options(hr_folder, tmp_path / "exp"), {"train": {"total_iter": 1}})
    opts["datasets"]["train"].update(type="realesrgandataset", lq_size=2)  # 4 px crops of 64 px images
    train(parse_options(opts), dry_run=True)
    # 64 px images decode in well under a millisecond: the `prepare tiff` hint would not pay, so none is given.
    assert "decoded whole" not in capsys.readouterr().out
    (hr_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n nope")
    with pytest.raises(
        ConfigError, match=r"datasets.train: the dataset check found 1 error\(s\), e.g. .*broken.png"
    ):
        train(parse_options(opts), dry_run=True)


def test_one_bad_file_in_a_large_set_is_a_note_not_a_stop(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    hr = tmp_path / "hr"
    hr.mkdir()
    rng = np.random.default_rng(0)
    for i in range(120):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(hr / f"{i:03d}.png")
    (hr / "007.png").write_bytes(b"\x89PNG\r\n\x1a\n nope")
    for kind in ("pairedimagedataset", "realesrgandataset"):
        opts = merge(base_options(hr, tmp_path / kind), {"train": {"total_iter": 1}})
        opts["datasets"]["train"].update(type=kind, lq_size=4)
        train(parse_options(opts), dry_run=True)
        out = capsys.readouterr().out
        assert "datasets.train: 1 bad sample(s) will be skipped when drawn: " in out and "007.png" in out


@pytest.mark.slow
def test_compiled_generator_trains_the_gan_stage_like_eager(tmp_path, hr_folder, monkeypatch):
    import functools

    # aot_eager: AOTAutograd, where a compiled backward with retain_graph used to be refused ("donated buffers"),
    # without inductor's code generation (minutes on a small CPU).
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    gan = {**small_gan("ragan", total_iter=3), "logger": {"save_checkpoint_freq": 3}}
    esrgan = {"type": "esrgan", "num_feat": 8, "num_block": 1, "num_grow_ch": 4}
    # The fidelity stage compiled first, as a user's pipeline runs: its compiled G (whose backward donates buffers)
    # is what the GAN stage's retain_graph backward used to meet.
    fidelity = merge(base_options(hr_folder, tmp_path / "fidelity"), {"use_compile": True})
    fidelity["network_g"] = esrgan
    fidelity["train"]["total_iter"] = 2
    train(parse_options(fidelity), device="cpu")
    runs = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        opts = merge(base_options(hr_folder, tmp_path / name), {**gan, "use_compile": compiled})
        opts["network_g"] = esrgan
        runs[name] = train(parse_options(opts), device="cpu")
    assert "l_d_real" in runs["compiled"].last_losses
    assert runs["compiled"].last_losses == pytest.approx(runs["eager"].last_losses, rel=1e-4, abs=1e-6)
    for kind in ("net_g", "net_d"):
        suffix = "safetensors" if kind == "net_g" else "pth"
        a = read_tensors(tmp_path / "eager" / "models" / f"{kind}_3.{suffix}")[0]
        b = read_tensors(tmp_path / "compiled" / "models" / f"{kind}_3.{suffix}")[0]
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


def test_d_learning_rate_schedule_follows_the_iterations_not_d_steps(tmp_path, hr_folder):
    """D's scheduler stepped only when D did: with the GAN from iteration 4, D's milestone 5 came 3 iterations late
    (BasicSR and traiNNer-redux step every scheduler each iteration)."""
    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=6),
        small_gan(scheduler={"type": "MultiStepLR", "milestones": [5], "gamma": 0.5}),
    )
    opts["train"]["losses"][1]["start_iter"] = 4
    opts["logger"]["save_checkpoint_freq"] = 6
    train(parse_options(opts))
    state = load_training_state(tmp_path / "exp" / "training_states" / "6.state")
    lr_g = state["optimizer_g"]["param_groups"][0]["lr"]
    lr_d = state["optimizer_d"]["param_groups"][0]["lr"]
    assert lr_g == pytest.approx(5e-4) and lr_d == pytest.approx(5e-4)
    assert (
        state["schedule_d"]["scheduler"]["last_epoch"] == state["schedule_g"]["scheduler"]["last_epoch"] == 6
    )


def test_a_diverging_discriminator_is_never_saved_and_the_guard_rolls_it_back(tmp_path, hr_folder):
    """The NaN guard looked at G only: a D driven to NaN was saved in every checkpoint and state, the roll-backs
    reloaded it, and the run ended 'finished'."""
    opts = merge(
        base_options(hr_folder, tmp_path / "exp", total_iter=12, nan_rollback_after=2),
        small_gan("wgan", optim_d={"type": "SGD", "lr": 1e30}),
    )
    # The GAN starts after the state at 4, so that state is a sound one to roll back to (a state written while D
    # diverged, weights finite but ~1e30, is not written any more).
    opts["train"]["losses"][1]["start_iter"] = 5
    opts["logger"]["save_checkpoint_freq"] = 4
    opts["logger"]["print_freq"] = 1
    with pytest.raises(TrainingError, match="still non-finite after 8 roll-backs to iteration 4"):
        train(
            parse_options(opts)
        )  # (an lr of 1e30 stays hopeless after 8 halvings: the run stops, never loops)
    exp = tmp_path / "exp"
    saved = sorted((exp / "models").glob("net_d_*.pth"))
    assert saved, "no discriminator was saved"
    for path in saved:
        d = torch.load(path, weights_only=True)["params"]
        assert all(torch.isfinite(v).all() for v in d.values() if v.is_floating_point()), path.name
    for path in (exp / "training_states").glob("*.state"):
        assert all(
            torch.isfinite(v).all()
            for v in load_training_state(path)["net_d"].values()
            if v.is_floating_point()
        )
    assert "non-finite steps in a row; rolled back to" in (exp / "log.txt").read_text()


def test_the_dry_run_runs_the_iteration_where_every_loss_is_on(tmp_path, hr_folder, capsys):
    """It ran iteration 1: a GAN (or any loss) starting later was never run, so its faults and its memory showed up
    hours into the real run."""
    opts = merge(base_options(hr_folder, tmp_path / "exp"), small_gan())
    opts["train"]["losses"][1]["start_iter"] = 4
    opts["train"]["net_d_init_iters"] = 2
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "l_g_gan" in out and "l_d_real" in out and "dry run OK" in out
    assert "MB; it trained iteration 6, the first with every loss on" in out  # GAN from 4, then 2 D-only
    opts["train"]["losses"].append({"type": "mssimloss", "padding": "valid", "start_iter": 4})
    assert main(["train", "-c", str(write(tmp_path / "o.yml", opts)), "--dry-run", "--device", "cpu"]) == 2
    assert "(mssimloss): GT crops of 32 px (datasets.train.lq_size 16 x scale 2) are too small" in (
        capsys.readouterr().err
    )


def test_grad_clip_clips_the_discriminator_too(tmp_path, hr_folder):
    """grad_clip clipped G only; traiNNer-redux clips D's gradients as well. SGD at lr 1: each network's weights
    move by its clipped gradient, so neither moves by more than the limit."""
    from upres.train.loop import seed_everything
    from upres.train.setup import build_run

    limit = 1e-6
    opts = parse_options(
        merge(
            merge(base_options(hr_folder, tmp_path / "exp", total_iter=1), small_gan()),
            {"train": {"grad_clip": True, "grad_clip_max_norm": limit, "ema_decay": 0,
                       "optim_g": {"type": "SGD", "lr": 1.0}, "optim_d": {"type": "SGD", "lr": 1.0}},
             "logger": {"print_freq": 1, "save_checkpoint_freq": 1}},
        )
    )  # fmt: skip
    seed_everything(opts.manual_seed, 0)  # as the run does before it builds the networks: the same start
    start = build_run(opts, torch.device("cpu"), opts.manual_seed, 1, check_data=False)
    train(opts)
    state = load_training_state(tmp_path / "exp" / "training_states" / "1.state")
    for net, key in ((start.g.net, "net_g"), (start.d.net, "net_d")):
        params = dict(net.named_parameters())
        step = sum((state[key][k].float() - p.detach().float()).square().sum() for k, p in params.items())
        assert 0 < float(step) ** 0.5 <= limit * 1.01, key


@pytest.mark.parametrize(("network_d", "noted"), [
    ({"type": "vggstylediscriminator", "num_feat": 8, "norm": "batch"}, True),
    ({"type": "patchgandiscriminatorsn", "num_feat": 8, "num_layers": 2}, False),
])  # fmt: skip
def test_a_gradient_penalty_on_a_batchnorm_discriminator_is_noted(tmp_path, hr_folder, network_d, noted):
    from upres.train.setup import build_run

    opts = merge(
        merge(base_options(hr_folder, tmp_path / "exp"), small_gan()),
        {"network_d": network_d, "train": {"gradient_penalty": {"kind": "real", "weight": 10}}},
    )
    opts["network_d"] = network_d
    opts["datasets"]["train"]["lq_size"] = 32  # the VGG-style D's 128 px at x4; 64 px at x2 here
    run = build_run(parse_options(opts), torch.device("cpu"), 0, 1, check_data=False)
    found = [n for n in run.notes if n.startswith("train.gradient_penalty with a BatchNorm discriminator")]
    assert len(found) == int(noted)
