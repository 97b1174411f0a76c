"""Snakemake's ``benchmark:`` records of the workflow's jobs: reading one, and the time a job
took on its last run, which the job announces when it starts again.

Every rule writes ``results/benchmarks/<rule>/<target>.tsv`` and logs to
``results/logs/<rule>/<target>.log`` (the same path under ``logs``), so a job finds its own
record from its log path. Snakemake rewrites the record only when the job ends: at the start
it still holds the last run's figures.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

# Snakemake's benchmark columns read here, and their names in the tables.
COLUMNS = {"s": "wall_s", "cpu_time": "cpu_s", "max_rss": "peak_rss_mb"}


def read_benchmark(path: str | Path) -> dict[str, float]:
    """The figures of one benchmark file (the mean over its rows when it holds repeats).
    Snakemake writes ``NA`` for memory and CPU of a job shorter than its sampling interval:
    NaN here.

    Raises ValueError naming the file and the column when one is missing or not a number."""
    path = Path(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text()), delimiter="\t"))
    if not rows:
        raise ValueError(f"{path}: benchmark file has no rows")
    out = {}
    for column, name in COLUMNS.items():
        try:
            values = [_number(row[column]) for row in rows]
        except KeyError:
            raise ValueError(f"{path}: benchmark file has no column {column!r}") from None
        except (TypeError, ValueError):
            raise ValueError(f"{path}: column {column!r} is not a number") from None
        out[name] = sum(values) / len(values)
    return out


def _number(text: str) -> float:
    return math.nan if text == "NA" else float(text)


def benchmark_of(log: str | Path) -> Path | None:
    """The benchmark record of the job logging to ``log`` (``.../logs/<rule>/<target>.log``
    -> ``.../benchmarks/<rule>/<target>.tsv``), or None for a log outside a ``logs`` folder."""
    parts = Path(log).parts
    if "logs" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("logs")  # the last: the workflow's own
    return Path(*parts[:i], "benchmarks", *parts[i + 1 :]).with_suffix(".tsv")


def expected_time(log: str | Path) -> str | None:
    """What a job logging to ``log`` should take, from its last run's record: a line for the
    console and the log, or None when there is no (readable) record."""
    bench = benchmark_of(log)
    if bench is None or not bench.is_file():
        return None
    try:
        seconds = read_benchmark(bench)["wall_s"]
    except Exception:  # advice only: a damaged record never stops a job
        return None
    if not math.isfinite(seconds):
        return None
    rule, target = bench.parent.name, bench.stem
    return f"{rule} {target}: about {minutes(seconds)}, as its last run ({bench})"


def minutes(seconds: float) -> str:
    """``1 min 05 s`` / ``42 s``: a duration as a person reads it in a log."""
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
