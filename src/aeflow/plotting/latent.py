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
