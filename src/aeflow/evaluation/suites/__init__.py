"""Evaluation suites: what "test metrics beside classical baselines" means in each mode.

=============  ==============================  =========================================
mode           suite                           judged on
=============  ==============================  =========================================
``images``     :class:`ImageDenoising`         test reconstructions (MSE, PSNR, SSIM, BCE)
``traces``     :class:`TraceDenoising`         denoised traces (peak, energy, spectra)
``detection``  :class:`TraceDetection`         signal vs noise-only scores (ROC, TPR)
``anomaly``    :class:`AnomalyDetection`       reconstruction errors as anomaly scores
``generative`` :class:`GenerativeSamples`      generated samples against the test set
=============  ==============================  =========================================

A suite is built once per evaluation (baselines fitted or tuned on the training data), then
``evaluate`` gives the metric block (baselines inside); the reconstruction, trace, detection
and anomaly suites judge the test set a block at a time and hand each block's part of their
per-sample store to a writer (:mod:`aeflow.evaluation.suites.common`).
Every suite also owns ``flat(block)`` (the scalars logged to MLflow), ``headline(block)``
(one log line), and its table in the summary page: ``summary_title`` and
``summary_rows(experiment, record)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import xarray as xr

# mode -> (module, class). A job imports only the suite it uses: the generative suite pulls
# in the feature network and scipy.stats, the traces suite scipy.signal (about a second of
# start-up for every evaluation job that does not need them).
_SUITES = {
    "images": ("images", "ImageDenoising"),
    "traces": ("traces", "TraceDenoising"),
    "detection": ("traces", "TraceDetection"),
    "anomaly": ("anomaly", "AnomalyDetection"),
    "generative": ("generative", "GenerativeSamples"),
}
MODES = tuple(_SUITES)
_EXPORTS = {cls: module for module, cls in _SUITES.values()} | {"trace_spectra": "traces"}

__all__ = ["MODES", "build", "suite", *_EXPORTS]


def suite(mode: str) -> type:
    """The suite class of an evaluation mode (one of :data:`MODES`)."""
    try:
        module, cls = _SUITES[mode]
    except KeyError:
        known = ", ".join(MODES)
        raise KeyError(f"no evaluation suite for mode {mode!r} (known: {known})") from None
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def __getattr__(name: str) -> Any:
    """``from aeflow.evaluation.suites import AnomalyDetection`` imports that suite only."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build(
    modality: str,
    ds: xr.Dataset,
    ec: dict[str, Any],
    code_size: int | None = None,
    corrupt: dict[str, Any] | None = None,
    task: str | None = None,
):
    """The reconstruction suite of a modality (``images`` or ``traces``); ``code_size`` sizes
    the PCA baseline of pure reconstruction (images, or traces that are their own target),
    ``corrupt`` (super-resolution) selects bicubic upsampling, ``task`` colorize the colour
    baselines."""
    if modality == "images":
        return suite("images")(ds, ec, code_size, corrupt, task)
    if modality == "traces":
        return suite("traces")(ds, ec, code_size)
    raise KeyError(f"no reconstruction suite for modality {modality!r}")
