"""The experiment folder before a run writes to it: a fresh start never writes over an earlier run.

BasicSR and traiNNer-redux rename an existing folder aside on every fresh start; upres stops and names the ways on
instead, and moves the folder aside only when asked (`--archive-old`), so neither a typo nor a forgotten
`--resume auto` costs a run.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from upres.errors import ConfigError
from upres.io.names import NAME_MAX, fitted_name
from upres.train import run_lock
from upres.train.checkpoint import list_states
from upres.train.config import Options
from upres.train.pictures import later_pictures

ARCHIVE_FLAG = "--archive-old"


def experiment_dir(opts: Options) -> Path:
    return Path(opts.path.experiments_root) if opts.path.experiments_root else Path("experiments") / opts.name


def earlier_run(exp_dir: Path) -> str | None:
    """What an earlier run left in `exp_dir` that a fresh start would write over ('3 training states (newest
    iteration 500) and 6 model files'), or None when it holds no states or models."""
    states = list_states(exp_dir / "training_states") if (exp_dir / "training_states").is_dir() else []
    models_dir = exp_dir / "models"
    models = [p for p in models_dir.iterdir() if p.is_file()] if models_dir.is_dir() else []
    if not states and not models:
        return None
    parts = []
    if states:
        parts.append(f"{len(states)} training state(s) (newest: iteration {states[-1].stem})")
    if models:
        parts.append(f"{len(models)} model file(s)")
    return " and ".join(parts)


def _key(opts: Options) -> str:
    return "path.experiments_root" if opts.path.experiments_root else "name"


def check_writable(exp_dir: Path, key: str) -> None:
    """The folder is, or can become, a writable folder: found now rather than after the dataset check."""
    if exp_dir.exists():
        if not exp_dir.is_dir():
            raise ConfigError(
                f"{key}: the experiment folder {exp_dir} is a file, not a folder; choose another {key}"
            )
        if not os.access(exp_dir, os.W_OK | os.X_OK):
            raise ConfigError(f"{key}: the experiment folder {exp_dir} is not writable; choose another {key}")
        return
    parent = exp_dir.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{key}: cannot create the experiment folder {exp_dir}: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: cannot create the experiment folder {exp_dir}: {parent} is not writable")


def stamped_path(folder: Path, stem: str, tail: str = "") -> Path:
    """`folder/<stem><tail>_<YYYYmmdd_HHMMSS>`, numbered when that exists (two within one second never merge); a
    stem too long for one name with what is added is cut and given a hash (names.fitted_name)."""
    stamp = f"{tail}_{time.strftime('%Y%m%d_%H%M%S')}"
    target = folder / fitted_name(stem, stamp, NAME_MAX - 4)  # room for the number
    n, first = 2, target
    while target.exists():
        target = first.with_name(f"{first.name}_{n}")
        n += 1
    return target


def archive_name(exp_dir: Path) -> Path:
    return stamped_path(exp_dir.parent, exp_dir.name, "_archived")


def prepare_experiment_dir(opts: Options, resume: str | None, archive: bool, dry_run: bool) -> str | None:
    """Check the experiment folder before anything is built. A fresh start (no `--resume`, no
    `path.resume_state`) into a folder holding an earlier run's states or models stops with an error, or moves that
    folder aside to `<folder>_archived_<YYYYmmdd_HHMMSS>` with `archive`. A dry run writes nothing: it says what the
    real run would do. Returns a line for the user, or None. Under torchrun only rank 0 calls this (before the
    process group forms, so the other ranks wait for it)."""
    exp_dir, key = experiment_dir(opts), _key(opts)
    check_writable(exp_dir, key)
    check_outside_data(opts, exp_dir)
    if not exp_dir.is_dir():
        return None
    # A run under way: nothing here may be moved or rewound (a dry run writes nothing, so it may look).
    if not dry_run and (pid := run_lock.holder(exp_dir)) is not None:
        from upres.train.persist import TrainingError

        raise TrainingError(run_lock.busy_text(exp_dir, pid))  # as the run's own lock (run_lock.hold) raises
    found = earlier_run(exp_dir)
    if found is None:
        return None
    states_dir = exp_dir / "training_states"
    explicit = opts.path.resume_state or (resume if resume not in (None, "auto") else None)
    if explicit is not None and Path(explicit).resolve().is_relative_to(exp_dir.resolve()):
        if Path(explicit).resolve().parent == states_dir.resolve():
            return set_later_aside(exp_dir, Path(explicit), dry_run)
        return None  # not one of its states (one of its models): the loader says what to do instead
    stateless = not (states_dir.is_dir() and list_states(states_dir))
    if resume == "auto" and not stateless:
        # Both asked for: the run goes on, as the safer reading; said, since the earlier run stays where it was.
        return (
            f"{ARCHIVE_FLAG} has no effect with --resume auto: the run goes on in {exp_dir}"
            if archive
            else None
        )
    if explicit is not None:
        stateless = False  # a state from elsewhere would start this folder's run over: the fresh-start rule
        found += f", which resuming {explicit} here would write over"
    if archive:
        target = archive_name(exp_dir)
        if dry_run:
            return f"the real run moves the earlier run in {exp_dir} ({found}) to {target} ({ARCHIVE_FLAG})"
        try:
            exp_dir.rename(target)
        except OSError as exc:
            raise ConfigError(
                f"{ARCHIVE_FLAG}: cannot move {exp_dir} to {target} ({exc.strerror or exc}); move it yourself"
            ) from None
        return f"moved the earlier run in {exp_dir} to {target} ({ARCHIVE_FLAG})"
    other = "another path.experiments_root" if key == "path.experiments_root" else "a new name"
    if stateless:
        # --resume auto would start from iteration 0 over the earlier models.
        ways = (
            f"{exp_dir} holds an earlier run ({found}) but no training state to resume; give this run {other}, "
            f"start from one of its models with path.pretrain_network_g, or {ARCHIVE_FLAG} to move it aside"
        )
    else:
        ways = (
            f"{exp_dir} holds an earlier run ({found}); continue it with --resume auto, or give this run {other} "
            f"(or {ARCHIVE_FLAG} to move the earlier one aside)"
        )
    if dry_run:
        return f"the real run would stop here: {ways}"
    raise ConfigError(ways)


_ITERATION = re.compile(r"_(\d+)$")


def set_later_aside(exp_dir: Path, state: Path, dry_run: bool) -> str | None:
    """Resuming a run from one of its own earlier states (a rewind) moves what it saved after that state to
    `<folder>/rewound_<time>/`: the rewound run's saves and pruning (which keeps the highest iterations) would
    otherwise delete or replace them. net_g_best goes too when it was written after that state (its score is not
    the one the state tracks, and it stayed as the rewound run's best); else a copy goes."""
    if not state.stem.isdigit():
        return None
    at = int(state.stem)
    states = [p for p in list_states(exp_dir / "training_states") if int(p.stem) > at]
    models_dir = exp_dir / "models"
    models = [
        p
        for p in (sorted(models_dir.iterdir()) if models_dir.is_dir() else [])
        if p.is_file() and (m := _ITERATION.search(p.stem)) and int(m.group(1)) > at
    ]
    if not states and not models:
        return None
    # Written over as the rewound run validates again, or (val.keep_img) kept in place of its own latest ones.
    pictures = later_pictures(exp_dir / "visualization", at)
    aside = stamped_path(exp_dir, "rewound")
    what = f"{len(states)} later training state(s) and {len(models)} later model file(s)"
    if pictures:
        what = what.replace(" and ", ", ") + f" and {len(pictures)} validation picture(s)"
    if dry_run:
        return f"the real run moves this run's {what} (after iteration {at}) to {aside}"
    later_best = ""
    try:
        for path in states + models + pictures:
            target = aside / path.relative_to(exp_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            path.rename(target)
        for best in models_dir.glob("net_g_best*"):
            (aside / "models").mkdir(parents=True, exist_ok=True)
            if best.stat().st_mtime > state.stat().st_mtime:
                best.rename(aside / "models" / best.name)
                later_best = (
                    f" (with {best.name}, written after it: the next better validation writes a new one)"
                )
            else:
                shutil.copy2(best, aside / "models" / best.name)
    except OSError as exc:
        raise ConfigError(
            f"cannot move this run's later files to {aside} ({exc.strerror or exc}); move them yourself"
        ) from None
    return f"resuming at iteration {at}: moved this run's {what} to {aside}{later_best}, so that nothing is written over"


def check_outside_data(opts: Options, exp_dir: Path) -> None:
    """An experiment folder inside a dataset folder adds its validation pictures to that dataset on the next run."""
    from upres.data.options import as_list

    place = exp_dir.resolve()
    for name, ds in opts.datasets.items():
        for key in ("dataroot_gt", "dataroot_lq"):
            for root in as_list(getattr(ds, key, None)):
                if place.is_relative_to(Path(root).resolve()):
                    raise ConfigError(
                        f"{_key(opts)}: the experiment folder {exp_dir} lies inside datasets.{name}.{key} {root}, "
                        f"which would read its pictures as data; choose a folder outside it"
                    )
