"""The timing stage on hand-made benchmark files (Snakemake's TSV format)."""

import math
from pathlib import Path

import pandas as pd
import pytest

from aeflow.benchmarks import benchmark_of, expected_time, read_benchmark
from aeflow.stages.timing import job_table, timing_report, totals

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{s}\t0:00:{int(s):02d}\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n" for s, rss, cpu in rows]
    path.write_text(HEADER + "".join(lines))


@pytest.fixture
def benchmarks(tmp_path):
    root = tmp_path / "benchmarks"
    _bench(root / "train/saxs_dae.tsv", [(100.0, 700.0, 190.0)])
    _bench(root / "train/jets_ae.tsv", [(40.0, 500.0, 75.0)])
    _bench(root / "evaluate/saxs_dae.tsv", [(10.0, 800.0, 12.0), (14.0, 900.0, 16.0)])
    _bench(root / "figures/saxs_dae.tsv", [(6.0, 300.0, 5.0)])
    return root


def test_job_table_reads_every_file_longest_first(benchmarks):
    jobs = job_table(benchmarks)
    assert list(jobs["rule"]) == ["train", "train", "evaluate", "figures"]
    assert list(jobs["target"]) == ["saxs_dae", "jets_ae", "saxs_dae", "saxs_dae"]
    evaluate = jobs.iloc[2]  # two repeats: their mean
    assert evaluate["wall_s"] == pytest.approx(12.0)
    assert evaluate["cpu_s"] == pytest.approx(14.0)
    assert evaluate["peak_rss_mb"] == pytest.approx(850.0)


def test_totals_per_rule_and_per_target(benchmarks):
    jobs = job_table(benchmarks)
    per_rule = totals(jobs, "rule").set_index("rule")
    assert per_rule.loc["train", "wall_s"] == pytest.approx(140.0)
    assert per_rule.loc["train", "jobs"] == 2
    assert per_rule.loc["train", "peak_rss_mb"] == pytest.approx(700.0)
    assert per_rule["wall_share"].sum() == pytest.approx(1.0)
    per_target = totals(jobs, "target").set_index("target")
    assert per_target.loc["saxs_dae", "wall_s"] == pytest.approx(118.0)
    assert per_target.loc["saxs_dae", "cpu_s"] == pytest.approx(209.0)
    assert list(per_target.index) == ["saxs_dae", "jets_ae"]


def test_timing_report_writes_page_and_csv(benchmarks, tmp_path):
    html, csv = tmp_path / "out/timing.html", tmp_path / "out/timing.csv"
    timing_report(benchmarks, html, csv)
    page = html.read_text()
    assert "Per rule" in page and "Per experiment or dataset" in page and "jets_ae" in page
    assert len(pd.read_csv(csv)) == 4


def test_bad_benchmark_files_are_named(tmp_path):
    bad = tmp_path / "train/x.tsv"
    bad.parent.mkdir()
    bad.write_text("s\tmax_rss\n1.0\t2.0\n")
    with pytest.raises(ValueError, match=r"x\.tsv.*no column 'cpu_time'"):
        read_benchmark(bad)
    bad.write_text(HEADER + "0.1\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    short = read_benchmark(bad)  # a job shorter than the sampling interval
    assert short["wall_s"] == pytest.approx(0.1) and math.isnan(short["peak_rss_mb"])
    bad.write_text(HEADER + "oops\t-\t1\t1\t1\t1\t0\t0\t0\t1\n")
    with pytest.raises(ValueError, match=r"x\.tsv.*column 's' is not a number"):
        read_benchmark(bad)
    with pytest.raises(ValueError, match="no benchmark files"):
        timing_report(tmp_path / "empty", tmp_path / "t.html", tmp_path / "t.csv")
    assert not (tmp_path / "t.html").exists()


def test_a_job_finds_its_last_run_from_its_log_path(tmp_path):
    """Logs and benchmark records share their path under results/: a job announces the time
    of its last run; none without a record (a first run) or with a broken one."""
    log = tmp_path / "results/logs/train/saxs_dae.log"
    bench = tmp_path / "results/benchmarks/train/saxs_dae.tsv"
    assert benchmark_of(log) == bench
    assert benchmark_of("elsewhere/x.log") is None
    # a project under a folder called logs: the workflow's own logs folder counts
    nested = Path("/home/me/logs/project/results/logs/train/a.log")
    assert benchmark_of(nested) == Path("/home/me/logs/project/results/benchmarks/train/a.tsv")
    assert expected_time(log) is None  # never ran
    bench.parent.mkdir(parents=True)
    bench.write_text(HEADER + "112.4\t0:01:52\t800\t900\t0\t0\t0\t0\t0\t150.0\n")
    line = expected_time(log)
    assert line == f"train saxs_dae: about 1 min 52 s, as its last run ({bench})"
    bench.write_text("garbage\n")
    assert expected_time(log) is None


def test_every_rule_logs_where_its_benchmark_is():
    """The workflow's rules: each log path mirrors its benchmark path (logs <-> benchmarks,
    .log <-> .tsv), so every job finds its last run."""
    import re

    rules = Path(__file__).parents[2] / "workflow/rules"
    pairs = 0
    for smk in sorted(rules.glob("*.smk")):
        for block in re.split(r"\n(?=\s*rule |\s*checkpoint )", smk.read_text()):
            bench = re.search(r'benchmark:\s*\n\s*"([^"]+)"', block)
            log = re.search(r'log:\s*\n\s*"([^"]+)"', block)
            if bench:
                assert log, f"{smk.name}: a rule with a benchmark and no log"
                assert str(benchmark_of(log.group(1))) == bench.group(1), smk.name
                pairs += 1
    assert pairs >= 12
