"""What a resume changes in the training itself, beside the schedule (persist.py says it): the data settings, the
training set's folders, the losses, and whether the state's discriminator and EMA generator go on. Each is accepted
(a stage's data and losses are the user's to change) but said in the log: a loss added, a GAN switched on or off, or
the EMA dropped at a resume went on without a word, so a week-long run could change its objective with nothing in
log.txt to say when."""

from __future__ import annotations

from pathlib import Path

from upres.train.setup import Run


def loss_settings(run: Run) -> list[str]:
    """The losses the run trains with, one line each, as the training state records them."""
    return [
        f"{loss.type} x{loss.weight:g}" + (f" from iteration {loss.start_iter}" if loss.start_iter else "")
        for loss in run.losses
    ]


def data_roots(run: Run) -> list[str]:
    """The training set's folders, as the training state records them (a set with another image count is said by
    persist.data_changes; one of the same count in another folder went by unsaid)."""
    from upres.data.options import as_list

    opts = getattr(run.train_set, "opts", None)
    keys = ("dataroot_gt", "dataroot_lq")
    return [str(Path(r).resolve()) for key in keys for r in as_list(getattr(opts, key, None))] if opts else []


def resume_changes(state: dict, run: Run, path: Path) -> list[str]:
    """The log notes of a resume from `state` (read from `path`) into `run`."""
    it = int(state["iteration"])
    notes = []
    roots, now_roots = state.get("data_roots"), data_roots(run)
    if isinstance(roots, list) and roots and now_roots and roots != now_roots:
        notes.append(
            f"datasets.train's folders differ from the training state's ({', '.join(roots)} -> "
            f"{', '.join(now_roots)}): from iteration {it} the run trains on the options' images"
        )
    saved = state.get("losses")  # states written before it was recorded have none
    now = loss_settings(run)
    if isinstance(saved, list) and sorted(saved) != sorted(now):
        parts = [f"{what} {', '.join(x)}" for what, x in _diff(saved, now) if x]
        notes.append(
            f"train.losses differ from the training state's ({'; '.join(parts)}): from iteration {it} the run "
            "trains with the options' losses"
        )
    if run.d is not None and "net_d" not in state:
        notes.append(
            f"the training state holds no discriminator (its run had no network_d): network_d starts at iteration "
            f"{it} as in a new run (from path.pretrain_network_d when given, else from new weights)"
        )
    if run.d is None and "net_d" in state:
        notes.append(
            f"the training state's discriminator is left out (the options have no network_d): the states saved from "
            f"here hold none; to train it on, resume from {path} with its network_d and losses"
        )
    if run.g.ema is None and "ema_g" in state:
        notes.append(
            "the training state's EMA generator is left out (train.ema_decay is 0): validation and the saved models "
            f"are the generator's own from iteration {it}; to keep the EMA, resume with its ema_decay"
        )
    return notes


def data_change_note(saved: dict | None, now: dict[str, int]) -> str | None:
    """The log note of a resume whose data settings (persist.data_settings) differ from the state's, or None. A step's
    samples depend only on how many it takes (sampler.py): two processes of batch 2 resumed as one of batch 4 go on
    with the very samples of the uninterrupted run, which the note said they did not."""
    changed = data_changes(saved, now)
    if not changed:
        return None
    said = f"data settings differ from the state's ({changed})"
    if not all(k in saved for k in now):  # a state from before every setting was recorded
        return f"{said}: the run continues, but the resume may not be exact"
    before, after = _per_step(saved), _per_step(now)
    if saved["samples"] == now["samples"] and before == after:
        return (
            f"{said}: each step takes the same {after} samples as an uninterrupted run would, only split otherwise "
            "(the weights equal it to float rounding; draws made per process, such as d_input_noise, differ)"
        )
    text = (
        f"{said}: the run continues, but sees other samples in another order than an uninterrupted run would"
    )
    if before == after:
        return f"{text} (resume is not bit-exact)"
    keep = ""
    if before % (now["processes"] * now["accum_iter"]) == 0:
        keep = f"; batch_size_per_gpu {before // (now['processes'] * now['accum_iter'])} keeps it"
    elif before % (now["processes"] * now["batch_size_per_gpu"]) == 0:
        keep = f"; accum_iter {before // (now['processes'] * now['batch_size_per_gpu'])} keeps it"
    return f"{text}, and the effective batch is {after} where it was {before}{keep}"


def data_changes(saved: dict | None, now: dict[str, int]) -> str:
    if not saved:
        return ""
    return ", ".join(f"{k} {saved[k]} -> {v}" for k, v in now.items() if k in saved and saved[k] != v)


def _per_step(settings: dict) -> int:
    return settings["batch_size_per_gpu"] * settings["accum_iter"] * settings["processes"]


def _diff(saved: list[str], now: list[str]) -> list[tuple[str, list[str]]]:
    removed, added = list(saved), []
    for loss in now:
        if loss in removed:
            removed.remove(loss)
        else:
            added.append(loss)
    return [("removed", removed), ("added", added)]
