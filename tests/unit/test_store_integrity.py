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


def test_hidden_files_are_not_content(store):
    """Snakemake marks a directory output with ``.snakemake_timestamp``: not a damage."""
    (store / ".snakemake_timestamp").write_text("")
    assert len(open_store(store).attrs["content_sha256"]) == 64


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


def test_damaged_weights_and_json_files_are_named(tmp_path):
    """A truncated model.pt or JSON record is an error naming the file, not a bare OSError."""
    import torch

    from aeflow.atomic import read_json, write_json
    from aeflow.models import build_model
    from aeflow.models.trained import load_weights

    model = build_model("dense_ae", {"image_size": 8, "code_size": 2})
    weights = tmp_path / "model.pt"
    torch.save(model.state_dict(), weights)
    load_weights(model, weights)  # intact: loads
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"model\.pt: cannot load the weights"):
        load_weights(model, weights)
    other = build_model("dense_ae", {"image_size": 8, "code_size": 3})
    torch.save(other.state_dict(), weights)
    with pytest.raises(ValueError, match="another architecture"):
        load_weights(model, weights)

    record = tmp_path / "model.json"
    write_json(record, {"model": "dense_ae"})
    record.write_text(record.read_text()[:10])
    with pytest.raises(ValueError, match=r"model\.json: not readable JSON"):
        read_json(record)


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("saxs_partial/input/c/3/0/0", "array 'saxs_partial/input' (chunk c/3/0/0)"),
        ("c/c/0/1", "array 'c' (chunk c/0/1)"),  # an array called c
        ("input/zarr.json", "the metadata of 'input'"),
        ("zarr.json", "the store's metadata (zarr.json)"),
    ],
)
def test_errors_name_the_array_of_a_file(key, named):
    from aeflow.data.store import _where

    assert _where(key) == named
