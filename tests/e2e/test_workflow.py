"""End to end: the whole workflow on a tiny config in a temporary directory."""

import json
import math
import subprocess

import pytest
import xarray as xr
import yaml

from conftest import run_snakemake, snakemake_command


def snakemake(workdir, *args):
    return run_snakemake(workdir, workdir / "tiny.yaml", *args)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from conftest import TINY_CONFIG

    workdir = tmp_path_factory.mktemp("run")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    proc = snakemake(workdir, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def test_every_declared_output_exists(finished_run):
    w = finished_run
    expected = [
        "data/raw/saxs.npz",
        "data/raw/saxs_partial.npz",
        "results/prepared/saxs.zarr",
        "results/prepared/saxs_partial.zarr",
        "results/mlflow/store.json",
        "results/mlflow.db",
        "results/models/saxs_dae/model.pt",
        "results/models/saxs_dae/model.json",
        "results/models/saxs_dae/history.csv",
        "results/models/saxs_dae/run.json",
        "results/eval/saxs_dae/metrics.json",
        "results/eval/saxs_dae/predictions.zarr",
        "results/figures/saxs_dae/history.png",
        "results/figures/saxs_dae/examples.png",
        "results/figures/saxs_dae/error_distribution.png",
        "results/figures/saxs_dae/also_on_examples.png",
        "results/summary/metrics.html",
        "results/logs/train/saxs_dae.log",
        "results/benchmarks/train/saxs_dae.tsv",
        "results/summary/timing.html",
        "results/summary/timing.csv",
        "results/reproduction.json",
        "results/summary/reproduction.html",
    ]
    missing = [p for p in expected if not (w / p).exists()]
    assert not missing
    for png in (w / "results/figures/saxs_dae").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(w.rglob(".*.tmp-*"))  # no temporaries left


def test_timing_table_covers_every_job(finished_run):
    import pandas as pd

    jobs = pd.read_csv(finished_run / "results/summary/timing.csv")
    # every rule that ran has a row; the one plotting job of saxs_dae drew all its figures
    assert {"prepare", "train", "evaluate", "figures"} <= set(jobs["rule"])
    train = jobs[(jobs["rule"] == "train") & (jobs["target"] == "saxs_dae")].iloc[0]
    assert train["wall_s"] > 0 and train["peak_rss_mb"] > 50
    assert len(jobs[(jobs["rule"] == "figures") & (jobs["target"] == "saxs_dae")]) == 1


def test_jobs_start_with_the_tuned_allocator(finished_run):
    log = (finished_run / "results/logs/train/saxs_dae.log").read_text()
    assert "glibc.malloc.mmap_threshold=4294967296" in log


def test_metrics_are_finite_and_the_dae_beats_the_identity(finished_run):
    m = json.loads((finished_run / "results/eval/saxs_dae/metrics.json").read_text())
    assert m["n_parameters"] == 213_025
    assert m["n_test"] == 64
    assert set(m["baselines"]) == {"identity", "gaussian", "median"}
    for block in [m, *m["baselines"].values(), m["also_on"]["saxs_partial"]]:
        assert math.isfinite(block["test_loss"]) and block["test_loss"] > 0
    assert m["test_loss"] < m["baselines"]["identity"]["test_loss"]
    assert m["also_on"]["saxs_partial"]["n_test"] == 40


def test_the_published_number_stands_beside_ours(finished_run):
    doc = json.loads((finished_run / "results/reproduction.json").read_text())
    m = json.loads((finished_run / "results/eval/saxs_dae/metrics.json").read_text())
    (row,) = doc["rows"]
    assert row["id"] == "book_saxs_val_loss" and row["reference"] == 4.29e-4
    assert row["ours"] == m["test_loss"]
    assert row["data"].startswith("simulation") and row["config"] == "tiny.yaml"
    assert row["verdict"] in ("matched", "better", "worse")
    assert "val_loss" in (finished_run / "results/summary/reproduction.html").read_text()


def test_stores_explain_themselves(finished_run):
    ds = xr.open_zarr(finished_run / "results/prepared/saxs.zarr")
    assert ds["input"].dims == ("sample", "y", "x")
    assert len(ds.attrs["raw_sha256"]) == 64 and ds.attrs["source"] == "simulate"
    assert ds.attrs["n_train"] + ds.attrs["n_val"] + ds.attrs["n_test"] == 320
    pred = xr.open_zarr(finished_run / "results/eval/saxs_dae/predictions.zarr")
    assert pred["prediction"].shape == (64, 64, 64)
    assert list(pred["denoiser"].values) == [
        "model",
        "identity",
        "gaussian",
        "median",
        "measured_profile",
    ]
    mse = pred["per_sample_mse"]
    assert mse.dims == ("denoiser", "sample") and mse.shape == (5, 64)
    assert float(mse.sel(denoiser="model").mean()) < float(mse.sel(denoiser="identity").mean())
    other = xr.open_zarr(
        finished_run / "results/eval/saxs_dae/predictions.zarr", group="saxs_partial"
    )
    assert other.sizes["sample"] == 40


def test_mlflow_holds_the_runs(finished_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{finished_run}/results/mlflow.db")
    exp = client.get_experiment_by_name("aeflow-test")
    runs = {r.data.tags["aeflow.stage"]: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {"train", "evaluate"}
    train, ev = runs["train"], runs["evaluate"]
    assert train.info.status == ev.info.status == "FINISHED"
    assert len(client.get_metric_history(train.info.run_id, "val_loss")) == 2
    assert {"train_loss", "val_loss", "lr", "best_val_loss"} <= set(train.data.metrics)
    assert ev.data.tags["mlflow.parentRunId"] == train.info.run_id
    assert "test_loss" in ev.data.metrics and "baseline.identity.test_loss" in ev.data.metrics
    artifacts = {a.path for a in client.list_artifacts(train.info.run_id, "figures")}
    assert "figures/examples.png" in artifacts
    assert {a.path for a in client.list_artifacts(train.info.run_id, "model")} >= {
        "model/model.pt",
        "model/model.json",
    }


def test_rerun_is_a_noop_and_report_builds(finished_run):
    proc = snakemake(finished_run, "--cores", "2", "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr
    proc = snakemake(finished_run, "--report", "results/report.html")
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (finished_run / "results/report.html").read_text(errors="replace")
    assert len(html) > 10_000 and "saxs_dae" in html


def test_changing_a_training_param_reruns_only_downstream(finished_run):
    cfg = yaml.safe_load((finished_run / "tiny.yaml").read_text())
    cfg["experiments"]["saxs_dae"]["train"]["learning_rate"] = 5e-4
    changed = finished_run / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(finished_run, changed, "-n", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    assert "train" in out and "evaluate" in out
    assert "fetch_npz" not in out and "prepare" not in out


def test_fine_tuning_runs_after_the_training_it_starts_from(finished_run):
    """train.init_from through the workflow: the tuned model is trained from saxs_dae's
    weights (model.json names their hash), and saxs_dae is not trained again."""
    import hashlib

    cfg = yaml.safe_load((finished_run / "tiny.yaml").read_text())
    tuned = cfg["experiments"]["saxs_tuned"] = yaml.safe_load(
        yaml.safe_dump(cfg["experiments"]["saxs_dae"])
    )
    tuned["train"] |= {"epochs": 1, "init_from": "saxs_dae"}
    tuned["model_params"] = {"profile_weight": 1.0}
    path = finished_run / "tuned.yaml"
    path.write_text(yaml.safe_dump(cfg))
    target = "results/models/saxs_tuned/model.json"
    proc = run_snakemake(finished_run, path, "--cores", "2", target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rule train:" in proc.stderr and "wildcards: experiment=saxs_dae" not in proc.stderr
    model = json.loads((finished_run / target).read_text())
    weights = (finished_run / "results/models/saxs_dae/model.pt").read_bytes()
    assert model["initialized_from"] == {
        "experiment": "saxs_dae",
        "sha256": hashlib.sha256(weights).hexdigest(),
    }


def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL the whole workflow after the first epoch's checkpoint; the rerun resumes."""
    import os
    import signal
    import time

    from conftest import TINY_CONFIG

    cfg = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    cfg["datasets"]["saxs"]["n_samples"] = 200
    cfg["experiments"]["saxs_dae"]["train"]["epochs"] = 3
    cfg["experiments"]["saxs_dae"]["train"]["early_stopping"] = {"patience": None}
    cfg["experiments"]["saxs_dae"]["evaluate"]["also_on"] = []
    cfg_path = tmp_path / "resume.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    target = "results/models/saxs_dae/model.pt"
    cmd = snakemake_command(tmp_path, cfg_path, "--cores", "2", target)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    checkpoint = tmp_path / "results/checkpoints/saxs_dae/last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert checkpoint.exists(), "no checkpoint was written"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "results/models/saxs_dae/model.pt").exists()

    assert run_snakemake(tmp_path, cfg_path, "--unlock").returncode == 0
    done = run_snakemake(tmp_path, cfg_path, "--cores", "2", "results/models/saxs_dae/model.pt")
    assert done.returncode == 0, done.stderr[-3000:]
    log = (tmp_path / "results/logs/train/saxs_dae.log").read_text()
    assert "resuming saxs_dae from" in log
    model = json.loads((tmp_path / "results/models/saxs_dae/model.json").read_text())
    assert model["epochs_run"] == 3
    after = log.split("resuming")[-1]
    assert "epoch 3 of 3:" in after and "epoch 1 of 3:" not in after, after  # not trained again
    assert not checkpoint.exists()
