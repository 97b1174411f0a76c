"""Figures of anomaly detection: score histograms with thresholds, ROC curves, the most and
least anomalous examples, and the mass-sculpting check for jets."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from aeflow.evaluation.anomaly import auroc, roc_curve
from aeflow.plotting import as_rgb, finish

_THRESHOLD_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))


def _log_bins(*arrays: np.ndarray, n: int = 60) -> np.ndarray:
    values = np.concatenate([np.asarray(a, float).ravel() for a in arrays])
    positive = values[values > 0]
    if positive.size == 0 or positive.min() == positive.max():
        return np.linspace(values.min(), values.max() + 1e-12, n)
    lo, hi = np.percentile(positive, [0.1, 99.9])
    return np.geomspace(lo, max(hi, lo * 1.01), n)


def score_histograms(
    normal: np.ndarray,
    anomalous: np.ndarray,
    thresholds: Mapping[str, float],
    *,
    normal_label: str = "normal",
    anomalous_label: str = "anomalous",
    xlabel: str = "anomaly score",
    title: str | None = None,
):
    """Normalized test-score histograms of both classes (log x), each threshold drawn."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    bins = _log_bins(normal, anomalous)
    ax.hist(normal, bins=bins, density=True, histtype="stepfilled", alpha=0.45, label=normal_label)
    ax.hist(anomalous, bins=bins, density=True, histtype="step", lw=1.8, label=anomalous_label)
    for (name, value), style in zip(thresholds.items(), _THRESHOLD_STYLES * 3, strict=False):
        ax.axvline(value, color="k", ls=style, lw=1.2, label=f"threshold: {name}")
    if bins[0] > 0:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return finish(fig, title, on_axes=ax)


def roc_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    title: str | None = None,
    *,
    xlabel: str = "false-positive rate (normal flagged)",
    ylabel: str = "true-positive rate (anomalies flagged)",
    efficiency_label: str = r"anomaly (signal) efficiency $\epsilon_S$",
    rejection_label: str = r"background rejection $1/\epsilon_B$",
    highlight: str = "autoencoder",
):
    """ROC curves (TPR vs FPR, log FPR) of several scores (``{name: (negative scores,
    positive scores)}``), AUROC in the legend, and the jet-physics view: background
    rejection 1/eps_B vs signal efficiency. The ``highlight`` curve is drawn bolder."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    for name, (normal, anomalous) in curves.items():
        fpr, tpr, _ = roc_curve(normal, anomalous)
        label = f"{name} (AUROC {auroc(normal, anomalous):.3f})"
        ax.plot(fpr, tpr, label=label, lw=1.6 if name == highlight else 1.1)
        keep = fpr > 0
        ax2.plot(tpr[keep], 1 / fpr[keep], lw=1.6 if name == highlight else 1.1)
    grid = np.geomspace(1e-4, 1, 100)
    ax.plot(grid, grid, color="0.6", ls=":", label="random")
    ax.set_xscale("log")
    ax.set_xlim(max(1e-4, 0.5 / max(len(n) for n, _ in curves.values())), 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper left")
    eff = np.linspace(0.01, 1, 100)
    ax2.plot(eff, 1 / eff, color="0.6", ls=":")
    ax2.set_yscale("log")
    ax2.set_xlabel(efficiency_label)
    ax2.set_ylabel(rejection_label)
    return finish(fig, title)


def roc_by_bin(
    panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    title: str | None = None,
    *,
    xlabel: str = "false-positive rate",
    ylabel: str = "true-positive rate",
    highlight: str | None = None,
    mark: float | None = None,
):
    """One ROC panel (TPR vs log FPR) per bin, ``{bin label: {name: (negative scores,
    positive scores)}}``, AUROC in each legend; ``mark``: a vertical line at that FPR."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for ax, (label, curves) in zip(axes[0], panels.items(), strict=True):
        for name, (negative, positive) in curves.items():
            if len(positive) == 0 or len(negative) == 0:
                continue
            fpr, tpr, _ = roc_curve(negative, positive)
            ax.plot(
                fpr,
                tpr,
                lw=1.6 if name == highlight else 1.0,
                label=f"{name} ({auroc(negative, positive):.2f})",
            )
        if mark is not None:
            ax.axvline(mark, color="0.5", ls=":")
        ax.set_xscale("log")
        ax.set_xlim(max(1e-4, 0.5 / max(len(n) for n, _ in curves.values())), 1)
        ax.set_ylim(0, 1.01)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.legend(fontsize=6, loc="best")
    axes[0][0].set_ylabel(ylabel)
    return finish(fig, title)


def ranked_examples(
    inputs: np.ndarray,
    outputs: np.ndarray,
    scores: np.ndarray,
    is_anomaly: np.ndarray,
    rank: np.ndarray,
    *,
    log_scale: bool = False,
    title: str | None = None,
):
    """Most and least anomalous test samples: input above reconstruction, score and true
    class in each column title."""
    n = len(inputs)
    fig, axes = plt.subplots(2, n, figsize=(1.35 * n, 3.2), squeeze=False)
    for c in range(n):
        pair = (inputs[c], outputs[c])
        if log_scale:  # jet images: pt fractions over decades
            pair = tuple(np.log10(np.clip(p, 1e-5, None)) for p in pair)
            vmin, vmax = -5.0, 0.0
        else:
            vmin, vmax = 0.0, max(float(inputs[c].max()), 1e-12)
        for r, img in enumerate(pair):
            if img.ndim == 3:  # colour (3, H, W): its own colours on the same scale
                axes[r, c].imshow(as_rgb(img, vmin, vmax))
            else:
                axes[r, c].imshow(img, vmin=vmin, vmax=vmax, cmap="viridis")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        tag = "anom." if is_anomaly[c] else "normal"
        axes[0, c].set_title(f"{rank[c]}\n{tag} {scores[c]:.2g}", fontsize=7)
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[1, 0].set_ylabel("reconstruction", fontsize=8)
    return finish(fig, title)


def mass_sculpting(
    qcd_mass: np.ndarray,
    qcd_scores: np.ndarray,
    top_mass: np.ndarray,
    thresholds: Mapping[str, float],
    title: str | None = None,
):
    """Jet-mass distribution of QCD (normal) test jets before and after each threshold cut,
    top jets for reference: a cut that keeps only heavy QCD jets sculpts the mass."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    hi = float(np.percentile(np.r_[qcd_mass, top_mass], 99.5))
    bins = np.linspace(0, max(hi, 1.0), 40)
    ax.hist(
        qcd_mass,
        bins=bins,
        density=True,
        histtype="stepfilled",
        alpha=0.35,
        label=f"QCD, all ({len(qcd_mass)})",
    )
    ax.hist(
        top_mass, bins=bins, density=True, histtype="step", color="0.4", ls=":", label="top, all"
    )
    for (name, value), style in zip(thresholds.items(), _THRESHOLD_STYLES * 3, strict=False):
        passed = qcd_mass[qcd_scores >= value]
        if passed.size >= 2:
            ax.hist(
                passed,
                bins=bins,
                density=True,
                histtype="step",
                lw=1.5,
                ls=style,
                label=f"QCD flagged by {name} ({passed.size})",
            )
    ax.set_xlabel("jet mass [GeV]")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return finish(fig, title, on_axes=ax)


def auroc_by_held_out_class(
    sweeps: Mapping[str, tuple[list[str], Mapping[str, list[float]]]], title: str | None = None
):
    """Per sweep (entry -> (held-out class names, method -> AUROC per class)): one panel of
    AUROC per held-out class, a marker per method, its mean in the legend; 0.5 = chance."""
    fig, axes = plt.subplots(
        len(sweeps), 1, figsize=(9.0, 3.6 * len(sweeps)), squeeze=False, sharey=True
    )
    markers = ("o", "s", "^", "D", "v")
    for ax, (sweep, (classes, methods)) in zip(axes[:, 0], sweeps.items(), strict=True):
        x = np.arange(len(classes))
        width = 0.8 / max(len(methods), 1)
        for i, (name, values) in enumerate(methods.items()):
            label = f"{name.replace('_', ' ')} (mean {np.mean(values):.3f})"
            offset = (i - (len(methods) - 1) / 2) * width
            ax.plot(x + offset, values, markers[i % len(markers)], label=label, ms=6)
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xticks(x, classes, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("test AUROC")
        ax.set_title(f"{sweep}: held-out class", fontsize=9)
        ax.legend(fontsize=8, loc="lower right")
    return finish(fig, title)
