"""Figures of the code space: codes coloured by class with the decoded grid (2-D codes), and
rows of latent operations (interpolation, arithmetic, noisy codes, pure noise)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from aeflow.plotting import as_rgb, finish


def latent_space(
    points: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    axis_label: str,
    grid: np.ndarray | None = None,
    title: str | None = None,
):
    """Left: test codes (or their first two principal components) coloured by class. Right,
    for 2-D codes: the decoded images on a regular grid over the same range."""
    n_panels = 2 if grid is not None else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(6.2 * n_panels, 5.4), squeeze=False)
    ax = axes[0, 0]
    cmap = plt.get_cmap("tab10")
    for k in np.unique(labels):
        sel = labels == k
        name = class_names[k] if k < len(class_names) else str(k)
        ax.scatter(
            points[sel, 0],
            points[sel, 1],
            s=3,
            alpha=0.6,
            color=cmap(int(k) % 10),
            label=name,
            rasterized=True,
        )
    ax.set_xlabel(f"{axis_label} 1")
    ax.set_ylabel(f"{axis_label} 2")
    ax.legend(markerscale=4, fontsize=7, loc="best")
    if grid is not None:
        n, h, w = grid.shape[0], grid.shape[-2], grid.shape[-1]
        if grid.ndim == 5:  # colour (n, n, C, H, W) -> (n H, n W, C)
            mosaic = np.clip(grid.transpose(0, 3, 1, 4, 2).reshape(n * h, n * w, -1), 0, 1)
        else:
            mosaic = grid.transpose(0, 2, 1, 3).reshape(n * h, n * w)
        lo, hi = np.percentile(points, [1, 99], axis=0)
        extent = (lo[0], hi[0], lo[1], hi[1])
        axes[0, 1].imshow(mosaic, cmap="gray_r", extent=extent, aspect="auto")
        axes[0, 1].set_xlabel(f"{axis_label} 1")
        axes[0, 1].set_ylabel(f"{axis_label} 2")
        axes[0, 1].set_title("decoded grid", fontsize=9)
    return finish(fig, title)


def show_image(ax, image: np.ndarray) -> None:
    """An image in [0, 1]: (H, W) or channels-first (1, H, W) in grey, (3, H, W) in colour."""
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else as_rgb(image)
    ax.imshow(image, cmap="gray_r" if image.ndim == 2 else None, vmin=0, vmax=1)


def image_rows(rows: Mapping[str, np.ndarray], title: str | None = None):
    """One row of images per entry (label -> (n, H, W) grey or (n, C, H, W)), in [0, 1]."""
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.25 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                show_image(ax, images[c])
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    return finish(fig, title)


def compression_curve(
    code_sizes: Sequence[int], curves: Mapping[str, Sequence[float]], title: str | None = None
):
    """Test MSE against code size (log-log) for each method."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for (name, values), marker in zip(curves.items(), "os^v", strict=False):
        ax.plot(code_sizes, values, marker=marker, label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("code size (values)")
    ax.set_ylabel("test MSE per pixel")
    ax.legend(fontsize=8)
    return finish(fig, title, on_axes=ax)


def label_efficiency(curves: Sequence[Mapping], n_all: int, title: str | None = None):
    """Test accuracy against labelled images per class (log axis; ``all`` drawn at
    ``n_all``) with the seeds' sd as error bars: each pretrained encoder fine-tuned (solid)
    and frozen (dashed) in its own colour, the same network from scratch dotted in the
    colour of the first encoder it shares, logistic regression on PCA features in grey."""
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    colours = iter(plt.get_cmap("tab10").colors)
    by_experiment: dict[str, tuple] = {}
    styles = {"fine-tuned": "-", "frozen": "--", "scratch": ":", "pca_logistic": "-."}
    for variant in dict.fromkeys(c["variant"] for c in curves):
        points = sorted(
            (c for c in curves if c["variant"] == variant),
            key=lambda c: n_all if c["n"] == "all" else c["n"],
        )
        mode = points[0]["mode"]
        if mode == "pca_logistic":
            colour = "0.5"
        else:
            first = (points[0]["same_network_as"] or [None])[0] if mode == "scratch" else None
            key = first or points[0]["experiment"]
            if key not in by_experiment:
                by_experiment[key] = next(colours, "black")
            colour = by_experiment[key]
        x = [n_all if c["n"] == "all" else c["n"] for c in points]
        ax.errorbar(
            x,
            [c["accuracy_mean"] for c in points],
            yerr=[c["accuracy_sd"] for c in points],
            color=colour,
            linestyle=styles[mode],
            marker="x" if mode == "scratch" else "o",
            markersize=4 if mode == "scratch" else 3,
            capsize=2,
            label=variant,
        )
    ax.set_xscale("log")
    ticks = sorted({c["n"] for c in curves}, key=lambda n: n_all if n == "all" else n)
    ax.set_xticks([n_all if n == "all" else n for n in ticks])
    ax.set_xticklabels([f"all ({n_all})" if n == "all" else str(n) for n in ticks])
    ax.minorticks_off()
    ax.set_xlabel("labelled training images per class")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return finish(fig, title, on_axes=ax)
