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
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

FIRST_ZERO = 4.4934  # first positive root of tan x = x: the sphere form factor's first zero
MIN_RADIUS = 6  # pixels: inside is the coherent forward peak around the direct beam
MIN_DEPTH = 0.01  # a ring's minimum lies this far (prepared log units) below the next maximum
RADIUS_TOLERANCE = 0.05  # the fitted radius counts as kept within 5 %


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


def true_minima(targets: np.ndarray) -> np.ndarray:
    """The first form-factor minimum of each true pattern (NaN: no ring)."""
    return first_minimum(radial_profile(targets))


def ring_metrics(
    output: np.ndarray,
    targets: np.ndarray,
    tolerance: float = RADIUS_TOLERANCE,
    true_min: np.ndarray | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """How well ``output`` keeps the rings of ``targets``: among the test patterns whose
    true profile has a first minimum, the fraction whose output has one too, the fraction
    whose fitted radius is within ``tolerance`` of the true pattern's, and the median
    relative radius error. Also the per-pattern radius ratio (NaN without rings).
    ``true_min``: :func:`true_minima` of ``targets`` when already found (several outputs
    judged against one test set)."""
    if true_min is None:
        true_min = true_minima(targets)
    out_min = first_minimum(radial_profile(output))
    ringed = np.isfinite(true_min)
    ratio = np.full(len(true_min), np.nan)
    ratio[ringed] = true_min[ringed] / out_min[ringed]  # NaN where the output lost the ring
    error = np.abs(ratio[ringed] - 1)
    found = np.isfinite(error)
    n = int(ringed.sum())
    block = {
        "n_test": len(true_min),
        "n_with_rings": n,
        "rings_kept": float(found.mean()) if n else None,
        "radius_within_tolerance": float((error[found] <= tolerance).sum() / n) if n else None,
        "tolerance": tolerance,
        "median_radius_error": float(np.median(error[found])) if found.any() else None,
        "definition": (
            f"first minimum of the radially averaged pattern beyond {MIN_RADIUS} px, "
            f"{MIN_DEPTH} deep; radius = {FIRST_ZERO} / q_min"
        ),
    }
    return block, ratio
