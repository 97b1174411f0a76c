"""The images kind through the fetch and prepare stages: IDX sets from a directory, a
hash-checked download, the Debian package and scikit-learn's digits; official split, subsets
and held-out classes."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from aeflow.config import validate_config
from aeflow.data import idx, images
from aeflow.data.sources import RawDataError
from aeflow.data.store import open_store
from aeflow.stages.data import fetch_raw, prepare
from conftest import write_idx_set


def config(source, collection="mnist", **preprocess):
    cfg = {
        "datasets": {"d": {"kind": "images", "collection": collection, "source": source}},
        "experiments": {"e": {"dataset": "d", "model": "conv_ae", "task": "reconstruct"}},
    }
    if preprocess:
        cfg["datasets"]["d"]["preprocess"] = preprocess
    return validate_config(cfg)["datasets"]["d"]


def fetch_and_prepare(tmp_path, dataset_cfg):
    raw, store = tmp_path / "raw.npz", tmp_path / "d.zarr"
    fetch_raw("d", dataset_cfg, raw)
    prepare("d", dataset_cfg, raw, store)
    return open_store(store)


def test_idx_directory_keeps_the_official_split_and_marks_held_out_classes(tmp_path):
    arrays = write_idx_set(tmp_path / "idx")
    cfg = config(str(tmp_path / "idx"), anomaly_classes=[3, 7])
    ds = fetch_and_prepare(tmp_path, cfg)
    split = ds["split"].values
    assert (split == "test").sum() == 20
    assert (split == "val").sum() == 4  # round(0.1 * 40)
    # file order kept: the test images are the official test set, scaled to [0, 1]
    np.testing.assert_allclose(
        ds["input"].values[split == "test"], arrays["test"][0] / 255.0, rtol=1e-6
    )
    np.testing.assert_array_equal(ds["input"].values, ds["target"].values)
    labels = ds["label"].values
    np.testing.assert_array_equal(ds["is_anomaly"].values, np.isin(labels, [3, 7]))
    assert ds["label"].attrs["class_names"][3] == "3"
    assert ds.attrs["collection"] == "mnist"


def test_the_prepared_store_says_what_the_data_are(tmp_path, monkeypatch):
    """An IDX directory is "real" only when every uncompressed file matches the published
    MD5 (as a re-gzipped official copy does); otherwise it is a local file in the format."""
    write_idx_set(tmp_path / "idx")
    cfg = config(str(tmp_path / "idx"))
    ds = fetch_and_prepare(tmp_path / "a", cfg)
    assert ds.attrs["raw_provenance"].startswith("local: IDX files in ")
    assert "not checked against the published mnist files" in ds.attrs["raw_provenance"]
    ours = {name: idx.content_md5(tmp_path / "idx" / name) for name in images.IDX_FILES}
    monkeypatch.setitem(images.COLLECTIONS["mnist"], "content_md5", ours)
    ds = fetch_and_prepare(tmp_path / "b", cfg)
    assert ds.attrs["raw_provenance"].startswith("real: the published mnist files")


MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


@pytest.mark.skipif(not MNIST.is_dir(), reason="no local copy of the real MNIST")
def test_real_mnist_from_a_local_directory(tmp_path):
    """The real MNIST (a checked, re-gzipped copy on the development machines): the
    official 60,000 / 10,000 split, the published label counts, recognized as the real files."""
    ds = fetch_and_prepare(tmp_path, config(str(MNIST)))
    split, labels = ds["split"].values, ds["label"].values
    assert (split == "test").sum() == 10_000 and ds.sizes["sample"] == 70_000
    counts = np.bincount(labels[split == "test"], minlength=10)
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.attrs["raw_provenance"].startswith("real: the published mnist files")


def test_subsets_are_seeded_and_sized(tmp_path):
    write_idx_set(tmp_path / "idx")
    cfg = config(str(tmp_path / "idx"), n_train=10, n_test=5)
    a = fetch_and_prepare(tmp_path / "a", cfg)
    b = fetch_and_prepare(tmp_path / "b", cfg)
    assert a.sizes["sample"] == 15
    assert (a["split"].values == "test").sum() == 5
    np.testing.assert_array_equal(a["input"].values, b["input"].values)


def md5s(directory):
    return {
        name: hashlib.md5((directory / name).read_bytes()).hexdigest() for name in images.IDX_FILES
    }


def test_download_is_hash_checked(tmp_path, http_server):
    root, url = http_server
    write_idx_set(root / "mnist")
    files = md5s(root / "mnist")
    cfg = config("download")
    cfg["download"] |= {"url": f"{url}/mnist/", "files": files}
    ds = fetch_and_prepare(tmp_path, cfg)
    assert ds.sizes["sample"] == 60

    # one wrong hash: an error naming the file, and no raw file left behind
    bad = dict(files, **{"t10k-images-idx3-ubyte.gz": "0" * 64})
    cfg["download"]["files"] = bad
    with pytest.raises(RawDataError, match=r"t10k-images-idx3-ubyte\.gz: hash mismatch"):
        fetch_raw("d", cfg, tmp_path / "bad" / "raw.npz")
    assert not (tmp_path / "bad" / "raw.npz").exists()


def test_a_missing_installed_copy_falls_back_to_the_download(tmp_path, http_server, monkeypatch):
    root, url = http_server
    write_idx_set(root / "fashion", n_train=30, n_test=10)
    monkeypatch.setitem(images.COLLECTIONS["fashion_mnist"], "installed", tmp_path / "missing")
    cfg = config("installed", collection="fashion_mnist")
    cfg["download"] |= {"url": f"{url}/fashion", "files": md5s(root / "fashion")}
    ds = fetch_and_prepare(tmp_path, cfg)
    assert ds.sizes["sample"] == 40


@pytest.mark.skipif(
    not idx.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist missing"
)
def test_installed_fashion_mnist(tmp_path):
    cfg = validate_config(
        {
            "datasets": {
                "f": {
                    "kind": "fashion_mnist",
                    "source": "installed",
                    "preprocess": {"n_train": 500, "n_test": 200, "anomaly_classes": [9]},
                }
            },
            "experiments": {"e": {"dataset": "f", "model": "conv_ae", "task": "reconstruct"}},
        }
    )["datasets"]["f"]
    assert cfg["collection"] == "fashion_mnist"
    ds = fetch_and_prepare(tmp_path, cfg)
    assert ds.sizes == {"sample": 700, "y": 28, "x": 28}
    assert ds["label"].attrs["class_names"][9] == "Ankle boot"
    assert 0 < ds["is_anomaly"].values.mean() < 0.25  # about one class in ten
    assert float(ds["input"].min()) >= 0
    assert float(ds["input"].max()) <= 1


def test_digits_from_scikit_learn_get_a_random_test_split(tmp_path):
    ds = fetch_and_prepare(tmp_path, config("installed", collection="digits"))
    assert ds.sizes == {"sample": 1797, "y": 8, "x": 8}
    assert (ds["split"].values == "test").sum() == round(0.2 * 1797)
    assert float(ds["input"].max()) == 1.0


def test_mnist_has_no_installed_copy(tmp_path):
    with pytest.raises(RawDataError, match="no installed copy"):
        fetch_raw("d", config("installed"), tmp_path / "raw.npz")
