"""Keys of Real-ESRGAN's own option files (train_realesrgan_x4plus.yml, finetune_realesrgan_x4plus_pairdata.yml)
that traiNNer-redux does not have: which GT each loss compares with, and BasicSR's `use_shuffle`."""

from __future__ import annotations

from upres.errors import ConfigError

USM_KEYS = ("l1_gt_usm", "percep_gt_usm", "gan_gt_usm")


def translate_realesrgan_keys(data: dict, notes: list[str]) -> None:
    """Rewrites the keys in place (before validation) and says what they became."""
    _gt_usm(data, notes)
    _model_crop(data)
    for name, ds in (data.get("datasets") or {}).items() if isinstance(data.get("datasets"), dict) else ():
        if isinstance(ds, dict) and "use_shuffle" in ds:
            shuffle = ds.pop("use_shuffle")
            if shuffle is False and str(name).startswith("train"):
                notes.append(
                    f"datasets.{name}.use_shuffle: false has no effect: upres draws the training samples in a new "
                    "random order each epoch (which the seed fixes)"
                )


def _gt_usm(data: dict, notes: list[str]) -> None:
    given = {k: data.pop(k) for k in USM_KEYS if k in data}
    if not given:
        return
    # Real-ESRGAN's model sharpens a loss's GT unless its key is `false`.
    l1, percep, gan = (given.get(k, True) is not False for k in USM_KEYS)
    shown = ", ".join(f"{k}: {str(v).lower()}" for k, v in given.items())
    if "gt_usm" in data and (l1 or percep or gan) != bool(data["gt_usm"]):
        raise ConfigError(f"{shown} and gt_usm: {str(data['gt_usm']).lower()} disagree; keep one of them")
    if l1 == percep and not gan:
        data["gt_usm"] = l1
        meaning = (
            "the generator's losses compare with the unsharp-masked GT, the discriminator with the GT as it is"
            if l1
            else "every loss compares with the GT as it is"
        )
        notes.append(f"{shown} (Real-ESRGAN's) read as gt_usm: {str(l1).lower()}: {meaning}")
        return
    raise ConfigError(
        f"{shown}: upres sharpens the GT of every generator loss or of none, and never the discriminator's "
        "(gt_usm: true is Real-ESRGAN's l1_gt_usm: true, percep_gt_usm: true, gan_gt_usm: false); set them so, or "
        "replace them with gt_usm"
    )


def _model_crop(data: dict) -> None:
    """Real-ESRGAN's model crops the degraded pair again to the top-level `gt_size`; its files give the dataset the
    same size, and then the key says nothing more. A different size is a second crop upres does not make."""
    if "gt_size" not in data:
        return
    train = (data.get("datasets") or {}).get("train") if isinstance(data.get("datasets"), dict) else None
    if not isinstance(train, dict):
        return  # refused below as a key of the dataset block
    scale = data.get("scale", 4)
    crop = train.get("gt_size")
    if crop is None and isinstance(train.get("lq_size"), int) and isinstance(scale, int):
        crop = train["lq_size"] * scale
    if crop is None:
        return
    if data["gt_size"] != crop:
        raise ConfigError(
            f"gt_size {data['gt_size']} (Real-ESRGAN's second crop, of the degraded pair) differs from "
            f"datasets.train's crop {crop}: upres crops once; set datasets.train.gt_size: {data['gt_size']} and "
            "remove the top-level gt_size"
        )
    data.pop("gt_size")
