"""What `upres video` does to the place it writes: a file that appears at OUT while it works stays, and two runs into
one OUT never share one partial file (both said they had made OUT, which held one of them)."""

from __future__ import annotations

import pytest
from video_clips import make_clip, video_frames

from upres.cli import main
from upres.infer.tiling import Upscaler
from upres.infer.video import VideoOptions, upscale_video
from upres.io.file_lock import claim
from upres.io.model_files import load_model

av = pytest.importorskip("av")


def _upscaler(model):
    loaded = load_model(model)
    return Upscaler(loaded.module, loaded.scale)


@pytest.mark.parametrize("replace", [False, True])
def test_a_file_that_appears_at_the_output_during_the_run_stays_unless_forced(tmp_path, model_x2, replace):
    clip = make_clip(tmp_path / "in.mkv").path
    out = tmp_path / "out.mkv"

    def progress(*_):  # another program (or a copy by hand) puts a file at OUT while the run works
        if not out.exists():
            out.write_bytes(b"the user's file")

    opts = VideoOptions(replace=replace)
    if replace:
        result = upscale_video(_upscaler(model_x2), clip, out, opts, progress)
        assert result.complete and result.path == out and len(video_frames(out)) == result.frames
        return
    with pytest.raises(Exception) as caught:
        upscale_video(_upscaler(model_x2), clip, out, opts, progress)
    partial = tmp_path / "out.partial.mkv"
    assert str(caught.value) == (
        f"{out}: a file appeared there while this run worked and is kept; the finished video is {partial}: move it "
        "where you want it, or rerun with --force to replace the file"
    )
    assert out.read_bytes() == b"the user's file"
    assert len(video_frames(partial)) == len(
        video_frames(clip)
    )  # the finished video, whole, under its own name


def test_a_second_run_into_an_output_being_written_is_refused_and_changes_nothing(tmp_path, capsys, model_x2):
    clip = make_clip(tmp_path / "in.mkv").path
    out = tmp_path / "out.mkv"
    partial = tmp_path / "out.partial.mkv"
    partial.write_bytes(b"the first run's frames so far")
    held = claim(
        partial
    )  # as the first run holds it (another open file: flock locks conflict in one process too)
    try:
        for force in ([], ["--force"]):
            code = main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q", *force])
            assert code == 2
            assert capsys.readouterr().err == (
                f"error: {partial}: another upres video is writing it now; wait for it to end, or choose another "
                "output\n"
            )
            assert partial.read_bytes() == b"the first run's frames so far" and not out.exists()
    finally:
        held.close()
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q", "--force"]) == 0
    assert out.is_file() and not partial.exists()


def test_the_library_refuses_a_partial_file_another_run_holds(tmp_path, model_x2):
    """Both runs passed the command's check before either had started: the later one's claim is what stops it."""
    clip = make_clip(tmp_path / "in.mkv").path
    out = tmp_path / "out.mkv"
    held = claim(tmp_path / "out.partial.mkv")
    try:
        with pytest.raises(Exception, match="another upres video is writing it now"):
            upscale_video(_upscaler(model_x2), clip, out, VideoOptions(replace=True))
    finally:
        held.close()
    assert not out.exists()


def test_an_output_under_a_file_names_the_output_and_the_file_in_the_way(tmp_path, capsys, model_x2):
    """The error named the partial file and said 'File exists'."""
    clip = make_clip(tmp_path / "in.mkv").path
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "out.mkv"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: cannot write there (cannot create the folder {tmp_path / 'afile'}: a file is in the way); "
        "choose another place\n"
    )


def test_an_input_named_like_the_outputs_partial_file_is_named_so(tmp_path, capsys, model_x2):
    """`x.partial.mkv -o x.mkv` said 'output is the input file', of an output that did not exist."""
    clip = make_clip(tmp_path / "x.partial.mkv").path
    out = tmp_path / "x.mkv"
    assert main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: the run writes to {clip} until it ends, which is the input file; choose another output name\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compact_x2.safetensors", "x.partial.mkv"]
