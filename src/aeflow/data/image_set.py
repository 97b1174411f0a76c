"""Your own images: kinds ``image_set`` and ``labelled_image_set``.

A local ``.npz``, HDF5 (``.h5``/``.hdf5``) file or Zarr store (``.zarr``) whose arrays the
config names (``keys``):

- ``images`` (required): (N, H, W), or (N, H, W, 1) / (N, 1, H, W); any size, integer or
  float pixels;
- ``targets`` (optional): the clean images of the same shape, for denoising pairs (input =
  ``images``, target = ``targets``); without them input = target (reconstruction, anomaly
  detection, or denoising with a synthetic ``corrupt.noise_sd``);
- ``labels`` (optional for ``image_set``, required for ``labelled_image_set``): (N,)
  non-negative integer classes, named by the config's ``class_names``;
- ``split`` (optional): (N,) strings ``train`` / ``val`` / ``test``, or booleans marking the
  test set; without it the configured random ``split``.

``fetch`` reads those arrays (and nothing else) into ``data/raw/<dataset>.npz`` under the
canonical names above, so a changed file or key gives a new raw file and reruns what follows.
``prepare`` scales pixels by ``preprocess.scaling``: ``auto`` (8-bit integers / 255, floats in
[0, 1] as they are, other floats as ``minmax``), ``unit`` (8-bit / 255 or floats already in
[0, 1], else an error), ``minmax`` (by the training images' minimum and maximum, clipped to
[0, 1]) or ``log_minmax`` (``log10(x + log_offset)`` first: counts spanning decades). Colour
images (3 channels) are not taken yet: the error says so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data import sources
from aeflow.data.kinds import Kind
from aeflow.data.sources import RawDataError
from aeflow.data.split import SPLITS, configured_split

log = logging.getLogger(__name__)

_COMMON = {"modality": "images", "real_data_only": True, "converted_raw": True}
KINDS = (
    Kind("image_set", __name__, **_COMMON),
    Kind(
        "labelled_image_set",
        __name__,
        labelled=True,
        anomaly_labels=True,
        anomaly_names=("normal classes", "held-out classes"),
        anomaly_needs_classes=True,
        **_COMMON,
    ),
)
RAW_KEYS = ("images",)
OPTIONAL_KEYS = ("targets", "labels", "split")
ZARR_SUFFIX = ".zarr"


# ---- config checks (hooks called by aeflow.config) ---------------------------------------------
def check_dataset(name: str, ds: dict[str, Any]) -> None:
    keys = ds.get("keys") or {}
    if ds["kind"] == "labelled_image_set":
        if not keys.get("labels"):
            raise ValueError(
                f"datasets.{name}.keys.labels: kind labelled_image_set needs the name of the "
                "array of class labels (or use kind image_set)"
            )
        if not ds.get("class_names"):
            raise ValueError(
                f"datasets.{name}.class_names: kind labelled_image_set needs the class names "
                "(index = label)"
            )
    if ds["kind"] == "image_set" and ds["preprocess"].get("anomaly_classes"):
        raise ValueError(
            f"datasets.{name}.preprocess.anomaly_classes: needs labels (kind labelled_image_set)"
        )
    if ds["source"] in ("simulate", "download", "installed"):
        raise ValueError(
            f"datasets.{name}.source: kind {ds['kind']} reads a local .npz, .h5/.hdf5 file or "
            f"a .zarr store, got {ds['source']!r}"
        )


def check_experiment(name: str, exp: dict[str, Any], datasets: dict[str, Any]) -> None:
    has_targets = bool((datasets[exp["dataset"]].get("keys") or {}).get("targets"))
    synthetic = bool((exp.get("corrupt") or {}).get("noise_sd"))
    if exp["task"] == "denoise" and not (has_targets or synthetic):
        raise ValueError(
            f"experiments.{name}.task: denoise needs clean targets (datasets."
            f"{exp['dataset']}.keys.targets) or corrupt.noise_sd (or task: reconstruct)"
        )


def class_names(ds: dict[str, Any]) -> list[str]:
    return [str(c) for c in ds["class_names"]]


# ---- fetch: the named arrays into the canonical raw file ---------------------------------------
def _read_source(source: Path, keys: dict[str, str]) -> dict[str, np.ndarray]:
    """The arrays named by ``keys`` (canonical name -> name in the file) from a Zarr store,
    or an .npz / HDF5 file; missing ones name the store and the key."""
    if source.suffix.lower() == ZARR_SUFFIX:
        import zarr

        if not source.is_dir():
            raise RawDataError(f"{source}: Zarr store not found")
        group = zarr.open_group(str(source), mode="r")
        have = sorted(group.array_keys())
        out = {}
        for name, key in keys.items():
            if key not in have:
                raise RawDataError(f"{source}: missing key {key!r} (has: {', '.join(have)})")
            out[name] = np.asarray(group[key][...])
        return out
    raw = sources.read_arrays(source, list(keys.values()))
    return {name: raw[key] for name, key in keys.items()}


def fetch(dataset_cfg: dict[str, Any], out: Path) -> str:
    """Read the configured arrays of the local source into ``out`` (.npz, canonical keys)."""
    source = Path(dataset_cfg["source"]).expanduser()
    keys = {"images": "images"} | {
        k: v for k, v in (dataset_cfg.get("keys") or {}).items() if v is not None
    }
    arrays = _read_source(source, keys)
    if "split" in arrays and arrays["split"].dtype.kind in "SO":  # bytes (HDF5) -> str
        arrays["split"] = np.array(
            [s.decode() if isinstance(s, bytes) else str(s) for s in arrays["split"]]
        )
    named = ", ".join(f"{k} = {v!r}" for k, v in keys.items())
    origin = f"local: {source} ({named})"
    return sources.write_npz(out, arrays | {sources.PROVENANCE_KEY: np.array(origin)})


def read_raw(path) -> dict[str, np.ndarray] | None:
    """The canonical raw file: ``images`` and whichever optional arrays it holds (None for a
    file that is no readable .npz: the usual reader then says what is wrong with it)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            present = set(npz.files)
    except (*sources.UNREADABLE, ValueError, OSError):
        return None
    keys = [k for k in (*RAW_KEYS, *OPTIONAL_KEYS) if k in present]
    return sources.read_arrays(path, keys or list(RAW_KEYS))


# ---- checks of the raw arrays ------------------------------------------------------------------
def _images(arrays: dict[str, np.ndarray], key: str, path: str) -> np.ndarray:
    a = np.asarray(arrays[key])
    if a.ndim == 4 and a.shape[1] == 1:  # (N, 1, H, W): one channel first
        a = a[:, 0]
    if a.ndim == 4 and (a.shape[-1] in (3, 4) or a.shape[1] in (3, 4)):
        raise RawDataError(
            f"{path}: key {key!r} has shape {a.shape}: colour images are not taken by this "
            "kind yet (one channel: (N, H, W)); kind galaxies takes colour images for "
            "generative models"
        )
    return sources.float_array({key: a}, key, path, "(N, H, W)", "image")


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple:
    """(images float32 (N, H, W), targets or None, labels int (N,) or None, split or None),
    checked: shapes agree, labels are non-negative integers, split values are known."""
    integer = np.issubdtype(np.asarray(arrays["images"]).dtype, np.integer)
    images = _images(arrays, "images", path)
    n = len(images)
    targets = labels = split = None
    if "targets" in arrays:
        targets = _images(arrays, "targets", path)
        if targets.shape != images.shape:
            raise RawDataError(
                f"{path}: key 'targets' has shape {targets.shape}; 'images' {images.shape}"
            )
    if "labels" in arrays:
        labels = np.asarray(arrays["labels"])
        if labels.shape != (n,):
            raise RawDataError(f"{path}: key 'labels' has shape {labels.shape}; expected ({n},)")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise RawDataError(f"{path}: key 'labels' must hold non-negative integer classes")
        labels = labels.astype(np.int16)
    if "split" in arrays:
        split = np.asarray(arrays["split"])
        if split.shape != (n,):
            raise RawDataError(f"{path}: key 'split' has shape {split.shape}; expected ({n},)")
        if split.dtype == bool:
            split = np.where(split, "test", "train")
        split = split.astype(str)
        unknown = sorted(set(split.tolist()) - set(SPLITS))
        if unknown:
            raise RawDataError(
                f"{path}: key 'split' holds {unknown[:3]}; expected {', '.join(SPLITS)} "
                "(or booleans marking the test set)"
            )
    return images, targets, labels, split, integer


def select_split(checked: tuple, dataset_cfg: dict[str, Any]) -> tuple[tuple, np.ndarray]:
    """The file's own split where it has one, else the configured random split."""
    images, _, _, split, _ = checked
    if split is not None:
        return checked, split.astype(object)
    return checked, configured_split(len(images), dataset_cfg["split"])


# ---- prepare -----------------------------------------------------------------------------------
def _scale(images, targets, integer: bool, split: np.ndarray, pp: dict[str, Any], path: str):
    """Pixels to [0, 1] by ``preprocess.scaling``; returns the scaled arrays and how."""
    how = pp["scaling"]
    both = [a for a in (images, targets) if a is not None]
    in_unit = all(a.min() >= 0 and a.max() <= 1 for a in both)
    if how in ("auto", "unit") and integer:
        if any(a.min() < 0 or a.max() > 255 for a in both):
            raise RawDataError(f"{path}: key 'images': integer pixels must be 8-bit (0-255)")
        return [a / np.float32(255) for a in both], "x / 255"
    if how in ("auto", "unit") and in_unit:
        return both, "as given, in [0, 1]"
    if how == "unit":
        raise RawDataError(
            f"{path}: key 'images': preprocess.scaling unit needs pixels in [0, 1] or 8-bit "
            "integers (or scaling minmax / log_minmax)"
        )
    if how == "log_minmax":
        offset = pp["log_offset"]
        if min(a.min() for a in both) + offset <= 0:
            raise RawDataError(
                f"{path}: key 'images': log10(x + {offset}) needs x > -{offset} "
                "(preprocess.log_offset)"
            )
        both = [np.log10(a + np.float32(offset)) for a in both]
        prefix = f"log10(x + {offset:g}) then "
    else:
        prefix = ""
    train = both[0][split == "train"]
    lo, hi = float(train.min()), float(train.max())
    if hi <= lo:
        raise RawDataError(f"{path}: key 'images': the training images are constant")
    scaled = [np.clip((a - lo) / (hi - lo), 0, 1).astype(np.float32) for a in both]
    return scaled, f"{prefix}(x - {lo:.6g}) / ({hi:.6g} - {lo:.6g}), clipped to [0, 1]"


def prepare(
    checked: tuple, dataset_cfg: dict[str, Any], raw_path: str, split: np.ndarray
) -> xr.Dataset:
    """Scaled images as input, targets (or the images) as target, labels and held-out
    classes where the data have labels; pixel coordinates."""
    images, targets, labels, _, integer = checked
    pp = dataset_cfg["preprocess"]
    scaled, how = _scale(images, targets, integer, np.asarray(split), pp, raw_path)
    n, h, w = images.shape
    dims = ("sample", "y", "x")
    ds = xr.Dataset(
        {"input": (dims, scaled[0]), "target": (dims, scaled[-1])},
        coords={"sample": np.arange(n), "y": np.arange(h), "x": np.arange(w)},
    )
    attrs = {"units": "1", "scaling": how}
    ds["input"].attrs = {"long_name": "image" if targets is None else "noisy image", **attrs}
    ds["target"].attrs = {"long_name": "image" if targets is None else "clean image", **attrs}
    ds["y"].attrs = {"long_name": "pixel row", "units": "1"}
    ds["x"].attrs = {"long_name": "pixel column", "units": "1"}
    if labels is not None:
        names = [str(c) for c in (dataset_cfg.get("class_names") or range(labels.max() + 1))]
        if labels.max() >= len(names):
            raise RawDataError(
                f"{raw_path}: key 'labels' holds class {int(labels.max())}, but class_names "
                f"names {len(names)} classes"
            )
        held_out = list(pp["anomaly_classes"])
        unknown = [c for c in held_out if c >= len(names)]
        if unknown:
            raise RawDataError(
                f"{raw_path}: preprocess.anomaly_classes {unknown} not among the "
                f"{len(names)} classes"
            )
        ds["label"] = (("sample",), labels)
        ds["label"].attrs = {"long_name": "class", "class_names": names}
        ds["is_anomaly"] = (("sample",), np.isin(labels, held_out))
        ds["is_anomaly"].attrs = {"long_name": f"held-out classes {[names[c] for c in held_out]}"}
        ds.attrs["class_names"] = names
    log.info("%s: %d images of %dx%d, scaled %s", raw_path, n, h, w, how)
    return ds
