"""Loading a pretrain into the generator: strict, or by name and shape with a report (2x pretrain -> 4x model)."""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from upres.archs import FAMILIES, NETWORKS, ArchInfo, recognise
from upres.archs.compact import HIDDEN_DEFAULTS  # what a header records and tensors cannot show
from upres.errors import ConfigError, ModelFileError
from upres.io.model_files import check_weights, header_hints, read_tensors_for_key, refuse_nonfinite


def pretrain_exists(path: str | Path, key: str, resuming: bool, notes: list[str]) -> bool:
    """A missing pretrain is an option-file mistake: the error names the key to fix, not only the path. Resuming,
    the training state's weights replace the pretrain's (traiNNer-redux ignores the key then): a file moved or
    deleted since the run started is a note, not a run that cannot go on."""
    if os.path.exists(path):
        return True
    if resuming:
        notes.append(
            f"{key} {path}: no such file; not needed to resume (the training state holds the weights)"
        )
        return False
    raise ConfigError(f"{key} {path}: no such file; correct the path or remove the key to start from scratch")


@dataclass
class LoadReport:
    matched: list[str] = field(default_factory=list)
    shape_mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)  # header settings that differ from network_g's
    fallback: str | None = None  # the param_key the file lacks, and what was loaded instead

    def summary(self, loaded: bool = True) -> str:
        """`loaded`: what was done; False: what loading would do (a refusal loads nothing)."""
        parts = ([self.fallback] if self.fallback else []) + [
            f"{len(self.matched)} tensors {'loaded' if loaded else 'fit'}"
        ]
        if self.settings:
            parts.append(f"the file was trained with {', '.join(self.settings)}")
        if self.shape_mismatched:
            names = ", ".join(f"{k} {tuple(a)}->{tuple(b)}" for k, a, b in self.shape_mismatched[:4])
            what = "shape-mismatched and left initialised" if loaded else "of another shape"
            parts.append(f"{len(self.shape_mismatched)} {what} ({names})")
        if self.missing:
            parts.append(f"{len(self.missing)} missing from the file ({', '.join(self.missing[:4])})")
        if self.unexpected:
            parts.append(
                f"{len(self.unexpected)} in the file but not in the network ({', '.join(self.unexpected[:4])})"
            )
        return "; ".join(parts)


def load_pretrain(
    net: nn.Module, path: Path, strict: bool, param_key: str | None = None, info: ArchInfo | None = None
) -> LoadReport:
    """`info`: network_g's architecture, against which the settings a header records and tensors cannot show (a
    Compact's learn_residual, activation) are checked: under strict loading a difference is an error."""
    state, metadata, fallback = read_tensors_for_key(path, param_key)
    try:
        check_weights(state)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    # Rename any community layout to our keys; an unrecognised file keeps its names.
    unrecognised = ""
    hints = header_hints(metadata)
    try:
        recognised, state = recognise(state, hints)
    except ModelFileError as exc:
        recognised, unrecognised = None, str(exc)
    own = net.state_dict()
    report = LoadReport(fallback=fallback)
    if info is not None and recognised is not None and recognised.family == info.family:
        report.settings = [
            f"{k}={recognised.params.get(k, default)!r} (network_g has {info.params.get(k, default)!r})"
            for k, default in HIDDEN_DEFAULTS.items()
            if k in hints and recognised.params.get(k, default) != info.params.get(k, default)
        ]
        if strict and report.settings:
            raise ConfigError(
                f"path.pretrain_network_g {path}: {report.settings[0]}; set that in network_g (same tensors, "
                "another computation), or strict_load_g: false to load it anyway"
            )
    usable: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != value.shape:
            report.shape_mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
            report.matched.append(key)
    report.missing = [k for k in own if k not in state]
    other = other_family(recognised, info)
    if strict and (report.shape_mismatched or report.missing or report.unexpected) and usable and not other:
        settings = network_g_settings(recognised, info)
        whole = f"{', '.join(settings)} (the file's)" if settings else ""
        if unrecognised.startswith(
            "a Compact without PReLU weights"
        ):  # which activation, only its trainer knows
            whole = "network_g.act_type: relu or leakyrelu, whichever it was trained with (it has no PReLU weights)"
        fits = "strict_load_g: false (e.g. a 2x pretrain into a 4x model)"
        advice = (
            f"to load it whole, set {whole}; to load what fits, set {fits}"
            if whole
            else f"set {fits.replace(' (', ' to load what fits (', 1)}"
        )
        raise ConfigError(
            f"path.pretrain_network_g {path} does not fit network_g: {report.summary(loaded=False)}; {advice}"
        )
    if not usable or other:
        # Loading nothing is never what a fine-tune wants, strict or not (a discriminator file, another architecture).
        why = (
            f": it is {unrecognised}"
            if unrecognised.startswith("a ")  # a discriminator, another architecture spandrel names
            else f": {other}"
            if other
            else f" ({report.summary(loaded=False)})"
        )
        raise ConfigError(f"path.pretrain_network_g {path}: none of its tensors fit network_g{why}")
    refuse_nonfinite(usable, path)  # a NaN pretrain makes every step NaN: the run would save nothing
    net.load_state_dict(usable, strict=False)
    return report


def other_family(recognised: ArchInfo | None, info: ArchInfo | None) -> str | None:
    """Why a pretrain of another architecture than network_g's cannot be loaded, with network_g's settings that
    would take it; None when both are one family (or either is unknown)."""
    if recognised is None or info is None or recognised.family == info.family:
        return None
    settings = ", ".join([f"network_g.type: {recognised.family}", *network_g_settings(recognised, info)])
    return (
        f"it is {_a(recognised.family)} x{recognised.scale} ({' '.join(recognised.tags)}) and network_g "
        f"{_a(info.family)}; to fine-tune it set {settings}, or start from {_a(info.family)} pretrain"
    )


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def network_g_settings(recognised: ArchInfo | None, info: ArchInfo | None) -> list[str]:
    """The option-file settings (`network_g.num_block: 2`, top-level `scale: 2`) under which network_g is the
    pretrain's architecture: what a refusal names, so the user need not read hyperparameters off tensor shapes."""
    if recognised is None or info is None:
        return []
    family = recognised.family
    if family == info.family:
        ours = dict(info.params)
    else:  # what network_g.type alone would build, at the option file's scale
        build = inspect.signature(FAMILIES[family].build).parameters.values()
        ours = {p.name: p.default for p in build} | NETWORKS[family][1] | {"scale": info.scale}
    hidden = HIDDEN_DEFAULTS if family == "compact" else {}
    ours, theirs = {**hidden, **ours}, {**hidden, **recognised.params}
    out = []
    for key, value in theirs.items():
        if key == "use_pixel_unshuffle" and (value or theirs["scale"] not in (1, 2)):
            continue  # network_g unshuffles 1x/2x unless told not to, and never 4x/8x
        if ours.get(key) != value:
            out.append(f"{'' if key == 'scale' else 'network_g.'}{key}: {json.dumps(value)}")
    return out
