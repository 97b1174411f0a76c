"""Reconstruction metrics. Pure functions of arrays; shapes (N, ...) with the sample first."""

from __future__ import annotations

import numpy as np


def per_sample_mse(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean squared error of each sample over all its other axes, shape (N,), float64."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} differ")
    diff = prediction.astype(np.float64) - target.astype(np.float64)
    return (diff * diff).reshape(len(diff), -1).mean(axis=1)


def psnr(mse: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / mse)``; inf where mse = 0."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def ssim(prediction: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Structural similarity of each image of (N, H, W) or (N, C, H, W), shape (N,): scikit-image's
    ``structural_similarity`` (uniform 7x7 window, or the largest odd window that fits small
    images; sample covariances; K1 = 0.01, K2 = 0.03; the mean over the window-valid
    interior), computed for a block of images at once: the same float64 arithmetic, image
    by image, without a Python call per image."""
    from scipy.ndimage import uniform_filter

    if prediction.shape != target.shape or prediction.ndim not in (3, 4):
        raise ValueError(
            f"ssim needs equal (N, H, W) or (N, C, H, W) arrays, got {prediction.shape}, "
            f"{target.shape}"
        )
    if prediction.ndim == 4:  # colour: the mean over channels (scikit-image's channel_axis)
        n, c, h, w = prediction.shape
        per_channel = ssim(prediction.reshape(n * c, h, w), target.reshape(n * c, h, w), data_range)
        return per_channel.reshape(n, c).mean(axis=1)
    win = min(7, *(s - 1 + s % 2 for s in prediction.shape[1:]))
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    cov_norm = win * win / (win * win - 1.0)
    pad = (win - 1) // 2
    h, w = prediction.shape[1:]
    inner = (slice(None), slice(pad, h - pad), slice(pad, w - pad))

    def mean(a: np.ndarray) -> np.ndarray:  # the window mean of each image
        return uniform_filter(a, size=(1, win, win))

    out = np.empty(len(prediction))
    block = max(1, 2**22 // max(1, h * w))  # ~32 MB per float64 temporary
    for start in range(0, len(prediction), block):
        x = prediction[start : start + block].astype(np.float64)
        y = target[start : start + block].astype(np.float64)
        ux, uy = mean(x), mean(y)
        vx = cov_norm * (mean(x * x) - ux * ux)
        vy = cov_norm * (mean(y * y) - uy * uy)
        vxy = cov_norm * (mean(x * y) - ux * uy)
        num = (2 * ux * uy + c1) * (2 * vxy + c2)
        den = (ux * ux + uy * uy + c1) * (vx + vy + c2)
        out[start : start + block] = (num / den)[inner].mean(axis=(1, 2))
    return out


def summarize(values: np.ndarray) -> dict[str, float]:
    """Mean, std, median and the 5th/95th percentiles of a per-sample metric (finite only)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "std": None, "median": None, "p05": None, "p95": None}
    p05, median, p95 = np.percentile(v, [5, 50, 95])
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "median": float(median),
        "p05": float(p05),
        "p95": float(p95),
    }


def mse_summary(mse: np.ndarray, data_range: float = 1.0) -> dict[str, object]:
    """The shared metric block of a denoiser and its baselines from per-sample MSEs:
    ``test_loss`` (the MSE over all pixels of all samples, the book's Keras loss), the
    number of samples, and summaries of the MSE and PSNR."""
    return {
        "test_loss": float(mse.mean()),
        "n_test": len(mse),
        "mse": summarize(mse),
        "psnr_db": summarize(psnr(mse, data_range)),
    }
