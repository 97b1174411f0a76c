"""Prepared stores verify their content when read: a flipped bit, a missing chunk or an
edited attribute is an error naming the store and the array."""

import json

import numpy as np
import pytest
import xarray as xr

from aeflow.data.store import MANIFEST, StoreIntegrityError, open_store, write_store


def _dataset(seed=0):
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {
            "input": (("sample", "y", "x"), rng.normal(size=(40, 8, 8)).astype(np.float32)),
            "target": (("sample", "y", "x"), rng.normal(size=(40, 8, 8)).astype(np.float32)),
        },
        attrs={"norm_scale": 2.5},
    )


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "toy.zarr"
    write_store(_dataset(), path, groups={"other": _dataset(1)}, sample_chunk=16)
    return path


def _chunk(store, array="input"):
    return sorted(p for p in (store / array / "c").rglob("*") if p.is_file())[1]


def test_an_intact_store_opens_with_its_content_digest(store, tmp_path):
    ds = open_store(store)
    np.testing.assert_array_equal(ds["input"].values, _dataset()["input"].values)
    assert len(ds.attrs["content_sha256"]) == 64
    again = tmp_path / "again.zarr"
    write_store(_dataset(), again, groups={"other": _dataset(1)}, sample_chunk=16)
    assert open_store(again).attrs["content_sha256"] == ds.attrs["content_sha256"]
    different = tmp_path / "different.zarr"
    write_store(_dataset(2), different, sample_chunk=16)
    assert open_store(different).attrs["content_sha256"] != ds.attrs["content_sha256"]
    manifest = json.loads((store / MANIFEST).read_text())
    assert "input/zarr.json" in manifest["files"] and "other/target/zarr.json" in manifest["files"]


def test_one_flipped_bit_in_a_chunk_is_caught(store):
    chunk = _chunk(store)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x01
    chunk.write_bytes(bytes(data))
    with pytest.raises(StoreIntegrityError, match=r"array 'input' \(chunk c/1") as err:
        open_store(store)
    assert str(store) in str(err.value) and "rebuild" in str(err.value)


def test_a_missing_chunk_is_caught(store):
    _chunk(store, "other/target").unlink()
    with pytest.raises(StoreIntegrityError, match=r"array 'other/target' .* is missing"):
        open_store(store, group="other")


def test_an_edited_attribute_is_caught(store):
    meta = store / "zarr.json"
    meta.write_text(meta.read_text().replace("2.5", "2.6"))
    with pytest.raises(StoreIntegrityError, match=r"store's metadata \(zarr\.json\)"):
        open_store(store)


def test_a_store_without_manifest_is_refused(store):
    (store / MANIFEST).unlink()
    with pytest.raises(StoreIntegrityError, match=r"no manifest\.json"):
        open_store(store)
