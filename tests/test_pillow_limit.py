"""Pillow's decompression-bomb limit is the host program's: upres lifts it only while it reads an image (its own
max_pixels check stands in), then puts the host's value back; a service that read uploads with Pillow beside upres
lost that protection for good after upres's first read."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from PIL import Image

from upres.data.doctor import header_facts
from upres.io.images import ImageReadError, decode_image, read_image, write_image


def test_the_hosts_pillow_limit_is_back_after_each_read(tmp_path, monkeypatch):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", rgb)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the host's own limit, far below the image
    assert (read_image(tmp_path / "a.png", max_pixels=None) == rgb).all()
    assert Image.MAX_IMAGE_PIXELS == 100
    with pytest.raises(ImageReadError):
        decode_image(tmp_path / "bad.png")
    assert Image.MAX_IMAGE_PIXELS == 100
    with pytest.raises(Image.DecompressionBombError):
        Image.open(tmp_path / "a.png")  # the host's protection still stands for its own reads


def test_a_header_read_is_not_refused_by_the_hosts_limit(tmp_path, monkeypatch):
    img = Image.fromarray(np.zeros((30, 40, 3), np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "rotated.jpg", exif=exif)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert header_facts(tmp_path / "rotated.jpg") == (6, 1)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_overlapping_reads_in_threads_leave_the_hosts_limit(tmp_path, monkeypatch):
    rgb = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", rgb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    failures: list[BaseException] = []

    def reads() -> None:
        try:
            for _ in range(20):
                read_image(tmp_path / "a.png", max_pixels=None)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            failures.append(exc)

    threads = [threading.Thread(target=reads) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert Image.MAX_IMAGE_PIXELS == 100


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork-only: a worker forked while a thread held the lock")
def test_a_process_forked_during_a_read_elsewhere_reads_too(tmp_path, monkeypatch):
    import multiprocessing

    from upres.io import pillow_limit

    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pillow_limit._lock:  # as if another thread were changing the count at the moment of the fork
        child = multiprocessing.get_context("fork").Process(target=read_image, args=(tmp_path / "a.png",))
        child.start()
    child.join(20)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
