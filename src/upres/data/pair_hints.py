"""What would pair GT images left without an LR with the LR files left without a GT: another `filename_tmpl`
(DIV2K's `0001x4.png` for `0001.png`) or `dataroot_lq` one folder lower (DIV2K's `LR_bicubic/X4/`), said by the
pairing error and by `upres doctor`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PairingGuess:
    lq_root: Path | None  # the folder below dataroot_lq that holds the LR files, when they are there
    filename_tmpl: str | None  # the template their names follow, when it is not the one set

    def said_in_error(self) -> str:
        if self.lq_root is None:
            return f"its LR names follow filename_tmpl: '{self.filename_tmpl}' (set it in this dataset)"
        tmpl = f" and filename_tmpl: '{self.filename_tmpl}'" if self.filename_tmpl else ""
        return f"the LR files are in {self.lq_root}, a folder lower (set dataroot_lq: {self.lq_root}{tmpl})"


def guess_pairing(
    gt_root: Path, missing: list[Path], lq_root: Path, orphans: list[Path], gt_count: int, filename_tmpl: str
) -> PairingGuess | None:
    """The guess that pairs at least half of all `gt_count` GTs, or None."""
    tmpl = guess_filename_tmpl(missing, orphans, gt_count)
    sub = _lq_subfolder(gt_root, missing, lq_root, orphans, gt_count, [filename_tmpl, tmpl or filename_tmpl])
    tmpl = tmpl if tmpl != filename_tmpl else None  # "named as '{}x4' gives, not '{}x4'" advised nothing
    if sub is None and tmpl is None:
        return None
    return PairingGuess(sub, tmpl)


def _lq_subfolder(
    gt_root: Path, missing: list[Path], lq_root: Path, orphans: list[Path], gt_count: int, tmpls: list[str]
) -> Path | None:
    """The folder under `lq_root` whose files have the missing GTs' relative paths (with one of `tmpls`)."""
    parents: dict[str, list[tuple[str, ...]]] = {}
    for g in missing:
        for tmpl in dict.fromkeys(tmpls):
            parents.setdefault(tmpl.format(g.stem), []).append(g.relative_to(gt_root).parent.parts)
    votes: Counter[Path] = Counter()
    for o in orphans:
        have = o.relative_to(lq_root).parent.parts
        for need in set(parents.get(o.stem, ())):
            extra = len(have) - len(need)
            if extra > 0 and have[extra:] == need:
                votes[lq_root.joinpath(*have[:extra])] += 1
    if not votes:
        return None
    sub, count = votes.most_common(1)[0]
    return sub if count * 2 >= gt_count else None


def guess_filename_tmpl(missing: list[Path], orphans: list[Path], gt_count: int) -> str | None:
    """The `filename_tmpl` that would pair GTs left without an LR with the LR files left without a GT (DIV2K's
    `0001x4.png` for `0001.png`: `{}x4`), when one template pairs at least half of all `gt_count` GTs (one odd LR name
    among pairs that match is no template: it would unpair the others); None otherwise."""
    stems = {g.stem for g in missing}
    votes: Counter[str] = Counter()
    for lq in orphans:
        o, seen = lq.stem, set()
        for i in range(1, len(o)):
            if o[:i] in stems:
                seen.add("{}" + o[i:])
            if o[i:] in stems:
                seen.add(o[:i] + "{}")
        votes.update(seen)
    if not votes:
        return None
    tmpl, count = votes.most_common(1)[0]
    return tmpl if count * 2 >= gt_count else None
