"""Figures of time-trace (radio) experiments. Each function returns a matplotlib Figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

# One colour per curve across all trace figures.
COLOURS = {
    "noisy": "0.65",
    "true": "k",
    "model": "C3",
    "bandpass": "C0",
    "wiener": "C2",
    "identity": "0.65",
    "known pulse (bound)": "k",
}
LABELS = {"model": "DAE", "noisy": "noisy", "true": "true signal", "identity": "noisy (identity)"}


def _label(name: str) -> str:
    return LABELS.get(name, name)


def _no_signal_figure(title: str | None):
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, "no signal traces in this set", ha="center", va="center")
    ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def pick_signal_traces(has_signal: np.ndarray, snr: np.ndarray, n: int) -> np.ndarray:
    """``n`` signal traces spread over the SNR range (low, median, high ...)."""
    idx = np.flatnonzero(has_signal)
    if idx.size == 0:
        return idx
    order = idx[np.argsort(snr[idx])]
    picks = np.linspace(0, len(order) - 1, min(n, len(order))).round().astype(int)
    return order[picks]


def dataset_examples(
    time_ns: np.ndarray,
    traces: np.ndarray,
    signals: np.ndarray | None,
    snr: np.ndarray | None,
    *,
    n: int = 3,
    title: str | None = None,
):
    """Recorded traces with the true signal overlaid (the blog's Fig. 1), low to high SNR;
    without clean signals (``signals`` None: your own traces) the first ``n`` traces."""
    if signals is None:
        picks = np.arange(min(n, len(traces)))
    else:
        picks = pick_signal_traces(np.abs(signals).max(axis=1) > 0, snr, n)
    if len(picks) == 0:
        return _no_signal_figure(title)
    fig, axes = plt.subplots(
        len(picks), 1, figsize=(8, 1.9 * max(len(picks), 1)), sharex=True, squeeze=False
    )
    for ax, i in zip(axes[:, 0], picks, strict=True):
        label = "trace" if signals is None else "trace (signal + noise)"
        ax.plot(time_ns, traces[i], color=COLOURS["noisy"], lw=0.8, label=label)
        ax.set_ylabel("amplitude")
        if signals is None:
            continue
        ax.plot(time_ns, signals[i], color=COLOURS["true"], lw=1.2, label="true signal")
        ax.text(0.01, 0.9, f"SNR {snr[i]:.2f}", transform=ax.transAxes, fontsize=8, va="top")
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("time [ns]")
    if title:
        fig.suptitle(title)
    return fig


def reconstructions(
    time_ns: np.ndarray,
    noisy: np.ndarray,
    true: np.ndarray,
    denoised: Mapping[str, np.ndarray],
    snr: np.ndarray,
    *,
    zoom_samples: int = 40,
    title: str | None = None,
):
    """Each row one test trace: the full trace (left) and a zoom on the true peak (right),
    noisy / true / each denoiser."""
    n = len(true)
    if n == 0:
        return _no_signal_figure(title)
    fig, axes = plt.subplots(
        n, 2, figsize=(11, 2.1 * max(n, 1)), squeeze=False, gridspec_kw={"width_ratios": [2.2, 1]}
    )
    for r in range(n):
        peak = int(np.abs(true[r]).argmax())
        lo, hi = max(0, peak - zoom_samples), min(len(time_ns), peak + zoom_samples + 1)
        for c, sl in enumerate((slice(None), slice(lo, hi))):
            ax = axes[r, c]
            ax.plot(time_ns[sl], noisy[r, sl], color=COLOURS["noisy"], lw=0.8, label="noisy")
            ax.plot(time_ns[sl], true[r, sl], color=COLOURS["true"], lw=1.4, zorder=4, label="true")
            for name, y in denoised.items():
                model = name == "model"  # the DAE on top, the baselines faint below
                ax.plot(
                    time_ns[sl],
                    y[r, sl],
                    color=COLOURS.get(name),
                    lw=1.3 if model else 0.8,
                    alpha=1.0 if model else 0.6,
                    zorder=5 if model else 2,
                    label=_label(name),
                )
        axes[r, 0].set_ylabel("amplitude")
        axes[r, 0].text(
            0.01, 0.92, f"SNR {snr[r]:.2f}", transform=axes[r, 0].transAxes, fontsize=8, va="top"
        )
        axes[r, 0].axvspan(time_ns[lo], time_ns[hi - 1], color="y", alpha=0.15)
    axes[0, 1].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("time [ns]")
    axes[-1, 1].set_xlabel("time [ns] (zoom on the true peak)")
    if title:
        fig.suptitle(title)
    return fig


def spectra(
    freqs_mhz: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    band_mhz: Sequence[float] | None = None,
    title: str | None = None,
):
    """Mean amplitude spectra (the blog's Fig. 6), log scale, pass band shaded."""
    curves = {k: v for k, v in curves.items() if np.isfinite(v).any()}
    if not curves:
        return _no_signal_figure(title)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, amp in curves.items():
        ax.plot(
            freqs_mhz,
            amp,
            color=COLOURS.get(name),
            lw=2.0 if name == "true" else 1.2,
            label=_label(name),
        )
    if band_mhz is not None:
        ax.axvspan(*band_mhz, color="y", alpha=0.12, label=f"{band_mhz[0]:g}-{band_mhz[1]:g} MHz")
    ax.set_yscale("log")
    top = max(float(np.nanmax(a)) for a in curves.values())
    ax.set_ylim(1e-3 * top, 2 * top)
    ax.set_xlabel("frequency [MHz]")
    ax.set_ylabel("mean |FFT| (normalized units)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def accuracy_vs_snr(
    bins: Mapping[str, Sequence[Mapping[str, float | None]]],
    *,
    reference: float | None = None,
    reference_label: str = "blog (all SNR)",
    title: str | None = None,
    ylabel: str = "peak-location accuracy",
):
    """A fraction per SNR bin for each denoiser (peak-location accuracy by default), with
    binomial errors."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, (name, rows) in enumerate(bins.items()):
        rows = [r for r in rows if r["n"]]
        centres = np.array([np.sqrt(r["low"] * r["high"]) for r in rows])
        shift = 1 + 0.02 * (k - (len(bins) - 1) / 2)  # side by side, not on top
        ax.errorbar(
            centres * shift,
            [r["fraction"] for r in rows],
            yerr=[r["error"] for r in rows],
            fmt="o-",
            color=COLOURS.get(name),
            label=_label(name),
            capsize=2,
        )
    if reference is not None:
        ax.axhline(reference, color="k", ls=":", label=f"{reference_label}: {reference:.0%}")
    ax.set_xscale("log")
    edges = sorted({r[k] for rows in bins.values() for r in rows for k in ("low", "high")})
    ax.set_xticks(edges, [f"{e:g}" for e in edges])
    ax.minorticks_off()
    ax.set_xlabel("SNR = max|signal| / RMS(noise)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title)
    return fig


def energy_ratio_histogram(
    ratios: Mapping[str, np.ndarray], *, max_ratio: float = 3.0, title: str | None = None
):
    """Histograms of reconstructed / true pulse energy; legend: median and 68 % half width."""
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0, max_ratio, 61)
    for name, r in ratios.items():
        r = np.asarray(r)
        r = r[np.isfinite(r)]
        if r.size == 0:
            continue
        p16, med, p84 = np.percentile(r, [16, 50, 84])
        ax.hist(
            np.clip(r, 0, max_ratio),
            bins=bins,
            histtype="step",
            lw=1.6,
            color=COLOURS.get(name),
            label=f"{_label(name)}: median {med:.2f}, 68% half width {(p84 - p16) / 2:.2f}",
        )
    ax.axvline(1.0, color="k", ls=":")
    ax.set_xlabel(f"energy ratio reconstructed / true (last bin: >= {max_ratio:g})")
    ax.set_ylabel("signal traces")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig
