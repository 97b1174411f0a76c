"""The fetch and prepare stages of each kind on hand-made raw files: local copies, downloads
from a local HTTP server, their hashes, the kinds' own layouts; errors leave nothing behind.
(The images kind's sources are in test_image_sets.py.)"""

import hashlib

import h5py
import numpy as np
import pytest
import xarray as xr

import aeflow
from aeflow.config import validate_config
from aeflow.data import jets, saxs, sources
from aeflow.data.airshowers import to_signal
from aeflow.data.simulate.jets import JetSimulation, invariant_mass, simulate_jets
from aeflow.data.sources import write_npz
from aeflow.data.store import open_store
from aeflow.stages.data import fetch_raw, prepare


# ---- SAXS ----------------------------------------------------------------------------------------
def _dataset_cfg(**overrides):
    cfg = {
        "datasets": {"saxs": {"kind": "saxs", "source": "simulate", "n_samples": 20, **overrides}},
        "experiments": {"e": {"dataset": "saxs", "model": "skip_dae"}},
    }
    return validate_config(cfg)["datasets"]["saxs"]


def test_fetch_local_file_and_prepare(tmp_path, raw_saxs):
    local = tmp_path / "mine.h5"
    with h5py.File(local, "w") as f:
        for k, v in raw_saxs.items():
            f[k] = v
    cfg = _dataset_cfg(source=str(local), split={"test_fraction": 0.5, "val_fraction": 0.34})
    raw = tmp_path / "data" / "raw" / "saxs.h5"
    digest = fetch_raw("saxs", cfg, raw)
    assert digest == hashlib.sha256(local.read_bytes()).hexdigest()
    out = tmp_path / "prepared.zarr"
    prepare("saxs", cfg, raw, out)
    ds = xr.open_zarr(out)
    assert ds["input"].dims == ("sample", "y", "x")
    assert ds["input"].shape == (6, 64, 64)
    assert sorted(set(ds["split"].values)) == ["test", "train", "val"]
    assert ds.attrs["raw_sha256"] == digest
    assert ds.attrs["source"] == str(local)
    assert ds.attrs["preprocess_clip_max"] == 1.1
    assert ds.attrs["preprocess_log_offset"] == 1.0
    assert float(ds["input"].max()) <= 1.1
    # every image's speckle maximum maps to 1
    np.testing.assert_allclose(ds["input"].max(dim=("y", "x")).values, 1.0, rtol=1e-6)
    # CF-style: conventions, a history line, units UDUNITS parses, the scaling named
    assert ds.attrs["Conventions"] == "CF-1.11"
    assert ds.attrs["history"] == f"aeflow {aeflow.__version__} prepare saxs from {raw}"
    assert ds["input"].attrs["units"] == "1"
    assert ds["input"].attrs["scaling"] == "log10(counts + offset) / log_scale"
    # the same raw file and config give the same store, byte for byte
    prepare("saxs", cfg, raw, tmp_path / "again.zarr")
    assert (
        open_store(tmp_path / "again.zarr").attrs["content_sha256"]
        == (open_store(out).attrs["content_sha256"])
    )


def test_fetch_local_file_wrong_hash(tmp_path, raw_saxs):
    local = tmp_path / "mine.npz"
    np.savez(local, **raw_saxs)
    cfg = _dataset_cfg(source=str(local), sha256="a" * 64)
    raw = tmp_path / "raw" / "saxs.npz"
    with pytest.raises(sources.RawDataError, match=r"mine.npz: sha256 mismatch"):
        fetch_raw("saxs", cfg, raw)
    assert not raw.exists()


def test_prepare_bad_input_writes_nothing(tmp_path, raw_saxs):
    raw_saxs["target_images"][1, 3, 3, 0] = np.inf
    raw = tmp_path / "saxs.npz"
    np.savez(raw, **raw_saxs)
    out = tmp_path / "prepared.zarr"
    with pytest.raises(sources.RawDataError, match=r"saxs\.npz: key 'target_images' has 1 NaN/inf"):
        prepare("saxs", _dataset_cfg(), raw, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [raw]


def test_simulated_fetch_is_in_raw_format(tmp_path):
    raw = tmp_path / "saxs.npz"
    fetch_raw("saxs", _dataset_cfg(n_samples=8), raw)
    arrays = sources.read_arrays(raw, saxs.RAW_KEYS)
    assert arrays["speckle_images"].shape == (8, 64, 64)
    # the simulated file, read again as someone's local source, is labelled a stand-in
    assert sources.raw_provenance(raw, "simulate").startswith("simulation")
    cfg = _dataset_cfg(source=str(raw), split={"n_train": 6, "val_fraction": 0.0})
    prepare("saxs", cfg, raw, tmp_path / "again.zarr")
    provenance = xr.open_zarr(tmp_path / "again.zarr").attrs["raw_provenance"]
    assert provenance.startswith("stand-in: aeflow's saxs simulator in the source's format")
    assert "(dataset saxs, 8 samples, seed " in provenance


def test_saxs_stores_carry_momentum_transfer(tmp_path):
    """q on both detector axes: the simulator's (1/a), a file's stated geometry (nm^-1),
    none without a geometry."""
    raw = tmp_path / "saxs.npz"
    cfg = _dataset_cfg(n_samples=6, split={"test_fraction": 0.34, "val_fraction": 0.25})
    fetch_raw("saxs", cfg, raw)
    prepare("saxs", cfg, raw, tmp_path / "sim.zarr")
    sim = xr.open_zarr(tmp_path / "sim.zarr")
    dq = 2 * np.pi / 64.0  # the default field of view, 64 a
    np.testing.assert_allclose(sim["qx"].values, (np.arange(64) - 32) * dq)
    assert sim["qy"].dims == ("y",) and sim["qx"].attrs["units"] == "1"
    geometry = {"wavelength_nm": 0.1, "distance_mm": 2000.0, "pixel_size_um": 172.0}
    local = _dataset_cfg(source=str(raw), preprocess={"geometry": geometry})
    prepare("saxs", local, raw, tmp_path / "file.zarr")
    ds = xr.open_zarr(tmp_path / "file.zarr")
    assert ds["qx"].attrs["units"] == "nm-1" and "0.1 nm" in ds["qx"].attrs["long_name"]
    # 10 pixels off the beam: 2 theta = atan(1.72 mm / 2 m), q = 4 pi / lambda sin(theta)
    expected = 4 * np.pi / 0.1 * np.sin(np.arctan(1.72 / 2000.0) / 2)
    assert float(ds["qx"].values[42]) == pytest.approx(expected, rel=1e-9)
    assert float(ds["qx"].values[32]) == 0.0 and float(ds["qy"].values[22]) == -expected
    plain = _dataset_cfg(source=str(raw))
    prepare("saxs", plain, raw, tmp_path / "plain.zarr")
    assert "qx" not in xr.open_zarr(tmp_path / "plain.zarr").coords


def test_html_page_instead_of_npz_is_refused_and_not_kept(http_server, tmp_path):
    root, base = http_server
    (root / "speckles.npz").write_text("<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    cfg = _dataset_cfg(source="download", download={"url": f"{base}/speckles.npz"})
    raw = tmp_path / "data" / "raw" / "saxs.npz"
    with pytest.raises(sources.RawDataError, match=r"not a valid .npz file.*HTML page"):
        fetch_raw("saxs", cfg, raw)
    assert not raw.exists()
    assert list(raw.parent.iterdir()) == []


def test_downloaded_file_in_wrong_format_is_not_kept(http_server, tmp_path, raw_saxs):
    root, base = http_server
    np.savez(root / "speckles.npz", images=raw_saxs["speckle_images"])
    cfg = _dataset_cfg(source="download", download={"url": f"{base}/speckles.npz"})
    raw = tmp_path / "saxs.npz"
    with pytest.raises(sources.RawDataError, match=r"missing key 'speckle_images'.*images"):
        fetch_raw("saxs", cfg, raw)
    assert not raw.exists()


# ---- radio traces --------------------------------------------------------------------------------
def _radio_config(**dataset):
    return {
        "datasets": {"r": {"kind": "radio", "source": "simulate", **dataset}},
        "experiments": {"e": {"dataset": "r", "model": "conv1d_dae"}},
    }


def _radio_dataset_cfg(source, **split):
    cfg = validate_config(_radio_config())["datasets"]["r"]
    cfg["source"] = source
    cfg["preprocess"]["sampling_rate_mhz"] = 180.0  # a file states its rate
    cfg["split"].update(split)
    return cfg


def test_prepare_normalizes_by_the_training_std(tmp_path, raw_radio):
    raw = tmp_path / "radio.npz"
    write_npz(raw, raw_radio)
    out = tmp_path / "radio.zarr"
    cfg = _radio_dataset_cfg(str(raw), test_fraction=0.2, val_fraction=0.25)
    prepare("r", cfg, raw, out)
    ds = open_store(out)
    train = ds["split"].values == "train"
    std = raw_radio["traces"][train].std()
    assert ds.attrs["norm_std"] == pytest.approx(std, rel=1e-5)
    assert ds.attrs["norm_std_from"] == "train split"
    np.testing.assert_allclose(ds["input"].values, raw_radio["traces"] / std, rtol=1e-5)
    np.testing.assert_allclose(ds["target"].values, raw_radio["signals"] / std, rtol=1e-5)
    assert ds["input"].dims == ("sample", "time")
    assert ds["time"].values[1] == pytest.approx(1e3 / 180.0)  # ns at the stated 180 MHz
    assert ds["time"].attrs["units"] == "ns"
    assert ds.attrs["sampling_rate_mhz"] == 180.0
    assert ds["has_signal"].values.tolist() == [True] * 8 + [False] * 2
    assert ds["snr"].values[9] == 0 and ds["snr"].values[0] > 2


def test_test_only_dataset_uses_its_own_std(tmp_path, raw_radio):
    raw = tmp_path / "radio.npz"
    write_npz(raw, raw_radio)
    prepare("r", _radio_dataset_cfg(str(raw), test_fraction=1.0), raw, tmp_path / "o.zarr")
    ds = open_store(tmp_path / "o.zarr")
    assert ds.attrs["norm_std_from"].startswith("all traces")


# ---- jets: the top-tagging reference layout ------------------------------------------------------
def _write_top_tagging(path, constituents, labels):
    """A tiny file in the reference dataset's layout: a pandas fixed-format frame 'table'
    with E_i, PX_i, PY_i, PZ_i (float) and is_signal_new (int) in two blocks."""
    n, m, _ = constituents.shape
    names = [f"{p}_{k}" for k in range(m) for p in ("E", "PX", "PY", "PZ")]
    values = constituents.reshape(n, m * 4)
    with h5py.File(path, "w") as f:
        t = f.create_group("table")
        t.attrs["pandas_type"] = "frame"
        t["axis0"] = np.array([*names, "ttv", "is_signal_new"], dtype="S")
        t["axis1"] = np.arange(n)
        t["block0_items"] = np.array(names, dtype="S")
        t["block0_values"] = values
        t["block1_items"] = np.array(["ttv", "is_signal_new"], dtype="S")
        t["block1_values"] = np.stack([np.zeros(n, np.int64), labels.astype(np.int64)], axis=1)


def test_top_tagging_reader_and_prepare(tmp_path):
    simulated = simulate_jets(30, JetSimulation(), np.random.default_rng(1))
    c, labels = simulated["constituents"], simulated["is_signal_new"]
    path = tmp_path / "test.h5"
    _write_top_tagging(path, c, labels)
    raw = jets.read_raw(path)
    np.testing.assert_allclose(raw["constituents"], c)
    np.testing.assert_array_equal(raw["is_signal_new"], labels)
    cfg = validate_config(
        {
            "datasets": {"j": {"kind": "jets", "source": str(path)}},
            "experiments": {"e": {"dataset": "j", "model": "skip_dae", "task": "reconstruct"}},
        }
    )["datasets"]["j"]
    fetch_raw("j", cfg, tmp_path / "raw.h5")
    prepare("j", cfg, tmp_path / "raw.h5", tmp_path / "j.zarr")
    ds = open_store(tmp_path / "j.zarr")
    assert ds["input"].shape == (30, 40, 40)
    np.testing.assert_array_equal(ds["is_anomaly"].values, labels.astype(bool))
    np.testing.assert_allclose(
        ds["jet_mass"].values, invariant_mass(c.astype(np.float64)), rtol=1e-4
    )
    # pixel centres in (eta, phi) offsets: 40 pixels over +-0.8, symmetric about the axis
    for axis in ("x", "y"):
        centres = ds[axis].values
        assert len(centres) == 40 and centres[0] == pytest.approx(-0.78)
        np.testing.assert_allclose(centres, -centres[::-1])
    assert ds["y"].attrs["units"] == "rad"


# ---- generative kinds: the book's air showers, Galaxy10 ------------------------------------------
def test_the_books_airshowers_npz_is_downloaded_and_prepared(tmp_path, http_server):
    """The book's layout (shower_maps (N, 9, 9, 1)) over HTTP, hash-checked, to a store."""
    root, url = http_server
    rng = np.random.default_rng(0)
    maps = rng.poisson(5.0, size=(40, 9, 9, 1)).astype(np.float32)
    np.savez(root / "airshowers.npz", shower_maps=maps)
    digest = hashlib.sha256((root / "airshowers.npz").read_bytes()).hexdigest()
    cfg = validate_config(
        {
            "datasets": {
                "showers": {
                    "kind": "airshowers",
                    "source": "download",
                    "download": {"url": f"{url}/airshowers.npz"},
                    "sha256": digest,
                }
            },
            "experiments": {"e": {"dataset": "showers", "model": "wgan_gp"}},
        }
    )["datasets"]["showers"]
    fetch_raw("showers", cfg, tmp_path / "raw.npz")
    prepare("showers", cfg, tmp_path / "raw.npz", tmp_path / "s.zarr")
    ds = open_store(tmp_path / "s.zarr")
    assert ds["input"].shape == (40, 9, 9)
    assert ds.attrs["signal_transform"] == "log1p"
    assert np.allclose(to_signal(ds["input"].values, ds.attrs), maps[..., 0], atol=1e-3)
    bad = dict(cfg, sha256="0" * 64)
    with pytest.raises(Exception, match="sha256"):
        fetch_raw("showers", bad, tmp_path / "raw2.npz")
    assert not (tmp_path / "raw2.npz").exists()


def test_a_galaxy10_file_is_mapped_onto_our_classes(tmp_path):
    """A local HDF5 in the Galaxy10 layout: ids 5 / 2, 3, 4 / 6, 7 become our classes, the
    disturbed and merging galaxies (0, 1) and edge-ons (8, 9) are dropped."""
    rng = np.random.default_rng(1)
    ans = np.arange(10).repeat(4)
    with h5py.File(tmp_path / "Galaxy10_DECals.h5", "w") as f:
        f["images"] = rng.integers(0, 256, size=(len(ans), 32, 32, 3), dtype=np.uint8)
        f["ans"] = ans.astype(np.uint8)
    cfg = validate_config(
        {
            "datasets": {
                "g10": {
                    "kind": "galaxies",
                    "source": str(tmp_path / "Galaxy10_DECals.h5"),
                    "preprocess": {"image_size": 16},
                }
            },
            "experiments": {"e": {"dataset": "g10", "model": "acgan"}},
        }
    )["datasets"]["g10"]
    fetch_raw("g10", cfg, tmp_path / "raw.h5")
    prepare("g10", cfg, tmp_path / "raw.h5", tmp_path / "g.zarr")
    ds = open_store(tmp_path / "g.zarr")
    assert ds["input"].shape == (24, 3, 16, 16)  # ids 2-7, 4 images each
    assert np.bincount(ds["label"].values).tolist() == [4, 12, 8]
    assert float(ds["input"].min()) >= 0 and float(ds["input"].max()) <= 1
