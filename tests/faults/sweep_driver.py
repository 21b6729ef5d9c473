"""Runs many `upres` command lines in one process (importing torch once instead of once per case) and records,
for each, the exit code and everything written to the stdout and stderr file descriptors (so thread and
interpreter messages are caught too). Usage: python sweep_driver.py CASES.json RESULTS.json"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback


def run_case(argv: list[str]) -> tuple[object, str, str]:
    from upres.cli import main

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            try:
                code: object = main(argv)
            except SystemExit as exc:  # argparse: usage errors and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - exactly what the sweep looks for
                traceback.print_exc()
                code = "uncaught exception"
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(errors="replace"), err.read().decode(errors="replace")


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        cases = json.load(fh)
    results = []
    for case in cases:
        started = time.perf_counter()
        code, out, err = run_case(case["argv"])
        seconds = time.perf_counter() - started
        results.append({"id": case["id"], "code": code, "out": out, "err": err, "seconds": seconds})
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main()
