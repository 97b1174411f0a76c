"""Your own images (kinds image_set and labelled_image_set): a physicist's .npz, HDF5 file or
Zarr store with array names of their own, through fetch, prepare, training and evaluation;
bad files and keys named."""

import numpy as np
import pytest
import yaml

from aeflow.config import ConfigError, validate_config
from aeflow.data.sources import RawDataError
from aeflow.data.store import open_store
from aeflow.stages.data import fetch_raw, prepare
from conftest import write_arrays

N, H, W = 60, 12, 20  # not square, not a power of two


def _counts(seed=0):
    """Detector-like images: counts spanning decades (a bright blob on a faint floor), the
    clean expectation and a Poisson draw of it; labels by the blob's side; a split."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((H, W))
    side = rng.integers(0, 2, N)
    centre = np.where(side, 14, 5)
    clean = 1 + 1e3 * np.exp(-((xx[None] - centre[:, None, None]) ** 2 + (yy[None] - 6) ** 2) / 8)
    noisy = rng.poisson(clean).astype(np.float32)
    split = np.array(["train"] * 40 + ["val"] * 8 + ["test"] * 12)
    return {"counts": noisy, "expected": clean.astype(np.float32), "side": side, "part": split}


def _cfg(source, kind="image_set", **extra):
    keys = {"images": "counts", **extra.pop("keys", {})}
    cfg = {
        "datasets": {"own": {"kind": kind, "source": str(source), "keys": keys, **extra}},
        "experiments": {
            "e": {"dataset": "own", "model": "dense_ae", "task": "reconstruct", "train": {}}
        },
    }
    return validate_config(cfg)


@pytest.mark.parametrize("fmt", ["npz", "h5", "zarr"])
def test_own_file_with_own_keys_is_fetched_and_prepared(tmp_path, fmt):
    arrays = _counts()
    source = write_arrays(tmp_path, fmt, arrays)
    cfg = _cfg(
        source,
        kind="labelled_image_set",
        keys={"targets": "expected", "labels": "side", "split": "part"},
        class_names=["left", "right"],
        preprocess={"scaling": "log_minmax"},
    )
    ds_cfg = cfg["datasets"]["own"]
    raw = tmp_path / "data/raw/own.npz"
    fetch_raw("own", ds_cfg, raw)
    with np.load(raw) as npz:  # canonical names, only what the config named
        assert sorted(k for k in npz.files if not k.startswith("aeflow")) == [
            "images",
            "labels",
            "split",
            "targets",
        ]
    out = tmp_path / "own.zarr"
    prepare("own", ds_cfg, raw, out)
    ds = open_store(out)
    assert ds["input"].shape == (N, H, W) and ds["input"].dims == ("sample", "y", "x")
    assert list(ds["split"].values) == list(arrays["part"])  # the file's own split
    # log10(x + 1), then the training images' min and max to [0, 1]
    train = np.log10(arrays["counts"][:40] + 1)
    lo, hi = train.min(), train.max()
    expected = np.clip((np.log10(arrays["counts"] + 1) - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(ds["input"].values, expected, rtol=1e-5, atol=1e-6)
    assert float(ds["input"].isel(sample=slice(0, 40)).max()) == pytest.approx(1.0)
    assert ds["input"].attrs["scaling"].startswith("log10(x + 1) then (x - ")
    # the clean expectation is the target, scaled the same way
    t = np.clip((np.log10(arrays["expected"] + 1) - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(ds["target"].values, t, rtol=1e-5, atol=1e-6)
    assert list(ds["label"].values) == list(arrays["side"])
    assert ds.attrs["class_names"] == ["left", "right"]
    assert "mine" in ds.attrs["raw_provenance"] and "'side'" in ds.attrs["raw_provenance"]


@pytest.mark.parametrize("fmt", ["npz", "h5", "zarr"])
@pytest.mark.parametrize("scaling", ["log_minmax", "minmax", "auto"])
def test_own_images_fetched_and_prepared_in_chunks_are_the_files_made_whole(
    tmp_path, monkeypatch, fmt, scaling
):
    from aeflow.data import chunks

    arrays = _counts()
    source = write_arrays(tmp_path, fmt, arrays)
    keys = {"targets": "expected", "labels": "side", "split": "part"}
    cfg = _cfg(
        source,
        kind="labelled_image_set",
        keys=keys,
        class_names=["left", "right"],
        preprocess={"scaling": scaling},
    )["datasets"]["own"]
    made = {}
    for name, chunk_bytes in (("whole", chunks.CHUNK_BYTES), ("chunked", 20_000)):
        monkeypatch.setattr(chunks, "CHUNK_BYTES", chunk_bytes)  # fetch: a few images a chunk
        raw, out = tmp_path / "own.npz", tmp_path / f"{name}.zarr"  # (the path is in attrs)
        fetch_raw("own", cfg, raw)
        prepare("own", cfg, raw, out, chunk_bytes=chunk_bytes)
        made[name] = (raw.read_bytes(), open_store(out).attrs["content_sha256"])
    assert made["chunked"] == made["whole"]
    ds = open_store(tmp_path / "chunked.zarr")
    assert list(ds["split"].values) == list(arrays["part"])
    train = arrays["counts"][:40]  # minmax: by the training images' min and max
    if scaling == "minmax":
        expected = np.clip((arrays["counts"] - train.min()) / (train.max() - train.min()), 0, 1)
        np.testing.assert_allclose(ds["input"].values, expected, rtol=1e-5, atol=1e-6)


def test_class_names_come_from_the_whole_file_when_prepared_in_chunks(tmp_path):
    arrays = _counts()
    order = np.argsort(arrays["side"], kind="stable")  # sorted by class: 0s, then 1s
    sorted_arrays = {"counts": arrays["counts"][order], "side": arrays["side"][order]}
    cfg = _cfg(write_arrays(tmp_path, "npz", sorted_arrays), keys={"labels": "side"})["datasets"][
        "own"
    ]
    fetch_raw("own", cfg, tmp_path / "raw.npz")
    prepare("own", cfg, tmp_path / "raw.npz", tmp_path / "own.zarr", chunk_bytes=20_000)
    ds = open_store(tmp_path / "own.zarr")
    assert ds.attrs["class_names"] == ["0", "1"] == ds["label"].attrs["class_names"]


def test_own_images_train_and_evaluate_through_the_stages(tmp_path):
    from aeflow.stages.evaluate import evaluate
    from aeflow.stages.tracking import init_mlflow
    from aeflow.stages.train import train

    arrays = _counts()
    source = write_arrays(tmp_path, "npz", {"counts": arrays["expected"].astype(np.uint8)})
    cfg = _cfg(source)  # no split key: the configured random split; uint8: x / 255
    cfg["mlflow"] = {
        "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "experiment": "own-images",
        "artifact_location": str(tmp_path / "artifacts"),
    }
    ds_cfg, exp = cfg["datasets"]["own"], cfg["experiments"]["e"]
    exp["model_params"] = {"code_size": 4}
    exp["train"] |= {"epochs": 2, "batch_size": 16, "threads": 1}
    raw, prepared = tmp_path / "own.npz", tmp_path / "own.zarr"
    fetch_raw("own", ds_cfg, raw)
    prepare("own", ds_cfg, raw, prepared)
    store = open_store(prepared)
    assert store["input"].attrs["scaling"] == "x / 255"
    assert set(store["split"].values) == {"train", "val", "test"}
    from aeflow.plan import training_spec

    init_mlflow(cfg["mlflow"], tmp_path / "mlflow.ready")
    train("e", training_spec(exp), cfg["mlflow"], prepared, tmp_path / "model", tmp_path / "ck")
    description = yaml.safe_load((tmp_path / "model/model.json").read_text())
    # a non-square image: the dense autoencoder takes its height and width from the data
    assert (description["config"]["image_size"], description["config"]["image_width"]) == (H, W)
    assert description["n_parameters"] == (H * W * 4 + 4) + (4 * H * W + H * W)
    metrics = evaluate("e", exp, cfg["mlflow"], tmp_path / "model", prepared, {}, tmp_path / "ev")
    assert metrics["n_test"] == int((store["split"].values == "test").sum())
    assert set(metrics["baselines"]) == {"pca"} and np.isfinite(metrics["test_loss"])


def test_bad_files_and_keys_are_named(tmp_path):
    arrays = _counts()
    source = write_arrays(tmp_path, "npz", arrays)
    with pytest.raises(RawDataError, match=r"mine\.npz: missing key 'pixels' \(has: "):
        fetch_raw(
            "own", _cfg(source, keys={"images": "pixels"})["datasets"]["own"], tmp_path / "r.npz"
        )
    assert not (tmp_path / "r.npz").exists()  # nothing half-written
    ambiguous = write_arrays(tmp_path, "npz", {"counts": np.zeros((4, 3, 8, 3), np.uint8)})
    with pytest.raises(RawDataError, match=r"\(4, 3, 8, 3\): the channel axis could be"):
        fetch_raw("own", _cfg(ambiguous)["datasets"]["own"], tmp_path / "amb.npz")
    two = write_arrays(tmp_path, "npz", {"counts": np.zeros((4, 8, 8, 2), np.uint8)})
    with pytest.raises(RawDataError, match=r"\(4, 8, 8, 2\): images have 1 or 3 channels"):
        fetch_raw("own", _cfg(two)["datasets"]["own"], tmp_path / "two.npz")
    assert not (tmp_path / "two.npz").exists()
    grey = write_arrays(tmp_path, "npz", {"counts": arrays["counts"]})
    named = _cfg(grey, channel_names=["r", "g", "b"])["datasets"]["own"]
    fetch_raw("own", named, tmp_path / "g.npz")
    with pytest.raises(RawDataError, match="has 1 channel; channel_names names 3"):
        prepare("own", named, tmp_path / "g.npz", tmp_path / "g.zarr")
    bad_split = write_arrays(
        tmp_path, "npz", {"counts": arrays["counts"], "part": np.array(["x"] * N)}
    )
    with pytest.raises(RawDataError, match=r"key 'part' holds \['x'\]"):  # the file's name
        fetch_raw(
            "own", _cfg(bad_split, keys={"split": "part"})["datasets"]["own"], tmp_path / "s.npz"
        )
    # a split label the fixed-width copy would cut ('training' -> 'train') is named whole
    long_split = write_arrays(
        tmp_path, "npz", {"counts": arrays["counts"], "part": np.array(["training"] * N)}
    )
    with pytest.raises(RawDataError, match=r"'part' holds \['training'\]"):
        fetch_raw(
            "own", _cfg(long_split, keys={"split": "part"})["datasets"]["own"], tmp_path / "t.npz"
        )
    # labels shorter than the images: named, not cut
    short = write_arrays(tmp_path, "npz", {"counts": arrays["counts"], "side": arrays["side"][:-1]})
    with pytest.raises(RawDataError, match=r"key 'side' has 59 rows; 'counts' has 60"):
        fetch_raw(
            "own", _cfg(short, keys={"labels": "side"})["datasets"]["own"], tmp_path / "u.npz"
        )
    floats = write_arrays(tmp_path, "npz", {"counts": arrays["counts"]})  # counts, not in [0, 1]
    cfg = _cfg(floats, preprocess={"scaling": "unit"})["datasets"]["own"]
    fetch_raw("own", cfg, tmp_path / "f.npz")
    with pytest.raises(RawDataError, match="scaling unit needs pixels in"):
        prepare("own", cfg, tmp_path / "f.npz", tmp_path / "f.zarr")
    assert not (tmp_path / "f.zarr").exists()


def test_config_checks_of_own_images(tmp_path):
    with pytest.raises(ConfigError, match=r"keys\.labels: kind labelled_image_set needs"):
        _cfg(tmp_path / "a.npz", kind="labelled_image_set", class_names=["a"])
    with pytest.raises(ConfigError, match=r"datasets\.own\.keys: only kinds"):
        validate_config(
            {
                "datasets": {"own": {"kind": "saxs", "source": "simulate", "keys": {}}},
                "experiments": {"e": {"dataset": "own", "model": "skip_dae"}},
            }
        )
    cfg = {
        "datasets": {"own": {"kind": "image_set", "source": "a.npz", "keys": {}}},
        "experiments": {"e": {"dataset": "own", "model": "dense_ae", "task": "denoise"}},
    }
    with pytest.raises(ConfigError, match=r"denoise needs clean targets \(datasets\.own\.keys"):
        validate_config(cfg)
    cfg["experiments"]["e"]["corrupt"] = {"noise_sd": 0.1}
    assert validate_config(cfg)["datasets"]["own"]["keys"]["images"] == "images"


def _colour(seed=0, n=48):
    """Colour images (N, H, W, 3) of 8-bit pixels: a blob whose colour is its class, on a
    noisy floor; the clean images; labels; a split."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((H, W))
    label = rng.integers(0, 3, n)
    cx = rng.uniform(5, 15, n)
    blob = np.exp(-((xx[None] - cx[:, None, None]) ** 2 + (yy[None] - 6) ** 2) / 6)
    tint = np.eye(3)[label] * 0.8 + 0.1
    clean = 20 + 200 * blob[..., None] * tint[:, None, None, :]
    noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255)
    split = np.array((["train"] * 6 + ["val"] + ["test"]) * (n // 8))
    return {
        "rgb": noisy.astype(np.uint8),
        "rgb_clean": clean.astype(np.uint8),
        "colour": label,
        "part": split,
    }


def test_colour_images_channels_last_or_first_give_one_store(tmp_path):
    """Colour images stored (N, H, W, 3) in an .npz or (N, 3, H, W) in HDF5 give the same
    store, channels first with named channels; one scale for all channels."""
    arrays = _colour()
    first = dict(arrays, rgb=np.moveaxis(arrays["rgb"], -1, 1))
    keys = {"images": "rgb", "targets": "rgb_clean", "labels": "colour", "split": "part"}
    stores = []
    for fmt, data in (("npz", arrays), ("h5", first)):
        data = dict(
            data,
            rgb_clean=np.moveaxis(data["rgb_clean"], -1, 1) if fmt == "h5" else data["rgb_clean"],
        )
        folder = tmp_path / fmt
        folder.mkdir()
        cfg = _cfg(
            write_arrays(folder, fmt, data),
            kind="labelled_image_set",
            keys=keys,
            class_names=["red", "green", "blue"],
            channel_names=["r", "g", "b"],
        )["datasets"]["own"]
        fetch_raw("own", cfg, folder / "raw.npz")
        prepare("own", cfg, folder / "raw.npz", folder / "own.zarr", chunk_bytes=5_000)
        stores.append(open_store(folder / "own.zarr"))
    npz, h5 = stores
    assert npz["input"].dims == ("sample", "channel", "y", "x")
    assert npz["input"].shape == (48, 3, H, W)
    assert list(npz["channel"].values) == ["r", "g", "b"]
    np.testing.assert_array_equal(npz["input"].values, h5["input"].values)
    np.testing.assert_array_equal(npz["target"].values, h5["target"].values)
    # 8-bit pixels / 255 in every channel: a red blob is brightest in the red channel
    expected = np.moveaxis(arrays["rgb"], -1, 1) / np.float32(255)
    np.testing.assert_allclose(npz["input"].values, expected, rtol=1e-6)
    red = npz["label"].values == 0
    peak = npz["target"].values[red].max(axis=(2, 3)).mean(axis=0)
    assert peak.argmax() == 0 and peak[0] > 2 * peak[1]


def test_colour_images_train_evaluate_and_draw(tmp_path):
    """A colour denoiser through train and evaluate: colour outputs, the baselines filter
    each channel, SSIM over channels; the example figure shows the colours."""
    import matplotlib

    from aeflow.plan import training_spec
    from aeflow.plotting.figures import denoising_rows
    from aeflow.stages.evaluate import evaluate
    from aeflow.stages.tracking import init_mlflow
    from aeflow.stages.train import train

    arrays = _colour(n=64)
    cfg = _cfg(
        write_arrays(tmp_path, "npz", arrays),
        keys={"images": "rgb", "targets": "rgb_clean", "split": "part"},
    )
    cfg["mlflow"] = {
        "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "experiment": "own-colour",
        "artifact_location": str(tmp_path / "artifacts"),
    }
    ds_cfg, exp = cfg["datasets"]["own"], cfg["experiments"]["e"]
    exp |= {"model": "conv_ae", "task": "denoise", "model_params": {"channels": [4, 4]}}
    exp["train"] |= {"epochs": 1, "batch_size": 16, "threads": 1}
    cfg = validate_config(cfg)
    ds_cfg, exp = cfg["datasets"]["own"], cfg["experiments"]["e"]
    raw, prepared = tmp_path / "own.npz", tmp_path / "own.zarr"
    fetch_raw("own", ds_cfg, raw)
    prepare("own", ds_cfg, raw, prepared)
    init_mlflow(cfg["mlflow"], tmp_path / "mlflow.ready")
    train("e", training_spec(exp), cfg["mlflow"], prepared, tmp_path / "model", tmp_path / "ck")
    description = yaml.safe_load((tmp_path / "model/model.json").read_text())
    assert description["config"]["in_channels"] == 3
    metrics = evaluate("e", exp, cfg["mlflow"], tmp_path / "model", prepared, {}, tmp_path / "ev")
    assert set(metrics["baselines"]) == {"identity", "gaussian", "median"}
    # the filters beat the noisy input, per channel (a mixed-up channel would not)
    identity = metrics["baselines"]["identity"]["test_loss"]
    assert metrics["baselines"]["gaussian"]["test_loss"] < identity / 2
    assert 0 < metrics["ssim"]["mean"] <= 1
    pred = open_store(tmp_path / "ev/predictions.zarr")
    assert pred["prediction"].dims == ("sample", "channel", "y", "x")
    assert pred["prediction"].shape == (8, 3, H, W)
    rows = {
        k: pred[v].values[:4]
        for k, v in [("noisy", "input"), ("denoised", "prediction"), ("true", "target")]
    }
    fig = denoising_rows(rows, vmax=1.0)
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape == (H, W, 3)  # drawn in colour, not one channel
    np.testing.assert_allclose(shown, np.moveaxis(rows["noisy"][0], 0, -1), atol=1e-6)
    matplotlib.pyplot.close(fig)
