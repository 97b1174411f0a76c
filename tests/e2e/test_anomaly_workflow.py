"""End to end: the anomaly stage on simulated jets and on an IDX image set (one class held
out), through Snakemake, with thresholds, baselines, figures and MLflow runs."""

import json
import sqlite3

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import run_snakemake, write_idx_set


@pytest.fixture(scope="module")
def anomaly_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("anomaly")
    write_idx_set(workdir / "idx", n_train=300, n_test=100)
    cfg = {
        "mlflow": {"experiment": "aeflow-anomaly-test"},
        "datasets": {
            "jets": {"kind": "jets", "source": "simulate", "n_samples": 800, "seed": 2},
            "clothes": {
                "kind": "images",
                "collection": "fashion_mnist",
                "source": str(workdir / "idx"),
                "preprocess": {"anomaly_classes": [9]},
            },
        },
        "experiments": {
            "jets_ae": {
                "dataset": "jets",
                "model": "dense_ae",
                "task": "reconstruct",
                "model_params": {
                    "image_size": 40,
                    "code_size": 8,
                    "output": "linear",
                    "loss": "mse",
                },
                "train": {"epochs": 2, "batch_size": 64},
                "anomaly": {"thresholds": {"fixed": 1.0e-3}, "baselines": {"n_estimators": 20}},
            },
            "clothes_ae": {
                "dataset": "clothes",
                "model": "conv_ae",
                "task": "reconstruct",
                "train": {"epochs": 1, "batch_size": 64},
                "anomaly": {"n_examples": 3, "baselines": {"n_estimators": 20}},
            },
        },
    }
    (workdir / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    # the anomaly stage and its figures (evaluation and its figures are tested elsewhere)
    targets = [f"results/anomaly/{e}/thresholds.json" for e in cfg["experiments"]]
    targets += [
        f"results/figures/jets_ae/{name}.png"
        for name in ("anomaly_scores", "roc", "anomaly_examples", "mass_sculpting")
    ]
    targets += ["results/figures/clothes_ae/roc.png"]
    proc = run_snakemake(workdir, workdir / "cfg.yaml", "--cores", "2", *targets)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def test_thresholds_and_metrics(anomaly_run):
    t = json.loads((anomaly_run / "results/anomaly/jets_ae/thresholds.json").read_text())
    assert set(t["thresholds"]) == {"percentile", "sigma", "f1", "fixed"}
    assert t["thresholds"]["fixed"] == 1.0e-3
    assert set(t["baselines"]) == {"pca", "isolation_forest", "jet_mass"}
    assert t["pca_components"] == 8  # the model's code size
    for block in [t, *t["baselines"].values()]:
        assert 0 <= block["auroc"] <= 1 and 0 <= block["aupr"] <= 1
        assert 0 <= block["tpr_at_fpr_0.01"] <= block["tpr_at_fpr_0.1"] <= 1
        for c in block["at_threshold"].values():
            assert c["tp"] + c["fn"] == block["n_anomalous"]
            assert c["fp"] + c["tn"] == block["n_normal"]
    # top jets are heavier: the mass alone separates them on the simulated sample
    assert t["baselines"]["jet_mass"]["auroc"] > 0.8
    # the percentile threshold flags about 5 % of validation QCD jets, so few test ones
    assert t["at_threshold"]["percentile"]["fpr"] < 0.2
    assert t["trained_on"] == "normal"
    sculpt = t["mass_sculpting"]
    assert set(sculpt) == {"median_mass_all", *t["thresholds"]}
    assert all(b is None or 0 <= b["jsd"] <= 1 for k, b in sculpt.items() if k != "median_mass_all")
    c = json.loads((anomaly_run / "results/anomaly/clothes_ae/thresholds.json").read_text())
    assert "mass_sculpting" not in c and "jet_mass" not in c["baselines"]


def test_scores_store(anomaly_run):
    s = xr.open_zarr(anomaly_run / "results/anomaly/jets_ae/scores.zarr")
    assert {"score", "is_anomaly", "baseline_pca", "baseline_isolation_forest", "jet_mass"} <= set(
        s.data_vars
    )
    assert set(np.unique(s["split"].values)) == {"val", "test"}
    t = json.loads((anomaly_run / "results/anomaly/jets_ae/thresholds.json").read_text())
    test = s["split"].values == "test"
    assert int((test & s["is_anomaly"].values).sum()) == t["n_anomalous"]
    ex = xr.open_zarr(anomaly_run / "results/anomaly/clothes_ae/scores.zarr", group="examples")
    assert ex.sizes["example"] == 6 and ex["input"].shape[1:] == (28, 28)
    scores = ex["score"].values
    assert scores[:3].min() >= scores[3:].max()  # most anomalous first


def test_training_saw_normal_samples_only(anomaly_run):
    prepared = xr.open_zarr(anomaly_run / "results/prepared/clothes.zarr")
    train = prepared["split"].values == "train"
    n_normal = int((train & ~prepared["is_anomaly"].values).sum())
    log = (anomaly_run / "results/logs/train/clothes_ae.log").read_text()
    assert f"{n_normal} train" in log
    assert n_normal < int(train.sum())


def test_figures_and_runs(anomaly_run):
    figures = anomaly_run / "results/figures"
    for name in ("anomaly_scores", "roc", "anomaly_examples", "mass_sculpting"):
        assert (figures / f"jets_ae/{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert (figures / "clothes_ae/roc.png").exists()
    # the whole workflow would add the rest, but no mass-sculpting figure for images
    dry = run_snakemake(anomaly_run, anomaly_run / "cfg.yaml", "-n", "--cores", "1")
    assert dry.returncode == 0, dry.stderr[-2000:]
    planned = dry.stdout + dry.stderr
    assert "results/figures/clothes_ae/anomaly_examples.png" in planned
    assert "clothes_ae/mass_sculpting.png" not in planned
    with sqlite3.connect(anomaly_run / "results/mlflow.db") as db:
        names = {r[0] for r in db.execute("select name from runs")}
        auroc = db.execute(
            "select m.value from metrics m join runs r on m.run_uuid = r.run_uuid "
            "where r.name = 'anomaly jets_ae' and m.key = 'auroc'"
        ).fetchall()
    assert {"anomaly jets_ae", "anomaly clothes_ae"} <= names
    t = json.loads((anomaly_run / "results/anomaly/jets_ae/thresholds.json").read_text())
    assert auroc and auroc[0][0] == pytest.approx(t["auroc"])


def test_every_class_held_out_from_one_entry(anomaly_run):
    """anomaly.classes: each on the image experiment plans ten trainings and anomaly jobs,
    and one figure of the dataset gathers them (dry run beside the finished workflow)."""
    cfg = yaml.safe_load((anomaly_run / "cfg.yaml").read_text())
    cfg["experiments"]["clothes_ae"]["anomaly"]["classes"] = "each"
    path = anomaly_run / "each.yaml"
    path.write_text(yaml.safe_dump(cfg))
    dry = run_snakemake(anomaly_run, path, "-n", "--cores", "1")
    assert dry.returncode == 0, dry.stderr[-2000:]
    planned = dry.stdout + dry.stderr
    for k in range(10):
        assert f"results/anomaly/clothes_ae_c{k}/thresholds.json" in planned
    assert "results/figures/datasets/clothes/held_out_classes.png" in planned
    assert "results/models/clothes_ae/" not in planned  # the entry itself is not trained
