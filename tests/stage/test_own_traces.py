"""Your own time traces (kind trace_set): a physicist's .npz, HDF5 file or Zarr store with
array names of their own, at a stated sampling rate and band, with or without clean signals,
through fetch, prepare, training and evaluation; bad files and keys named."""

import numpy as np
import pytest

from aeflow.config import ConfigError, validate_config
from aeflow.data.sources import RawDataError
from aeflow.data.store import open_store
from aeflow.plan import Plan
from aeflow.stages.data import fetch_raw, prepare
from conftest import write_arrays

N, T, RATE = 96, 128, 250.0


def _traces(seed=0):
    """Pulses (a damped 50 MHz oscillation at a random time) in white noise, in volts; a
    quarter noise-only; a split of train/val/test strings."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / RATE * 1e3  # ns
    start = rng.uniform(100, 350, N)
    lag = np.clip(t[None] - start[:, None], 0, None)
    pulse = np.sin(2 * np.pi * 0.05 * lag) * np.exp(-lag / 20) * (t[None] >= start[:, None])
    pulse *= rng.uniform(2, 6, (N, 1)) * (np.arange(N) % 4 != 0)[:, None]
    clean = (1e-6 * pulse).astype(np.float32)
    noisy = (clean + 1e-6 * rng.standard_normal((N, T))).astype(np.float32)
    split = np.array(
        ["train", "train", "train", "test", "test", "train", "val", "train"] * (N // 8)
    )
    return {"volts": noisy, "truth": clean, "part": split}


def _dataset(source, **keys):
    return {
        "kind": "trace_set",
        "source": str(source),
        "keys": {"traces": "volts", **keys},
        "preprocess": {"sampling_rate_mhz": RATE, "band_mhz": [30, 90]},
    }


def _cfg(source, experiments=None, **keys):
    cfg = {
        "datasets": {"mine": _dataset(source, **keys)},
        "experiments": experiments
        or {"e": {"dataset": "mine", "model": "conv1d_dae", "task": "reconstruct"}},
    }
    return validate_config(cfg)


@pytest.mark.parametrize("fmt", ["npz", "h5", "zarr"])
def test_own_traces_with_signals_are_fetched_and_prepared(tmp_path, fmt):
    arrays = _traces()
    cfg = _cfg(write_arrays(tmp_path, fmt, arrays), targets="truth", split="part")
    ds_cfg = cfg["datasets"]["mine"]
    raw = tmp_path / "raw.npz"
    fetch_raw("mine", ds_cfg, raw)
    with np.load(raw) as npz:  # canonical names, only what the config named
        assert sorted(k for k in npz.files if not k.startswith("aeflow")) == [
            "split",
            "targets",
            "traces",
        ]
    prepare("mine", ds_cfg, raw, tmp_path / "whole.zarr")
    prepare("mine", ds_cfg, raw, tmp_path / "chunked.zarr", chunk_bytes=4_000)
    ds, chunked = open_store(tmp_path / "whole.zarr"), open_store(tmp_path / "chunked.zarr")
    assert ds.equals(chunked)  # the same store however the file is read
    assert ds["input"].dims == ("sample", "time") and ds.sizes["time"] == T
    # the time axis from the stated rate, the band in the attrs
    np.testing.assert_allclose(ds["time"].values[:3], [0.0, 4.0, 8.0])
    assert ds.attrs["sampling_rate_mhz"] == RATE and ds.attrs["band_mhz"] == [30.0, 90.0]
    # divided by the std of the training traces (one number for traces and signals)
    train = arrays["volts"][arrays["part"] == "train"].astype(np.float64)
    assert ds.attrs["norm_std"] == pytest.approx(train.std(), rel=1e-6)
    np.testing.assert_allclose(
        ds["target"].values, arrays["truth"] / np.float32(ds.attrs["norm_std"]), rtol=1e-6
    )
    # signal flags and SNR from the clean signals; the file's split
    np.testing.assert_array_equal(ds["has_signal"].values, np.arange(N) % 4 != 0)
    assert (ds["snr"].values[np.arange(N) % 4 == 0] == 0).all()
    assert (ds["snr"].values[np.arange(N) % 4 != 0] > 1).all()
    np.testing.assert_array_equal(ds["split"].values, arrays["part"])


def test_own_traces_without_signals_are_their_own_target(tmp_path):
    arrays = _traces()
    source = write_arrays(tmp_path, "npz", {"volts": (arrays["volts"] * 1e7).astype(np.int16)})
    ds_cfg = _cfg(source)["datasets"]["mine"]
    fetch_raw("mine", ds_cfg, tmp_path / "raw.npz")
    prepare("mine", ds_cfg, tmp_path / "raw.npz", tmp_path / "mine.zarr")
    ds = open_store(tmp_path / "mine.zarr")
    np.testing.assert_array_equal(ds["input"].values, ds["target"].values)
    assert "has_signal" not in ds and "snr" not in ds
    assert set(ds["split"].values) == {"train", "val", "test"}  # the configured random split


def test_own_traces_train_and_evaluate_through_the_stages(tmp_path):
    """With clean signals: the full trace suite, the band-pass at the stated band. Without:
    reconstruction beside PCA, no SNR figures planned. With a synthetic noise: denoising,
    SNR from the clean traces, no clipping."""
    from aeflow.plan import training_spec
    from aeflow.stages.evaluate import evaluate
    from aeflow.stages.tracking import init_mlflow
    from aeflow.stages.train import train

    arrays = _traces()
    source = write_arrays(tmp_path, "h5", arrays)
    small = {"model_params": {"channels": [4, 8]}, "train": {"epochs": 1, "batch_size": 16}}
    experiments = {
        "dae": {"dataset": "mine", "model": "conv1d_dae", **small},
        "ae": {"dataset": "plain", "model": "conv1d_dae", "task": "reconstruct", **small},
        "noise": {
            "dataset": "plain",
            "model": "conv1d_dae",
            "task": "denoise",
            "corrupt": {"noise_sd": 0.5},
            **small,
        },
    }
    datasets = {
        "mine": _dataset(source, targets="truth", split="part"),
        "plain": _dataset(source, traces="truth", split="part"),  # clean pulses alone
    }
    cfg = validate_config({"datasets": datasets, "experiments": experiments})
    assert cfg["experiments"]["noise"]["corrupt"]["clip"] is None  # auto: traces unclipped
    assert cfg["experiments"]["dae"]["evaluate"]["baselines"]["bandpass_mhz"] == [30.0, 90.0]
    plan = Plan(cfg)
    assert "peak_accuracy" in plan.figures("dae") and "peak_accuracy" in plan.figures("noise")
    assert "peak_accuracy" not in plan.figures("ae") and "spectra" in plan.figures("ae")
    cfg["mlflow"] = {
        "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "experiment": "own-traces",
        "artifact_location": str(tmp_path / "artifacts"),
    }
    init_mlflow(cfg["mlflow"], tmp_path / "mlflow.ready")
    records = {}
    for dataset in ("mine", "plain"):
        fetch_raw(dataset, cfg["datasets"][dataset], tmp_path / f"{dataset}.npz")
        prepare(dataset, cfg["datasets"][dataset], tmp_path / f"{dataset}.npz", tmp_path / dataset)
    for name, exp in cfg["experiments"].items():
        exp["train"]["threads"] = 1
        prepared = tmp_path / exp["dataset"]
        model, out = tmp_path / f"model_{name}", tmp_path / f"eval_{name}"
        train(name, training_spec(exp), cfg["mlflow"], prepared, model, tmp_path / f"ck_{name}")
        records[name] = evaluate(name, exp, cfg["mlflow"], model, prepared, {}, out)
    dae, ae, noise = records["dae"], records["ae"], records["noise"]
    assert set(dae["baselines"]) == {"identity", "bandpass", "wiener"}
    assert dae["baselines"]["bandpass"]["band_mhz"] == [30.0, 90.0]
    assert (dae["n_signal"], dae["n_noise_only"]) == (12, 12)
    assert set(ae["baselines"]) == {"pca"} and ae["n_signal"] == 12  # the zero traces: none
    # traces of unit variance: 32 components keep most of it
    assert np.isfinite(ae["test_loss"]) and ae["baselines"]["pca"]["test_loss"] < 0.5
    # the synthetic noise: the identity's MSE is its variance in normalized units
    assert noise["baselines"]["identity"]["test_loss"] == pytest.approx(0.25, rel=0.15)
    pred = open_store(tmp_path / "eval_noise/predictions.zarr")
    snr = pred["snr"].values[pred["has_signal"].values]
    assert np.isfinite(snr).all() and (snr > 0).all()


def test_bad_files_and_keys_of_own_traces_are_named(tmp_path):
    arrays = _traces()
    source = write_arrays(tmp_path, "npz", arrays)
    with pytest.raises(RawDataError, match=r"mine\.npz: missing key 'adc' \(has: "):
        fetch_raw("mine", _cfg(source, traces="adc")["datasets"]["mine"], tmp_path / "r.npz")
    assert not (tmp_path / "r.npz").exists()
    short = write_arrays(tmp_path, "npz", {"volts": arrays["volts"][:, :8]})
    with pytest.raises(RawDataError, match=r"holds traces of 8 samples \(< 16\)"):
        fetch_raw("mine", _cfg(short)["datasets"]["mine"], tmp_path / "s.npz")
    bad = dict(arrays, truth=arrays["truth"][:, :-1])
    cfg = _cfg(write_arrays(tmp_path, "npz", bad), targets="truth")["datasets"]["mine"]
    with pytest.raises(RawDataError, match=r"key 'targets' has shape \(96, 127\)"):
        fetch_raw("mine", cfg, tmp_path / "t.npz")


def test_config_checks_of_own_traces(tmp_path):
    source = tmp_path / "a.npz"
    with pytest.raises(ConfigError, match=r"datasets\.mine\.preprocess: 'band_mhz' is a required"):
        validate_config(
            {
                "datasets": {
                    "mine": {
                        "kind": "trace_set",
                        "source": str(source),
                        "keys": {},
                        "preprocess": {"sampling_rate_mhz": 100},
                    }
                },
                "experiments": {"e": {"dataset": "mine", "model": "conv1d_dae"}},
            }
        )
    cfg = _cfg(source)
    cfg["datasets"]["mine"]["preprocess"]["band_mhz"] = [30, 130]
    with pytest.raises(ConfigError, match=r"band_mhz: \[30, 130\] must rise and stay below Nyq"):
        validate_config(cfg)
    denoise = {"e": {"dataset": "mine", "model": "conv1d_dae", "task": "denoise"}}
    with pytest.raises(ConfigError, match=r"denoise needs clean signals \(datasets\.mine\.keys"):
        _cfg(source, denoise)
    detector = {"e": {"dataset": "mine", "model": "conv1d_classifier"}}
    with pytest.raises(ConfigError, match=r"name them in datasets\.mine\.keys\.targets"):
        _cfg(source, detector)
    assert _cfg(source, detector, targets="truth")["experiments"]["e"]["model"]
    downsample = {
        "e": {
            "dataset": "mine",
            "model": "conv1d_dae",
            "task": "reconstruct",
            "corrupt": {"downsample": 2},
        },
    }
    with pytest.raises(ConfigError, match=r"corrupt\.downsample: applies to images"):
        _cfg(source, downsample)
    with pytest.raises(ConfigError, match=r"keys\.labels: kind trace_set reads traces"):
        _cfg(source, labels="classes")
    # a detector judged on further traces needs their clean signals too
    cfg = {
        "datasets": {
            "mine": _dataset(source, targets="truth"),
            "plain": _dataset(source),
        },
        "experiments": {
            "e": {
                "dataset": "mine",
                "model": "conv1d_classifier",
                "evaluate": {"also_on": ["plain"]},
            }
        },
    }
    with pytest.raises(ConfigError, match=r"datasets\.plain\.keys\.targets"):
        validate_config(cfg)
    # a radio file's stated band is checked where it is stated
    radio = {
        "datasets": {
            "r": {
                "kind": "radio",
                "source": str(source),
                "preprocess": {"sampling_rate_mhz": 180, "band_mhz": [80, 30]},
            }
        },
        "experiments": {"e": {"dataset": "r", "model": "conv1d_dae"}},
    }
    with pytest.raises(ConfigError, match=r"datasets\.r\.preprocess\.band_mhz: \[80, 30\]"):
        validate_config(radio)
    radio["datasets"]["r"]["preprocess"]["band_mhz"] = [20, 70]
    filled = validate_config(radio)
    assert filled["experiments"]["e"]["evaluate"]["baselines"]["bandpass_mhz"] == [20.0, 70.0]


def test_new_keys_leave_existing_datasets_configs_as_they_were():
    """Keys this kind added have no filled defaults on other kinds' datasets: an existing
    project's fetch and prepare params (and so its results) stay as they were."""
    cfg = validate_config(
        {
            "datasets": {
                "r": {"kind": "radio", "source": "simulate"},
                "own": {"kind": "image_set", "source": "a.npz", "keys": {"images": "x"}},
            },
            "experiments": {"e": {"dataset": "r", "model": "conv1d_dae"}},
        }
    )
    assert "band_mhz" not in cfg["datasets"]["r"]["preprocess"]
    assert "traces" not in cfg["datasets"]["own"]["keys"]
    # the band-pass baseline still gets the simulation's band
    assert cfg["experiments"]["e"]["evaluate"]["baselines"]["bandpass_mhz"] == [30.0, 80.0]
