"""End to end: real data sources through the fetch rules (HTTP on 127.0.0.1 with a pinned
hash, a local HDF5 file), and a radio experiment with the book's file format beside it."""

import json
import math

import pytest
import xarray as xr
import yaml

from conftest import run_snakemake


def test_real_data_sources_through_the_workflow(tmp_path, http_server):
    """`download` (HTTP on 127.0.0.1, sha256 pinned, the book's (N, 64, 64, 1) layout and
    split) and a local HDF5 file go through the fetch rules into prepared stores."""
    import hashlib

    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    target = rng.uniform(0, 500, size=(30, 64, 64, 1)).astype(np.float32)
    book = {"target_images": target, "speckle_images": rng.poisson(target).astype(np.float32)}
    www, base = http_server
    np.savez(www / "speckles.npz", **book)
    digest = hashlib.sha256((www / "speckles.npz").read_bytes()).hexdigest()
    local = tmp_path / "beamtime.h5"
    with h5py.File(local, "w") as f:
        for key, value in book.items():
            f[key] = value[:12, ..., 0]

    url = f"{base}/speckles.npz"
    cfg = {
        "datasets": {
            "book": {
                "kind": "saxs",
                "source": "download",
                "download": {"url": url},
                "sha256": digest,
                "split": {"n_train": 20, "val_fraction": 0.1},
            },
            "beamtime": {"kind": "saxs", "source": str(local)},
        },
        "experiments": {"e": {"dataset": "book", "model": "skip_dae"}},
    }
    cfg_path = tmp_path / "real.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    targets = ["results/prepared/book.zarr", "results/prepared/beamtime.zarr"]
    proc = run_snakemake(tmp_path, cfg_path, "--cores", "2", *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    raw_copy = (tmp_path / "data/raw/book.npz").read_bytes()
    # A wrong hash fails the job, names the problem and leaves no raw file behind.
    cfg["datasets"]["book"]["sha256"] = "0" * 64
    bad_path = tmp_path / "bad.yaml"
    bad_path.write_text(yaml.safe_dump(cfg))
    (tmp_path / "data/raw/book.npz").unlink()
    wrong = run_snakemake(tmp_path, bad_path, "--cores", "1", "data/raw/book.npz")
    assert raw_copy == (www / "speckles.npz").read_bytes()
    assert (tmp_path / "data/raw/beamtime.h5").exists()
    book_ds = xr.open_zarr(tmp_path / "results/prepared/book.zarr")
    assert book_ds.attrs["raw_sha256"] == digest
    assert list(book_ds["split"].values[20:]) == ["test"] * 10  # the book's ordered split
    assert int((book_ds["split"].values == "val").sum()) == 2
    assert xr.open_zarr(tmp_path / "results/prepared/beamtime.zarr").sizes["sample"] == 12
    assert wrong.returncode != 0
    assert "sha256 mismatch" in wrong.stdout + wrong.stderr
    assert not (tmp_path / "data/raw/book.npz").exists()


def test_radio_experiment_end_to_end(tmp_path, http_server):
    """A simulated radio dataset trains a conv1d_dae; the book's radio_data.npz layout,
    downloaded over HTTP with its hash pinned, is evaluated beside it (also_on)."""
    import hashlib

    import numpy as np

    rng = np.random.default_rng(5)
    signals = np.zeros((60, 500), np.float32)
    signals[:45, 240:250] = 4 * np.hanning(10) * np.sin(np.arange(10))
    www, base = http_server
    np.savez(
        www / "radio_data.npz", traces=signals + rng.normal(size=signals.shape), signals=signals
    )
    digest = hashlib.sha256((www / "radio_data.npz").read_bytes()).hexdigest()
    cfg = {
        "mlflow": {"experiment": "aeflow-radio-test"},
        "datasets": {
            "radio_galactic": {
                "kind": "radio",
                "source": "simulate",
                "n_samples": 400,
                "seed": 1,
                "simulate": {"noise": "galactic"},
            },
            "radio_book": {
                "kind": "radio",
                "source": "download",
                "download": {"url": f"{base}/radio_data.npz"},
                "sha256": digest,
                "preprocess": {"sampling_rate_mhz": 180.0},
                "split": {"test_fraction": 1.0, "val_fraction": 0.0},
            },
        },
        "experiments": {
            "radio_galactic_dae": {
                "dataset": "radio_galactic",
                "model": "conv1d_dae",
                "model_params": {"channels": [8, 16]},
                "train": {"epochs": 2, "batch_size": 32},
                "evaluate": {"also_on": ["radio_book"], "n_examples": 3},
            }
        },
    }
    cfg_path = tmp_path / "radio.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, cfg_path, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    figures = tmp_path / "results/figures"
    for name in ("history", "traces", "spectra", "peak_accuracy", "energy_ratio"):
        png = figures / f"radio_galactic_dae/{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    for dataset in ("radio_galactic", "radio_book"):
        assert (figures / f"datasets/{dataset}/traces.png").exists()

    m = json.loads((tmp_path / "results/eval/radio_galactic_dae/metrics.json").read_text())
    assert m["modality"] == "traces" and m["noise_model"] == "galactic"
    assert set(m["baselines"]) == {"identity", "bandpass", "wiener"}
    assert m["n_test"] == 80 and m["n_signal"] + m["n_noise_only"] == 80
    assert m["settings"]["peak_tolerance_samples"] == 10
    for block in [m, *m["baselines"].values()]:
        assert 0 <= block["peak_location_accuracy"] <= 1
        assert math.isfinite(block["test_loss"])
        assert sum(b["n"] for b in block["peak_location_accuracy_by_snr"]) == m["n_signal"]
    assert m["test_loss"] < m["baselines"]["identity"]["test_loss"]
    book = m["also_on"]["radio_book"]
    assert book["n_signal"] == 45 and book["noise_model"].startswith("unknown")

    spectra = xr.open_zarr(tmp_path / "results/eval/radio_galactic_dae/spectra.zarr")
    assert list(spectra["curve"].values) == ["true", "noisy", "model", "bandpass", "wiener"]
    assert spectra["frequency"].attrs["units"] == "MHz"
    assert float(spectra["frequency"].max()) == 90.0 and spectra.sizes["frequency"] == 251
    sig = spectra["signal_traces"]
    freqs = spectra["frequency"].values
    out_of_band = (freqs < 15) | (freqs > 88)
    # the band-pass removes what lies outside 30-80 MHz
    assert float(sig.sel(curve="bandpass")[out_of_band].mean()) < 0.05 * float(
        sig.sel(curve="noisy")[out_of_band].mean()
    )
    xr.open_zarr(tmp_path / "results/eval/radio_galactic_dae/spectra.zarr", group="radio_book")

    pred = xr.open_zarr(tmp_path / "results/eval/radio_galactic_dae/predictions.zarr")
    assert pred["denoised"].dims == ("denoiser", "sample", "time")
    assert pred["time"].attrs["units"] == "ns"

    html = (tmp_path / "results/summary/metrics.html").read_text()
    assert "Radio traces" in html and "0.69" in html

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/results/mlflow.db")
    exp = client.get_experiment_by_name("aeflow-radio-test")
    runs = {r.data.tags["aeflow.stage"]: r for r in client.search_runs([exp.experiment_id])}
    ev = runs["evaluate"].data.metrics
    assert ev["peak_location_accuracy"] == pytest.approx(m["peak_location_accuracy"])
    assert "baseline.wiener.peak_location_accuracy" in ev
    assert "radio_book.peak_location_accuracy" in ev


def test_the_book_radio_config_on_a_local_file_under_data_raw(tmp_path):
    """config/book_radio.yaml with `source:` a book-format file the user keeps under
    data/raw/ (a name no dataset has): planned as the user's input, copied, checked and
    prepared for the default's denoiser and classifier (dry run); the dataset's own raw
    copy as its source is refused by name."""
    import numpy as np

    from conftest import REPO

    (tmp_path / "data/raw").mkdir(parents=True)
    signals = np.zeros((40, 500), np.float32)
    np.savez(tmp_path / "data/raw/radio_data.npz", traces=signals + 1.0, signals=signals)
    mine = tmp_path / "mine.yaml"
    mine.write_text("datasets: { radio_book: { source: data/raw/radio_data.npz } }\n")
    book = REPO / "config" / "book_radio.yaml"
    both = ("--configfile", str(book), str(mine))  # (the files, then the other options)
    dry = run_snakemake(tmp_path, book, *both, "-n", "--cores", "1")
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = dry.stdout + dry.stderr
    assert "data/raw/radio_book.npz" in planned
    for experiment in ("radio_book_dae", "radio_book_classifier"):
        assert f"results/eval/{experiment}/metrics.json" in planned
    mine.write_text("datasets: { radio_book: { source: data/raw/radio_book.npz } }\n")
    cycle = run_snakemake(tmp_path, book, *both, "-n", "--cores", "1")
    assert cycle.returncode != 0
    message = "datasets.radio_book.source: data/raw/radio_book.npz is where"
    assert message in cycle.stdout + cycle.stderr
