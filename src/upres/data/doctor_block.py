"""`upres doctor -c` and training's check before its first iteration: the dataset checks for one `datasets.<name>`
block, on the files that block's dataset type reads."""

from __future__ import annotations

from collections.abc import Callable

from upres.data.doctor import DoctorReport, check_folders
from upres.data.doctor_findings import Finding
from upres.data.options import DatasetOptions, as_list, errors_in_block
from upres.data.paired import dataset_roots
from upres.io.image_files import list_images, other_files_hint


def check_dataset(
    opts: DatasetOptions,
    scale: int,
    name: str = "",
    use_cache: bool = True,
    announce: Callable[[str], None] | None = None,
) -> DoctorReport:
    """The checks for one `datasets.<name>` block (training calls this before its first iteration)."""
    with errors_in_block(name or opts.type):
        report = _check_block(opts, scale, name, use_cache, announce)
    report.findings += empty_folders(opts)
    if name in ("train", "datasets.train") and report.pairs:
        report.findings += _epoch_size(report.pairs, opts)
    return report


# Kinds training refuses with its own line (it knows the process count), after the dataset check.
SAID_BY_TRAINING = {"fewer_than_a_step", "epoch_too_large"}


def _epoch_size(samples: int, opts: DatasetOptions) -> list[Finding]:
    """An epoch training refuses to shuffle: the doctor said OK to a dataset_enlarge_ratio training then refused."""
    from upres.errors import ConfigError
    from upres.train.sampler import check_epoch_size

    try:
        check_epoch_size(samples * opts.dataset_enlarge_ratio, opts.dataset_enlarge_ratio)
    except ConfigError as exc:
        return [Finding("error", "epoch_too_large", ", ".join(as_list(opts.dataroot_gt)), str(exc))]
    return []


def empty_folders(opts: DatasetOptions) -> list[Finding]:
    """A `dataroot_gt` folder of several that holds no image: the others trained alone, without a word (a folder
    left empty by a failed copy, or a path to the wrong level)."""
    roots = as_list(opts.dataroot_gt)
    if opts.type == "singleimagedataset" or len(roots) < 2 or opts.meta_info is not None:
        return []
    return [
        Finding(
            "warning",
            "empty_folder",
            root,
            f"no images in this dataroot_gt folder (training reads the others){other_files_hint([root])}",
        )
        for root in roots
        if not list_images(root)
    ]


def _check_block(
    opts: DatasetOptions, scale: int, name: str, use_cache: bool, announce: Callable[[str], None] | None
) -> DoctorReport:
    if opts.type == "singleimagedataset":
        return check_folders(
            as_list(opts.dataroot_lq), name=name or opts.name, use_cache=use_cache, announce=announce
        )
    # The training block is checked for the batch it trains with (the default too); validation runs image by image.
    batch = opts.train_batch() if name == "train" else opts.batch_size_per_gpu
    if opts.type == "realesrgandataset":
        from upres.data.otf_dataset import gather_paths

        # The files the dataset itself uses (its meta_info lines may come from any of its roots); images smaller
        # than the crop are padded there, so they are a warning.
        return check_folders(
            gather_paths(opts.dataroot_gt, opts.meta_info),
            scale=scale,
            lq_size=opts.crop_size(scale),
            batch_size=batch,
            enlarge_ratio=opts.dataset_enlarge_ratio,
            accum_iter=opts.accum_iter,
            name=name or opts.name,
            pads_small=True,
            use_cache=use_cache,
            announce=announce,
        )
    roots = dataset_roots(opts)
    return check_folders(
        [g for g, _ in roots],
        [lq for _, lq in roots if lq is not None] or None,
        scale=scale,
        lq_size=opts.crop_size(scale),
        batch_size=batch,
        filename_tmpl=opts.filename_tmpl,
        meta_info=opts.meta_info,
        enlarge_ratio=opts.dataset_enlarge_ratio,
        accum_iter=opts.accum_iter,
        name=name or opts.name,
        use_cache=use_cache,
        announce=announce,
    )


def empty_folder_notes(report: DoctorReport) -> list[str]:
    """The training log's words for `empty_folders` findings."""
    return [
        f"datasets.train.dataroot_gt: {f.path}: {f.detail}"
        for f in report.warnings
        if f.kind == "empty_folder"
    ]


def unlike_pair_notes(report: DoctorReport) -> list[str]:
    """The training log's words for `lr_content` findings: a misnumbered LR folder trains on pairs of two pictures."""
    unlike = [f for f in report.warnings if f.kind == "lr_content"]
    if not unlike:
        return []
    return [
        f"datasets.train: {len(unlike)} of {report.pairs} LR image(s) do not look like their GT made smaller "
        f"(two different pictures, or one flipped), e.g. {unlike[0].path}: {unlike[0].detail}; "
        "`upres doctor -c OPTIONS` lists them"
    ]
