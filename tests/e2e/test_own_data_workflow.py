"""The README's "Your own data" examples, run as a user would: its YAML blocks pointed at
files holding the arrays they name, through the whole workflow."""

import re
from pathlib import Path

import h5py
import numpy as np
import yaml

from aeflow.data.store import open_store
from conftest import run_snakemake

README = Path(__file__).parents[2] / "README.md"


def _readme_examples() -> list[dict]:
    """The YAML blocks of the README's "Your own data" section, in order."""
    text = README.read_text()
    section = text[text.index("### Your own data") : text.index("### One stage by hand")]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def _detector_file(path: Path, n: int = 48) -> None:
    """``hits`` (N, 48, 80) counts, their expectation ``truth``, a class ``particle`` and a
    ``subset`` split: the arrays the README's image example names."""
    rng = np.random.default_rng(0)
    yy, xx = np.indices((48, 80))
    particle = np.arange(n) % 3
    centre = 15 + 25 * particle
    truth = 1 + 200 * np.exp(-((xx[None] - centre[:, None, None]) ** 2 + (yy[None] - 24) ** 2) / 30)
    with h5py.File(path, "w") as f:
        f["hits"] = rng.poisson(truth).astype(np.float32)
        f["truth"] = truth.astype(np.float32)
        f["particle"] = particle
        f["subset"] = np.array([b"train"] * 32 + [b"val"] * 6 + [b"test"] * 10)


def _station_file(path: Path, n: int = 64) -> None:
    """``v`` (N, 1024) voltages at 250 MHz, the pulses ``truth`` (a quarter noise-only) and a
    ``part`` split: the arrays the README's trace example names."""
    rng = np.random.default_rng(1)
    t = np.arange(1024) / 250.0 * 1e3
    start = rng.uniform(500, 3500, n)
    lag = np.clip(t[None] - start[:, None], 0, None)
    pulse = np.sin(2 * np.pi * 0.06 * lag) * np.exp(-lag / 25) * (lag > 0)
    pulse *= rng.uniform(2, 8, (n, 1)) * (np.arange(n) % 4 != 0)[:, None]
    with h5py.File(path, "w") as f:
        f["v"] = (pulse + rng.standard_normal((n, 1024))).astype(np.float32)
        f["truth"] = pulse.astype(np.float32)
        f["part"] = np.array([b"train", b"train", b"train", b"val", b"test"] * 12 + [b"test"] * 4)


def test_the_readmes_own_data_examples_run(tmp_path):
    images, traces = _readme_examples()
    assert images["datasets"]["detector"]["source"] == "/data/runs.h5"
    assert traces["datasets"]["station"]["source"] == "/data/station.h5"
    _detector_file(tmp_path / "runs.h5")
    _station_file(tmp_path / "station.h5")
    images["datasets"]["detector"]["source"] = str(tmp_path / "runs.h5")
    traces["datasets"]["station"]["source"] = str(tmp_path / "station.h5")
    cfg = {
        "mlflow": {"experiment": "own-data"},
        "datasets": images["datasets"] | traces["datasets"],
        "experiments": images["experiments"] | traces["experiments"],
    }
    for exp in cfg["experiments"].values():  # tiny, as a first look would be
        exp["train"] = {"epochs": 1, "batch_size": 16}
        exp["evaluate"] = {"n_examples": 2}
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, path, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = tmp_path / "results"
    detector = open_store(results / "prepared/detector.zarr")
    assert detector["input"].dims == ("sample", "y", "x") and detector.sizes["x"] == 80
    assert detector.attrs["class_names"] == ["electron", "muon", "pion"]
    station = open_store(results / "prepared/station.zarr")
    assert station.attrs["sampling_rate_mhz"] == 250 and station.attrs["band_mhz"] == [30, 90]
    assert float(station["time"][1]) == 4.0  # ns at 250 MHz
    dae = yaml.safe_load((results / "eval/station_dae/metrics.json").read_text())
    assert dae["baselines"]["bandpass"]["band_mhz"] == [30.0, 90.0]  # the stated band
    trigger = yaml.safe_load((results / "eval/station_trigger/metrics.json").read_text())
    assert trigger["n_noise_only"] > 0 and 0 <= trigger["auroc"] <= 1
    for experiment in ("detector_dae", "detector_anomaly", "station_dae", "station_trigger"):
        assert (results / f"figures/{experiment}/history.png").exists(), experiment
    assert (results / "anomaly/detector_anomaly/thresholds.json").exists()
