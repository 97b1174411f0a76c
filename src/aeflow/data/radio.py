"""Cosmic-ray radio traces (book Ex. 9.2): raw format, checks and the book's preprocessing.

Raw format: ``traces`` (signal + noise) and ``signals`` (the pure air-shower signal, all zeros
for noise-only traces), shape ``(N, T)`` or ``(N, T, 1)``; 500 samples at 180 MHz in the book.
Preprocessing divides both by the standard deviation of the training traces (one number).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data.kinds import Kind
from aeflow.data.simulate import params_from_config
from aeflow.data.simulate.radio import RadioSimulation, simulate_radio
from aeflow.data.sources import RawDataError, float_array

KINDS = (Kind("radio", __name__, modality="traces", signal_flags=True, chunked_prepare=True),)
INPUT_KEY = "traces"
TARGET_KEY = "signals"
RAW_KEYS = (INPUT_KEY, TARGET_KEY)
BOOK_SAMPLING_RATE_MHZ = 180.0

log = logging.getLogger(__name__)


def simulation(dataset_cfg: dict[str, Any]) -> RadioSimulation:
    return params_from_config(RadioSimulation, dataset_cfg["simulate"])


def simulate(dataset_cfg: dict[str, Any], n: int, rng: np.random.Generator) -> dict:
    """Raw arrays of ``n`` samples for ``source: simulate``."""
    return simulate_radio(n, simulation(dataset_cfg), rng)


def sampling_rate(dataset_cfg: dict[str, Any]) -> float:
    """The sampling rate: ``preprocess.sampling_rate_mhz``, else the simulator's (traces
    from a file must state theirs: :func:`check_dataset`)."""
    rate = dataset_cfg["preprocess"].get("sampling_rate_mhz")
    if rate is not None:
        return float(rate)
    if dataset_cfg["source"] == "simulate":
        return float(dataset_cfg["simulate"].get("sampling_rate_mhz", BOOK_SAMPLING_RATE_MHZ))
    raise ValueError(_NO_RATE)


_NO_RATE = (
    "preprocess.sampling_rate_mhz: state the sampling rate of the traces in the file (the "
    f"book's radio data: {BOOK_SAMPLING_RATE_MHZ:g} MHz); the time axis, the spectra and the "
    "band-pass baseline follow it"
)


def band(dataset_cfg: dict[str, Any]) -> list[float] | None:
    """The band the signal lives in: ``preprocess.band_mhz``, else a simulation's signal
    band, else None (the experiments' default)."""
    stated = dataset_cfg["preprocess"].get("band_mhz")
    if stated is not None:
        return list(stated)
    if dataset_cfg["source"] == "simulate":
        return list(dataset_cfg["simulate"]["signal_band_mhz"])
    return None


def check_band(name: str, band_mhz, rate: float) -> None:
    """Config check of a stated band: rising, and below Nyquist of the sampling rate."""
    lo, hi = band_mhz
    if not lo < hi < rate / 2:
        raise ValueError(
            f"datasets.{name}.preprocess.band_mhz: [{lo}, {hi}] must rise and stay below "
            f"Nyquist ({rate / 2:g} MHz at a sampling rate of {rate:g} MHz)"
        )


def check_dataset(name: str, dataset_cfg: dict[str, Any]) -> None:
    """Config check: traces from a file state their sampling rate; simulated traces have one;
    a stated band lies below Nyquist (ValueError naming the key)."""
    if (
        dataset_cfg["source"] != "simulate"
        and dataset_cfg["preprocess"]["sampling_rate_mhz"] is None
    ):
        raise ValueError(f"datasets.{name}.{_NO_RATE}")
    if dataset_cfg["source"] == "simulate":
        rate = dataset_cfg["preprocess"]["sampling_rate_mhz"]
        simulated = dataset_cfg["simulate"]["sampling_rate_mhz"]
        if rate is not None and rate != simulated:
            raise ValueError(
                f"datasets.{name}.preprocess.sampling_rate_mhz = {rate} differs from "
                f"simulate.sampling_rate_mhz = {simulated}; leave it null for simulated data"
            )
    stated = dataset_cfg["preprocess"].get("band_mhz")
    if stated is not None:
        check_band(name, stated, sampling_rate(dataset_cfg))


def _trace_geometry(dataset_cfg: dict[str, Any]) -> tuple[int | None, float]:
    """Trace length (None if only the file knows) and sampling rate of a radio dataset."""
    simulated = dataset_cfg["source"] == "simulate"
    length = dataset_cfg["simulate"]["trace_length"] if simulated else None
    return length, sampling_rate(dataset_cfg)


def check_experiment(name: str, exp_cfg: dict[str, Any], datasets: dict[str, Any]) -> None:
    """Config check: the band-pass below Nyquist; ``also_on`` traces sampled like the
    training traces (the Wiener filter, band-pass and windows are fitted on those)."""
    length, rate = _trace_geometry(datasets[exp_cfg["dataset"]])
    band = exp_cfg["evaluate"]["baselines"]["bandpass_mhz"]
    if band[1] >= rate / 2:
        raise ValueError(
            f"experiments.{name}.evaluate.baselines.bandpass_mhz: high edge {band[1]} MHz is "
            f"not below Nyquist ({rate / 2} MHz) of dataset {exp_cfg['dataset']!r}"
        )
    for other in exp_cfg["evaluate"]["also_on"]:
        o_length, o_rate = _trace_geometry(datasets[other])
        if o_rate != rate or (None not in (length, o_length) and o_length != length):
            raise ValueError(
                f"experiments.{name}.evaluate.also_on: dataset {other!r} has traces of "
                f"{o_length} samples at {o_rate} MHz, the model was trained on {length} "
                f"samples at {rate} MHz"
            )


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate raw arrays; return (traces, signals) as float32 of shape (N, T).

    Errors name the file and the key: wrong rank, mismatched shapes, non-finite values, empty
    sets, traces too short.
    """
    out = []
    for key in RAW_KEYS:
        a = float_array(arrays, key, path, "(N, T)", "trace")
        if a.shape[1] < 16:
            raise RawDataError(f"{path}: key {key!r} traces have {a.shape[1]} samples (< 16)")
        out.append(a)
    traces, signals = out
    if traces.shape != signals.shape:
        raise RawDataError(
            f"{path}: keys {INPUT_KEY!r} {traces.shape} and {TARGET_KEY!r} {signals.shape} "
            "differ in shape (mismatched N or trace length)"
        )
    return traces, signals


def signal_to_noise(traces: np.ndarray, signals: np.ndarray) -> np.ndarray:
    """``max|signal| / RMS(noise)`` per trace, noise = trace - signal; 0 for noise-only."""
    noise = traces.astype(np.float64) - signals
    rms = np.sqrt(np.mean(noise * noise, axis=1))
    peak = np.abs(signals).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, peak / rms, 0.0)


def prepare_statistics(
    chunks: Iterable[tuple[tuple, np.ndarray]], dataset_cfg: dict[str, Any], raw_path: str
) -> dict:
    """The normalization (``norm``: std, where from) of :func:`prepare`, over ``(checked,
    split)`` chunks: the std of the training traces' values, else of all traces. Sums run
    over blocks of :data:`aeflow.data.chunks.BLOCK` traces in file order, so the std does
    not depend on how the file was chunked."""
    from aeflow.data.chunks import BLOCK

    sums = np.zeros((2, 3))  # (train, all) x (count, sum, sum of squares)
    for (traces, _), split in chunks:
        for b in range(0, len(traces), BLOCK):
            block, train = traces[b : b + BLOCK].astype(np.float64), split[b : b + BLOCK] == "train"
            for row, values in enumerate((block[train], block)):
                sums[row] += (values.size, values.sum(), np.square(values).sum())
    row = 0 if sums[0, 0] > 0 else 1
    if row == 1:
        log.warning("%s: no training traces; normalizing by the std of all traces", raw_path)
    count, total, squares = sums[row]
    mean = total / max(count, 1)
    std = float(np.sqrt(max(squares / max(count, 1) - mean * mean, 0.0)))
    if not std > 0:
        raise RawDataError(f"{raw_path}: key {INPUT_KEY!r}: traces are constant (std 0)")
    return {"norm": (std, "train split" if row == 0 else "all traces (no train split)")}


def prepare(
    checked: tuple[np.ndarray, np.ndarray],
    dataset_cfg: dict[str, Any],
    raw_path: str,
    split: np.ndarray,
    norm: tuple[float, str] | None = None,
) -> xr.Dataset:
    """Normalize by the training traces' std (``norm``: from :func:`prepare_statistics`,
    computed here from ``checked`` when not given); a Dataset with dims (sample, time)."""
    traces, signals = checked
    if norm is None:
        norm = prepare_statistics([(checked, split)], dataset_cfg, raw_path)["norm"]
    simulated = dataset_cfg["source"] == "simulate"
    noise_model = dataset_cfg["simulate"].get("noise") if simulated else None
    return trace_dataset(
        traces,
        signals,
        sampling_rate(dataset_cfg),
        norm,
        noise_model=noise_model or "unknown (external file)",
        recipe="traces and signals divided by the std of the training traces "
        "(Deep Learning for Physics Research, Ex. 9.2)",
    )


def trace_dataset(
    traces: np.ndarray,
    signals: np.ndarray | None,
    rate: float,
    norm: tuple[float, str],
    *,
    noise_model: str,
    recipe: str,
    signal_name: str = "air-shower signal",
    pulse: str = "an air-shower pulse",
) -> xr.Dataset:
    """The prepared Dataset of traces (N, T) sampled at ``rate`` MHz, divided by ``norm``
    (std, where from): ``input`` the traces, ``target`` the clean ``signals`` with each
    trace's ``snr`` and ``has_signal``, or without signals the traces themselves (the input
    is its own target: reconstruction)."""
    std, std_from = norm
    n, t = traces.shape
    data = {"input": (("sample", "time"), traces / np.float32(std))}
    if signals is not None:
        snr = signal_to_noise(traces, signals)
        data |= {
            "target": (("sample", "time"), signals / np.float32(std)),
            "snr": (("sample",), snr.astype(np.float32)),
            "has_signal": (("sample",), np.abs(signals).max(axis=1) > 0),
        }
    else:
        data["target"] = data["input"]
    ds = xr.Dataset(data, coords={"sample": np.arange(n), "time": np.arange(t) * (1e3 / rate)})
    scaled = {"units": "1", "scaling": "voltage / norm_std"}
    if signals is not None:
        ds["input"].attrs = {"long_name": "recorded trace (signal + noise)"} | scaled
        ds["target"].attrs = {"long_name": signal_name} | scaled
        ds["snr"].attrs = {"long_name": "max|signal| / RMS(trace - signal); 0 for noise-only"}
        ds["has_signal"].attrs = {"long_name": f"trace holds {pulse}"}
    else:
        ds["input"].attrs = {"long_name": "recorded trace"} | scaled
        ds["target"].attrs = {"long_name": "recorded trace (its own target)"} | scaled
    ds["time"].attrs = {"units": "ns"}
    ds.attrs.update(
        {
            "sampling_rate_mhz": rate,
            "norm_std": std,
            "norm_std_from": std_from,
            "noise_model": noise_model,
            "recipe": recipe,
        }
    )
    return ds
