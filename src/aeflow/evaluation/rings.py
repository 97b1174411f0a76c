"""SAXS structure: the form-factor rings of a pattern and the particle size they carry.

A sphere of radius R scatters with the form factor ``[3 (sin x - x cos x) / x^3]^2``,
x = qR, whose first zero is at x = 4.493: the first minimum of the radially averaged
pattern at q_min gives R = 4.493 / q_min. A denoiser that smooths the rings away loses the
particle size, the quantity a SAXS user extracts; pixel MSE does not see it. Pure functions
on (N, H, W) images (log-scaled, as prepared: a monotonic transform keeps the minima where
they are) with q = 0 at pixel (H // 2, W // 2), the direct beam of the simulator and the
book's patterns.

Radii here are in pixels of q; their ratio is the ratio of the particle radii (R ~ 1/q_min),
so ``radius_ratio = r_min(true) / r_min(output)`` is the fitted radius over the true one.

The first minimum uses one feature of the profile and fails where the ring is washed out. A
SAXS user fits the whole curve instead: :func:`fit_sphere` fits the azimuthally averaged
intensity (counts, not their logarithm: speckle multiplies the intensity by a factor of mean
1, so the ring mean of the counts is the efficient estimate of the true ring intensity, and
the mean of the log-counts a biased, noisier one) beyond the forward peak with polydisperse
spheres (log-normal number distribution of radii, intensity ``A <V^2 Phi^2(qR)> + B``), the
way size-distribution fits of SAXS curves are done. The radius it gives is the number-mean
radius in units of 1 / (q pixel), so ``x = k * radius`` at ring k;
``fit_ratio = radius(output) / radius(true)``.

:func:`with_measured_profile` gives a denoiser's output the measured pattern's ring
intensities: the network supplies the speckle-free picture, the azimuthal average of the
measurement the radial profile that carries the size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

FIRST_ZERO = 4.4934  # first positive root of tan x = x: the sphere form factor's first zero
MIN_RADIUS = 6  # pixels: inside is the coherent forward peak around the direct beam
MIN_DEPTH = 0.01  # a ring's minimum lies this far (prepared log units) below the next maximum
RADIUS_TOLERANCE = 0.05  # the fitted radius counts as kept within 5 %
# Sphere fit: candidate first zeros from 2 px to 4 x the detector's half width, 1 % apart (a
# parabola through the best three refines it); polydispersities (relative sd of the radius).
FIT_ZERO_RANGE_PX = (2.0, 4.0)  # (low in px, high in multiples of the number of rings)
FIT_STEP = 0.01
FIT_POLYDISPERSITIES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
MIN_FIT_RINGS = 6  # fewer rings beyond the forward peak do not pin four parameters down
_QUADRATURE = np.polynomial.hermite_e.hermegauss(15)  # nodes, weights for E[f(z)], z ~ N(0, 1)


@cache
def ring_index(h: int, w: int) -> tuple[np.ndarray, int]:
    """The ring (integer radius around (h // 2, w // 2)) of every pixel, flattened (read-only:
    cached per image size, as the training loss asks every batch), and the number of full
    rings, min(h, w) // 2; pixels beyond get a ring >= that number."""
    yy, xx = np.indices((h, w))
    index = np.rint(np.hypot(yy - h // 2, xx - w // 2)).astype(int).ravel()
    index.flags.writeable = False
    return index, min(h, w) // 2


def radial_profile(images: np.ndarray) -> np.ndarray:
    """Mean of each image over rings of integer radius around (H // 2, W // 2), shape
    (N, min(H, W) // 2): radius 0 .. the largest full ring."""
    images = np.asarray(images, np.float64)
    n, h, w = images.shape
    r, size = ring_index(h, w)
    counts = np.bincount(r, minlength=size)[:size]
    sums = np.zeros((n, size))
    for i, img in enumerate(images.reshape(n, h * w)):
        sums[i] = np.bincount(r, weights=img, minlength=size)[:size]
    return sums / counts


def _counts(images: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """Prepared patterns ``y = log10(counts + offset) / scale`` back to ``counts + offset``
    (float64; the exponent clipped to keep it finite)."""
    images = np.asarray(images, np.float64)
    scale = np.asarray(log_scale, np.float64).reshape(len(images), *([1] * (images.ndim - 1)))
    return 10.0 ** np.clip(images * scale, -30, 30)


def intensity_profile(images: np.ndarray, log_scale: np.ndarray) -> np.ndarray:
    """The azimuthally averaged intensity (``counts + offset``, see :func:`fit_sphere`) of
    prepared patterns (N, H, W) over rings of integer radius: shape (N, min(H, W) // 2)."""
    return radial_profile(_counts(images, log_scale))


def with_measured_profile(
    output: np.ndarray, measured: np.ndarray, log_scale: np.ndarray
) -> np.ndarray:
    """``output`` (N, H, W, prepared log units) with each ring's mean intensity set to that of
    the ``measured`` pattern (its speckled input), every ring including the corners beyond
    the full ones: each pixel shifted by ``log10(measured ring mean / output ring mean) /
    scale``. Keeps the output's structure within a ring; float32."""
    n, h, w = output.shape
    index, _ = ring_index(h, w)
    size = int(index.max()) + 1
    scale = np.asarray(log_scale, np.float64).reshape(n, 1)
    out = _counts(output, log_scale).reshape(n, -1)
    meas = _counts(measured, log_scale).reshape(n, -1)
    shift = np.empty((n, size))
    for i in range(n):
        ratio = np.bincount(index, meas[i], size) / np.bincount(index, out[i], size)
        shift[i] = np.log10(ratio)
    restored = np.asarray(output, np.float64).reshape(n, -1) + shift[:, index] / scale
    return restored.reshape(n, h, w).astype(np.float32)


def first_minimum(
    profiles: np.ndarray, min_radius: int = MIN_RADIUS, min_depth: float = MIN_DEPTH
) -> np.ndarray:
    """The radius of each profile's first local minimum at or beyond ``min_radius`` that lies
    at least ``min_depth`` below the largest value after it (a ring, not a wiggle), refined
    to a fraction of a pixel by a parabola through it and its neighbours; NaN where none."""
    profiles = np.atleast_2d(np.asarray(profiles, np.float64))
    out = np.full(len(profiles), np.nan)
    for i, p in enumerate(profiles):
        for k in range(max(min_radius, 1), len(p) - 1):
            if not (p[k] < p[k - 1] and p[k] <= p[k + 1]):
                continue
            if p[k + 1 :].max() - p[k] < min_depth:
                continue
            curvature = p[k - 1] - 2 * p[k] + p[k + 1]
            shift = 0.5 * (p[k - 1] - p[k + 1]) / curvature if curvature > 0 else 0.0
            out[i] = k + float(np.clip(shift, -0.5, 0.5))
            break
    return out


@cache
def _ring_average(h: int, w: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pixel distances from the beam and the matrix that averages a function of them
    over the rings ``first`` .. ``min(h, w) // 2 - 1`` (as :func:`radial_profile` does)."""
    yy, xx = np.indices((h, w))
    d2 = ((yy - h // 2) ** 2 + (xx - w // 2) ** 2).ravel()
    index, size = ring_index(h, w)
    keep = (index >= first) & (index < size)
    distinct, inverse = np.unique(d2[keep], return_inverse=True)
    average = np.zeros((size - first, distinct.size))
    np.add.at(average, (index[keep] - first, inverse), 1.0)
    average /= average.sum(axis=1, keepdims=True)
    distance = np.sqrt(distinct)
    distance.flags.writeable = average.flags.writeable = False  # cached: shared by callers
    return distance, average


@cache
def _sphere_curves(h: int, w: int, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring averages of the polydisperse sphere intensity for every candidate (radius,
    polydispersity), each curve scaled to a maximum of 1: shape (P, R, rings); and the
    candidate radii (1 / q pixel) and polydispersities."""
    distance, average = _ring_average(h, w, first)
    lo, hi = FIT_ZERO_RANGE_PX[0], FIT_ZERO_RANGE_PX[1] * min(h, w) // 2
    zeros = np.exp(np.arange(np.log(lo), np.log(hi), FIT_STEP))
    radii = FIRST_ZERO / zeros[::-1]  # ascending
    z, weight = _QUADRATURE
    weight = weight / weight.sum()
    curves = np.empty((len(FIT_POLYDISPERSITIES), radii.size, average.shape[0]))
    for i, poly in enumerate(FIT_POLYDISPERSITIES):
        s = np.sqrt(np.log1p(poly**2))
        r = radii[:, None] * np.exp(s * z[None, :] - s**2 / 2)  # (R, nodes), number mean radii
        x = distance[None, None, :] * r[:, :, None]
        xs = np.where(x < 1e-3, 1.0, x)
        phi = np.where(x < 1e-3, 1 - x**2 / 10, 3 * (np.sin(xs) - xs * np.cos(xs)) / xs**3)
        intensity = np.einsum("n,rn,rnd->rd", weight, r**6, phi**2)  # <V^2 Phi^2>, V ~ R^3
        ring = intensity @ average.T
        curves[i] = ring / ring.max(axis=1, keepdims=True)
    polys = np.asarray(FIT_POLYDISPERSITIES)
    for a in (curves, radii, polys):
        a.flags.writeable = False  # cached: shared by callers
    return curves, radii, polys


def fit_sphere(
    images: np.ndarray,
    log_scale: np.ndarray,
    min_radius: int = MIN_RADIUS,
    chunk: int = 32,
) -> dict[str, np.ndarray]:
    """Fit polydisperse spheres to each pattern's azimuthally averaged intensity beyond
    ``min_radius`` (the forward peak and the beamstop lie inside).

    ``images`` (N, H, W) are log-scaled as prepared, ``y = log10(counts + offset) / scale``
    with the per-pattern ``log_scale`` (N,): the ring means of ``10 ** (y * scale)`` are
    fitted as ``A I(k) + B``, the offset absorbed into the background B. For every candidate
    radius and polydispersity, amplitude and background follow by linear least squares in
    relative error (B >= 0, A > 0); the best candidate's radius is refined by a parabola
    through its neighbours (in log radius).

    Returns per pattern ``radius`` (number-mean, 1 / q pixel; first zero at
    4.493 / radius px), ``polydispersity`` and ``rms_relative_residual``; all NaN for
    images with fewer than ``MIN_FIT_RINGS`` rings beyond ``min_radius``.
    """
    images = np.asarray(images)
    n, h, w = images.shape
    scale = np.asarray(log_scale, np.float64).reshape(n)
    out = {
        "radius": np.full(n, np.nan),
        "polydispersity": np.full(n, np.nan),
        "rms_relative_residual": np.full(n, np.nan),
    }
    if min(h, w) // 2 - min_radius < MIN_FIT_RINGS:
        return out
    curves, radii, polys = _sphere_curves(h, w, min_radius)
    p, r, k = curves.shape
    flat = curves.reshape(p * r, k)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        intensity = intensity_profile(images[sl], scale[sl])[:, min_radius:]  # (c, K)
        v = 1.0 / intensity  # relative error: fit A u + B v to 1, u = curve * v
        # The sums of the 2x2 normal equations are matrix products over the rings:
        # sum u^2 = curve^2 . v^2, sum u v = curve . v^2, sum u = curve . v.
        v2 = v * v
        suu, suv, su = (flat * flat) @ v2.T, flat @ v2.T, flat @ v.T  # (P*R, c)
        svv, sv = v2.sum(axis=1), v.sum(axis=1)  # (c,)
        det = suu * svv - suv**2
        with np.errstate(divide="ignore", invalid="ignore"):
            a = (su * svv - sv * suv) / det
            b = (sv * suu - su * suv) / det
            no_background = ~(b >= 0)
            a = np.where(no_background, su / suu, a)
            b = np.where(no_background, 0.0, b)
            # at the least-squares optimum |r|^2 = K - (A sum u + B sum v), B = 0 included
            residual = (k - (a * su + b * sv)) / k
        ok = (a > 0) & np.isfinite(residual)
        residual = np.where(ok, np.maximum(residual, 0.0), np.inf).T.reshape(-1, p, r)
        for row, res in zip(range(sl.start, sl.stop), residual, strict=True):
            if not np.isfinite(res).any():
                continue
            i, j = np.unravel_index(np.argmin(res), res.shape)
            log_r = np.log(radii[j])
            if 0 < j < r - 1 and np.isfinite(res[i, j - 1 : j + 2]).all():
                y0, y1, y2 = res[i, j - 1 : j + 2]
                curvature = y0 - 2 * y1 + y2
                if curvature > 0:
                    step = np.log(radii[j + 1]) - log_r
                    log_r += float(np.clip(0.5 * (y0 - y2) / curvature, -0.5, 0.5)) * step
            out["radius"][row] = np.exp(log_r)
            out["polydispersity"][row] = polys[i]
            out["rms_relative_residual"][row] = np.sqrt(res[i, j])
    return out


@dataclass(frozen=True)
class Reference:
    """What the outputs of one test set are judged against: the first minimum of each true
    pattern (NaN: no ring) and, given the patterns' log scales, the sphere fit of each true
    pattern (``radius`` None without them)."""

    minimum: np.ndarray
    radius: np.ndarray | None = None
    log_scale: np.ndarray | None = None

    @classmethod
    def of(cls, targets: np.ndarray, log_scale: np.ndarray | None = None) -> Reference:
        minimum = first_minimum(radial_profile(targets))
        if log_scale is None:
            return cls(minimum)
        fit = fit_sphere(targets, log_scale)
        return cls(minimum, fit["radius"], np.asarray(log_scale))


def _within(error: np.ndarray, n: int, tolerance: float) -> float | None:
    """Fraction of ``n`` patterns whose relative error is within ``tolerance`` (NaN errors:
    the output lost what was measured, counted as outside)."""
    return float((error[np.isfinite(error)] <= tolerance).sum() / n) if n else None


def ring_values(output: np.ndarray, reference: Reference) -> dict[str, np.ndarray]:
    """Per pattern: ``radius_ratio`` (true over output radius by the first minimum; NaN
    where the true pattern has no ring or the output lost it), ``ringed`` (the true pattern
    has a first minimum) and, when the reference has a sphere fit, ``fit_radius_ratio``
    (output's fitted radius over the true pattern's). Pattern by pattern, so a test set
    judged in blocks gives the same values."""
    true_min = reference.minimum
    out_min = first_minimum(radial_profile(output))
    ringed = np.isfinite(true_min)
    ratio = np.full(len(true_min), np.nan)
    ratio[ringed] = true_min[ringed] / out_min[ringed]  # NaN where the output lost the ring
    values = {"radius_ratio": ratio, "ringed": ringed}
    if reference.radius is not None:
        fit = fit_sphere(output, reference.log_scale)
        values["fit_radius_ratio"] = fit["radius"] / reference.radius
    return values


def ring_summary(
    values: dict[str, np.ndarray], tolerance: float = RADIUS_TOLERANCE
) -> dict[str, Any]:
    """The ring block of a test set from its :func:`ring_values`. By the first minimum,
    among the patterns whose true profile has one: the fraction whose output has one too,
    the fraction whose radius is within ``tolerance`` of the true pattern's, and the median
    relative radius error. By the sphere fit (when there is one): the same fraction among
    the ringed patterns and among all, and the median error."""
    ratio, ringed = values["radius_ratio"], values["ringed"]
    error = np.abs(ratio[ringed] - 1)
    found = np.isfinite(error)
    n = int(ringed.sum())
    block: dict[str, Any] = {
        "n_test": len(ratio),
        "n_with_rings": n,
        "rings_kept": float(found.mean()) if n else None,
        "radius_within_tolerance": _within(error, n, tolerance),
        "tolerance": tolerance,
        "median_radius_error": float(np.median(error[found])) if found.any() else None,
        "definition": (
            f"first minimum of the radially averaged pattern beyond {MIN_RADIUS} px, "
            f"{MIN_DEPTH} deep; radius = {FIRST_ZERO} / q_min"
        ),
    }
    if "fit_radius_ratio" not in values:
        return block
    fit_error = np.abs(values["fit_radius_ratio"] - 1)
    block["sphere_fit"] = {
        "radius_within_tolerance": _within(fit_error[ringed], n, tolerance),
        "radius_within_tolerance_all": _within(fit_error, len(fit_error), tolerance),
        "median_radius_error": (
            float(np.nanmedian(fit_error[ringed])) if np.isfinite(fit_error[ringed]).any() else None
        ),
        "definition": (
            f"polydisperse spheres (log-normal radii) fitted to the azimuthally averaged "
            f"intensity (counts) beyond {MIN_RADIUS} px; number-mean radius of the output's "
            "fit over the true pattern's; 'radius_within_tolerance' among the ringed patterns, "
            "'_all' among all"
        ),
    }
    return block
