"""Every independent problem of an option file in one run: `upres train -c` (also `--dry-run`) and `upres doctor -c`
stopped at the first (a key's typo, then each missing folder, then the pretrain), one run per mistake.

The keys are validated as a whole; then, on the options with the refused keys left out, the files and folders the
run reads are looked at (dataset folders, pretrains, VGG weights) and the network and loss blocks checked, each
with the message the run itself would stop with. A file that cannot be read, or whose blocks have the wrong shape,
still stops at once: nothing after that can be checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from upres.errors import ConfigError
from upres.train.config import Options
from upres.train.loss_needs import unmet_loss_needs

Problem = tuple[tuple, str]  # (the key's place in the file, the message naming it)


class OptionProblems(ConfigError):
    """Several problems of one option file: a first line with their count, then one line each (the CLI prints the
    lines as they are)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.lines = [f"{source}: {len(problems)} problems; fix them all, then run again:"]
        self.lines += [f"  {p}" for p in problems]
        super().__init__("\n".join(self.lines))


def load_checked_options(path: str | Path, training: bool = True, resuming: bool = False) -> Options:
    """The options of `path` as `load_options` reads them; OptionProblems when the file has more than one problem
    (one problem keeps its own line: the reading, or the run, stops with it as before). `training`: also the
    pretrains, VGG weights, network and losses (`upres doctor -c` looks at the datasets only); `resuming`: the
    pretrains are not read."""
    from upres.option_file import read_option_file
    from upres.train.config import parse_options

    data = read_option_file(path)
    problems = option_problems(data, training, resuming)
    if len(problems) > 1:
        raise OptionProblems(str(path), problems)
    return parse_options(data, str(path))


def option_problems(data: dict, training: bool = True, resuming: bool = False) -> list[str]:
    """The problems of the option mapping `data`, in the order of their keys in the file."""
    from upres.train.compat import translate
    from upres.train.config import _check_block_shapes
    from upres.train.config_errors import validation_problems

    try:
        _check_block_shapes(data, "")
        translated, _ = translate(data)
    except ConfigError:
        return []  # the reading stops there (parse_options says why): the rest cannot be looked at
    found: list[Problem] = []
    try:
        opts: Options | None = Options.model_validate(translated)
        named: set[tuple] = set()
    except ValidationError as exc:
        found = validation_problems(exc, Options)
        opts = _without_refused_keys(translated, [loc for loc, _ in found])
        named = {loc for loc, _ in found}
    if opts is not None:
        # the network is built at the file's scale: with a refused scale, the default's would say something untrue
        network = not {"scale", "network_g"} & {loc[0] for loc in named if loc}
        found += [p for p in _file_problems(data, opts, training, resuming, network) if p[0] not in named]
    return [line for _, line in _in_file_order(data, found)]


def _file_problems(data: dict, opts: Options, training: bool, resuming: bool, network: bool) -> list[Problem]:
    found = _degradation_problems(data, opts) + _folder_problems(opts, training)
    if training:
        found += _pretrain_problems(opts) if not resuming and opts.path.resume_state is None else []
        found += (_network_problems(opts) if network else []) + _loss_problems(opts)
        found += [(("train", "losses", i), said) for i, said in unmet_loss_needs(opts)]
    return found


def _degradation_problems(data: dict, opts: Options) -> list[Problem]:
    """Each refused degradation key (the degradation block is checked as a whole, after the other keys)."""
    from upres.train.degradation_notes import degradation_notes

    try:
        degradation_notes(opts, "")
    except ConfigError as exc:
        train = (data.get("datasets") or {}).get("train")
        found = []
        for line in getattr(exc, "every", [str(exc)]):
            said = line.removeprefix(": ")
            key = said.split(":")[0].split(".")[-1].split(" ")[0].strip("`")
            in_train = isinstance(train, dict) and key in train
            found.append(((("datasets", "train", key) if in_train else (key,)), said))
        return found
    return []


def _folder_problems(opts: Options, training: bool) -> list[Problem]:
    """The dataset folders the run reads (all blocks for the doctor)."""
    from upres.data.options import as_list, errors_in_block, require_folder
    from upres.train.setup import validation_datasets

    if training:
        train = opts.train_dataset
        read = {"train": train} if train and train.type in ("pairedimagedataset", "realesrgandataset") else {}
        blocks = {**read, **(validation_datasets(opts) if read else {})}
    else:
        blocks = dict(opts.datasets)
    found = []
    for name, ds in blocks.items():
        keys = {"singleimagedataset": ["dataroot_lq"], "realesrgandataset": ["dataroot_gt"]}.get(
            ds.type, ["dataroot_gt", "dataroot_lq"]
        )
        if training and name == "train" and ds.type == "realesrgandataset" and opts.dataroot_lq_prob > 0:
            keys.append("dataroot_lq")
        for key in keys:
            roots = getattr(ds, key)
            for i, root in enumerate(as_list(roots)):
                try:
                    with errors_in_block(name):
                        require_folder(key, root)
                except ConfigError as exc:
                    found.append(
                        (("datasets", name, key, *([i] if isinstance(roots, list) else [])), str(exc))
                    )
    return found


def _pretrain_problems(opts: Options) -> list[Problem]:
    from upres.train.pretrain import pretrain_exists

    keys = ["pretrain_network_g"] + (["pretrain_network_d"] if opts.network_d is not None else [])
    found = []
    for key in keys:
        path = getattr(opts.path, key)
        try:
            if path is not None:
                pretrain_exists(path, f"path.{key}", False, [])
        except ConfigError as exc:
            found.append((("path", key), str(exc)))
    return found


def _network_problems(opts: Options) -> list[Problem]:
    from upres.archs import FAMILIES, network_params
    from upres.errors import check_keywords

    g = opts.network_g
    try:
        family, params = network_params(g.type, g.kwargs(), opts.scale)
        check_keywords(f"network_g ({g.type})", FAMILIES[family].build, params)
    except ConfigError as exc:
        return [(("network_g",), str(exc))]
    return []


def _loss_problems(opts: Options) -> list[Problem]:
    """Each entry's type and keys, and the VGG weights file of a perceptual loss (nothing is built or loaded)."""
    from upres.losses import check_loss_spec, placed
    from upres.losses.perceptual import resolve_vgg_weights

    found = []
    for i, spec in enumerate(opts.train.losses):
        where = f"train.losses[{i}]"
        if spec.loss_weight == 0:
            continue
        try:
            key, kwargs = check_loss_spec(spec, where)
            if key == "perceptualloss":
                try:
                    resolve_vgg_weights(kwargs.get("vgg_weights_path"))
                except ConfigError as exc:
                    raise ConfigError(placed(str(exc), key, where)) from None
        except ConfigError as exc:
            found.append((("train", "losses", i), str(exc)))
    return found


def _without_refused_keys(data: dict, locs: list[tuple], passes: int = 3) -> Options | None:
    """The options of `data` with the keys at `locs` left out (their defaults instead), or None when that does not
    make valid options (a required key missing, a problem of the whole file): the files are then not looked at."""
    import copy

    data = copy.deepcopy(data)
    for _ in range(passes):
        for loc in locs:
            if not _drop(data, loc):
                return None
        try:
            return Options.model_validate(data)
        except ValidationError as exc:
            locs = [tuple(e["loc"]) for e in exc.errors() if e["type"] != "missing"]
            if len(locs) < len(exc.errors()):
                return None
    return None


def _drop(data: dict, loc: tuple) -> bool:
    """Removes the deepest key of `loc` present in `data` (a union's member names follow the key in pydantic's
    place); False when there is none to remove under the top level, or it is an entry of a list."""
    parent, key, node = None, None, data
    for part in loc:
        if not _holds(node, part):
            break
        parent, key, node = node, part, node[part]
    if not isinstance(parent, dict):
        return False
    del parent[key]
    return True


def _holds(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _in_file_order(data: dict, found: list[Problem]) -> list[Problem]:
    return sorted(found, key=lambda p: _place(data, p[0]))


def _place(data: Any, loc: tuple) -> tuple[int, ...]:
    """Where the key at `loc` is written: its index in each enclosing block (a key not written: after its block's)."""
    if loc[:1] == ("degradation",) and "degradation" not in data:
        loc = loc[1:]  # redux's top-level degradation keys, gathered into one block when read
    place, node = [], data
    for part in loc:
        if not _holds(node, part):
            place.append(len(node) if isinstance(node, dict | list) else 0)
            break
        place.append(list(node).index(part) if isinstance(node, dict) else part)
        node = node[part]
    return tuple(place)
