"""One function per figure kind. Each takes arrays/tables and returns a matplotlib Figure."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def as_rgb(image, vmin: float = 0.0, vmax: float = 1.0):
    """A channels-first colour image (3, H, W) as matplotlib's (H, W, 3) in [0, 1]: every
    channel scaled alike from [vmin, vmax], clipped."""
    import numpy as np

    return np.clip((np.moveaxis(image, 0, -1) - vmin) / (vmax - vmin), 0, 1)


def vector_path(path: str | os.PathLike) -> Path:
    """Where the vector (PDF) twin of a PNG figure goes: the same name, ``.pdf``."""
    return Path(path).with_suffix(".pdf")


def save(fig, path: str | os.PathLike, dpi: int = 120, vector: bool = True) -> None:
    """Save a figure atomically as PNG (the report's) and, with ``vector``, as PDF beside it
    (:func:`vector_path`: lines and text stay vectors, for papers); close it."""
    import matplotlib.pyplot as plt

    from aeflow.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    if vector:
        with atomic_path(vector_path(path)) as tmp:
            fig.savefig(tmp, dpi=2 * dpi, bbox_inches="tight", format="pdf")
    plt.close(fig)


def finish(fig, title: str | None = None, *, on_axes=None):
    """Title (on ``on_axes`` if given, else the figure's), tight layout; returns the figure."""
    if title:
        if on_axes is not None:
            on_axes.set_title(title, fontsize=10)
        else:
            fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
