"""Figures of denoising experiments: example rows, training history, per-image errors."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from aeflow.plotting import as_rgb


def denoising_rows(
    rows: Mapping[str, np.ndarray],
    *,
    residual_of: tuple[str, str] | None = ("denoised", "true"),
    vmin: float = 0.0,
    vmax: float = 1.1,
    value_label: str = "normalized log intensity",
    title: str | None = None,
):
    """Rows of images (the book's figure): e.g. noisy / denoised / true, plus residuals.

    ``rows`` maps a row label to images of shape (n, H, W) or colour images (n, 3, H, W);
    all rows share the scale ``[vmin, vmax]``, labelled ``value_label`` (a colour bar for
    one channel; colour images are shown in their own colours, each channel scaled alike).
    The residual row (``a - b``, averaged over channels) uses a symmetric diverging scale.
    """
    labels = list(rows)
    n = len(next(iter(rows.values())))
    colour = np.ndim(next(iter(rows.values()))) == 4
    n_rows = len(labels) + (residual_of is not None)
    fig, axes = plt.subplots(n_rows, n, figsize=(1.3 * n, 1.35 * n_rows), squeeze=False)
    for r, label in enumerate(labels):
        for c in range(n):
            if colour:  # (3, H, W) -> (H, W, 3) on the shared scale
                axes[r, c].imshow(as_rgb(rows[label][c], vmin, vmax))
            else:
                im = axes[r, c].imshow(rows[label][c], vmin=vmin, vmax=vmax, cmap="viridis")
        axes[r, 0].set_ylabel(label, fontsize=9)
    if colour:
        what = value_label.replace("\n", ", ")
        axes[0, -1].set_title(f"colour: {what}, {vmin:g} to {vmax:g}", fontsize=7, loc="right")
    else:
        fig.colorbar(im, ax=axes[: len(labels)].ravel().tolist(), shrink=0.8, label=value_label)
    if residual_of is not None:
        a, b = residual_of
        resid = rows[a] - rows[b]
        if colour:
            resid = resid.mean(axis=1)
        lim = float(np.abs(resid).max()) or 1.0
        for c in range(n):
            im = axes[-1, c].imshow(resid[c], vmin=-lim, vmax=lim, cmap="RdBu_r")
        axes[-1, 0].set_ylabel(f"{a} - {b}", fontsize=9)
        label = "residual, mean over channels" if colour else "residual"
        fig.colorbar(im, ax=axes[-1].ravel().tolist(), shrink=0.8, label=label)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig


def training_history(history: pd.DataFrame, title: str | None = None):
    """Train and validation loss (log scale) and learning rate per epoch."""
    fig, (ax_loss, ax_lr) = plt.subplots(
        2, 1, figsize=(6, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    ax_loss.plot(history["epoch"], history["train_loss"], "o-", label="train")
    if "val_loss" in history:  # (trained without validation: the last epoch's weights)
        ax_loss.plot(history["epoch"], history["val_loss"], "s-", label="validation")
        best = history["val_loss"].idxmin()
        ax_loss.axvline(history["epoch"][best], color="grey", ls=":", label="best epoch")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_lr.step(history["epoch"], history["lr"], where="post", color="C2")
    ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("epoch")
    if title:
        fig.suptitle(title)
    return fig


def error_distributions(
    per_sample: Mapping[str, np.ndarray],
    xlabel: str = "per-image MSE",
    ylabel: str = "images",
    title: str | None = None,
):
    """Histograms of a per-sample error for the model and each baseline, log-spaced bins."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    values = [np.asarray(v) for v in per_sample.values()]
    if any(v.ndim != 1 for v in values):
        raise ValueError("error_distributions: each entry must be one value per sample (1-D)")
    positive = np.concatenate([v[v > 0] for v in values])
    bins = np.geomspace(positive.min(), positive.max(), 50) if positive.size else 50
    for label, v in per_sample.items():
        ax.hist(v, bins=bins, histtype="step", lw=1.6, label=f"{label} (median {np.median(v):.3g})")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def applicable_groups(rows: Sequence[Mapping[str, object]]) -> list[list[Mapping[str, object]]]:
    """``rows`` split into tables whose columns apply to them: a row joins the first group
    whose filled columns (not None) contain its own or are contained in them, else starts a
    group. Rows of one task (the same baselines and metrics) share a table; a metric that
    does not apply to a row is a blank in a table of rows it does apply to, never a column of
    blanks."""
    groups: list[tuple[set[str], list[Mapping[str, object]]]] = []
    for row in rows:
        filled = {k for k, v in row.items() if v is not None}
        for i, (columns, members) in enumerate(groups):
            if filled <= columns or columns <= filled:
                groups[i] = (columns | filled, [*members, row])
                break
        else:
            groups.append((filled, [row]))
    return [members for _, members in groups]


def summary_table_html(sections: Mapping[str, Sequence[Mapping[str, object]]]) -> str:
    """A small standalone HTML page (for the report): the tables of each section title, each
    from a list of flat dicts (split by :func:`applicable_groups`; a cell that does not
    apply shows a dash, columns that apply to no row of a table are left out)."""
    style = (
        "body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse}"
        "td,th{padding:3px 10px;border-bottom:1px solid #ccc;text-align:right}"
    )
    body = []
    for title, rows in sections.items():
        body.append(f"<h3>{html.escape(title)}</h3>")
        for group in applicable_groups(rows) or [[]]:
            frame = pd.DataFrame(group).dropna(axis=1, how="all")
            table = frame.to_html(
                index=False, float_format=lambda v: f"{v:.4g}", border=0, na_rep="–"
            )
            body.append(table)
    head = f"<head><meta charset='utf-8'><style>{style}</style></head>"
    return f"<html>{head}<body>{''.join(body)}</body></html>\n"


def radial_profiles(
    radius_px: np.ndarray,
    profiles: Mapping[str, np.ndarray],
    minima: Mapping[str, np.ndarray],
    ratios: Mapping[str, Mapping[str, np.ndarray]],
    tolerance: float,
    title: str | None = None,
):
    """Left: radially averaged profiles of a few test patterns (one panel row each) for the
    true, the speckled and the denoised pattern, each first form-factor minimum marked.
    Right, one panel per way of measuring the size (``ratios``: measure -> method -> ratio
    per ringed test pattern): the measured radius over the true one, per method."""
    n = len(next(iter(profiles.values())))
    fig, axes = plt.subplots(n, 2, figsize=(10, max(2.2 * n + 0.6, 3.2 * len(ratios))))
    axes = np.asarray(axes).reshape(n, 2)
    styles = {"true": ("k", "-"), "input": ("0.6", ":"), "model": ("C3", "-")}
    for row in range(n):
        ax = axes[row, 0]
        for name, p in profiles.items():
            colour, ls = styles.get(name, (None, "--"))
            ax.plot(radius_px, p[row], color=colour, ls=ls, lw=1.4, label=name)
            r_min = minima[name][row]
            if np.isfinite(r_min):
                ax.axvline(r_min, color=colour, ls=ls, lw=0.8)
        ax.set_ylabel("mean log intensity")
        if row == 0:
            ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("radius from the direct beam [q pixels]")
    gs = axes[0, 1].get_gridspec()
    for ax in axes[:, 1]:
        ax.remove()
    right = gs[:, 1].subgridspec(len(ratios), 1)
    bins = np.linspace(0.5, 1.5, 41)
    for i, (measure, by_method) in enumerate(ratios.items()):
        ax = fig.add_subplot(right[i])
        for name, r in by_method.items():
            ringed = np.asarray(r)
            kept = ringed[np.isfinite(ringed)]
            within = np.mean(np.abs(ringed - 1) <= tolerance) if ringed.size else np.nan
            ax.hist(
                np.clip(kept, bins[0], bins[-1]),
                bins=bins,
                histtype="step",
                lw=1.6,
                label=f"{name}: {within:.0%} within {tolerance:.0%} "
                f"({kept.size}/{ringed.size} measured)",
            )
        ax.axvspan(1 - tolerance, 1 + tolerance, color="0.9", zorder=0)
        ax.set_xlabel(f"radius / true radius ({measure})")
        ax.set_ylabel("ringed test patterns")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
