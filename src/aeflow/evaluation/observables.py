"""Physical observables of air-shower footprints, to compare generated with simulated ones.

Footprints are station signals in VEM, shape (N, H, W), on a square grid of ``spacing_m``
with pixel ``[row, col]`` at ``x = (col - (W - 1) / 2) * spacing``, ``y = (row - (H - 1) / 2)
* spacing`` (the array centre at 0; :func:`aeflow.data.simulate.airshowers.station_grid`).
A station counts as triggered when its signal is at least ``threshold`` (3 VEM, the
simulator's trigger); only triggered stations are read out, so the total signal and the core
use them alone, and the small positive values a generator leaves in silent stations do not
count.

Observables per footprint (:func:`footprint_observables`):

* ``total_signal``: the sum of the triggered stations (VEM), an energy estimator;
* ``max_signal``: the largest station signal (VEM);
* ``n_triggered``: the number of triggered stations;
* ``n_saturated``: the number of saturated stations, at the top of the data's scale (the
  largest training signal, 1000 VEM in the simulation; within ``SATURATED_FRACTION`` of it on
  the scaled log axis) - the pile-up a generator must reproduce, not only approach;
* ``core_x``, ``core_y``: the signal-weighted barycentre of the triggered stations (m), a
  core estimate (NaN without a triggered station);
* ``lateral_slope``: the least-squares slope of log10 S against log10 r over the triggered
  stations farther than half a spacing from the barycentre (the LDF's steepness, about
  -beta; NaN with fewer than three such stations or all at one distance).

:func:`compare_observables` compares their distributions with the 1-Wasserstein distance.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

OBSERVABLES = (
    "total_signal",
    "max_signal",
    "n_triggered",
    "n_saturated",
    "core_x",
    "core_y",
    "lateral_slope",
)
# axis labels of the observables
LABELS = {
    "total_signal": "total signal (VEM)",
    "max_signal": "largest station signal (VEM)",
    "n_triggered": "triggered stations",
    "n_saturated": "saturated stations",
    "core_x": "signal-weighted core x (m)",
    "core_y": "signal-weighted core y (m)",
    "lateral_slope": "lateral slope d log S / d log r",
}
DEFAULT_THRESHOLD_VEM = 3.0
# a station is saturated at or above this fraction of the scaled top (1 = the largest
# training signal): 0.999 of log10(1 + 1000 VEM) is 993 VEM
SATURATED_FRACTION = 0.999
MIN_STATIONS_FOR_SLOPE = 3


def _grid(h: int, w: int, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    x = (np.arange(w) - (w - 1) / 2) * spacing_m
    y = (np.arange(h) - (h - 1) / 2) * spacing_m
    return x[None, :], y[:, None]


def footprint_observables(
    signal: np.ndarray,
    spacing_m: float,
    threshold: float = DEFAULT_THRESHOLD_VEM,
    saturation: float | None = None,
) -> dict[str, np.ndarray]:
    """The observables of footprints ``signal`` (N, H, W) in VEM, each an array (N,);
    ``n_saturated`` counts stations at or above ``saturation`` VEM (given)."""
    s = np.asarray(signal, dtype=np.float64)
    if s.ndim == 4 and s.shape[-1] == 1:
        s = s[..., 0]
    if s.ndim != 3:
        raise ValueError(f"footprints must have shape (N, H, W), got {np.shape(signal)}")
    if not spacing_m > 0:
        raise ValueError(f"spacing_m must be positive, got {spacing_m}")
    x, y = _grid(s.shape[1], s.shape[2], spacing_m)
    triggered = s >= threshold
    # what the array reads out: the triggered stations (a generator's sub-threshold residue
    # in silent stations would pull the barycentre towards the array centre)
    weight = np.where(triggered, s, 0.0)
    total = weight.sum(axis=(1, 2))
    has = total > 0
    safe = np.where(has, total, 1.0)
    core_x = np.where(has, (weight * x).sum(axis=(1, 2)) / safe, np.nan)
    core_y = np.where(has, (weight * y).sum(axis=(1, 2)) / safe, np.nan)
    out = {
        "total_signal": total,
        "max_signal": s.max(axis=(1, 2)),
        "n_triggered": triggered.sum(axis=(1, 2)).astype(np.float64),
        "core_x": core_x,
        "core_y": core_y,
        "lateral_slope": _lateral_slopes(s, triggered, x, y, core_x, core_y, spacing_m),
    }
    if saturation is not None:
        out["n_saturated"] = (s >= saturation).sum(axis=(1, 2)).astype(np.float64)
    return out


def _lateral_slopes(s, triggered, x, y, core_x, core_y, spacing_m) -> np.ndarray:
    """Least-squares slope of log10 S on log10 r per footprint, vectorized over footprints."""
    cx = np.nan_to_num(core_x)[:, None, None]
    cy = np.nan_to_num(core_y)[:, None, None]
    r = np.hypot(x - cx, y - cy)
    use = triggered & (r > spacing_m / 2) & (s > 0)
    lr = np.log10(np.where(use, r, 1.0))
    ls = np.log10(np.where(use, s, 1.0))
    m = use.astype(np.float64)
    n = m.sum(axis=(1, 2))
    sx, sy = (m * lr).sum(axis=(1, 2)), (m * ls).sum(axis=(1, 2))
    sxx, sxy = (m * lr * lr).sum(axis=(1, 2)), (m * lr * ls).sum(axis=(1, 2))
    denom = n * sxx - sx * sx
    # relative test: stations all at one distance leave only round-off in the denominator
    ok = (n >= MIN_STATIONS_FOR_SLOPE) & (denom > 1e-9 * np.maximum(n * sxx, 1e-300))
    return np.where(ok, (n * sxy - sx * sy) / np.where(ok, denom, 1.0), np.nan)


def _summary(values: np.ndarray) -> tuple[np.ndarray, float | None, float | None]:
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return v, None, None
    return v, float(v.mean()), float(v.std())


def compare_observables(
    real: Mapping[str, np.ndarray], generated: Mapping[str, np.ndarray]
) -> dict[str, dict[str, float | int | None]]:
    """Per observable present in both: the 1-Wasserstein distance between the real and the
    generated distributions (NaNs ignored), that distance divided by the real std
    (``standardized_wasserstein``, comparable across observables), both means and stds and
    the numbers of finite values. Undefined numbers (no finite values, real std 0) are None.
    """
    from scipy.stats import wasserstein_distance

    out: dict[str, dict[str, float | int | None]] = {}
    for name in real:
        if name not in generated:
            continue
        r, r_mean, r_std = _summary(real[name])
        g, g_mean, g_std = _summary(generated[name])
        w = float(wasserstein_distance(r, g)) if r.size and g.size else None
        out[name] = {
            "wasserstein": w,
            "standardized_wasserstein": w / r_std if w is not None and r_std else None,
            "real_mean": r_mean,
            "generated_mean": g_mean,
            "real_std": r_std,
            "generated_std": g_std,
            "n_real": int(r.size),
            "n_generated": int(g.size),
        }
    return out


def observables_of(ds, images: np.ndarray) -> dict[str, np.ndarray]:
    """Observables of footprints (N, 1, H, W) in the prepared store's scaling: the scaling
    undone with the store's attrs, stations spaced by its ``spacing_m``, saturated at
    :data:`SATURATED_FRACTION` of the scaled top."""
    from aeflow.data.airshowers import to_signal

    saturation = float(to_signal(np.float64(SATURATED_FRACTION), ds.attrs))
    signal = to_signal(images[:, 0], ds.attrs)
    return footprint_observables(signal, float(ds.attrs["spacing_m"]), saturation=saturation)
