"""The evaluate stage on tiny trained models (tests/tiny_runs.py): SAXS images beside their
filter baselines and on a second dataset (``also_on``), radio traces with their spectra; the
record is tracked as a child run of the training run."""

import json
import math

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from aeflow.data.store import open_store


def _test_samples(prepared) -> np.ndarray:
    ds = open_store(prepared)
    return ds["sample"].values[ds["split"].values == "test"]


def _finite_losses(block) -> None:
    assert math.isfinite(block["test_loss"]) and block["test_loss"] > 0
    assert block["baselines"], "no baselines in the record"
    for name, baseline in block["baselines"].items():
        assert math.isfinite(baseline["test_loss"]), name


def test_saxs_metrics_json(tiny_runs):
    out = tiny_runs.evaluated("saxs_dae")
    m = json.loads((out / "metrics.json").read_text())
    assert (m["experiment"], m["dataset"], m["model"]) == ("saxs_dae", "saxs", "skip_dae")
    assert m["modality"] == "images"
    assert m["n_test"] == len(_test_samples(tiny_runs.prepared("saxs"))) == 10
    _finite_losses(m)
    # SAXS inputs are noisy (not the target): the tuned filters are the baselines
    assert set(m["baselines"]) == {"identity", "gaussian", "median"}
    assert set(m["baseline_tuning"]["val_mse"]) <= set(m["baselines"])
    assert -1 <= m["ssim"]["mean"] <= 1 and math.isfinite(m["psnr_db"]["mean"])
    # the other dataset: all 8 of its samples are test samples
    assert set(m["also_on"]) == {"saxs_partial"}
    other = m["also_on"]["saxs_partial"]
    assert other["n_test"] == 8
    _finite_losses(other)
    assert set(other["baselines"]) == set(m["baselines"])
    # scattering patterns: the particle size by the first minimum and by the sphere fit
    # and so is the model's output given the measured ring intensities
    for block in (m, m["measured_profile"], *m["baselines"].values()):
        assert {"radius_within_tolerance", "sphere_fit"} <= set(block["rings"])
        fit = block["rings"]["sphere_fit"]
        assert fit["radius_within_tolerance_all"] in (0.0, None)  # 16 px: too small to fit
    assert m["measured_profile"]["test_loss"] > 0 and "measured_profile" in other


def test_saxs_predictions_store_matches_the_record(tiny_runs):
    out = tiny_runs.evaluated("saxs_dae")
    m = json.loads((out / "metrics.json").read_text())
    pred = open_store(out / "predictions.zarr")
    assert {"input", "target", "prediction", "per_sample_mse"} <= set(pred.data_vars)
    for name in ("input", "target", "prediction"):
        assert pred[name].dims == ("sample", "y", "x"), name
        assert pred[name].shape == (10, 16, 16), name
    assert pred["per_sample_mse"].dims == ("denoiser", "sample")
    assert pred["fit_radius_ratio"].dims == pred["radius_ratio"].dims == ("denoiser", "sample")
    assert list(pred["denoiser"].values) == ["model", *m["baselines"], "measured_profile"]
    np.testing.assert_array_equal(pred["sample"].values, _test_samples(tiny_runs.prepared("saxs")))
    assert np.isfinite(pred["prediction"].values).all()
    # the record's losses are the means of the per-sample errors in the store
    mse = pred["per_sample_mse"]
    assert m["test_loss"] == pytest.approx(float(mse.sel(denoiser="model").mean()), rel=1e-5)
    blocks = {**m["baselines"], "measured_profile": m["measured_profile"]}
    for name, block in blocks.items():
        expected = float(mse.sel(denoiser=name).mean())
        assert block["test_loss"] == pytest.approx(expected, rel=1e-5), name
    # also_on datasets are groups of the same store
    other = open_store(out / "predictions.zarr", group="saxs_partial")
    assert other.sizes["sample"] == 8 and other["prediction"].dims == ("sample", "y", "x")
    assert other.attrs["dataset"] == "saxs_partial"


def test_the_record_is_a_child_run_of_the_training_run(tiny_runs):
    out = tiny_runs.evaluated("saxs_dae")
    m = json.loads((out / "metrics.json").read_text())
    training = json.loads((tiny_runs.trained("saxs_dae") / "run.json").read_text())
    client = MlflowClient(tiny_runs.mlflow["tracking_uri"])
    run = client.get_run(m["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.parentRunId"] == training["run_id"]
    assert run.data.tags["aeflow.stage"] == "evaluate"
    assert run.data.metrics["test_loss"] == pytest.approx(m["test_loss"])
    assert "saxs_partial.test_loss" in run.data.metrics
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["metrics.json"]


def test_radio_traces_metrics_predictions_and_spectra(tiny_runs):
    out = tiny_runs.evaluated("radio_dae")
    m = json.loads((out / "metrics.json").read_text())
    assert m["modality"] == "traces"
    assert m["n_test"] == len(_test_samples(tiny_runs.prepared("radio")))
    assert m["n_signal"] + m["n_noise_only"] == m["n_test"]
    _finite_losses(m)
    assert set(m["baselines"]) == {"identity", "bandpass", "wiener"}
    assert 0 <= m["peak_location_accuracy"] <= 1
    pred = open_store(out / "predictions.zarr")
    assert pred["input"].dims == ("sample", "time")
    assert pred["denoised"].dims == ("denoiser", "sample", "time")
    assert list(pred["denoiser"].values) == ["model", *m["baselines"]]
    assert pred.sizes["sample"] == m["n_test"]
    spectra = open_store(out / "spectra.zarr")
    assert "frequency" in spectra.coords and spectra.sizes["frequency"] > 1
    assert "signal_traces" in spectra


def test_the_signal_classifier_is_judged_as_a_detector(tiny_runs):
    out = tiny_runs.evaluated("radio_classifier")
    m = json.loads((out / "metrics.json").read_text())
    assert (m["modality"], m["mode"], m["model"]) == ("traces", "detection", "conv1d_classifier")
    assert m["n_signal"] + m["n_noise_only"] == m["n_test"] > 0
    assert m["n_noise_only"] > 0  # both kinds of trace in the tiny test split
    assert set(m["baselines"]) == {"identity", "bandpass", "wiener", "matched_filter"}
    assert "true pulses of the training split" in m["baselines"]["matched_filter"]["score"]
    for block in (m, *m["baselines"].values()):
        assert 0 <= block["auroc"] <= 1 and 0 <= block["true_positive_rate"] <= 1
        assert block["n_noise_only"] == m["n_noise_only"]
        by_snr = block["true_positive_rate_by_snr"]
        assert len(by_snr) == len(m["snr_bins"]) - 1
        assert sum(b["n"] for b in by_snr) <= m["n_signal"]
    assert math.isfinite(m["test_objective"]) and m["test_objective"] > 0  # the test BCE
    pred = open_store(out / "predictions.zarr")
    assert pred["detection_score"].dims == ("detector", "sample")
    assert list(pred["detector"].values) == ["model", *m["baselines"]]
    has_signal = pred["has_signal"].values.astype(bool)
    prepared = open_store(tiny_runs.prepared("radio"))
    np.testing.assert_array_equal(
        has_signal, prepared["has_signal"].sel(sample=pred["sample"].values).values
    )
    # the record's AUROC is the model's scores' (sklearn on the stored scores)
    from sklearn.metrics import roc_auc_score

    scores = pred["detection_score"].sel(detector="model").values
    assert m["auroc"] == pytest.approx(roc_auc_score(has_signal, scores))
    assert not (out / "spectra.zarr").exists()  # no reconstructions, no spectra
