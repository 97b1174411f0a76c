"""Chunk-by-chunk data: block-seeded simulation, the .npz written and read in row slices."""

import zipfile

import h5py
import numpy as np
import pytest

from aeflow.data import radio
from aeflow.data.chunks import (
    BLOCK,
    NpzWriter,
    RawChunks,
    chunk_samples,
    simulate_chunks,
)
from aeflow.data.sources import RawDataError


def _draw(m: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"x": rng.normal(size=(m, 3)).astype(np.float32), "k": rng.integers(0, 9, m)}


def _concat(parts):
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def test_a_simulated_sample_does_not_depend_on_the_chunk_size():
    n = 2 * BLOCK + 100
    whole = _concat(list(simulate_chunks(_draw, n, seed=3, chunk=4 * BLOCK)))
    parts = list(simulate_chunks(_draw, n, seed=3, chunk=BLOCK))
    assert [len(p["x"]) for p in parts] == [BLOCK, BLOCK, 100]
    for key in whole:
        np.testing.assert_array_equal(_concat(parts)[key], whole[key])
    other_seed = _concat(list(simulate_chunks(_draw, n, seed=4, chunk=BLOCK)))
    assert not np.array_equal(other_seed["x"], whole["x"])
    with pytest.raises(ValueError, match="multiple of the block"):
        next(simulate_chunks(_draw, n, seed=3, chunk=BLOCK + 1))


def test_chunks_are_whole_blocks_that_fit_the_budget():
    assert chunk_samples(1000.0, chunk_bytes=3 * BLOCK * 1000) == 3 * BLOCK
    assert chunk_samples(1000.0, chunk_bytes=3 * BLOCK * 1000 - 1) == 2 * BLOCK
    assert chunk_samples(1e9, chunk_bytes=1) == BLOCK  # never less than one block


def _write(path, parts, extra=None):
    with NpzWriter(path) as writer:
        for part in parts:
            writer.append(part)
        writer.close(extra=extra)


def test_an_npz_written_in_chunks_is_the_arrays_and_the_same_bytes_however_chunked(tmp_path):
    rng = np.random.default_rng(0)
    data = {"a": rng.normal(size=(700, 4, 5)).astype(np.float32), "b": rng.integers(0, 2, 700)}
    _write(tmp_path / "one.npz", [data], extra={"note": np.array("stand-in")})
    pieces = [{k: v[i : i + 100] for k, v in data.items()} for i in range(0, 700, 100)]
    _write(tmp_path / "seven.npz", pieces, extra={"note": np.array("stand-in")})
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "seven.npz").read_bytes()
    with np.load(tmp_path / "seven.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["a"], data["a"])
        np.testing.assert_array_equal(npz["b"], data["b"])
        assert str(npz["note"]) == "stand-in"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.npz", "seven.npz"]  # no leftovers


def test_a_chunk_of_another_shape_is_refused_and_leaves_nothing(tmp_path):
    path = tmp_path / "x.npz"
    refused = r"key 'a': a chunk of float32 \(3,\) after float32 \(2,\)"
    with pytest.raises(ValueError, match=refused), NpzWriter(path) as writer:
        writer.append({"a": np.zeros((4, 2), np.float32)})
        writer.append({"a": np.zeros((4, 3), np.float32)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("layout", ["npz", "npz_stored", "h5"])
def test_raw_files_are_read_in_row_slices(tmp_path, layout):
    rng = np.random.default_rng(1)
    data = {"traces": rng.normal(size=(1100, 8)).astype(np.float32), "ids": np.arange(1100)}
    path = tmp_path / ("raw.h5" if layout == "h5" else "raw.npz")
    if layout == "h5":
        with h5py.File(path, "w") as f:
            for k, v in data.items():
                f[k] = v
    elif layout == "npz":
        np.savez_compressed(path, **data)
    else:
        np.savez(path, **data)
    reader = RawChunks(path, ["traces", "ids"])
    assert reader.n == 1100
    assert reader.shapes == {"traces": (1100, 8), "ids": (1100,)}
    assert reader.row_bytes == 8 * 4 + 8
    got = list(reader.chunks(512))
    assert [start for start, _ in got] == [0, 512, 1024]
    assert [len(c["ids"]) for _, c in got] == [512, 512, 76]
    for key in data:
        np.testing.assert_array_equal(_concat([c for _, c in got])[key], data[key])


def test_raw_file_errors_name_the_file_and_the_key(tmp_path):
    path = tmp_path / "raw.npz"
    np.savez(path, traces=np.zeros((10, 4), np.float32), labels=np.array(["a", None], object))
    with pytest.raises(RawDataError, match=r"raw\.npz: missing key 'signals' \(has: traces"):
        RawChunks(path, ["traces", "signals"])
    with pytest.raises(RawDataError, match=r"key 'labels' holds Python objects"):
        RawChunks(path, ["labels"])
    # a member cut short: its rows end before its header says
    np.savez(path, traces=np.zeros((1000, 4), np.float32))
    with zipfile.ZipFile(path) as zf:
        member = zf.read("traces.npy")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("traces.npy", member[: len(member) // 2])
    reader = RawChunks(path, ["traces"])
    with pytest.raises(RawDataError, match=r"key 'traces' is truncated"):
        list(reader.chunks(512))
    (tmp_path / "page.npz").write_bytes(b"<!doctype html><html>quota exceeded</html>")
    with pytest.raises(RawDataError, match="HTML page"):
        RawChunks(tmp_path / "page.npz", ["traces"])


def test_the_radio_normalization_is_the_std_of_the_training_traces_whatever_the_chunks():
    rng = np.random.default_rng(2)
    traces = (3.0 * rng.normal(size=(1300, 16)) + 0.5).astype(np.float32)
    split = np.where(np.arange(1300) % 5 == 0, "test", "train").astype(object)
    checked = (traces, np.zeros_like(traces))
    whole = radio.prepare_statistics([(checked, split)], {}, "raw.npz")["norm"]
    assert whole[1] == "train split"
    assert whole[0] == pytest.approx(float(traces[split == "train"].std(dtype=np.float64)), 1e-12)
    parts = [
        ((traces[i : i + BLOCK], checked[1][i : i + BLOCK]), split[i : i + BLOCK])
        for i in range(0, 1300, BLOCK)
    ]
    assert radio.prepare_statistics(parts, {}, "raw.npz")["norm"] == whole  # the same float
    constant = (np.ones((4, 16), np.float32), np.zeros((4, 16), np.float32))
    with pytest.raises(RawDataError, match=r"raw\.npz: key 'traces': traces are constant"):
        radio.prepare_statistics([(constant, np.array(["train"] * 4, object))], {}, "raw.npz")
