"""fetch and prepare chunk by chunk: the same raw file and the same store, byte for byte,
whatever the chunk size; errors in a later chunk name its samples."""

import h5py
import numpy as np
import pytest

from aeflow.config import validate_config
from aeflow.data import jets
from aeflow.data.chunks import BLOCK
from aeflow.data.sources import RawDataError
from aeflow.data.store import open_store
from aeflow.stages.data import fetch_raw, prepare

N = 2 * BLOCK + 76  # three chunks of one block each at the smallest chunk size
TINY = {  # small samples: the test is about chunking, not physics
    "saxs": ("skip_dae", {"image_size": 16, "field_of_view": 16.0}),
    "radio": ("conv1d_dae", {"trace_length": 64}),
    "airshowers": ("wgan_gp", {}),
}


def _cfg(kind: str, source: str = "simulate", **extra) -> dict:
    model, simulate = TINY.get(kind, ("skip_dae", {}))
    dataset = {"kind": kind, "source": source, "n_samples": N, **extra}
    if source == "simulate":
        dataset["simulate"] = simulate
    task = {"task": "reconstruct"} if kind == "jets" else {}
    config = {"datasets": {"d": dataset}, "experiments": {"e": {"dataset": "d", "model": model}}}
    config["experiments"]["e"] |= task
    return validate_config(config)["datasets"]["d"]


def _prepared_both_ways(cfg, raw):
    """The store of ``raw`` prepared as one chunk and one block per chunk (in the current
    directory), checked to be the same store; returns the chunked one."""
    for chunk_bytes in (1 << 30, 1):
        prepare("d", cfg, raw, f"{chunk_bytes}.zarr", chunk_bytes=chunk_bytes)
    whole, parts = open_store(f"{1 << 30}.zarr"), open_store("1.zarr")
    assert whole.attrs["content_sha256"] == parts.attrs["content_sha256"]
    return parts


@pytest.mark.parametrize("kind", ["saxs", "radio", "airshowers"])
def test_simulated_data_do_not_depend_on_the_chunk_size(tmp_path, kind, monkeypatch):
    cfg = _cfg(kind)
    monkeypatch.chdir(tmp_path)  # the raw file's path (in the attrs) is the same for both
    (tmp_path / "a").mkdir()
    # the raw file simulated as one chunk, then as one block per chunk: the same bytes
    first = fetch_raw("d", cfg, "a/raw.npz", chunk_bytes=1 << 30)
    assert fetch_raw("d", cfg, "a/raw.npz", chunk_bytes=1) == first
    parts = _prepared_both_ways(cfg, "a/raw.npz")
    assert parts.sizes["sample"] == N
    np.testing.assert_array_equal(parts["sample"].values, np.arange(N))
    assert sum(parts.attrs[f"n_{s}"] for s in ("train", "val", "test")) == N
    assert (parts["split"].values == "test").sum() == parts.attrs["n_test"]
    # the chunking, chosen for streamed training, is recorded: whole samples, 256 a chunk
    assert parts.attrs["zarr_chunking"].startswith("256 whole samples per chunk")
    assert parts["input"].encoding["chunks"][0] == 256


def _write_top_tagging(path, constituents, labels):
    n, m, _ = constituents.shape
    names = [f"{p}_{k}" for k in range(m) for p in ("E", "PX", "PY", "PZ")]
    with h5py.File(path, "w") as f:
        t = f.create_group("table")
        t["block0_items"] = np.array(names, dtype="S")
        t["block0_values"] = constituents.reshape(n, m * 4)
        t["block1_items"] = np.array(["ttv", "is_signal_new"], dtype="S")
        t["block1_values"] = np.stack([np.zeros(n, np.int64), labels.astype(np.int64)], axis=1)


def _random_jets(n, m=12, seed=0):
    """Massless constituents around the x axis (E = |p|): fast stand-ins for jets."""
    rng = np.random.default_rng(seed)
    p = np.stack(
        [rng.uniform(50, 300, (n, m)), rng.normal(0, 10, (n, m)), rng.normal(0, 10, (n, m))],
        axis=-1,
    )
    c = np.concatenate([np.linalg.norm(p, axis=-1, keepdims=True), p], axis=-1)
    return c.astype(np.float32), rng.integers(0, 2, n)


def test_a_top_tagging_table_is_prepared_in_row_slices(tmp_path, monkeypatch):
    c, labels = _random_jets(N)
    _write_top_tagging(tmp_path / "table.h5", c, labels)
    cfg = _cfg("jets", source=str(tmp_path / "table.h5"))
    table = jets.open_raw(tmp_path / "table.h5")
    assert (table.n, table.n_max) == (N, 12)
    first = next(table.chunks(100))[1]
    np.testing.assert_array_equal(first["constituents"], c[:100])
    monkeypatch.chdir(tmp_path)
    fetch_raw("d", cfg, "raw.h5")
    parts = _prepared_both_ways(cfg, "raw.h5")
    np.testing.assert_array_equal(parts["is_anomaly"].values, labels.astype(bool))
    np.testing.assert_allclose(parts["input"].values, jets.jet_images(c), atol=1e-7)


def test_bad_values_in_a_later_chunk_name_the_file_key_and_samples(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.uniform(1, 100, (N, 8, 8)).astype(np.float32)
    speckle = target.copy()
    speckle[700, 3, 3] = -1.0
    np.savez(tmp_path / "mine.npz", speckle_images=speckle, target_images=target)
    cfg = _cfg("saxs", source=str(tmp_path / "mine.npz"))
    with pytest.raises(
        RawDataError,
        match=r"mine\.npz \(samples 512 to 1023\): key 'speckle_images' has negative counts "
        r"\(first in sample 188\)",
    ):
        fetch_raw("d", cfg, tmp_path / "raw.npz", chunk_bytes=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.npz"]  # nothing fetched


def test_a_simulator_error_names_the_dataset_key_and_leaves_nothing(tmp_path, monkeypatch):
    from aeflow.data import saxs

    def hopeless(dataset_cfg, n, rng):
        raise ValueError("simulate: 1000 showers in a row left no particle in the cone")

    monkeypatch.setattr(saxs, "simulate", hopeless)
    with pytest.raises(ValueError, match=r"^datasets\.d\.simulate: 1000 showers"):
        fetch_raw("d", _cfg("saxs"), tmp_path / "raw.npz")
    assert list(tmp_path.iterdir()) == []


def test_galaxies_of_unmapped_classes_are_dropped_chunk_by_chunk(tmp_path, monkeypatch):
    """Galaxy10's ids: 5, 2 and 7 are mapped by default, 0 (disturbed) is dropped; the store
    holds the kept galaxies, relabelled, in file order, whatever the chunk size."""
    rng = np.random.default_rng(0)
    ans = rng.choice(np.array([0, 2, 5, 7], np.uint8), size=N)
    images = rng.integers(0, 256, (N, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "galaxies.npz", images=images, ans=ans)
    config = validate_config(
        {
            "datasets": {
                "d": {
                    "kind": "galaxies",
                    "source": str(tmp_path / "galaxies.npz"),
                    "preprocess": {"image_size": 8},
                }
            },
            "experiments": {"e": {"dataset": "d", "model": "galaxy_vae"}},
        }
    )["datasets"]["d"]
    monkeypatch.chdir(tmp_path)
    fetch_raw("d", config, "raw.npz")
    parts = _prepared_both_ways(config, "raw.npz")
    kept = ans != 0
    assert parts.sizes["sample"] == kept.sum()
    np.testing.assert_array_equal(parts["sample"].values, np.arange(kept.sum()))
    names = ("barred_spiral", "elliptical", "spiral")
    index = {
        5: names.index("barred_spiral"),
        2: names.index("elliptical"),
        7: names.index("spiral"),
    }
    np.testing.assert_array_equal(parts["label"].values, [index[int(a)] for a in ans[kept]])
    np.testing.assert_allclose(
        parts["input"].values, images[kept].transpose(0, 3, 1, 2) / 255.0, atol=1e-7
    )


def test_preparing_chunk_by_chunk_reports_its_progress(tmp_path, caplog):
    cfg = _cfg("radio")
    fetch_raw("d", cfg, tmp_path / "raw.npz")
    with caplog.at_level("INFO", logger="aeflow.stages.data"):
        prepare("d", cfg, tmp_path / "raw.npz", tmp_path / "d.zarr", chunk_bytes=1)
    progress = [r.getMessage() for r in caplog.records if " of " in r.getMessage()]
    assert progress == [f"prepared d: {k} of {N} samples" for k in (BLOCK, 2 * BLOCK, N)]
