"""Evaluation and anomaly scoring a block at a time: the numbers and the stores do not depend
on the block size, the stores are written part by part, baselines are fitted from blocks."""

import numpy as np
import pytest
import xarray as xr

from aeflow.config import validate_config
from aeflow.data import kinds
from aeflow.data.store import StoreWriter, open_store, write_store
from aeflow.data.tasks import with_corrupted_inputs
from aeflow.evaluation.baselines import pca_reconstructor
from aeflow.evaluation.suites import AnomalyDetection, ImageDenoising


def _images(n=90, size=12, seed=0, anomalies=False):
    """Smooth random images in [0, 1] with noisy inputs, split train / val / test."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    freq = rng.uniform(1, 3, (n, 1, 1))
    clean = (0.5 + 0.4 * np.sin(freq * 6 * xx + rng.uniform(0, 6, (n, 1, 1))) * yy).astype(
        np.float32
    )
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    split = np.array(["train", "val", "test"])[np.arange(n) % 3]
    data = {
        "input": (("sample", "y", "x"), noisy),
        "target": (("sample", "y", "x"), clean),
    }
    if anomalies:
        data["is_anomaly"] = ("sample", (np.arange(n) // 3) % 4 == 0)
        data["jet_mass"] = ("sample", rng.uniform(50, 200, n))
    coords = {"sample": np.arange(100, 100 + n), "split": ("sample", split)}
    return xr.Dataset(data, coords=coords, attrs={"dataset": "d"})


def _ec(**evaluate):
    cfg = {
        "datasets": {"d": {"kind": "saxs", "source": "simulate"}},
        "experiments": {"e": {"dataset": "d", "model": "skip_dae", "evaluate": evaluate}},
    }
    return validate_config(cfg)["experiments"]["e"]["evaluate"]


def _smoother(inputs):  # a stand-in "model": a 3x3 box filter
    from scipy.ndimage import uniform_filter

    return uniform_filter(inputs, size=(1, 3, 3), mode="nearest").astype(np.float32)


def _judge(ds, block_samples):
    suite = ImageDenoising(ds, _ec(block_samples=block_samples))
    parts = []
    block = suite.evaluate(_smoother, ds, "test", parts.append)
    return block, parts


@pytest.mark.parametrize("task", ["denoise", "reconstruct"])
def test_image_metrics_and_predictions_do_not_depend_on_the_block_size(task):
    ds = _images()
    if task == "reconstruct":  # input = target: the baseline is PCA of the code size
        ds["input"] = ds["target"]
    whole, whole_parts = _judge(ds, 4096)
    blocks, parts = _judge(ds, 7)
    assert len(whole_parts) == 1 and len(parts) == 5  # 30 test images, 7 at a time
    assert blocks == whole
    assert xr.concat(parts, dim="sample").equals(whole_parts[0])
    assert whole["n_test"] == 30 and set(whole["baselines"]) == (
        {"pca"} if task == "reconstruct" else {"identity", "gaussian", "median"}
    )
    # the block's numbers are those of the whole test set
    test = ds.isel(sample=np.flatnonzero(ds["split"].values == "test"))
    out = _smoother(test["input"].values)
    mse = ((out.astype(np.float64) - test["target"].values) ** 2).mean()
    assert whole["test_loss"] == pytest.approx(mse, rel=1e-12)
    p = np.clip(out.astype(np.float64), 1e-7, 1 - 1e-7)
    t = test["target"].values.astype(np.float64)
    assert whole["bce"] == pytest.approx(-(t * np.log(p) + (1 - t) * np.log1p(-p)).mean())


def test_bce_is_left_out_when_a_block_leaves_the_unit_range():
    ds = _images()
    suite = ImageDenoising(ds, _ec(block_samples=7))
    block = suite.evaluate(lambda x: _smoother(x) * 1.5, ds, "test", lambda part: None)
    assert "bce" not in block and "bce" in block["baselines"]["median"]


def test_anomaly_scores_and_summary_do_not_depend_on_the_block_size(monkeypatch):
    from aeflow.evaluation.suites import anomaly

    monkeypatch.setattr(anomaly, "FOREST_MAX_TRAIN", 30)  # of 60: the forest's draw is seeded
    ds = _images(n=240, anomalies=True)
    cfg = validate_config(
        {
            "datasets": {"j": {"kind": "jets", "source": "simulate"}},
            "experiments": {
                "a": {
                    "dataset": "j",
                    "model": "conv_ae",
                    "task": "reconstruct",
                    "anomaly": {"baselines": {"n_estimators": 20}, "n_examples": 3},
                }
            },
        }
    )["experiments"]["a"]["anomaly"]
    suite = AnomalyDetection(cfg, kinds.traits("jets"), seed=0, where="test")
    results = [
        suite.evaluate(_smoother, ds, code_size=4, context="c", block_samples=b) for b in (9, 4096)
    ]
    (s1, scores1, ex1), (s2, scores2, ex2) = results
    assert s1 == s2 and scores1.equals(scores2) and ex1.equals(ex2)
    assert set(s1["baselines"]) == {"pca", "isolation_forest", "jet_mass"}
    assert s1["isolation_forest_samples"] == 30 and s1["pca_components"] == 4
    # the PCA baseline is exact PCA of the normal training images
    train = ds.isel(sample=np.flatnonzero((ds["split"].values == "train") & ~ds["is_anomaly"]))
    x = train["input"].values.reshape(len(train["sample"]), -1).astype(np.float64)
    pick = scores1["split"].values == "test"
    test = ds.sel(sample=scores1["sample"].values[pick])["input"].values
    t = test.reshape(len(test), -1).astype(np.float64)
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    recon = (t - mean) @ vt[:4].T @ vt[:4] + mean
    expected = ((t - recon) ** 2).mean(axis=1)
    np.testing.assert_allclose(scores1["baseline_pca"].values[pick], expected, rtol=1e-6)
    assert ex1.sizes["example"] == 6 and (ex1["rank"].values[:3] == "most").all()


def test_streamed_pca_is_exact_and_the_same_however_the_data_are_cut():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(700, 5)) @ rng.normal(size=(5, 30)) + 0.1 * rng.normal(size=(700, 30))
    data = data.astype(np.float32)
    whole = pca_reconstructor(data, 5)(data)
    cut = pca_reconstructor(iter([data[:100], data[100:613], data[613:]]), 5)(data)
    assert np.array_equal(whole, cut)
    x = data.astype(np.float64)
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    exact = (x - x.mean(axis=0)) @ vt[:5].T @ vt[:5] + x.mean(axis=0)
    np.testing.assert_allclose(whole, exact, atol=1e-5)
    with pytest.raises(ValueError, match="at least one training sample"):
        pca_reconstructor(iter([]), 2)


def test_corrupted_inputs_are_computed_for_the_samples_read():
    ds = _images(n=12)
    cfg = {"noise_sd": 0.3, "noise_mean": 0.0, "clip": [0, 1], "downsample": None, "seed": 5}
    view = with_corrupted_inputs(ds, {"corrupt": cfg})
    full = view["input"].values
    assert full.dtype == np.float32 and not np.array_equal(full, ds["target"].values)
    assert np.array_equal(view["input"].isel(sample=[7, 2]).values, full[[7, 2]])
    assert np.array_equal(view.isel(sample=slice(3, 6))["input"].values, full[3:6])
    assert np.array_equal(view["input"][4, :2].values, full[4, :2])
    assert np.array_equal(
        view["input"].isel(y=[0, 2], x=[1, 3]).values, full[:, [0, 2]][..., [1, 3]]
    )
    assert "Gaussian noise" in view["input"].attrs["corruption"]


def test_a_store_written_in_parts_is_the_store_written_whole(tmp_path):
    ds = _images(n=40)
    group = _images(n=10, seed=3)
    write_store(ds, tmp_path / "whole.zarr", groups={"g": group})
    with StoreWriter(tmp_path / "parts.zarr") as writer:
        for start in range(0, 40, 16):
            writer.append(ds.isel(sample=slice(start, start + 16)))
        writer.append(group.isel(sample=slice(0, 4)), group="g")
        writer.append(group.isel(sample=slice(4, 10)), group="g")
    whole, parts = open_store(tmp_path / "whole.zarr"), open_store(tmp_path / "parts.zarr")
    assert parts.attrs["content_sha256"] == whole.attrs["content_sha256"]
    assert open_store(tmp_path / "parts.zarr", group="g").equals(group)
    # the first part's attrs are the store's, whatever later parts carry
    with StoreWriter(tmp_path / "attrs.zarr", sample_chunk=8) as writer:
        for i, start in enumerate(range(0, 40, 16)):
            writer.append(ds.isel(sample=slice(start, start + 16)).assign_attrs(part=i))
    assert open_store(tmp_path / "attrs.zarr").attrs["part"] == 0
    # a writer stopped by an error leaves nothing behind; groups come after the root
    with pytest.raises(RuntimeError), StoreWriter(tmp_path / "broken.zarr") as writer:
        writer.append(ds.isel(sample=slice(0, 8)))
        raise RuntimeError("killed")
    assert not list(tmp_path.glob("*broken*"))
    with (
        pytest.raises(ValueError, match="root before group"),
        StoreWriter(tmp_path / "g.zarr") as writer,
    ):
        writer.append(group, group="g")
