"""Classical image denoisers, their width tuned on the validation set.

Every deep-learning number in aeflow is reported beside these: the identity (the noisy input
itself), a Gaussian filter and a median filter, applied in the same normalized space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from aeflow.evaluation.metrics import per_sample_mse


def identity(images: np.ndarray) -> np.ndarray:
    return images


def gaussian(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter of width ``sigma`` pixels over the image axes of (N, H, W)."""
    return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma), mode="nearest")


def median(images: np.ndarray, size: int) -> np.ndarray:
    """Median filter over ``size x size`` pixels of each image of (N, H, W)."""
    return ndimage.median_filter(images, size=(1, size, size), mode="nearest")


@dataclass(frozen=True)
class TunedFilter:
    name: str
    parameter: str
    value: float | None
    apply: Callable[[np.ndarray], np.ndarray]
    val_scores: dict[str, float]  # validation MSE of every candidate value


def tune(
    name: str,
    parameter: str,
    filt: Callable[[np.ndarray, float], np.ndarray],
    candidates: Sequence[float],
    val_input: np.ndarray,
    val_target: np.ndarray,
) -> TunedFilter:
    """Pick the candidate with the lowest validation MSE."""
    scores = {
        str(c): float(per_sample_mse(filt(val_input, c), val_target).mean()) for c in candidates
    }
    best = min(candidates, key=lambda c: scores[str(c)])
    return TunedFilter(name, parameter, best, lambda x, b=best: filt(x, b), scores)


def image_denoising_baselines(
    val_input: np.ndarray,
    val_target: np.ndarray,
    gaussian_sigmas: Sequence[float],
    median_sizes: Sequence[int],
) -> list[TunedFilter]:
    """The identity, a Gaussian and a median filter, tuned on (val_input, val_target)."""
    return [
        TunedFilter("identity", "none", None, identity, {}),
        tune("gaussian", "sigma", gaussian, gaussian_sigmas, val_input, val_target),
        tune("median", "size", median, median_sizes, val_input, val_target),
    ]
