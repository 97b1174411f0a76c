"""Logging of a workflow job into its rule's log file."""

from __future__ import annotations

import logging
import sys
import traceback
import warnings

from aeflow.benchmarks import expected_time


def to_file(path: str) -> None:
    """Send stderr, warnings and logging of this process to ``path`` (the rule's ``log:``).

    An uncaught exception is written in full to the log and its last line also to the
    original stderr, so the Snakemake console names the problem, not only the log file. A
    job that ran before says on the console and in the log how long it took then
    (:func:`aeflow.benchmarks.expected_time`).
    """
    original = sys.stderr
    stream = open(path, "w", buffering=1)  # noqa: SIM115  (lives as long as the process)
    sys.stderr = stream
    logging.basicConfig(
        stream=stream,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    warnings.simplefilter("default")

    def excepthook(exc_type, exc, tb):
        traceback.print_exception(exc_type, exc, tb, file=stream)
        stream.flush()
        print(f"aeflow error ({path}): {exc_type.__name__}: {exc}", file=original)

    sys.excepthook = excepthook
    expected = expected_time(path)
    if expected is not None:
        print(expected, file=original)
        logging.getLogger("aeflow").info("expected: %s", expected)
