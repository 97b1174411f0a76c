"""The anomaly stage on a tiny autoencoder of simulated jets (top jets are the anomalies,
tests/tiny_runs.py): thresholds, test metrics beside the baselines, per-sample scores and the
ranked examples; and a clear error for data without anomaly labels."""

import copy
import json

import numpy as np
import pytest

from aeflow.data.store import open_store
from aeflow.stages.anomaly import anomaly


def test_thresholds_json(tiny_runs):
    out = tiny_runs.anomaly_scored("jets_ae")
    t = json.loads((out / "thresholds.json").read_text())
    assert (t["experiment"], t["dataset"], t["model"]) == ("jets_ae", "jets", "dense_ae")
    assert t["score"] == "mse" and t["trained_on"] == "normal"
    assert 0 <= t["auroc"] <= 1 and 0 <= t["aupr"] <= 1
    prepared = open_store(tiny_runs.prepared("jets"))
    test = prepared["split"].values == "test"
    anomalous = prepared["is_anomaly"].values.astype(bool)
    assert t["n_normal"] == int((test & ~anomalous).sum())
    assert t["n_anomalous"] == int((test & anomalous).sum())
    # every default strategy fitted on validation scores, beside the baselines
    assert set(t["thresholds"]) == {"percentile", "sigma", "f1"}
    assert all(np.isfinite(v) for v in t["thresholds"].values())
    assert set(t["baselines"]) == {"pca", "isolation_forest", "jet_mass"}
    for name, b in t["baselines"].items():
        assert 0 <= b["auroc"] <= 1, name
    assert t["pca_components"] == 4  # the model's code size
    assert "mass_sculpting" in t  # jets have an observable the cut must not sculpt
    assert t["mlflow_run_id"]


def test_scores_store_and_examples(tiny_runs):
    out = tiny_runs.anomaly_scored("jets_ae")
    t = json.loads((out / "thresholds.json").read_text())
    scores = open_store(out / "scores.zarr")
    prepared = open_store(tiny_runs.prepared("jets"))
    held_out = np.isin(prepared["split"].values, ["val", "test"])
    assert scores.sizes["sample"] == int(held_out.sum())  # validation and test samples
    assert {"score", "is_anomaly", "baseline_pca", "baseline_isolation_forest"} <= set(scores)
    assert "split" in scores.coords and set(scores["split"].values) == {"val", "test"}
    assert np.isfinite(scores["score"].values).all() and (scores["score"].values >= 0).all()
    np.testing.assert_array_equal(
        scores["is_anomaly"].values,
        prepared["is_anomaly"].sel(sample=scores["sample"].values).values.astype(bool),
    )
    assert "jet_mass" in scores  # per-sample observables come along
    test = scores["split"].values == "test"
    assert int(test.sum()) == t["n_normal"] + t["n_anomalous"]

    examples = open_store(out / "scores.zarr", group="examples")
    n = tiny_runs.experiment("jets_ae")["anomaly"]["n_examples"]
    assert {"input", "output", "score", "is_anomaly", "rank"} <= set(examples)
    assert examples.sizes["example"] == 2 * n
    assert examples["input"].dims == ("example", "y", "x")
    assert [str(r) for r in examples["rank"].values] == ["most"] * n + ["least"] * n
    ranked = examples["score"].values
    assert ranked[:n].min() >= ranked[n:].max()  # the most anomalous score highest
    assert ranked[:n].max() == pytest.approx(scores["score"].values[test].max())


def test_data_without_anomaly_labels_is_a_clear_error(tiny_runs, tmp_path):
    """The SAXS model on its SAXS store, given an anomaly section: no is_anomaly labels."""
    exp = copy.deepcopy(tiny_runs.experiment("saxs_dae"))
    exp["anomaly"] = copy.deepcopy(tiny_runs.experiment("jets_ae")["anomaly"])
    model_dir, prepared = tiny_runs.trained("saxs_dae"), tiny_runs.prepared("saxs")
    out = tmp_path / "anomaly"
    with pytest.raises(ValueError, match=r"saxs\.zarr: no 'is_anomaly' labels") as err:
        anomaly("saxs_dae", exp, tiny_runs.mlflow, model_dir, prepared, out)
    assert "experiments.saxs_dae.anomaly" in str(err.value)
    assert not out.exists()


def test_an_experiment_without_anomaly_section_is_refused(tiny_runs, tmp_path):
    exp = tiny_runs.experiment("saxs_dae")
    assert not exp["anomaly"]
    with pytest.raises(ValueError, match=r"experiments\.saxs_dae: no anomaly section"):
        anomaly("saxs_dae", exp, tiny_runs.mlflow, "unused", "unused", tmp_path / "a")


def test_the_inverse_task_trains_on_top_jets_and_flags_qcd(tiny_runs):
    """anomaly.invert: QCD jets are the anomalies, the autoencoder saw top jets only, and the
    jet-mass baseline flags the lighter jets (so it separates as well as in the forward task,
    where the autoencoder's score need not)."""
    forward = json.loads((tiny_runs.anomaly_scored("jets_ae") / "thresholds.json").read_text())
    out = tiny_runs.anomaly_scored("jets_inverse")
    t = json.loads((out / "thresholds.json").read_text())
    assert (t["normal"], t["anomalous"]) == ("top jets", "QCD jets")
    assert (forward["normal"], forward["anomalous"]) == ("QCD jets", "top jets")
    assert (t["n_normal"], t["n_anomalous"]) == (forward["n_anomalous"], forward["n_normal"])
    # the lighter jets flagged: the mass separates the classes as well both ways
    assert t["baselines"]["jet_mass"]["auroc"] == pytest.approx(
        forward["baselines"]["jet_mass"]["auroc"], abs=1e-9
    )
    scores = open_store(out / "scores.zarr")
    prepared = open_store(tiny_runs.prepared("jets"))
    np.testing.assert_array_equal(
        scores["is_anomaly"].values,
        ~prepared["is_anomaly"].sel(sample=scores["sample"].values).values.astype(bool),
    )
    assert list(scores.attrs["anomaly_names"]) == ["top jets", "QCD jets"]
    model = json.loads((tiny_runs.trained("jets_inverse") / "model.json").read_text())
    top = (prepared["split"].values == "train") & prepared["is_anomaly"].values.astype(bool)
    assert model["n_train"] == int(top.sum())  # top jets only


def test_an_experiment_holds_out_the_classes_it_names(tiny_runs):
    out = tiny_runs.anomaly_scored("digits_held_out")
    t = json.loads((out / "thresholds.json").read_text())
    prepared = open_store(tiny_runs.prepared("digits"))
    test = prepared["split"].values == "test"
    threes = prepared["label"].values == 3
    assert t["anomalous"] == "3"
    assert (t["n_normal"], t["n_anomalous"]) == (
        int((test & ~threes).sum()),
        int((test & threes).sum()),
    )
    model = json.loads((tiny_runs.trained("digits_held_out") / "model.json").read_text())
    assert model["n_train"] == int(((prepared["split"].values == "train") & ~threes).sum())


def test_the_latent_score_ranks_by_the_code(tiny_runs, tmp_path):
    """score latent: the Mahalanobis distance of each code from the normal training codes;
    the same thresholds, metrics and baselines as the reconstruction error."""
    from aeflow.evaluation.anomaly_scores import latent_mahalanobis
    from aeflow.models.inference import encode_all
    from aeflow.models.trained import load_trained

    exp = copy.deepcopy(tiny_runs.experiment("jets_ae"))
    exp["anomaly"]["score"] = "latent"
    model_dir, prepared = tiny_runs.trained("jets_ae"), tiny_runs.prepared("jets")
    t = anomaly("jets_ae", exp, tiny_runs.mlflow, model_dir, prepared, tmp_path / "latent")
    assert t["score"] == "latent" and 0 <= t["auroc"] <= 1
    assert set(t["baselines"]) == {"pca", "isolation_forest", "jet_mass"}
    scores = open_store(tmp_path / "latent" / "scores.zarr")
    ds = open_store(prepared)
    model, _ = load_trained(model_dir, "cpu")
    train = ds["input"].values[(ds["split"].values == "train") & ~ds["is_anomaly"].values]
    inputs = ds["input"].sel(sample=scores["sample"].values).values
    expected = latent_mahalanobis(
        encode_all(model, train, 64, "cpu"), encode_all(model, inputs, 64, "cpu")
    )
    np.testing.assert_allclose(scores["score"].values, expected, rtol=1e-4)
