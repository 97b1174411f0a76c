"""Cosmic-ray air-shower footprints (book Ex. 18.2): raw format, checks, preprocessing.

Raw format (the book's, and the simulator's): ``shower_maps`` (N, H, W, 1) or (N, H, W),
square, the signals (VEM) of a grid of ground stations, 9 x 9 in the book; optionally the
true ``energy`` (N,) in eV, ``zenith`` and ``azimuth`` (N,) in degrees and ``core`` (N, 2)
in metres from the array centre (kept when present in an ``.npz``).

Preprocessing: ``preprocess.transform`` ``log1p`` (default) takes ``log10(1 + S)``, which
tames the signals' range of three decades, ``none`` keeps S; the result is divided by its
maximum over the training split, so training values lie in [0, 1]. :func:`to_signal` and
:func:`from_signal` convert between the two with a prepared dataset's attrs. The station
spacing (``simulate.spacing_m``, default 1500 m, also used for files) goes to
``attrs["spacing_m"]`` for the observables (:mod:`aeflow.evaluation.observables`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data.kinds import Kind
from aeflow.data.simulate import params_from_config
from aeflow.data.simulate.airshowers import AirShowerSimulation, simulate_airshowers
from aeflow.data.sources import NPZ_SUFFIXES, UNREADABLE, RawDataError, float_array, read_arrays

KINDS = (
    Kind(
        "airshowers",
        __name__,
        modality="images",
        generative=True,
        observables=True,
        chunked_prepare=True,
        clean_inputs=True,
    ),
)
RAW_KEYS = ("shower_maps",)
# optional raw arrays: key -> shape after N
EXTRA_KEYS = {"energy": (), "zenith": (), "azimuth": (), "core": (2,)}
OPTIONAL_RAW_KEYS = tuple(EXTRA_KEYS)
# the true shower parameters in the prepared dataset: variable -> (long_name, units)
VARIABLE_ATTRS = {
    "energy": ("primary energy", "eV"),
    "zenith": ("zenith angle", "degree"),
    "azimuth": ("azimuth of the arrival direction", "degree"),
    "core_x": ("shower core x from the array centre", "m"),
    "core_y": ("shower core y from the array centre", "m"),
}
TRANSFORMS = ("log1p", "none")
DEFAULT_TRANSFORM = "log1p"

log = logging.getLogger(__name__)


def simulation(dataset_cfg: dict[str, Any]) -> AirShowerSimulation:
    return params_from_config(AirShowerSimulation, dataset_cfg.get("simulate") or {})


def simulate(dataset_cfg: dict[str, Any], n: int, rng: np.random.Generator) -> dict:
    """Raw arrays of ``n`` samples for ``source: simulate``."""
    return simulate_airshowers(n, simulation(dataset_cfg), rng)


def spacing(dataset_cfg: dict[str, Any]) -> float:
    """The station spacing in metres: ``simulate.spacing_m`` (also for files), else 1500."""
    section = dataset_cfg.get("simulate") or {}
    return float(section.get("spacing_m", AirShowerSimulation.spacing_m))


def read_raw(path: str | Path, name: str | None = None) -> dict[str, np.ndarray] | None:
    """``shower_maps`` and whichever of the extra arrays an ``.npz`` holds; None for other
    formats (the generic reader then takes ``shower_maps``). Errors call the file ``name``
    (default: its path)."""
    path = Path(path)
    if path.suffix.lower() not in NPZ_SUFFIXES:
        return None
    label = name or str(path)
    arrays = read_arrays(path, RAW_KEYS, name=label)  # missing file or key, not an npz
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in EXTRA_KEYS:
                if key in npz.files:
                    arrays[key] = npz[key]
    except (ValueError, *UNREADABLE) as exc:
        # an object array refused by allow_pickle=False, a truncated or damaged member
        raise RawDataError(f"{label}: key {key!r}: cannot read: {exc}") from exc
    return arrays


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Validate raw arrays; return (signals float64 (N, H, W), extras {key: float64 array}).

    Errors name the file and the key: wrong rank, non-square maps, non-finite or negative
    signals, extras of the wrong shape or with non-finite values.
    """
    if RAW_KEYS[0] not in arrays:
        raise RawDataError(f"{path}: missing key {RAW_KEYS[0]!r}")
    maps = float_array(arrays, RAW_KEYS[0], path, "(N, H, W)", "footprint")
    n, h, w = maps.shape
    if h != w or h < 2:
        raise RawDataError(
            f"{path}: key {RAW_KEYS[0]!r} has maps of {h} x {w} stations; expected a square grid"
        )
    negative = maps < 0
    if negative.any():
        first = int(np.argwhere(negative)[0][0])
        raise RawDataError(
            f"{path}: key {RAW_KEYS[0]!r} has {int(negative.sum())} negative signals "
            f"(first in footprint {first})"
        )
    extras: dict[str, np.ndarray] = {}
    for key, tail in EXTRA_KEYS.items():
        if key not in arrays:
            continue
        a = np.asarray(arrays[key])
        if a.shape != (n, *tail):
            expected = ", ".join(str(d) for d in (n, *tail)) + ("," if not tail else "")
            raise RawDataError(
                f"{path}: key {key!r} has shape {a.shape}; expected ({expected}) "
                f"to match {n} footprints in {RAW_KEYS[0]!r}"
            )
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise RawDataError(f"{path}: key {key!r} has non-real dtype {a.dtype}")
        a = a.astype(np.float64)
        bad = ~np.isfinite(a)
        if bad.any():
            first = int(np.argwhere(bad)[0][0])
            raise RawDataError(
                f"{path}: key {key!r} has NaN/inf values (first in footprint {first})"
            )
        extras[key] = a
    return maps.astype(np.float64), extras


def from_signal(signal: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    """Signals (VEM) to the prepared scale of a dataset with these attrs."""
    s = np.asarray(signal, dtype=np.float64)
    x = np.log10(1.0 + s) if attrs["signal_transform"] == "log1p" else s
    return x / float(attrs["signal_scale"])


def to_signal(x: np.ndarray, attrs: Mapping[str, Any]) -> np.ndarray:
    """The inverse of :func:`from_signal`: prepared values to signals in VEM, negative
    results (a generator's undershoot) clipped to 0."""
    t = np.asarray(x, dtype=np.float64) * float(attrs["signal_scale"])
    s = 10.0**t - 1.0 if attrs["signal_transform"] == "log1p" else t
    return np.maximum(s, 0.0)


def _transform(dataset_cfg: dict[str, Any]) -> str:
    transform = (dataset_cfg.get("preprocess") or {}).get("transform", DEFAULT_TRANSFORM)
    if transform not in TRANSFORMS:
        raise ValueError(
            f"preprocess.transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}"
        )
    return transform


def prepare_statistics(
    chunks: Iterable[tuple[tuple, np.ndarray]], dataset_cfg: dict[str, Any], raw_path: str
) -> dict:
    """The scale (``scale``: value, where from) of :func:`prepare` over ``(checked, split)``
    chunks: the maximum of the transformed training footprints, else of all."""
    attrs = {"signal_transform": _transform(dataset_cfg), "signal_scale": 1.0}
    train_max, all_max = -np.inf, -np.inf
    for (signals, _), split in chunks:
        transformed = from_signal(signals, attrs)
        train = np.asarray(split) == "train"
        if len(transformed):
            all_max = max(all_max, float(transformed.max()))
        if train.any():
            train_max = max(train_max, float(transformed[train].max()))
    if train_max > -np.inf:
        scale, scale_from = train_max, "train split"
    else:
        scale, scale_from = all_max, "all footprints (no train split)"
        log.warning("%s: no training footprints; scaling by the maximum of all", raw_path)
    if not scale > 0:
        raise RawDataError(f"{raw_path}: key {RAW_KEYS[0]!r}: all training footprints are empty")
    return {"scale": (scale, scale_from)}


def prepare(
    checked: tuple[np.ndarray, dict[str, np.ndarray]],
    dataset_cfg: dict[str, Any],
    raw_path: str,
    split: np.ndarray,
    scale: tuple[float, str] | None = None,
) -> xr.Dataset:
    """Transformed footprints (input = target), scaled by the training maximum (``scale``:
    from :func:`prepare_statistics`, computed here from ``checked`` when not given); the true
    shower parameters when known. Dims (sample, y, x)."""
    signals, extras = checked
    transform = _transform(dataset_cfg)
    if scale is None:
        scale = prepare_statistics([(checked, split)], dataset_cfg, raw_path)["scale"]
    scale, scale_from = scale
    attrs: dict[str, Any] = {"signal_transform": transform, "signal_scale": scale}
    values = (from_signal(signals, attrs)).astype(np.float32)
    data: dict[str, Any] = {
        "input": (("sample", "y", "x"), values),
        "target": (("sample", "y", "x"), values),
    }
    if "energy" in extras:
        data["energy"] = (("sample",), extras["energy"])
    for key in ("zenith", "azimuth"):
        if key in extras:
            data[key] = (("sample",), extras[key].astype(np.float32))
    if "core" in extras:
        data["core_x"] = (("sample",), extras["core"][:, 0].astype(np.float32))
        data["core_y"] = (("sample",), extras["core"][:, 1].astype(np.float32))
    # station positions: the array centre at 0 (aeflow.evaluation.observables)
    h, w = values.shape[1:]
    pitch = spacing(dataset_cfg)
    positions = {
        "y": (np.arange(h) - (h - 1) / 2) * pitch,
        "x": (np.arange(w) - (w - 1) / 2) * pitch,
    }
    ds = xr.Dataset(data, coords={"sample": np.arange(len(signals))} | positions)
    ds["x"].attrs = {"long_name": "station x (grid column) from the array centre", "units": "m"}
    ds["y"].attrs = {"long_name": "station y (grid row) from the array centre", "units": "m"}
    scaling = (
        "log10(1 + station signal / VEM) / scale" if transform == "log1p" else "signal / scale"
    )
    ds["input"].attrs = {"long_name": "station signal", "units": "1", "scaling": scaling}
    ds["target"].attrs = ds["input"].attrs
    for key, (name, unit) in VARIABLE_ATTRS.items():
        if key in ds:
            ds[key].attrs = {"long_name": name, "units": unit}
    step = "log10(1 + S)" if transform == "log1p" else "S"
    ds.attrs.update(
        {
            "signal_transform": transform,
            "signal_scale": scale,
            "signal_scale_from": scale_from,
            "signal_units": "VEM",
            "spacing_m": spacing(dataset_cfg),
            "recipe": f"station signals S (VEM) -> {step}, divided by its maximum over the "
            "training footprints (Deep Learning for Physics Research, Ex. 18.2)",
        }
    )
    return ds
