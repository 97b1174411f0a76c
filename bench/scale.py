"""Peak memory and speed of each stage as a dataset grows: does memory stay flat?

    python bench/scale.py [--dataset saxs --sizes 4000 40000] [--stages fetch prepare train]
                          [--stream]

For each dataset and size, runs the stages as the workflow does (``aeflow <stage>``, one
process each, in a scratch directory) and prints per stage the peak resident memory (the
process's maximum RSS, from the kernel) and the samples per second. The last line is JSON:
per dataset the figures per size and ``rss_growth`` per stage, the peak RSS at the largest
size over that at the smallest (issue target: at most 1.3 for a 10x larger dataset).

Datasets are the defaults' simulators at their default sizes (SAXS 64x64 detector images,
jets of up to 200 constituents as 40x40 images); training runs one epoch, with its data in
memory, or streamed from the store with ``--stream`` (``train.data_in_memory: false``); its
``epoch_samples_per_s`` is the training samples over the epoch's time (no start-up).
Evaluation and anomaly scoring (jets: QCD normal, top jets the anomaly) judge the test set
``evaluate.block_samples`` at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

DATASETS = {
    "saxs": ({"kind": "saxs"}, {"model": "skip_dae"}),
    "jets": (
        {"kind": "jets"},
        {
            "model": "conv_ae",
            "task": "reconstruct",
            "model_params": {"channels": [16, 8, 8], "output": "linear", "loss": "mse"},
            "anomaly": {},  # QCD normal, top anomalous: scores beside PCA and Isolation Forest
        },
    ),
}
DEFAULT_SIZES = {"saxs": [4000, 40000], "jets": [20000, 200000]}
STAGES = ("fetch", "prepare", "train", "evaluate", "anomaly")


def config(dataset: str, n: int, stream: bool = False) -> dict:
    data, experiment = DATASETS[dataset]
    return {
        "mlflow": {"tracking_uri": "sqlite:///results/mlflow.db", "experiment": "bench-scale"},
        "datasets": {dataset: {**data, "source": "simulate", "n_samples": n, "seed": 0}},
        "experiments": {
            "e": {
                "dataset": dataset,
                **experiment,
                "train": {
                    "epochs": 1,
                    "batch_size": 128,
                    "seed": 0,
                    "data_in_memory": not stream,
                },
                "evaluate": {"n_examples": 2},
            }
        },
    }


def run_stage(workdir: Path, args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``aeflow <args>`` run in ``workdir``."""
    t0 = time.perf_counter()
    command = [sys.executable, "-m", "aeflow.cli", *args, "--config", "config.yaml"]
    proc = subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    stderr = proc.stderr.read()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"aeflow {' '.join(args)} failed:\n{stderr[-3000:]}")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in kB on Linux


def epoch_rate(workdir: Path) -> float:
    """Training samples per second of the first epoch (``model.json``, ``history.csv``)."""
    import csv

    model = workdir / "results" / "models" / "e"
    n_train = json.loads((model / "model.json").read_text())["n_train"]
    with open(model / "history.csv") as f:
        seconds = float(next(csv.DictReader(f))["seconds"])
    return n_train / seconds


def measure(dataset: str, n: int, stages: list[str], stream: bool) -> dict[str, dict]:
    with tempfile.TemporaryDirectory(prefix="aeflow-scale-") as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config(dataset, n, stream)))
        figures = {}
        if {"train", "evaluate", "anomaly"} & set(stages):
            run_stage(workdir, ["init-mlflow"])
        for stage in stages:
            data_stage = stage in ("fetch", "prepare")
            target = ["--dataset", dataset] if data_stage else ["--experiment", "e"]
            rss, seconds = run_stage(workdir, [stage, *target])
            figures[stage] = {"peak_rss_mb": round(rss), "samples_per_s": round(n / seconds, 1)}
            line = f"{dataset:6s} {n:8d} {stage:9s} {rss:8.0f} MB {n / seconds:10.1f} samples/s"
            if stage == "train":
                figures[stage]["epoch_samples_per_s"] = round(epoch_rate(workdir), 1)
                line += f"  (epoch: {figures[stage]['epoch_samples_per_s']} samples/s)"
            print(line, flush=True)
        return figures


def growth(by_size: dict[int, dict]) -> dict[str, float]:
    """Peak RSS at the largest size over that at the smallest, per stage."""
    small, large = by_size[min(by_size)], by_size[max(by_size)]
    return {
        stage: round(large[stage]["peak_rss_mb"] / small[stage]["peak_rss_mb"], 2)
        for stage in small
        if stage in large
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", choices=list(DATASETS))
    parser.add_argument("--sizes", type=int, nargs="+", help="samples (default per dataset)")
    parser.add_argument("--stages", nargs="+", choices=STAGES, help="default: all that apply")
    parser.add_argument("--stream", action="store_true", help="train streamed from the store")
    args = parser.parse_args()
    report = {}
    for dataset in args.dataset or list(DATASETS):
        sizes = args.sizes or DEFAULT_SIZES[dataset]
        stages = args.stages or [
            s for s in STAGES if s != "anomaly" or "anomaly" in DATASETS[dataset][1]
        ]
        by_size = {n: measure(dataset, n, stages, args.stream) for n in sizes}
        report[dataset] = {
            "sizes": by_size,
            "rss_growth": growth(by_size),
            "streamed": args.stream,
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
