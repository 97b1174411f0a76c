"""Anomaly scores and baselines on hand-made data, training on normal samples only, the
image autoencoders' output/loss options, and the config of the anomaly section."""

import copy

import numpy as np
import pytest
import torch
import xarray as xr

from aeflow.config import ConfigError, validate_config
from aeflow.data.split import split_index
from aeflow.data.tasks import with_anomaly_labels
from aeflow.evaluation.anomaly_scores import (
    isolation_forest_scores,
    latent_mahalanobis,
    pca_scores,
    reconstruction_score,
)
from aeflow.models import build_model
from aeflow.plan import training_spec


def test_reconstruction_scores_by_hand():
    x = np.array([[[0.0, 1.0], [1.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]]])
    y = np.array([[[0.0, 0.0], [1.0, 0.0]], [[0.5, 0.5], [0.5, 0.5]]])
    np.testing.assert_allclose(reconstruction_score(x, y, "mse"), [0.25, 0.0])
    np.testing.assert_allclose(reconstruction_score(x, y, "mae"), [0.25, 0.0])
    # BCE of a perfect 0.5 output is log 2 per pixel: BCE is not zero at a perfect match
    np.testing.assert_allclose(reconstruction_score(x, y, "bce")[1], np.log(2), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown anomaly score 'l3'"):
        reconstruction_score(x, y, "l3")
    with pytest.raises(ValueError, match="differ in shape"):
        reconstruction_score(x, y[:, :1], "mse")


def test_pca_scores_vanish_inside_the_training_subspace():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(16, 3)))[0].T  # 3 orthonormal directions in R^16
    train = rng.normal(size=(200, 3)) @ basis
    inside = rng.normal(size=(5, 3)) @ basis
    outside = inside + 0.5 * np.linalg.qr(np.c_[basis.T, rng.normal(size=16)])[0][:, 3]
    scores = pca_scores(train.reshape(200, 4, 4), np.r_[inside, outside].reshape(10, 4, 4), 3)
    assert scores[:5].max() < 1e-12  # float32 round-off
    # (train is centred on ~0: the out-of-subspace offset of norm 0.5 is all error)
    np.testing.assert_allclose(scores[5:], 0.25 / 16, rtol=0.05)


def test_latent_mahalanobis_by_hand():
    # codes of normal training samples: independent, sd 1 and 10 along the two code axes
    rng = np.random.default_rng(2)
    train = rng.normal(size=(20000, 2)) * [1.0, 10.0] + [3.0, -1.0]
    codes = np.array([[3.0, -1.0], [4.0, -1.0], [3.0, 9.0], [5.0, -1.0]])
    d2 = latent_mahalanobis(train, codes)
    # one sd away along either axis is distance 1, whatever the axis' scale
    np.testing.assert_allclose(d2, [0.0, 1.0, 1.0, 4.0], atol=0.05)
    # any code shape (a conv code's channels x pixels) is flattened
    assert latent_mahalanobis(train.reshape(-1, 2, 1), codes.reshape(-1, 1, 2)).shape == (4,)
    with pytest.raises(ValueError, match="needs more than 2 training samples"):
        latent_mahalanobis(train[:2], codes)


def test_isolation_forest_ranks_outliers_high():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(300, 6))
    data = np.r_[rng.normal(size=(20, 6)), rng.normal(size=(20, 6)) + 6.0]
    s = isolation_forest_scores(train, data, n_estimators=50)
    assert s[20:].min() > s[:20].max()


def test_training_uses_normal_samples_only_when_asked():
    ds = xr.Dataset(
        {"is_anomaly": ("sample", np.array([0, 1, 0, 1, 0], bool))},
        coords={"split": ("sample", np.array(["train"] * 4 + ["val"], dtype=object))},
    )
    np.testing.assert_array_equal(split_index(ds, "train"), [0, 1, 2, 3])
    np.testing.assert_array_equal(split_index(ds, "train", normal_only=True), [0, 2])
    with pytest.raises(ValueError, match=r"data\.zarr: dataset .* no 'is_anomaly' labels"):
        split_index(ds.drop_vars("is_anomaly"), "train", normal_only=True, where="data.zarr")


JETS = {
    "datasets": {"j": {"kind": "jets", "source": "simulate"}},
    "experiments": {
        "e": {"dataset": "j", "model": "conv_ae", "task": "reconstruct", "anomaly": {}}
    },
}


def test_anomaly_section_defaults_and_training_spec():
    cfg = validate_config(copy.deepcopy(JETS))
    a = cfg["experiments"]["e"]["anomaly"]
    assert a["score"] == "mse" and a["train_on"] == "normal"
    assert a["thresholds"] == {"percentile": 0.05, "sigma": 3.0, "f1": True, "fixed": None}
    spec = training_spec(cfg["experiments"]["e"])
    assert spec["anomaly"] == {"train_on": "normal"}
    # threshold settings are not part of the trained model
    other = copy.deepcopy(cfg["experiments"]["e"])
    other["anomaly"]["thresholds"]["sigma"] = 5.0
    assert training_spec(other) == spec
    other["anomaly"]["train_on"] = "all"
    assert "anomaly" not in training_spec(other)
    # which samples are the anomalies decides what the model trains on
    other["anomaly"] |= {"train_on": "normal", "invert": True}
    assert training_spec(other)["anomaly"] == {"train_on": "normal", "invert": True}


def _labelled(labels, kind="images"):
    return xr.Dataset(
        {
            "label": ("sample", np.array(labels)),
            "is_anomaly": ("sample", np.array(labels) == 8),
        },
        attrs={"kind": kind, "dataset": "d", "class_names": [f"c{k}" for k in range(10)]},
    )


def test_an_experiment_names_its_own_anomalies():
    ds = _labelled([0, 3, 8, 3, 5])
    assert with_anomaly_labels(ds, {"anomaly": None}) is ds
    held = with_anomaly_labels(ds, {"anomaly": {"classes": [3, 5], "invert": False}})
    assert held["is_anomaly"].values.tolist() == [False, True, False, True, True]
    assert held["is_anomaly"].attrs["names"] == ["other classes than c3, c5", "c3, c5"]
    assert ds["is_anomaly"].values.tolist() == [False, False, True, False, False]  # untouched
    inverse = with_anomaly_labels(ds, {"anomaly": {"classes": None, "invert": True}})
    assert inverse["is_anomaly"].values.tolist() == [True, True, False, True, True]
    assert inverse["is_anomaly"].attrs["names"] == ["held-out classes", "normal classes"]
    jets = _labelled([0, 1], kind="jets").drop_vars("label")
    inverse = with_anomaly_labels(jets, {"anomaly": {"invert": True}})
    assert inverse["is_anomaly"].attrs["names"] == ["top jets", "QCD jets"]
    with pytest.raises(ValueError, match=r"no class labels for anomaly\.classes"):
        with_anomaly_labels(jets, {"anomaly": {"classes": [1]}})


def test_a_sweep_gets_the_mean_and_spread_of_every_method():
    from aeflow.evaluation.suites.anomaly import AnomalyDetection

    def record(k, ae, pca):
        return {"sweep": "fa", "dataset": "f", "auroc": ae, "baselines": {"pca": {"auroc": pca}}}

    records = [("fa_c0", record(0, 0.9, 0.8)), ("fa_c1", record(1, 0.7, 0.8)), ("x", {})]
    (row,) = AnomalyDetection.sweep_rows(records)
    assert row["experiment"] == "fa (mean ± sd over 2 held-out classes)"
    assert row["AE AUROC"] == "0.800 ± 0.141"
    assert row["pca AUROC"] == "0.800 ± 0.000"


@pytest.mark.parametrize(
    ("datasets", "anomaly", "message"),
    [
        ({"r": {"kind": "radio", "source": "simulate"}}, {}, "kind 'radio' has no anomaly labels"),
        (
            {"r": {"kind": "fashion_mnist", "source": "installed"}},
            {},
            "marks no anomalies; set its preprocess.anomaly_classes",
        ),
        ({"r": {"kind": "jets", "source": "simulate"}}, {"score": "l2"}, "anomaly"),
        (
            {"r": {"kind": "radio", "source": "simulate"}},
            {"score": "latent"},
            "kind 'radio' has no anomaly labels",
        ),
        (
            {"r": {"kind": "jets", "source": "simulate"}},
            {"thresholds": {"percentile": 1.5}},
            "percentile",
        ),
    ],
)
def test_anomaly_config_errors(datasets, anomaly, message):
    model = "conv1d_dae" if "radio" in str(datasets) else "conv_ae"
    cfg = {
        "datasets": datasets,
        "experiments": {
            "e": {"dataset": "r", "model": model, "task": "reconstruct", "anomaly": anomaly}
        },
    }
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_the_latent_score_needs_a_model_with_a_code():
    cfg = {
        "datasets": {"r": {"kind": "jets", "source": "simulate"}},
        "experiments": {
            "e": {
                "dataset": "r",
                "model": "skip_dae",
                "task": "reconstruct",
                "anomaly": {"score": "latent"},
            }
        },
    }
    with pytest.raises(ConfigError, match=r"anomaly\.score: latent scores a sample by its code"):
        validate_config(cfg)
    cfg["experiments"]["e"]["model"] = "conv_ae"
    assert validate_config(cfg)["experiments"]["e"]["anomaly"]["score"] == "latent"


def test_linear_output_and_mse_loss():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 40, 40) * 0.01
    sig = build_model("conv_ae", {})
    lin = build_model("conv_ae", {"output": "linear", "loss": "mse"})
    assert sig(x).min() > 0 and sig(x).max() < 1
    assert lin(x).min() < 0  # no squashing: raw logits
    loss = lin.loss({"input": x, "target": x})["loss"]
    assert torch.isclose(loss, torch.mean((lin(x) - x) ** 2))
    with pytest.raises(ValueError, match="'bce' needs output 'sigmoid'"):
        build_model("dense_ae", {"output": "linear"})
