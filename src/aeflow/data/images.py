"""Labelled image collections: Fashion-MNIST, MNIST (IDX files) and scikit-learn's digits.

Raw format (``data/raw/<dataset>.npz``, written by :func:`fetch`): ``images`` (N, H, W) as
uint8 (0-255) or float in [0, 1], ``labels`` (N,) integer classes, and ``is_test`` (N,)
marking the collection's official test set (all false when it has none). A user's own
``.npz``/``.h5`` in that layout is a valid ``source`` too.

Sources of ``fetch``: ``installed`` (the IDX files of the Debian package
``dataset-fashion-mnist``; scikit-learn's bundled digits), ``download`` (the four IDX files
from ``download.url``, default the collection's official mirror, each checked against its
published MD5 or the sha256 given in ``download.files``) or a local directory holding them.

Preprocessing: pixels scaled to [0, 1]; ``label`` kept per sample; ``is_anomaly`` marks the
classes named in ``preprocess.anomaly_classes`` (held out of training by an experiment's
``anomaly:`` section). The official test set is the test split; ``preprocess.n_train`` /
``n_test`` draw a seeded subset of each (sizes of a quick run).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data import idx, sources
from aeflow.data.kinds import Kind
from aeflow.data.sources import RawDataError
from aeflow.data.split import assign_split

log = logging.getLogger(__name__)

_COLLECTION = {
    "modality": "images",
    "labelled": True,
    "anomaly_labels": True,
    "anomaly_names": ("normal classes", "held-out classes"),
    "anomaly_needs_classes": True,
    "real_data_only": True,
    "own_download": True,
    "clean_inputs": True,
    "collections": True,
}
# ``fashion_mnist`` is this kind with collection fashion_mnist (kept for older configs)
KINDS = (Kind("images", __name__, **_COLLECTION), Kind("fashion_mnist", __name__, **_COLLECTION))
RAW_KEYS = ("images", "labels", "is_test")

IDX_FILES = (*idx.SPLIT_FILES["train"], *idx.SPLIT_FILES["test"])

# Official files and their published MD5 sums (the same files every framework's loader uses).
COLLECTIONS: dict[str, dict[str, Any]] = {
    "fashion_mnist": {
        "installed": idx.DEBIAN_FASHION_MNIST,
        "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "files": dict(
            zip(
                IDX_FILES,
                (
                    "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79",
                    "bb300cfdad3c16e7a12a480ee83cd310",
                ),
                strict=True,
            )
        ),
        "classes": (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    },
    "mnist": {
        "installed": None,
        "url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "files": dict(
            zip(
                IDX_FILES,
                (
                    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3",
                    "ec29112dd5afa0611ce80d1b7f02629c",
                ),
                strict=True,
            )
        ),
        # MD5 of the uncompressed official files: a re-compressed copy (say a local directory)
        # is still recognized as the published data
        "content_md5": dict(
            zip(
                IDX_FILES,
                (
                    "6bbc9ace898e44ae57da46a324031adb",
                    "a25bea736e30d166cdddb491f175f624",
                    "2646ac647ad5339dbf082846283269ea",
                    "27ae3e4e09519cfbb04c329615203637",
                ),
                strict=True,
            )
        ),
        "classes": tuple(str(d) for d in range(10)),
    },
    "digits": {"installed": "scikit-learn", "classes": tuple(str(d) for d in range(10))},
}


def collection(dataset_cfg: dict[str, Any]) -> str:
    return dataset_cfg.get("collection") or "fashion_mnist"


def class_names(dataset_cfg: dict[str, Any]) -> list[str]:
    """The class names of the dataset's collection, index = label."""
    return list(COLLECTIONS[collection(dataset_cfg)]["classes"])


def _digest_matches(path: Path, expected: str) -> tuple[bool, str]:
    """Check a file against an MD5 (32 hex digits, the published sums) or a sha256 (64)."""
    algorithm = "md5" if len(expected) == 32 else "sha256"
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == expected.lower(), f"{algorithm} {h.hexdigest()}"


def _idx_arrays(directory: Path) -> dict[str, np.ndarray]:
    train_x, train_y = idx.read_image_set(directory, "train")
    test_x, test_y = idx.read_image_set(directory, "test")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise RawDataError(
            f"{directory}: train images are {train_x.shape[1:]}, test images {test_x.shape[1:]}"
        )
    return {
        "images": np.concatenate([train_x, test_x]),
        "labels": np.concatenate([train_y, test_y]).astype(np.int16),
        "is_test": np.r_[np.zeros(len(train_x), bool), np.ones(len(test_x), bool)],
    }


def _directory_provenance(name: str, directory: Path) -> str:
    """What a directory of IDX files is: the published collection (every uncompressed file
    matches its published MD5) or files in its format."""
    known = COLLECTIONS[name].get("content_md5")
    if known and all(idx.content_md5(directory / f) == md5 for f, md5 in known.items()):
        return f"real: the published {name} files (uncompressed MD5s match), from {directory}"
    return f"local: IDX files in {directory} (not checked against the published {name} files)"


def _download_idx(dataset_cfg: dict[str, Any], directory: Path) -> None:
    name = collection(dataset_cfg)
    known = COLLECTIONS[name]
    dl = dataset_cfg["download"]
    base = dl["url"] or known.get("url")
    if not base:
        raise RawDataError(f"collection {name!r} has no download; use source: installed")
    files = dict(dl.get("files") or {}) or known["files"]
    for filename in IDX_FILES:
        url = base.rstrip("/") + "/" + filename
        expected = files.get(filename)
        sources.download(directory / filename, url=url, timeout_s=dl["timeout_s"])
        if expected is None:
            log.warning("%s: no hash to check against (download.files)", url)
            continue
        ok, actual = _digest_matches(directory / filename, expected)
        if not ok:
            raise RawDataError(f"{url}: hash mismatch: expected {expected.lower()}, got {actual}")


def _digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return {
        "images": (digits.images / 16.0).astype(np.float32),  # 0-16 counts -> [0, 1]
        "labels": digits.target.astype(np.int16),
        "is_test": np.zeros(len(digits.target), bool),
    }


def fetch(dataset_cfg: dict[str, Any], out: Path) -> str | None:
    """Write the raw ``.npz`` for ``installed``, ``download`` or an IDX directory, with what
    the data are (see :func:`aeflow.data.sources.raw_provenance`); returns its sha256, or
    None when the source is a plain file (the generic copy handles it)."""
    source, name = dataset_cfg["source"], collection(dataset_cfg)
    known = COLLECTIONS[name]
    arrays, origin = None, None
    if source == "installed":
        where = known["installed"]
        if where is None:
            raise RawDataError(
                f"collection {name!r} has no installed copy: use source: download "
                "(or a directory holding its IDX files)"
            )
        if where == "scikit-learn":
            arrays, origin = _digits(), "real: the digits bundled with scikit-learn"
        elif Path(where).is_dir():
            arrays, origin = _idx_arrays(Path(where)), f"real: the installed copy in {where}"
        else:
            log.warning(
                "%s not found (Debian package dataset-fashion-mnist; make setup installs it "
                "as root): downloading the official files instead",
                where,
            )
            source = "download"
    if source == "download":
        if name == "digits":
            raise RawDataError("collection 'digits' ships with scikit-learn: use source: installed")
        with tempfile.TemporaryDirectory(dir=Path(out).parent) as tmp:
            _download_idx(dataset_cfg, Path(tmp))
            arrays = _idx_arrays(Path(tmp))
        origin = f"real: the official {name} download"
    elif arrays is None:
        if not Path(source).is_dir():
            return None
        arrays, origin = _idx_arrays(Path(source)), _directory_provenance(name, Path(source))
    return sources.write_npz(out, arrays | {sources.PROVENANCE_KEY: np.array(origin)})


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple[np.ndarray, ...]:
    """(images in [0, 1] float32 (N, H, W), labels int (N,), is_test bool (N,))."""
    raw = np.asarray(arrays["images"])
    integer = np.issubdtype(raw.dtype, np.integer)
    images = sources.float_array(arrays, "images", path, "(N, H, W)", "image")
    if integer:
        if images.min() < 0 or images.max() > 255:
            raise RawDataError(f"{path}: key 'images': integer pixels must be 8-bit (0-255)")
        images = images / np.float32(255.0)
    elif images.min() < 0 or images.max() > 1:
        first = int(np.argwhere((images < 0) | (images > 1))[0][0])
        raise RawDataError(
            f"{path}: key 'images': float pixels must lie in [0, 1] (first outside: image {first})"
        )
    n = len(images)
    labels = np.asarray(arrays["labels"])
    is_test = np.asarray(arrays["is_test"])
    for key, a in (("labels", labels), ("is_test", is_test)):
        if a.shape != (n,):
            raise RawDataError(f"{path}: key {key!r} has shape {a.shape}; expected ({n},)")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise RawDataError(f"{path}: key 'labels' must hold non-negative integer classes")
    if is_test.dtype != bool and not np.isin(is_test, (0, 1)).all():
        raise RawDataError(f"{path}: key 'is_test' must be boolean (or 0/1)")
    return images, labels.astype(np.int16), is_test.astype(bool)


def select_split(
    checked: tuple[np.ndarray, ...], dataset_cfg: dict[str, Any]
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The official test set as test (else ``split.test_fraction`` at random), a seeded
    ``split.val_fraction`` of the rest as validation; subsets of ``preprocess.n_train`` /
    ``n_test`` samples. Returns the kept samples (file order) and their labels."""
    images, labels, is_test = checked
    sp, pp = dataset_cfg["split"], dataset_cfg["preprocess"]
    rng = np.random.default_rng(sp["seed"])
    if not is_test.any():  # no official test set
        is_test = (
            assign_split(
                len(images),
                n_train=None,
                test_fraction=sp["test_fraction"],
                val_fraction=0.0,
                seed=sp["seed"],
            )
            == "test"
        )
    keep = np.zeros(len(images), bool)
    for part, limit in ((~is_test, pp["n_train"]), (is_test, pp["n_test"])):
        members = np.flatnonzero(part)
        if limit is not None and limit < len(members):
            members = rng.choice(members, size=limit, replace=False)
        keep[members] = True
    kept = np.flatnonzero(keep)
    out = np.where(is_test[kept], "test", "train").astype(object)
    pool = np.flatnonzero(out == "train")
    out[rng.choice(pool, size=round(sp["val_fraction"] * len(pool)), replace=False)] = "val"
    return (images[kept], labels[kept], is_test[kept]), out


def prepare(
    checked: tuple[np.ndarray, ...],
    dataset_cfg: dict[str, Any],
    raw_path: str,
    split: np.ndarray,
) -> xr.Dataset:
    """Images in [0, 1] as input and target (reconstruction), ``label``, ``is_anomaly``."""
    images, labels, _ = checked
    name = collection(dataset_cfg)
    classes = COLLECTIONS[name]["classes"]
    anomalous = list(dataset_cfg["preprocess"]["anomaly_classes"])
    unknown = [c for c in anomalous if c >= len(classes)]
    if unknown:
        raise RawDataError(
            f"{raw_path}: preprocess.anomaly_classes {unknown} not among the {len(classes)} "
            f"classes of {name}"
        )
    ds = xr.Dataset(
        {
            "input": (("sample", "y", "x"), images),
            "target": (("sample", "y", "x"), images),
            "label": (("sample",), labels),
            "is_anomaly": (("sample",), np.isin(labels, anomalous)),
        },
        coords={"sample": np.arange(len(images))},
    )
    ds["input"].attrs = {"long_name": "pixel intensity", "units": "1", "scaling": "[0, 1]"}
    ds["target"].attrs = ds["input"].attrs
    ds["label"].attrs = {"long_name": "class", "class_names": list(classes)}
    ds["is_anomaly"].attrs = {"long_name": f"held-out classes {[classes[c] for c in anomalous]}"}
    ds.attrs.update({"collection": name, "class_names": list(classes)})
    return ds
