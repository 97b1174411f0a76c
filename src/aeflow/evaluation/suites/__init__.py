"""Evaluation suites: what "test metrics beside classical baselines" means in each mode.

=============  ==============================  =========================================
mode           suite                           judged on
=============  ==============================  =========================================
``images``     :class:`ImageDenoising`         test reconstructions (MSE, PSNR, SSIM, BCE)
``traces``     :class:`TraceDenoising`         denoised traces (peak, energy, spectra)
``anomaly``    :class:`AnomalyDetection`       reconstruction errors as anomaly scores
``generative`` :class:`GenerativeSamples`      generated samples against the test set
=============  ==============================  =========================================

A suite is built once per evaluation (baselines fitted or tuned on the training data), then
``evaluate`` gives the metric block (baselines inside) and the per-sample stores to write.
Every suite also owns ``flat(block)`` (the scalars logged to MLflow), ``headline(block)``
(one log line), and its table in the summary page: ``summary_title`` and
``summary_rows(experiment, record)``.
"""

from __future__ import annotations

from typing import Any

import xarray as xr

from aeflow.evaluation.suites.anomaly import AnomalyDetection
from aeflow.evaluation.suites.generative import GenerativeSamples
from aeflow.evaluation.suites.images import ImageDenoising
from aeflow.evaluation.suites.traces import TraceDenoising, trace_spectra

SUITES = {
    "images": ImageDenoising,
    "traces": TraceDenoising,
    "anomaly": AnomalyDetection,
    "generative": GenerativeSamples,
}

__all__ = [
    "SUITES",
    "AnomalyDetection",
    "GenerativeSamples",
    "ImageDenoising",
    "TraceDenoising",
    "build",
    "trace_spectra",
]


def build(
    modality: str,
    ds: xr.Dataset,
    ec: dict[str, Any],
    code_size: int | None = None,
    corrupt: dict[str, Any] | None = None,
):
    """The reconstruction suite of a modality (``images`` or ``traces``); ``code_size`` sizes
    the PCA baseline of pure reconstruction, ``corrupt`` (super-resolution) selects bicubic
    upsampling."""
    if modality == "images":
        return ImageDenoising(ds, ec, code_size, corrupt)
    if modality == "traces":
        return TraceDenoising(ds, ec)
    raise KeyError(f"no reconstruction suite for modality {modality!r}")
