"""options.yml: the options a run trains with, and, after a resume with other options, the ones it trained with before."""

from __future__ import annotations

from pathlib import Path

import yaml

from upres.io.atomic import atomic_write
from upres.train.config import Options

RECORD_NAME = "options.yml"


def record_options(exp_dir: Path, opts: Options, seed: int, options_text: str, start_iter: int, note) -> None:
    """Writes options.yml. A resume with other options first keeps the file it replaces as
    options_until_<iter>.yml: the options that trained the run up to that iteration (a week-long run's earlier
    learning rates or losses were otherwise only in log.txt). Raises OSError when the folder cannot be written."""
    # Unset hyperparameters are None in the parsed options (every optimizer's): a file holding them is refused.
    recorded = (
        yaml.safe_load(options_text) if options_text else opts.model_dump(mode="json", exclude_none=True)
    )
    if isinstance(recorded, dict) and recorded.get("manual_seed") is None:
        recorded["manual_seed"] = seed  # so the run can be repeated exactly
    text = yaml.safe_dump(recorded, sort_keys=False)
    target = exp_dir / RECORD_NAME
    earlier = target.read_text(errors="replace") if start_iter > 0 and target.is_file() else None
    if earlier is not None and earlier != text:
        kept = _free_name(exp_dir, f"options_until_{start_iter}")
        atomic_write(kept, lambda tmp: tmp.write_text(earlier))
        note(
            f"the options changed at this resume: the ones that trained up to iteration {start_iter} are kept as {kept}"
        )
    atomic_write(target, lambda tmp: tmp.write_text(text))


def _free_name(folder: Path, stem: str) -> Path:
    """stem.yml, or stem_2.yml... when a rewind resumes at the same iteration again with yet other options."""
    path, n = folder / f"{stem}.yml", 2
    while path.exists():
        path, n = folder / f"{stem}_{n}.yml", n + 1
    return path
