"""Warnings that upres's modules log during a run (a bad sample skipped, validation out of memory) reach log.txt, also
from the data loader's worker processes: without this they went to the console only, through Python's last-resort
handler, and a user reading the log after a week never saw them."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
from collections.abc import Iterator
from typing import Any

from upres.train.report import RunLog

LOGGER = "upres"


class _ToRunLog(logging.Handler):
    def __init__(self, log: RunLog) -> None:
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.log.warn(record.getMessage())
        except Exception:  # a log line must not stop the run
            self.handleError(record)


@contextlib.contextmanager
def records_to_log(log: RunLog) -> Iterator[None]:
    """While held, `upres.*` warnings of this process and of loader workers started with `log.worker_records` go to
    `log` (console, log.txt, the report's notes). A process that does not speak (torchrun's other ranks) keeps
    Python's default: the console."""
    if not log.console:
        yield
        return
    handler = _ToRunLog(log)
    # The default context, as the DataLoader's workers use.
    records: Any = multiprocessing.get_context().Queue()
    listener = logging.handlers.QueueListener(records, handler)
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    listener.start()
    log.worker_records = records
    try:
        yield
    finally:
        log.worker_records = None
        logger.removeHandler(handler)
        listener.stop()
        records.close()


def send_to(records: Any) -> None:
    """In a loader worker: `upres.*` records go to the main process's run log. A forked worker's copy of the main
    process's handler is replaced, or it wrote to log.txt behind the main process's back."""
    logger = logging.getLogger(LOGGER)
    for h in list(logger.handlers):
        logger.removeHandler(h)
    logger.addHandler(logging.handlers.QueueHandler(records))
