"""Galaxy images in three classes (barred spiral, elliptical, spiral) for generative models
and autoencoders (a colorization, the pretext tasks of a label-efficiency study).

Raw format: the Galaxy10 layout (``Galaxy10_DECals.h5``; or an ``.npz`` with the same keys):
``images`` (N, H, W, 3) as uint8 (0-255) or float in [0, 1], and ``ans`` (N,) the Galaxy10
DECaLS class ids (:data:`aeflow.data.simulate.galaxies.GALAXY10_DECALS`). The simulator
(:mod:`aeflow.data.simulate.galaxies`) writes the same layout with ids 5, 2 and 7.

Classes: ``preprocess.classes`` maps each of :data:`CLASS_NAMES` to the raw ids it takes,
e.g. ``{barred_spiral: [5], elliptical: [2, 3, 4], spiral: [6, 7]}``; samples of unmapped ids
(disturbed, merging, edge-on ...) are dropped before the split.

Preprocessing: pixels scaled to [0, 1]; non-square images centre-cropped to a square; resized
to ``preprocess.image_size`` (a block mean when the size divides the image, else an
anti-aliased bilinear resize; upscaling is allowed but logged as a warning); channels first:
``input`` = ``target`` (sample, channel, y, x) with channels (R, G, B) (for Galaxy10 DECaLS the
g, r, z bands as its RGB images show them); ``label`` the class index in :data:`CLASS_NAMES`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data.kinds import Kind
from aeflow.data.simulate import params_from_config
from aeflow.data.simulate.galaxies import GALAXY10_DECALS, GalaxySimulation, simulate_galaxies
from aeflow.data.sources import RawDataError, check_finite
from aeflow.data.split import configured_split

log = logging.getLogger(__name__)

KINDS = (
    Kind(
        "galaxies",
        __name__,
        modality="images",
        labelled=True,
        generative=True,
        interpolation_classes=("elliptical", "spiral"),  # the blog's Fig. 10
        arithmetic_classes=("barred_spiral", "spiral"),  # the "bar" direction
        chunked_prepare=True,
        clean_inputs=True,
        colour=True,
    ),
)
RAW_KEYS = ("images", "ans")
CLASS_NAMES = ("barred_spiral", "elliptical", "spiral")

_CHUNK = 512  # images converted and resized at a time (Galaxy10 DECaLS is 3.5 GB as uint8)


def simulation(dataset_cfg: dict[str, Any]) -> GalaxySimulation:
    return params_from_config(GalaxySimulation, dataset_cfg["simulate"])


def simulate(dataset_cfg: dict[str, Any], n: int, rng: np.random.Generator) -> dict:
    return simulate_galaxies(n, simulation(dataset_cfg), rng)


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W, 3), labels int16 (N,) the raw ``ans`` ids).

    Float images come back as float32 in [0, 1]; 8-bit images stay uint8 (0-255; four times
    smaller: Galaxy10 DECaLS would take 14 GB as float) and are scaled in :func:`prepare`."""
    images = np.asarray(arrays["images"])
    labels = np.asarray(arrays["ans"])
    if images.ndim != 4 or images.shape[-1] != 3:
        raise RawDataError(f"{path}: key 'images' has shape {images.shape}; expected (N, H, W, 3)")
    if images.shape[0] == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise RawDataError(f"{path}: key 'images' holds no images (shape {images.shape})")
    if labels.shape != (images.shape[0],):
        raise RawDataError(
            f"{path}: key 'ans' has shape {labels.shape}; expected ({images.shape[0]},)"
        )
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise RawDataError(f"{path}: key 'ans' must hold non-negative integer classes")
    if images.dtype == np.uint8:
        pass
    elif np.issubdtype(images.dtype, np.integer):
        if images.min() < 0 or images.max() > 255:
            raise RawDataError(f"{path}: key 'images': integer pixels must be 8-bit (0-255)")
        images = images.astype(np.uint8)
    elif np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32, copy=False)
        check_finite(images, path, "images", "image")
        outside = (images < 0) | (images > 1)
        if outside.any():
            first = int(np.argwhere(outside)[0][0])
            raise RawDataError(
                f"{path}: key 'images': float pixels must lie in [0, 1] (first outside: image "
                f"{first})"
            )
    else:
        raise RawDataError(
            f"{path}: key 'images' has dtype {images.dtype}; expected uint8 or float in [0, 1]"
        )
    return images, labels.astype(np.int16)


def class_lookup(classes: Any) -> dict[int, int]:
    """Raw id -> class index in :data:`CLASS_NAMES`, from ``preprocess.classes``."""
    if not isinstance(classes, dict) or not classes:
        raise ValueError(
            "preprocess.classes: expected a mapping {class name: [raw ids]} over "
            f"{', '.join(CLASS_NAMES)}"
        )
    lookup: dict[int, int] = {}
    for name, ids in classes.items():
        if name not in CLASS_NAMES:
            raise ValueError(
                f"preprocess.classes: unknown class {name!r} (known: {', '.join(CLASS_NAMES)})"
            )
        ids = [ids] if isinstance(ids, int) else list(ids)
        for raw in ids:
            if isinstance(raw, bool) or not isinstance(raw, int | np.integer) or raw < 0:
                raise ValueError(
                    f"preprocess.classes.{name}: raw ids must be non-negative integers, got {raw!r}"
                )
            index = CLASS_NAMES.index(name)
            if lookup.get(int(raw), index) != index:
                raise ValueError(
                    f"preprocess.classes: raw class {raw} is listed under both "
                    f"{CLASS_NAMES[lookup[int(raw)]]!r} and {name!r}"
                )
            lookup[int(raw)] = index
    return lookup


def keep_samples(raw: np.ndarray, dataset_cfg: dict[str, Any]) -> np.ndarray:
    """Which samples (by their raw ``ans`` ids) ``preprocess.classes`` maps; a ValueError
    naming the key when none is."""
    lookup = class_lookup(dataset_cfg["preprocess"]["classes"])
    keep = np.isin(raw, list(lookup))
    if not keep.any():
        present = ", ".join(f"{i} ({GALAXY10_DECALS.get(int(i), '?')})" for i in np.unique(raw))
        raise ValueError(
            f"preprocess.classes: no sample has a mapped class (raw classes present: {present})"
        )
    dropped = int((~keep).sum())
    if dropped:
        log.info("dropped %d of %d samples of unmapped classes", dropped, len(raw))
    return keep


def select(
    checked: tuple[np.ndarray, np.ndarray], keep: np.ndarray, dataset_cfg: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The kept samples of (a chunk of) checked arrays, labels as class indices 0..2."""
    images, raw = checked
    lookup = class_lookup(dataset_cfg["preprocess"]["classes"])
    labels = np.array([lookup[int(i)] for i in raw[keep]], np.int16)
    return (images if keep.all() else images[keep]), labels


SELECT_KEY = "ans"  # the raw key keep_samples reads (prepared chunk by chunk: read first)


def select_split(
    checked: tuple[np.ndarray, np.ndarray], dataset_cfg: dict[str, Any]
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Keep the samples whose raw id ``preprocess.classes`` maps (labels become class indices
    0..2), then a seeded split of those by ``split``."""
    keep = keep_samples(checked[1], dataset_cfg)
    split = configured_split(int(keep.sum()), dataset_cfg["split"])
    return select(checked, keep, dataset_cfg), split


def _resize(images: np.ndarray, size: int) -> tuple[np.ndarray, str]:
    """(n, h, w, 3) in [0, 1] -> float32 (n, size, size, 3) and a description."""
    n, h, w, _ = images.shape
    if h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        images = images[:, top : top + side, left : left + side]
        h = w = side
    if h == size:
        return images.astype(np.float32, copy=False), f"{h}x{w}"
    if h % size == 0:
        f = h // size
        out = images.reshape(n, size, f, size, f, 3).mean(axis=(2, 4), dtype=np.float64)
        return out.astype(np.float32), f"{h}x{h} -> {size}x{size} by {f}x{f} block mean"
    from skimage.transform import resize

    down = size < h
    out = np.stack(
        [resize(img, (size, size, 3), order=1, anti_aliasing=down, mode="edge") for img in images]
    )
    how = "anti-aliased bilinear resize" if down else "bilinear upscaling"
    return np.clip(out, 0, 1).astype(np.float32), f"{h}x{h} -> {size}x{size} by {how}"


def prepare(
    checked: tuple[np.ndarray, np.ndarray],
    dataset_cfg: dict[str, Any],
    raw_path: str,
    split: np.ndarray,
) -> xr.Dataset:
    """Images in [0, 1] as input and target (sample, channel, y, x); ``label`` 0..2."""
    images, labels = checked
    pp = dataset_cfg["preprocess"]
    size = int(pp["image_size"])
    n, h, w, _ = images.shape
    if size > min(h, w):
        log.warning(
            "%s: upscaling %dx%d images to preprocess.image_size = %d", raw_path, h, w, size
        )
    out = np.empty((n, 3, size, size), np.float32)
    how = ""
    for start in range(0, n, _CHUNK):
        chunk = images[start : start + _CHUNK]
        if chunk.dtype == np.uint8:
            chunk = chunk.astype(np.float32) / np.float32(255.0)
        resized, how = _resize(chunk, size)
        out[start : start + len(resized)] = resized.transpose(0, 3, 1, 2)
    ds = xr.Dataset(
        {
            "input": (("sample", "channel", "y", "x"), out),
            "target": (("sample", "channel", "y", "x"), out),
            "label": (("sample",), labels.astype(np.int16)),
        },
        coords={"sample": np.arange(n), "channel": ["R", "G", "B"]},
    )
    ds["channel"].attrs = {"long_name": "colour channel"}
    ds["input"].attrs = {"long_name": "pixel intensity", "units": "1", "scaling": "[0, 1]"}
    ds["target"].attrs = ds["input"].attrs
    ds["label"].attrs = {"long_name": "class", "class_names": list(CLASS_NAMES)}
    classes = {k: list(v) if not isinstance(v, int) else [v] for k, v in pp["classes"].items()}
    ds.attrs["class_names"] = list(CLASS_NAMES)
    ds.attrs["recipe"] = (
        f"Galaxy10 ids {classes} -> classes {list(CLASS_NAMES)} (others dropped); pixels "
        f"scaled to [0, 1]; {'centre-cropped to a square, ' if h != w else ''}{how}; "
        "channels first (R, G, B)"
    )
    return ds
