"""upres.cli.main() called from several threads at once (an app's or a web service's workers): the process's
sys.stdout and sys.stderr are the caller's again once the calls end, and every line reaches them."""

from __future__ import annotations

import io
import sys
import threading

import upres.cli.info as info_command
from upres.cli import main


def test_overlapping_calls_leave_the_callers_streams_in_place(monkeypatch):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    a_inside, b_inside, a_done = threading.Event(), threading.Event(), threading.Event()

    def run(args) -> int:
        """Call A starts first and ends first, while call B is under way."""
        name = threading.current_thread().name
        print(f"{name} says")
        print(f"{name} warns", file=sys.stderr)
        if name == "A":
            a_inside.set()
            b_inside.wait(10)
        else:
            b_inside.set()
            a_done.wait(10)
        return 0

    monkeypatch.setattr(info_command, "run", run)
    codes: dict[str, int] = {}

    def call_a() -> None:
        codes["A"] = main(["info", "model.pth"])
        a_done.set()

    def call_b() -> None:
        a_inside.wait(10)
        codes["B"] = main(["info", "model.pth"])

    threads = [threading.Thread(target=call_a, name="A"), threading.Thread(target=call_b, name="B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == {"A": 0, "B": 0}
    assert sys.stdout is out and sys.stderr is err
    assert out.getvalue() == "A says\nB says\n" and err.getvalue() == "A warns\nB warns\n"
