"""SAXS speckle data (book Ex. 17.1): raw format, checks and the book's preprocessing recipe.

Raw format: ``speckle_images`` (coherent, speckled) and ``target_images`` (incoherent, clean),
scattered intensities in counts, shape ``(N, H, W, 1)`` or ``(N, H, W)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from aeflow.data.kinds import Kind
from aeflow.data.simulate import params_from_config
from aeflow.data.simulate.saxs import SaxsSimulation, simulate_saxs
from aeflow.data.sources import RawDataError, float_array

KINDS = (Kind("saxs", __name__, modality="images", form_factor_rings=True, chunked_prepare=True),)
INPUT_KEY = "speckle_images"
TARGET_KEY = "target_images"
RAW_KEYS = (INPUT_KEY, TARGET_KEY)


def simulate(dataset_cfg: dict[str, Any], n: int, rng: np.random.Generator) -> dict:
    """Raw arrays of ``n`` samples for ``source: simulate``."""
    return simulate_saxs(n, params_from_config(SaxsSimulation, dataset_cfg["simulate"]), rng)


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate raw arrays; return (speckle, target) as float32 of shape (N, H, W).

    Errors name the file and the key: wrong rank or trailing channel, mismatched shapes or N,
    non-finite values, negative counts, empty sets, images too small for the network.
    """
    out = []
    for key in RAW_KEYS:
        a = float_array(arrays, key, path, "(N, H, W)", "sample")
        if a.shape[1] % 4 or a.shape[2] % 4:
            raise RawDataError(
                f"{path}: key {key!r} images are {a.shape[1]}x{a.shape[2]}; "
                "height and width must be multiples of 4 (two 2x poolings)"
            )
        if (a < 0).any():
            first = int(np.argwhere(a < 0)[0][0])
            raise RawDataError(f"{path}: key {key!r} has negative counts (first in sample {first})")
        out.append(a)
    speckle, target = out
    if speckle.shape != target.shape:
        raise RawDataError(
            f"{path}: keys {INPUT_KEY!r} {speckle.shape} and {TARGET_KEY!r} {target.shape} "
            "differ in shape (mismatched N or image size)"
        )
    return speckle, target


def preprocess(
    speckle: np.ndarray,
    target: np.ndarray,
    *,
    log_offset: float = 1.0,
    clip_min: float = 0.0,
    clip_max: float = 1.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The book's recipe: ``log10(x + offset)`` on both; divide both by the per-image maximum
    of the log speckle image; clip to ``[clip_min, clip_max]``.

    Returns (input, target, scale) with ``scale`` the per-image divisor, shape (N,), so that
    ``10 ** (input * scale) - offset`` recovers counts (below the clip).
    """
    log_speckle = np.log10(speckle + log_offset, dtype=np.float32)
    log_target = np.log10(target + log_offset, dtype=np.float32)
    scale = log_speckle.reshape(len(log_speckle), -1).max(axis=1)
    if (scale <= 0).any():
        first = int(np.flatnonzero(scale <= 0)[0])
        raise RawDataError(
            f"key {INPUT_KEY!r}: sample {first} has maximum log10(x + {log_offset}) <= 0 "
            "(an empty image cannot be normalized)"
        )
    s = scale[:, None, None]
    inputs = np.clip(log_speckle / s, clip_min, clip_max)
    targets = np.clip(log_target / s, clip_min, clip_max)
    return inputs.astype(np.float32), targets.astype(np.float32), scale.astype(np.float32)


def q_axis(n: int, dataset_cfg: dict[str, Any]) -> tuple[np.ndarray, str, str] | None:
    """Momentum transfer of the pixels along one detector axis (beam at pixel n // 2): from
    the simulator's geometry (in 1/a, a = its length unit), or from a file's stated
    ``preprocess.geometry`` (wavelength, sample-detector distance, pixel size; in nm^-1,
    q = 4 pi / lambda sin(theta / 2) with theta = atan(offset / distance)); None without
    one. Returns (q, units, long_name)."""
    if dataset_cfg["source"] == "simulate":
        p = params_from_config(SaxsSimulation, dataset_cfg["simulate"])
        if p.image_size != n:
            return None
        what = "momentum transfer along the axis in 1/a (a: the simulator's length unit)"
        return p.q_axis, "1", what
    geometry = dataset_cfg["preprocess"].get("geometry")
    if not geometry:
        return None
    offset_mm = (np.arange(n) - n // 2) * geometry["pixel_size_um"] * 1e-3
    theta = np.arctan2(offset_mm, geometry["distance_mm"])
    q = 4 * np.pi / geometry["wavelength_nm"] * np.sin(theta / 2)
    what = (
        f"momentum transfer along the axis (wavelength {geometry['wavelength_nm']:g} nm, "
        f"distance {geometry['distance_mm']:g} mm, pixel {geometry['pixel_size_um']:g} um)"
    )
    return q, "nm-1", what


def with_q(ds: xr.Dataset, dataset_cfg: dict[str, Any]) -> xr.Dataset:
    """``ds`` with ``qy`` / ``qx`` coordinates on the detector axes where the geometry is
    known (:func:`q_axis`)."""
    for dim, name in (("y", "qy"), ("x", "qx")):
        axis = q_axis(ds.sizes[dim], dataset_cfg)
        if axis is None:
            continue
        q, units, what = axis
        ds = ds.assign_coords({name: (dim, q)})
        ds[name].attrs = {"long_name": what, "units": units}
    return ds


def to_dataset(inputs: np.ndarray, targets: np.ndarray, scale: np.ndarray) -> xr.Dataset:
    """Assemble the prepared SAXS dataset with named dims and self-describing attrs."""
    n, h, w = inputs.shape
    ds = xr.Dataset(
        {
            "input": (("sample", "y", "x"), inputs),
            "target": (("sample", "y", "x"), targets),
            "log_scale": (("sample",), scale),
        },
        coords={
            "sample": np.arange(n),
            "y": np.arange(h),
            "x": np.arange(w),
        },
    )
    scaling = "log10(counts + offset) / log_scale"
    ds["input"].attrs = {
        "long_name": "speckled (coherent) scattering pattern",
        "units": "1",
        "scaling": scaling,
    }
    ds["target"].attrs = {
        "long_name": "speckle-free (incoherent) scattering pattern",
        "units": "1",
        "scaling": scaling,
    }
    ds["log_scale"].attrs = {
        "long_name": "per-image maximum of log10(speckle + offset), the normalization divisor",
    }
    ds["y"].attrs = {"long_name": "detector row", "units": "1"}  # pixel index
    ds["x"].attrs = {"long_name": "detector column", "units": "1"}
    return ds


def prepare(
    checked: tuple[np.ndarray, np.ndarray],
    dataset_cfg: dict[str, Any],
    raw_path: str,
    split: np.ndarray,
) -> xr.Dataset:
    """Apply the recipe to checked arrays (per image; the split is not needed); a Dataset
    with dims (sample, y, x)."""
    speckle, target = checked
    pp = {k: v for k, v in dataset_cfg["preprocess"].items() if k != "geometry"}
    try:
        inputs, targets, scale = preprocess(speckle, target, **pp)
    except RawDataError as exc:
        raise RawDataError(f"{raw_path}: {exc}") from None
    ds = to_dataset(inputs, targets, scale)
    ds = with_q(ds, dataset_cfg)
    ds.attrs["recipe"] = (
        "log10(x + log_offset) on speckle and target; both divided by the per-image maximum "
        "of the log speckle image; clipped to [clip_min, clip_max] (Deep Learning for Physics "
        "Research, Ex. 17.1)"
    )
    return ds
