"""`upres video --json`: what it says is what is on disk."""

from __future__ import annotations

import json

import pytest
from video_clips import VFR_PTS, interrupt_after, make_clip, video_frames

from upres.cli import main
from upres.infer.tiling import Upscaler

av = pytest.importorskip("av")


def _on_disk(path) -> tuple[int, list[dict], float]:
    with av.open(str(path)) as c:
        streams = [
            {
                "index": s.index,
                "type": s.type,
                "language": s.metadata.get("language"),
                "title": s.metadata.get("title") or s.metadata.get("name"),
            }
            for s in c.streams
        ]
        video = c.streams.video[0]
        last = list(c.decode(video))[-1]
        return len(video_frames(path)), streams, float((last.pts + last.duration) * video.time_base)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_json_gives_the_written_files_frames_duration_and_streams(tmp_path, capsys, model_x2, suffix):
    """`upres video` had no --json (every other command that reports numbers has one): a script had to parse
    'out.mkv: 10 frames in 0.4 s' and open the file to learn what it held."""
    subtitles = "subrip" if suffix == ".mkv" else "mov_text"
    clip = make_clip(tmp_path / f"in{suffix}", audio="aac", subtitles=subtitles).path
    out = tmp_path / f"out{suffix}"
    code = main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout is the JSON alone
    assert captured.err == ""  # and no progress display
    frames, streams, end = _on_disk(out)
    assert code == report["exit_code"] == 0
    assert (report["output"], report["complete"], report["frames"]) == (str(out), True, frames)
    assert report["frames"] == len(VFR_PTS)
    assert abs(report["duration"] - end) <= 0.042  # the last frame's end as read back, to within a frame
    assert [{k: s[k] for k in ("index", "type", "language", "title")} for s in report["streams"]] == streams
    assert [s["type"] for s in report["streams"]] == ["video", "audio", "subtitle"]
    assert (report["size"], report["codec"], report["warnings"]) == ([68, 52], "h264", [])


def test_json_of_an_interrupted_run_names_the_partial_file(tmp_path, capsys, model_x2, monkeypatch):
    clip = make_clip(tmp_path / "in.mkv").path
    monkeypatch.setattr(Upscaler, "forward", interrupt_after(3))
    out = tmp_path / "out.mkv"
    code = main(["video", "-m", str(model_x2), str(clip), "-o", str(out), "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    partial = tmp_path / "out.partial.mkv"
    assert code == report["exit_code"] == 130
    assert (report["output"], report["complete"], report["frames"]) == (str(partial), False, 3)
    assert report["frames"] == len(video_frames(partial)) and not out.exists()
    last = VFR_PTS[2] / 1000 + 0.041
    assert report["ends_at"] == round(last, 3)
    assert captured.err.startswith(
        f"interrupted: {partial} is a partial output with 3 frames (ends at {last:.3f} s)"
    )
