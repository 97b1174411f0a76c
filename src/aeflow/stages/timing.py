"""Stage ``timing``: where the time went - every job's wall time, CPU time and peak memory,
read from the ``benchmark:`` files Snakemake writes (``results/benchmarks/<rule>/<target>.tsv``),
as one page with totals per rule and per target (experiment or dataset) and a CSV of the jobs.

A job that did not run in this invocation keeps the figures of its last run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aeflow.atomic import atomic_path
from aeflow.benchmarks import COLUMNS, read_benchmark
from aeflow.plotting.figures import summary_table_html
from aeflow.stages import PathLike


def job_table(bench_dir: PathLike) -> pd.DataFrame:
    """One row per job: rule, target and its figures, from every ``*.tsv`` under
    ``bench_dir`` (``<rule>/<target>.tsv``; the longest jobs first)."""
    bench_dir = Path(bench_dir)
    rows = [
        {"rule": path.parent.name, "target": path.stem} | read_benchmark(path)
        for path in sorted(bench_dir.glob("*/*.tsv"))
    ]
    columns = ["rule", "target", *COLUMNS.values()]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("wall_s", ascending=False, kind="stable").reset_index(drop=True)


def totals(jobs: pd.DataFrame, by: str) -> pd.DataFrame:
    """Jobs, wall and CPU time summed and the largest peak memory, per ``by`` column, with
    the share of all jobs' wall time; the largest first."""
    grouped = jobs.groupby(by, sort=False).agg(
        jobs=("wall_s", "size"),
        wall_s=("wall_s", "sum"),
        cpu_s=("cpu_s", "sum"),
        peak_rss_mb=("peak_rss_mb", "max"),
    )
    total = jobs["wall_s"].sum()
    grouped["wall_share"] = grouped["wall_s"] / total if total > 0 else 0.0
    return grouped.sort_values("wall_s", ascending=False).reset_index()


def timing_report(bench_dir: PathLike, html_out: PathLike, csv_out: PathLike) -> pd.DataFrame:
    """The timing page (per rule, per target, the 15 longest jobs) and the jobs' CSV."""
    jobs = job_table(bench_dir)
    if jobs.empty:
        raise ValueError(f"{bench_dir}: no benchmark files (<rule>/<target>.tsv)")
    all_jobs = {
        "jobs": len(jobs),
        "wall_s": jobs["wall_s"].sum(),
        "cpu_s": jobs["cpu_s"].sum(),
        "peak_rss_mb": jobs["peak_rss_mb"].max(),
    }
    sections = {
        "All jobs (summed: the wall time of one core doing everything in turn)": [all_jobs],
        "Per rule": totals(jobs, "rule").to_dict("records"),
        "Per experiment or dataset": totals(jobs, "target").to_dict("records"),
        "The 15 longest jobs": jobs.head(15).to_dict("records"),
    }
    with atomic_path(csv_out) as tmp:
        jobs.to_csv(tmp, index=False)
    with atomic_path(html_out) as tmp:
        tmp.write_text(summary_table_html(sections), encoding="utf-8")
    return jobs
