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
[0, 1]) or ``log_minmax`` (``log10(x + log_offset)`` first: counts spanning decades), one
scale for all channels (their balance is kept).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data import own_files, sources
from aeflow.data.kinds import Kind
from aeflow.data.sources import RawDataError

log = logging.getLogger(__name__)

_COMMON = {
    "modality": "images",
    "real_data_only": True,
    "converted_raw": True,
    "chunked_prepare": True,
    "colour": True,  # one or three channels, as the files have them
}
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
OPTIONAL_RAW_KEYS = OPTIONAL_KEYS  # read chunk by chunk beside the images when present
CHANNELS = (1, 3)  # grey or colour
DEFAULT_CHANNEL_NAMES = ("R", "G", "B")


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
    if keys.get("traces") not in (None, "traces"):
        raise ValueError(
            f"datasets.{name}.keys.traces: kind {ds['kind']} reads images (keys.images); "
            "time traces are kind trace_set"
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


def channel_names(ds_cfg: dict[str, Any], n_channels: int, path: str) -> list[str] | None:
    """The names of the images' channels: ``channel_names`` of the config, else R, G, B
    (None for single-channel images, which must not be given names)."""
    given = ds_cfg.get("channel_names")
    if n_channels == 1 and not given:
        return None
    names = [str(c) for c in given or DEFAULT_CHANNEL_NAMES]
    if len(names) != n_channels:
        raise RawDataError(
            f"{path}: key 'images' has {n_channels} channel{'s' * (n_channels != 1)}; "
            f"channel_names names {len(names)}"
        )
    return names


def class_names(ds: dict[str, Any]) -> list[str]:
    return [str(c) for c in ds["class_names"]]


# ---- fetch: the named arrays into the canonical raw file ---------------------------------------
def fetch(dataset_cfg: dict[str, Any], out: Path, chunk_bytes: int | None = None) -> str:
    """Copy the configured arrays of the local source into ``out`` (.npz, canonical keys)
    chunk by chunk (:func:`aeflow.data.own_files.fetch`)."""
    return own_files.fetch(dataset_cfg, out, "images", chunk_bytes)


# ---- checks of the raw arrays ------------------------------------------------------------------
def _images(arrays: dict[str, np.ndarray], key: str, path: str) -> np.ndarray:
    """The images of ``key`` as float32, (N, H, W) for one channel, (N, 3, H, W) for three:
    the channel axis may be last (N, H, W, C) or first (N, C, H, W)."""
    a = np.asarray(arrays[key])
    ambiguous = a.ndim == 4 and a.shape[1] in CHANNELS and a.shape[-1] in CHANNELS
    if ambiguous and (a.shape[1], a.shape[-1]) != (1, 1):
        raise RawDataError(
            f"{path}: key {key!r} has shape {a.shape}: the channel axis could be the second "
            "or the last; images of 1 or 3 pixels across are not taken"
        )
    if a.ndim == 4:
        if a.shape[-1] in CHANNELS:  # channels last, as images are usually stored
            a = np.moveaxis(a, -1, 1)
        elif a.shape[1] not in CHANNELS:
            raise RawDataError(
                f"{path}: key {key!r} has shape {a.shape}: images have 1 or 3 channels, "
                "(N, H, W), (N, H, W, C) or (N, C, H, W)"
            )
        if a.shape[1] == 1:
            a = a[:, 0]
    layout = "(N, C, H, W)" if a.ndim == 4 else "(N, H, W)"
    return sources.float_array({key: a}, key, path, layout, "image")


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple:
    """(images float32 (N, H, W), targets or None, labels int (N,) or None, split or None),
    checked: shapes agree, labels are non-negative integers, split values are known."""
    integer = np.issubdtype(np.asarray(arrays["images"]).dtype, np.integer)
    images = _images(arrays, "images", path)
    n = len(images)
    targets = labels = None
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
    split = own_files.checked_split(arrays, n, path)
    return images, targets, labels, split, integer


# ---- prepare -----------------------------------------------------------------------------------
file_split = own_files.file_split


def prepare_statistics(
    chunks: Iterable[tuple[tuple, np.ndarray]], dataset_cfg: dict[str, Any], raw_path: str
) -> dict:
    """How :func:`prepare` scales the pixels (``scale``: :class:`Scaling`), from the minimum
    and maximum of all images and targets and of the training images, and how many classes
    the labels name (``n_classes``), over ``(checked, split)`` chunks: the same however the
    file was chunked."""
    lo = hi = train_lo = train_hi = None
    integer = False
    top = None  # the largest class label
    for (images, targets, labels, _, is_integer), split in chunks:
        integer = is_integer
        if labels is not None and len(labels):
            top = labels.max() if top is None else max(top, labels.max())
        for a in (images, targets):
            if a is not None:
                lo = a.min() if lo is None else min(lo, a.min())
                hi = a.max() if hi is None else max(hi, a.max())
        train = images[np.asarray(split) == "train"]
        if train.size:
            train_lo = train.min() if train_lo is None else min(train_lo, train.min())
            train_hi = train.max() if train_hi is None else max(train_hi, train.max())
    pp = dataset_cfg["preprocess"]
    scale = Scaling.of(pp, integer, (lo, hi), (train_lo, train_hi), raw_path)
    return {"scale": scale, "n_classes": None if top is None else int(top) + 1}


@dataclass(frozen=True)
class Scaling:
    """Pixels to [0, 1] by ``preprocess.scaling``: ``divide`` by 255, or ``(f(x) - lo) /
    (hi - lo)`` clipped to [0, 1] with ``f`` the identity or ``log10(x + offset)``, or as
    given (``divide`` None, ``lo`` None); ``how`` says which."""

    how: str
    divide: float | None = None
    offset: float | None = None
    lo: float | None = None
    hi: float | None = None

    @classmethod
    def of(cls, pp, integer: bool, extent, train_extent, path: str) -> Scaling:
        """The scaling of images whose pixels span ``extent`` (min, max over all images and
        targets) and the training images' ``train_extent``."""
        how = pp["scaling"]
        lo, hi = extent
        in_unit = lo >= 0 and hi <= 1
        if how in ("auto", "unit") and integer:
            if lo < 0 or hi > 255:
                raise RawDataError(f"{path}: key 'images': integer pixels must be 8-bit (0-255)")
            return cls("x / 255", divide=255.0)
        if how in ("auto", "unit") and in_unit:
            return cls("as given, in [0, 1]")
        if how == "unit":
            raise RawDataError(
                f"{path}: key 'images': preprocess.scaling unit needs pixels in [0, 1] or 8-bit "
                "integers (or scaling minmax / log_minmax)"
            )
        if train_extent[0] is None:
            raise RawDataError(f"{path}: key 'images': no training images to scale by")
        offset, prefix = None, ""
        train_lo, train_hi = (np.float32(v) for v in train_extent)
        if how == "log_minmax":
            offset = pp["log_offset"]
            if lo + offset <= 0:
                raise RawDataError(
                    f"{path}: key 'images': log10(x + {offset}) needs x > -{offset} "
                    "(preprocess.log_offset)"
                )
            train_lo, train_hi = (np.log10(v + np.float32(offset)) for v in (train_lo, train_hi))
            prefix = f"log10(x + {offset:g}) then "
        t_lo, t_hi = float(train_lo), float(train_hi)
        if t_hi <= t_lo:
            raise RawDataError(f"{path}: key 'images': the training images are constant")
        how = f"{prefix}(x - {t_lo:.6g}) / ({t_hi:.6g} - {t_lo:.6g}), clipped to [0, 1]"
        return cls(how, offset=offset, lo=t_lo, hi=t_hi)

    def __call__(self, a: np.ndarray) -> np.ndarray:
        if self.divide is not None:
            return a / np.float32(self.divide)
        if self.lo is None:
            return a
        if self.offset is not None:
            a = np.log10(a + np.float32(self.offset))
        return np.clip((a - self.lo) / (self.hi - self.lo), 0, 1).astype(np.float32)


def prepare(
    checked: tuple,
    dataset_cfg: dict[str, Any],
    raw_path: str,
    split: np.ndarray,
    scale: Scaling | None = None,
    n_classes: int | None = None,
) -> xr.Dataset:
    """Scaled images as input, targets (or the images) as target, labels and held-out
    classes where the data have labels; pixel coordinates. ``scale`` and ``n_classes``: from
    :func:`prepare_statistics` (computed here from ``checked`` when not given)."""
    images, targets, labels, _, _ = checked
    pp = dataset_cfg["preprocess"]
    if scale is None:
        stats = prepare_statistics([(checked, split)], dataset_cfg, raw_path)
        scale, n_classes = stats["scale"], stats["n_classes"]
    scaled = [scale(a) for a in (images, targets) if a is not None]
    how = scale.how
    n, h, w = images.shape[0], images.shape[-2], images.shape[-1]
    coords = {"sample": np.arange(n), "y": np.arange(h), "x": np.arange(w)}
    dims: tuple[str, ...] = ("sample", "y", "x")
    channels = images.shape[1] if images.ndim == 4 else 1
    names = channel_names(dataset_cfg, channels, raw_path)
    if images.ndim == 4:  # colour: channels first, as the models take them
        dims = ("sample", "channel", "y", "x")
        coords["channel"] = names
    ds = xr.Dataset({"input": (dims, scaled[0]), "target": (dims, scaled[-1])}, coords=coords)
    if "channel" in ds.coords:
        ds["channel"].attrs = {"long_name": "colour channel"}
    attrs = {"units": "1", "scaling": how}
    ds["input"].attrs = {"long_name": "image" if targets is None else "noisy image", **attrs}
    ds["target"].attrs = {"long_name": "image" if targets is None else "clean image", **attrs}
    ds["y"].attrs = {"long_name": "pixel row", "units": "1"}
    ds["x"].attrs = {"long_name": "pixel column", "units": "1"}
    if labels is not None:
        names = [str(c) for c in (dataset_cfg.get("class_names") or range(n_classes or 0))]
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
    channels = f" in {ds.sizes['channel']} channels" if "channel" in ds.dims else ""
    log.info("%s: %d images of %dx%d%s, scaled %s", raw_path, n, h, w, channels, how)
    return ds
