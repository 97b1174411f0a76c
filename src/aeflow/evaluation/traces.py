"""Metrics of denoised time traces (radio pulses). Pure functions; arrays are (N, T).

* peak-location accuracy: the fraction of signal traces whose ``argmax |denoised|`` lies
  within ``tolerance`` samples of ``argmax |true signal|`` (the blog's 2 % of the trace); and
  the same with the peak of the Hilbert envelope, as the field times pulses;
* energy ratio: reconstructed / true energy (sum of squares) in a window around the true
  peak, summarized as bias and 68 % width (Erdmann, Schlueter, Smida, JINST 2019), over all
  signal traces and over those with SNR >= 3, and the fraction within 20 % per SNR bin;
* pulse detection: the fraction of traces whose ``max |denoised|`` exceeds a threshold, on
  noise-only traces (false pulses) and on signal traces (efficiency);
* signal vs noise-only classification by the peak of the Hilbert envelope: AUROC, and the
  true-positive rate at 0.2 % false positives overall, above SNR 3 and per SNR bin (Erdmann
  et al.'s classifier: about 90 % above SNR 3); on the band-passed trace it is the classical
  trigger;
* mean amplitude spectra ``|rfft|`` on a frequency axis in MHz;
* the known-pulse bounds: what an estimator that knows each pulse's shape reaches on the
  same traces — its energy from the least-squares amplitude at the known arrival, its
  arrival (and so its peak) where the matched filter of that one pulse peaks, its detection
  by that matched filter's largest output. In Gaussian noise
  (the galactic model) these are optimal, so no method that must learn the shape from the
  trace does better: they say how far the targets of the literature lie from what the
  traces hold. In non-Gaussian noise they are only the best *linear* estimates: bounded
  (uniform) noise or a few sinusoids (cosine) can be beaten by a non-linear denoiser.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import signal as sps

# Peak-location accuracy of the blog reproduction (three noise models), for comparison.
BLOG_PEAK_ACCURACY = {"galactic": 0.69, "uniform": 0.95, "cosine": 0.98}
FIXED_FALSE_PULSE_RATE = 0.01
# Erdmann et al. quote the energy resolution for signal traces above this SNR.
ENERGY_SNR_MIN = 3.0
TIMINGS = ("abs", "envelope")  # argmax |x|, or the peak of the Hilbert envelope
DETECTION_FPR = 0.002  # Erdmann et al.: < 0.2 % false positives


def envelope(traces: np.ndarray) -> np.ndarray:
    """The Hilbert envelope |x + i H[x]| of each trace (the analytic signal's amplitude)."""
    return np.abs(sps.hilbert(np.asarray(traces, np.float64), axis=-1))


def peak_positions(traces: np.ndarray, timing: str = "abs") -> np.ndarray:
    """Sample index of each trace's peak, shape (N,): the largest absolute amplitude
    (``abs``) or the maximum of the Hilbert envelope (``envelope``)."""
    if timing == "envelope":
        return envelope(traces).argmax(axis=-1)
    if timing != "abs":
        raise ValueError(f"timing must be one of {TIMINGS}, got {timing!r}")
    return np.abs(traces).argmax(axis=-1)


def peak_hits(
    denoised: np.ndarray, signal: np.ndarray, tolerance: int, timing: str = "abs"
) -> np.ndarray:
    """True where the denoised peak lies within ``tolerance`` samples of the true peak, both
    found the same way (``timing``)."""
    if denoised.shape != signal.shape:
        raise ValueError(f"denoised {denoised.shape} and signal {signal.shape} differ")
    found = peak_positions(denoised, timing)
    return np.abs(found - peak_positions(signal, timing)) <= tolerance


def window_energy(traces: np.ndarray, centres: np.ndarray, half_width: int) -> np.ndarray:
    """Sum of squares of each trace in ``[centre - half_width, centre + half_width]``
    (clipped to the trace)."""
    t = np.arange(traces.shape[-1])[None, :]
    inside = np.abs(t - np.asarray(centres)[:, None]) <= half_width
    x = traces.astype(np.float64)
    return (x * x * inside).sum(axis=-1)


def energy_ratios(denoised: np.ndarray, signal: np.ndarray, half_width: int) -> np.ndarray:
    """Reconstructed / true energy in a window around each true peak (signal traces only)."""
    centres = peak_positions(signal)
    true = window_energy(signal, centres, half_width)
    if (true <= 0).any():
        raise ValueError("energy_ratios: a trace without signal has no true energy")
    return window_energy(denoised, centres, half_width) / true


def ratio_summary(ratios: np.ndarray) -> dict[str, float | int | None]:
    """Bias and spread of energy ratios: mean, std, median, central 68 % interval and its
    half width (the resolution), and the fraction within +-20 % of the truth."""
    r = np.asarray(ratios, dtype=np.float64)
    if r.size == 0:
        return dict.fromkeys(
            ("mean", "std", "median", "p16", "p84", "resolution_68", "within_20pct"), None
        ) | {"n": 0}
    p16, med, p84 = np.percentile(r, [16, 50, 84])
    return {
        "n": int(r.size),
        "mean": float(r.mean()),
        "std": float(r.std()),
        "median": float(med),
        "p16": float(p16),
        "p84": float(p84),
        "resolution_68": float((p84 - p16) / 2),
        "within_20pct": float(np.mean(np.abs(r - 1) <= 0.2)),
    }


def bin_masks(by: np.ndarray, edges: Sequence[float]):
    """(low, high, mask) per bin ``[lo, hi)`` of ``by``; the last bin includes ``hi``."""
    by = np.asarray(by, np.float64)
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        yield float(lo), float(hi), (by >= lo) & ((by <= hi) if last else (by < hi))


def binned_fraction(
    flags: np.ndarray, values: np.ndarray, edges: Sequence[float]
) -> list[dict[str, float | int | None]]:
    """The fraction of true ``flags`` in each bin ``[lo, hi)`` of ``values`` (the last bin
    includes ``hi``), with its binomial standard error."""
    flags = np.asarray(flags, bool)
    out = []
    for lo, hi, sel in bin_masks(values, edges):
        n = int(sel.sum())
        frac = float(flags[sel].mean()) if n else None
        err = float(np.sqrt(frac * (1 - frac) / n)) if n else None
        out.append({"low": lo, "high": hi, "n": n, "fraction": frac, "error": err})
    return out


def binned_median(
    values: np.ndarray, by: np.ndarray, edges: Sequence[float]
) -> list[dict[str, float | int | None]]:
    """The median of ``values`` in each bin ``[lo, hi)`` of ``by`` (last bin closed)."""
    values = np.asarray(values, np.float64)
    out = []
    for lo, hi, sel in bin_masks(by, edges):
        n = int(sel.sum())
        median = float(np.median(values[sel])) if n else None
        out.append({"low": lo, "high": hi, "n": n, "median": median})
    return out


def exceed_fraction(peak_amplitudes: np.ndarray, threshold: float) -> float | None:
    """Fraction of traces, given by their peak amplitudes ``max |x|``, above ``threshold``
    (None for no traces)."""
    return float((peak_amplitudes > threshold).mean()) if len(peak_amplitudes) else None


def detection(
    scores: np.ndarray,
    has_signal: np.ndarray,
    snr: np.ndarray,
    snr_bins: Sequence[float],
    false_positive_rate: float = DETECTION_FPR,
) -> dict[str, Any] | None:
    """Signal vs noise-only traces told apart by a per-trace ``scores`` (higher: more
    signal-like): AUROC, and the true-positive rate at the threshold that passes at most
    ``false_positive_rate`` of the noise-only traces (overall, above SNR 3, per SNR bin).
    None without both kinds of trace. With n noise-only traces the false-positive rate is
    resolved to 1/n: the record keeps n and the rate reached."""
    from sklearn.metrics import roc_auc_score

    has_signal = np.asarray(has_signal, bool)
    noise, signal, snr = scores[~has_signal], scores[has_signal], np.asarray(snr)[has_signal]
    if noise.size == 0 or signal.size == 0:
        return None
    threshold = float(np.quantile(noise, 1 - false_positive_rate, method="higher"))
    found = signal > threshold
    above = snr >= ENERGY_SNR_MIN
    return {
        "auroc": float(roc_auc_score(has_signal, scores)),
        "false_positive_rate": false_positive_rate,
        "threshold": threshold,
        "false_positive_rate_reached": float((noise > threshold).mean()),
        "n_noise_only": int(noise.size),
        "true_positive_rate": float(found.mean()),
        "true_positive_rate_above_snr_min": float(found[above].mean()) if above.any() else None,
        "true_positive_rate_by_snr": binned_fraction(found, snr, snr_bins),
    }


def _whitened_spectra(traces: np.ndarray, whitening: np.ndarray) -> np.ndarray:
    return np.fft.rfft(np.asarray(traces, np.float64), axis=-1) * whitening


def known_pulse_energy_ratios(
    traces: np.ndarray, pulses: np.ndarray, whitening: np.ndarray
) -> np.ndarray:
    """The energy bound, per trace: the squared least-squares amplitude of its true pulse
    (``pulses``, same shape) at the true arrival in the noise-whitened trace
    (:func:`~aeflow.evaluation.baselines.whitening_of`). The amplitude is unbiased; in
    Gaussian noise it has the smallest variance any unbiased estimate has (Cramér-Rao), so
    no energy estimate that must also find the pulse's shape and arrival is narrower."""
    n = np.shape(traces)[-1]
    wx = np.fft.irfft(_whitened_spectra(traces, whitening), n=n, axis=-1)
    ws = np.fft.irfft(_whitened_spectra(pulses, whitening), n=n, axis=-1)
    return ((wx * ws).sum(axis=-1) / (ws * ws).sum(axis=-1)) ** 2


def _known_pulse_correlation(traces, pulses, whitening) -> tuple[np.ndarray, np.ndarray]:
    """Each noise-whitened trace correlated with its whitened pulse at every (circular) lag,
    (N, T), and the whitened pulses' norms (N,)."""
    n = np.shape(traces)[-1]
    spectra, shapes = _whitened_spectra(traces, whitening), _whitened_spectra(pulses, whitening)
    correlation = np.fft.irfft(spectra * np.conj(shapes), n=n, axis=-1)
    return correlation, np.sqrt((np.fft.irfft(shapes, n=n, axis=-1) ** 2).sum(axis=-1))


def known_pulse_peak_hits(
    traces: np.ndarray, pulses: np.ndarray, whitening: np.ndarray, tolerance: int
) -> np.ndarray:
    """The timing bound, per trace: its true pulse (shape and sign known) moved to the lag
    where it best matches the noise-whitened trace — the maximum-likelihood arrival in
    Gaussian noise — and its peak there within ``tolerance`` samples of the true peak."""
    correlation, _ = _known_pulse_correlation(traces, pulses, whitening)
    length = np.shape(traces)[-1]
    true_peaks = peak_positions(pulses)
    found = (true_peaks + correlation.argmax(axis=-1)) % length
    return np.abs(found - true_peaks) <= tolerance


def known_pulse_scores(traces: np.ndarray, pulses: np.ndarray, whitening: np.ndarray):
    """The detection bound, per trace: the largest |correlation| over (circular) arrival
    times of the noise-whitened trace with its known, whitened pulse shape, in units of the
    whitened noise — the matched filter of the one true pulse, only the arrival unknown."""
    correlation, norm = _known_pulse_correlation(traces, pulses, whitening)
    return np.abs(correlation).max(axis=-1) / norm


def trace_values(
    denoised: np.ndarray,
    signal: np.ndarray,
    has_signal: np.ndarray,
    tolerance: int,
    half_width: int,
) -> dict[str, np.ndarray]:
    """Per-trace values of one denoiser's outputs: ``peak_hit``, ``peak_hit_envelope`` and
    ``energy_ratio`` (False / NaN for noise-only traces), ``detection_score`` (the peak of
    the Hilbert envelope) and ``peak_amplitude`` (max |x|) for every trace. Trace by trace,
    so a test set judged in blocks gives the same values."""
    has_signal = np.asarray(has_signal, bool)
    sig = np.flatnonzero(has_signal)
    hits = np.zeros(len(denoised), bool)
    envelope_hits = np.zeros(len(denoised), bool)
    ratios = np.full(len(denoised), np.nan)
    env = envelope(denoised)  # timing of signal traces, and every trace's detection score
    if sig.size:
        hits[sig] = peak_hits(denoised[sig], signal[sig], tolerance)
        true_peaks = peak_positions(signal[sig], "envelope")
        envelope_hits[sig] = np.abs(env[sig].argmax(axis=-1) - true_peaks) <= tolerance
        ratios[sig] = energy_ratios(denoised[sig], signal[sig], half_width)
    return {
        "peak_hit": hits,
        "peak_hit_envelope": envelope_hits,
        "energy_ratio": ratios,
        "detection_score": env.max(axis=-1),
        "peak_amplitude": np.abs(denoised).max(axis=-1),
    }


def trace_summary(
    values: dict[str, np.ndarray],
    has_signal: np.ndarray,
    snr: np.ndarray,
    threshold: float,
    snr_bins: Sequence[float],
) -> dict[str, Any]:
    """The metric block of one denoiser on one test set from its :func:`trace_values`:
    peak-location accuracy (overall and by SNR), energy ratios, pulse detection at
    ``threshold`` and at the threshold passing 1 % of the noise-only traces, and signal vs
    noise told apart by the envelope's peak."""
    has_signal = np.asarray(has_signal, bool)
    sig = np.flatnonzero(has_signal)
    hits, envelope_hits = values["peak_hit"], values["peak_hit_envelope"]
    snr_sig, ratios_sig = snr[sig], values["energy_ratio"][sig]
    noise_max = values["peak_amplitude"][~has_signal]
    signal_max = values["peak_amplitude"][sig]
    fixed = float(np.quantile(noise_max, 1 - FIXED_FALSE_PULSE_RATE)) if noise_max.size else None
    return {
        "peak_location_accuracy": float(hits[sig].mean()) if sig.size else None,
        "peak_location_accuracy_by_snr": binned_fraction(hits[sig], snr_sig, snr_bins),
        "peak_location_accuracy_envelope": (float(envelope_hits[sig].mean()) if sig.size else None),
        "peak_location_accuracy_envelope_by_snr": binned_fraction(
            envelope_hits[sig], snr_sig, snr_bins
        ),
        "energy_ratio": ratio_summary(ratios_sig),
        "energy_ratio_snr_min": ENERGY_SNR_MIN,
        "energy_ratio_above_snr_min": ratio_summary(ratios_sig[snr_sig >= ENERGY_SNR_MIN]),
        "energy_ratio_median_by_snr": binned_median(ratios_sig, snr_sig, snr_bins),
        "energy_within_20pct_by_snr": binned_fraction(
            np.abs(ratios_sig - 1) <= 0.2, snr_sig, snr_bins
        ),
        "pulse_detection": {
            "threshold": float(threshold),
            "false_pulse_rate": exceed_fraction(noise_max, threshold),
            "efficiency": exceed_fraction(signal_max, threshold),
            # Each denoiser at its own threshold passing 1 % of noise-only traces: a fair
            # comparison of outputs on different amplitude scales.
            "threshold_at_1pct_false": fixed,
            "efficiency_at_1pct_false": (
                exceed_fraction(signal_max, fixed) if fixed is not None else None
            ),
        },
        "detection": detection(values["detection_score"], has_signal, snr, snr_bins),
    }
