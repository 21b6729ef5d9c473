"""traiNNer-redux's keys (src/upres/train/redux_keys.json): each one classified, the docs table current, shared
defaults equal to redux's, and the rule files free of dead entries."""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from pathlib import Path

import pytest

from upres.train.redux_keys import (
    CATEGORIES,
    classify,
    counts,
    honoured,
    redux_commit,
    redux_data,
    redux_keys,
    same_default,
    upres_default,
)
from upres.train.redux_rules import A_NOTES, DEFAULT_DIFFERS, OVERRIDES, PENDING, REDUX_EFFECTIVE, RULES
from upres.train.redux_table import migrating_section, table_text

REPO = Path(__file__).resolve().parents[2]


def test_key_file_names_its_redux_commit_and_every_key_has_a_type_and_a_default():
    assert re.fullmatch(r"[0-9a-f]{40}", redux_commit())
    raw = redux_data()["keys"]
    assert len(raw) == len({k["key"] for k in raw}) == len(redux_keys())
    for k in raw:
        assert k["type"], k
        assert ("default" in k) != bool(k.get("required")), k
    # the blocks issue 15 names are all there
    for block in ("datasets.*.", "path.", "train.", "val.", "logger.", "onnx.", "network_g.esrgan.",
                  "network_g.compact.", "network_d.dunet.", "train.losses.perceptualloss.", "val.metrics."):  # fmt: skip
        assert any(key.startswith(block) for key in redux_keys()), block


def test_every_key_is_classified():
    seen = {key: classify(key).category for key in redux_keys()}
    assert set(seen.values()) <= set(CATEGORIES)
    assert sum(counts().values()) == len(redux_keys())
    for key, category in seen.items():
        if category in "bcd":
            assert classify(key).note, f"{key} ({category}) needs a note saying why"


def test_a_key_is_honoured_only_where_the_option_models_accept_it():
    for key in redux_keys():
        if classify(key).category == "a":
            assert honoured(key), key
    assert not honoured("train.use_moa") and honoured("train.ema_decay")
    assert honoured("datasets.*.kernel_range") and honoured("blur_prob")


def test_docs_table_lists_every_key_with_its_category():
    page = (REPO / "docs" / "migrating.md").read_text(encoding="utf-8")
    assert migrating_section(page) == table_text(), (
        "docs/migrating.md is stale: run `python tools/redux_keys.py`"
    )
    for key in redux_keys():
        row = next(line for line in table_text().splitlines() if line.startswith(f"| `{key}` |"))
        assert f"({classify(key).category}) " in row


def test_no_rule_is_dead():
    keys = list(redux_keys())
    for pattern, category, note in OVERRIDES + RULES:
        used = [k for k in keys if fnmatch.fnmatchcase(k, pattern) and classify(k).note == note]
        # A rule for a feature being added lapses when the feature lands; then it should be deleted.
        assert used or PENDING in note, f"rule {pattern!r} ({category}) classifies no key: delete it"
    for pattern in (*A_NOTES, *DEFAULT_DIFFERS, *REDUX_EFFECTIVE):
        assert any(fnmatch.fnmatchcase(k, pattern) for k in keys), pattern


def test_shared_keys_have_redux_defaults():
    """A key upres honours means the same when a redux file leaves it out, unless DEFAULT_DIFFERS says why not."""
    differ = {k for k in redux_keys() if classify(k).category == "a" and not same_default(k)}
    unexplained = {k: (redux_keys()[k].default, upres_default(k)) for k in differ - set(DEFAULT_DIFFERS)}
    assert not unexplained, f"(redux, upres) defaults differ: {unexplained}"
    stale = [k for k in DEFAULT_DIFFERS if k not in differ]
    assert not stale, f"DEFAULT_DIFFERS lists keys whose defaults now agree: {stale}"


def test_the_defaults_issue_15_found_different_are_redux_s_now():
    for key, value in {
        "blur_prob": 0, "jpeg_range": [75, 95], "noise_range": [0, 0], "use_channels_last": True,
        "resize_mode_list": ["bilinear", "bicubic", "nearest-exact", "lanczos"], "train.ema_decay": 0,
        "train.losses.msssiml1loss.alpha": 0.1, "train.losses.ffloss.ave_spectrum": True,
        "train.losses.perceptualloss.criterion": "charbonnier",
    }.items():  # fmt: skip
        assert redux_keys()[key].default == value, key
        assert same_default(key), key
    assert upres_default("train.losses.perceptualloss.layer_weights") == {
        "conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0,
    }  # fmt: skip


@pytest.mark.skipif(
    not os.environ.get("UPRES_REDUX_DIR"), reason="set UPRES_REDUX_DIR to a traiNNer-redux checkout"
)
def test_refresh_script_reads_the_same_keys_from_redux():
    sys.path.insert(0, str(REPO / "tools"))
    import redux_keys as tool

    src = tool.Source(Path(os.environ["UPRES_REDUX_DIR"]))
    if src.commit is None:
        pytest.skip("UPRES_REDUX_DIR is a copy of the options tree, not a redux git checkout")
    if src.commit != redux_commit():
        pytest.skip(f"UPRES_REDUX_DIR is at {src.commit[:8]}, the key file at {redux_commit()[:8]}")
    assert tool.extract(src)["keys"] == redux_data()["keys"]
