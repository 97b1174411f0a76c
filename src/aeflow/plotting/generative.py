"""Figures of generative experiments: sample grids, the class histogram of every generator
side by side (mode collapse made visible), adversarial training curves and the observables
of generated vs real air-shower footprints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from aeflow.plotting import finish


def class_histogram(
    class_names: Sequence[str],
    real: Sequence[float],
    generated: Mapping[str, Sequence[float]],
    title: str | None = None,
):
    """Grouped bars: the class shares of the real test set and of each generator's samples
    (as the classifier sees them); ticks mark half the real share, the coverage target."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(class_names) * (1 + len(generated)) / 2, 4))
    groups = {"real (test)": real, **generated}
    width = 0.8 / len(groups)
    x = np.arange(len(class_names))
    cmap = plt.get_cmap("tab10")
    for i, (name, values) in enumerate(groups.items()):
        color = "0.3" if i == 0 else cmap((i - 1) % 10)
        ax.bar(x - 0.4 + width * (i + 0.5), values, width, label=name, color=color)
    ax.hlines(
        0.5 * np.asarray(real),
        x - 0.4,
        x + 0.4,
        colors="k",
        linestyles="dashed",
        linewidth=1,
        zorder=3,
        label="half the real share",
    )
    ax.set_xticks(x, class_names)
    ax.set_ylabel("share of samples")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=2)
    return finish(fig, title, on_axes=ax)


def adversarial_history(history: pd.DataFrame, title: str | None = None):
    """Critic and generator losses per epoch; for WGANs the critic's Wasserstein estimate on
    training and held-out images."""
    panels = [["critic_loss", "generator_loss"]]
    if "wasserstein" in history:
        panels.append(["wasserstein", "val_wasserstein"])
    elif "val_critic_loss" in history:
        panels[0].append("val_critic_loss")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, columns in zip(axes[0], panels, strict=True):
        for col in columns:
            if col in history:
                ax.plot(history["epoch"], history[col], marker=".", label=col.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel("loss")
    if len(panels) > 1:
        axes[0, 1].set_ylabel("critic distance (W1 estimate)")
    return finish(fig, title)


def observable_histograms(
    observables: Mapping[str, Mapping[str, np.ndarray]],
    comparison: Mapping[str, Mapping[str, Mapping[str, float]]],
    labels: Mapping[str, str],
    title: str | None = None,
    axis_labels: Mapping[str, str] | None = None,
):
    """One panel per observable: normalized histograms of the real footprints and of each
    generator, with the standardized 1-D Wasserstein distances in the legend."""
    names = list(next(iter(observables.values())))
    axis_labels = axis_labels or {}
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, obs in zip(axes.ravel(), names, strict=False):
        values = {k: np.asarray(v[obs], float) for k, v in observables.items()}
        finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
        if finite.size == 0:
            ax.axis("off")
            continue
        lo, hi = np.percentile(finite, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
        for name, v in values.items():
            label = labels.get(name, name)
            w = comparison.get(name, {}).get(obs, {}).get("standardized_wasserstein")
            if w is not None:
                label += f" (W1/σ {w:.3f})"
            ax.hist(v[np.isfinite(v)], bins=bins, density=True, histtype="step", label=label)
        ax.set_xlabel(axis_labels.get(obs, obs.replace("_", " ")))
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    return finish(fig, title)
