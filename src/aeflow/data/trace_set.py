"""Your own time traces: kind ``trace_set``.

A local ``.npz``, HDF5 (``.h5``/``.hdf5``) file or Zarr store (``.zarr``) whose arrays the
config names (``keys``):

- ``traces`` (required): (N, T) or (N, T, 1), any length T >= 16, the recorded traces;
- ``targets`` (optional): the clean signals of the same shape (a simulation's truth), all
  zeros for noise-only traces: denoising pairs, each trace's SNR and signal flag, and signal
  detectors; without them each trace is its own target (reconstruction, or denoising with
  a synthetic ``corrupt.noise_sd``);
- ``split`` (optional): (N,) strings ``train`` / ``val`` / ``test``, or booleans marking the
  test set; without it the configured random ``split``.

``preprocess.sampling_rate_mhz`` and ``preprocess.band_mhz`` are required: the time axis,
the spectra, the Wiener and matched filters follow the rate, and the band-pass baseline the
band (unless an experiment sets its own). ``prepare`` divides traces and signals by the std
of the training traces (one number), like the book's radio recipe.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data import own_files, radio
from aeflow.data.kinds import Kind
from aeflow.data.sources import RawDataError, float_array

KINDS = (
    Kind(
        "trace_set",
        __name__,
        modality="traces",
        real_data_only=True,
        converted_raw=True,
        chunked_prepare=True,
        signal_flags=True,  # with keys.targets (checked per experiment)
    ),
)
RAW_KEYS = ("traces",)
OPTIONAL_RAW_KEYS = ("targets", "split")
MIN_LENGTH = 16


# ---- config checks (hooks called by aeflow.config) ---------------------------------------------
def band(dataset_cfg: dict[str, Any]) -> list[float]:
    """The stated band: the default pass band of the experiments' band-pass baseline."""
    return list(dataset_cfg["preprocess"]["band_mhz"])


def clean_targets(dataset_cfg: dict[str, Any]) -> bool:
    """Whether the file brings clean signals (``keys.targets``)."""
    return bool((dataset_cfg.get("keys") or {}).get("targets"))


def check_dataset(name: str, ds: dict[str, Any]) -> None:
    keys = ds.get("keys") or {}
    unused = [
        key
        for key, given in (
            ("keys.images", keys.get("images") not in (None, "images")),  # (its default)
            ("keys.labels", bool(keys.get("labels"))),
            ("channel_names", bool(ds.get("channel_names"))),
        )
        if given
    ]
    if unused:
        raise ValueError(
            f"datasets.{name}.{unused[0]}: kind trace_set reads traces (keys.traces), targets "
            "and split"
        )
    if ds["source"] in ("simulate", "download", "installed"):
        raise ValueError(
            f"datasets.{name}.source: kind trace_set reads a local .npz, .h5/.hdf5 file or a "
            f".zarr store, got {ds['source']!r} (simulated radio traces: kind radio)"
        )
    radio.check_band(name, ds["preprocess"]["band_mhz"], ds["preprocess"]["sampling_rate_mhz"])


def check_experiment(name: str, exp: dict[str, Any], datasets: dict[str, Any]) -> None:
    """Clean targets where the experiment needs them; the band and ``also_on`` traces
    checked as for radio traces."""
    from aeflow.models import catalog

    synthetic = bool((exp.get("corrupt") or {}).get("noise_sd"))
    for dataset in (exp["dataset"], *exp["evaluate"]["also_on"]):
        has_targets = clean_targets(datasets[dataset])
        if catalog.traits(exp["model"]).detector and not has_targets:
            raise ValueError(
                f"experiments.{name}.model: {exp['model']!r} learns and is judged on signal vs "
                f"noise-only traces from clean signals: name them in datasets.{dataset}"
                ".keys.targets"
            )
        if exp["task"] == "denoise" and not (has_targets or synthetic):
            raise ValueError(
                f"experiments.{name}.task: denoise needs clean signals (datasets.{dataset}"
                ".keys.targets) or corrupt.noise_sd (or task: reconstruct)"
            )
    radio.check_experiment(name, exp, datasets)


# ---- fetch and checks of the raw arrays --------------------------------------------------------
def fetch(dataset_cfg: dict[str, Any], out: Path, chunk_bytes: int | None = None) -> str:
    """Copy the configured arrays of the local source into ``out`` (.npz, canonical keys)
    chunk by chunk (:func:`aeflow.data.own_files.fetch`)."""
    return own_files.fetch(dataset_cfg, out, "traces", chunk_bytes)


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple:
    """(traces float32 (N, T), targets or None, split or None), checked: real, finite,
    long enough, targets of the traces' shape, split values known."""
    traces = float_array(arrays, "traces", path, "(N, T)", "trace")
    if traces.shape[1] < MIN_LENGTH:
        raise RawDataError(
            f"{path}: key 'traces' holds traces of {traces.shape[1]} samples (< {MIN_LENGTH})"
        )
    targets = None
    if "targets" in arrays:
        targets = float_array(arrays, "targets", path, "(N, T)", "trace")
        if targets.shape != traces.shape:
            raise RawDataError(
                f"{path}: key 'targets' has shape {targets.shape}; 'traces' {traces.shape}"
            )
    return traces, targets, own_files.checked_split(arrays, len(traces), path)


# ---- prepare -----------------------------------------------------------------------------------
file_split = own_files.file_split


def prepare_statistics(
    chunks: Iterable[tuple[tuple, np.ndarray]], dataset_cfg: dict[str, Any], raw_path: str
) -> dict:
    """The std the traces are divided by (:func:`aeflow.data.radio.prepare_statistics`)."""
    return radio.prepare_statistics(
        (((traces, targets), split) for (traces, targets, _), split in chunks),
        dataset_cfg,
        raw_path,
    )


def prepare(
    checked: tuple,
    dataset_cfg: dict[str, Any],
    raw_path: str,
    split: np.ndarray,
    norm: tuple[float, str] | None = None,
) -> xr.Dataset:
    """Traces (and clean signals) divided by the training traces' std, on a time axis in ns
    from the stated rate; the stated band in the attrs."""
    traces, targets, _ = checked
    if norm is None:
        norm = prepare_statistics([(checked, split)], dataset_cfg, raw_path)["norm"]
    pp = dataset_cfg["preprocess"]
    ds = radio.trace_dataset(
        traces,
        targets,
        float(pp["sampling_rate_mhz"]),
        norm,
        noise_model="unknown (your traces)",
        recipe="traces (and signals) divided by the std of the training traces",
        signal_name="clean signal",
        pulse="a signal",
    )
    ds.attrs["band_mhz"] = [float(b) for b in pp["band_mhz"]]
    return ds
