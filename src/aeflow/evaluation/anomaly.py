"""Anomaly scores to decisions: ROC metrics and threshold strategies.

Convention: a higher score is more anomalous; a sample is flagged when ``score >= threshold``.
"Normal" samples are the background (QCD jets, the held-in classes), "anomalous" ones the
signal (top jets, the held-out class). Functions of 1-D score arrays: the curves, areas
and confusion counts are scikit-learn's (checked on hand-made cases in the tests); what is
ours is the physics on top - thresholds chosen on validation data, 1/epsilon_B at a signal
efficiency, and the mass-sculpting measure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _metrics():
    # scikit-learn (and the SciPy it loads) take about 2 s to import: imported on first use so
    # that a plotting job without ROC curves does not pay for it.
    from sklearn import metrics

    return metrics


def _scores(normal: np.ndarray, anomalous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    normal = np.asarray(normal, dtype=np.float64).ravel()
    anomalous = np.asarray(anomalous, dtype=np.float64).ravel()
    if normal.size == 0 or anomalous.size == 0:
        raise ValueError("need at least one normal and one anomalous score")
    if not (np.isfinite(normal).all() and np.isfinite(anomalous).all()):
        raise ValueError("anomaly scores must be finite")
    return normal, anomalous


def _labelled(normal: np.ndarray, anomalous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels (anomalous = 1) and scores, concatenated, in scikit-learn's convention."""
    normal, anomalous = _scores(normal, anomalous)
    labels = np.r_[np.zeros(normal.size), np.ones(anomalous.size)]
    return labels, np.concatenate([normal, anomalous])


def roc_curve(normal: np.ndarray, anomalous: np.ndarray):
    """False- and true-positive rates at every distinct score used as threshold, from the
    highest threshold (nothing flagged: (0, 0)) to the lowest (everything: (1, 1)); ties
    enter the curve together. scikit-learn's curve with every point kept.

    Returns (fpr, tpr, thresholds); the first threshold is +inf.
    """
    return _metrics().roc_curve(*_labelled(normal, anomalous), drop_intermediate=False)


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random anomalous sample scores above
    a random normal one, ties counting one half (Mann-Whitney U / n0 n1)."""
    return float(_metrics().roc_auc_score(*_labelled(normal, anomalous)))


def average_precision(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision: the mean over anomalous
    samples of the precision at the threshold that first recalls them (step-wise, ties
    entering together)."""
    return float(_metrics().average_precision_score(*_labelled(normal, anomalous)))


def threshold_at_fpr(normal: np.ndarray, fpr: float) -> float:
    """The lowest threshold flagging at most a fraction ``fpr`` of the normal scores."""
    normal = np.sort(np.asarray(normal, dtype=np.float64).ravel())[::-1]
    k = int(np.floor(fpr * normal.size + 1e-9))  # normal samples allowed above threshold
    if k >= normal.size:
        return float(normal[-1])
    # flag strictly above the (k+1)-th highest normal score
    return float(np.nextafter(normal[k], np.inf))


def tpr_at_fpr(normal: np.ndarray, anomalous: np.ndarray, fpr: float) -> float:
    """Fraction of anomalous samples flagged at the threshold of :func:`threshold_at_fpr`."""
    normal, anomalous = _scores(normal, anomalous)
    return float((anomalous >= threshold_at_fpr(normal, fpr)).mean())


def background_rejection(
    normal: np.ndarray, anomalous: np.ndarray, signal_efficiency: float = 0.3
) -> float:
    """1 / epsilon_B at the threshold keeping a fraction ``signal_efficiency`` of the
    anomalous (signal) samples - the jet-tagging figure of merit. inf if no background
    passes."""
    normal, anomalous = _scores(normal, anomalous)
    ranked = np.sort(anomalous)[::-1]
    n_keep = max(1, int(np.ceil(signal_efficiency * anomalous.size - 1e-9)))
    threshold = ranked[n_keep - 1]
    eps_b = float((normal >= threshold).mean())
    return float("inf") if eps_b == 0 else 1.0 / eps_b


# ---- thresholds ------------------------------------------------------------------------------
def percentile_threshold(val_normal: np.ndarray, contamination: float) -> float:
    """Flag the top ``contamination`` fraction of the validation-normal scores."""
    if not 0 <= contamination < 1:
        raise ValueError(f"contamination must be in [0, 1), got {contamination}")
    return threshold_at_fpr(val_normal, contamination)


def sigma_threshold(val_normal: np.ndarray, k: float) -> float:
    """``mean + k * std`` of the validation-normal scores."""
    v = np.asarray(val_normal, dtype=np.float64)
    return float(v.mean() + k * v.std())


def f1_optimal_threshold(val_normal: np.ndarray, val_anomalous: np.ndarray) -> float:
    """The threshold maximizing F1 (anomalous = positive) on a labelled validation set."""
    precision, recall, thresholds = _metrics().precision_recall_curve(
        *_labelled(val_normal, val_anomalous)
    )
    # the last point (precision 1, recall 0) has no threshold
    precision, recall = precision[:-1], recall[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
    # among equal F1 the highest threshold (thresholds ascend: the last maximum)
    return float(thresholds[f1.size - 1 - int(np.argmax(f1[::-1]))])


def confusion(normal: np.ndarray, anomalous: np.ndarray, threshold: float) -> dict[str, Any]:
    """Counts and rates at one threshold (anomalous = positive)."""
    labels, scores = _labelled(normal, anomalous)
    flagged = scores >= threshold
    tn, fp, fn, tp = (
        int(n) for n in _metrics().confusion_matrix(labels, flagged, labels=[0, 1]).ravel()
    )
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "tpr": tp / (tp + fn),
        "fpr": fp / (fp + tn),
        "precision": tp / (tp + fp) if tp + fp else None,
        "f1": float(_metrics().f1_score(labels, flagged, zero_division=0.0)),
    }


def thresholds_from(
    strategies: Mapping[str, Any], val_normal: np.ndarray, val_anomalous: np.ndarray | None
) -> dict[str, float]:
    """Thresholds by strategy name: ``percentile`` (a contamination rate), ``sigma`` (k),
    ``f1`` (true; needs labelled anomalous validation scores) and ``fixed`` (a value)."""
    out = {}
    for name, value in strategies.items():
        if value is None or value is False:
            continue
        if name == "percentile":
            out[name] = percentile_threshold(val_normal, value)
        elif name == "sigma":
            out[name] = sigma_threshold(val_normal, value)
        elif name == "f1":
            if val_anomalous is None or np.asarray(val_anomalous).size == 0:
                raise ValueError("threshold 'f1' needs anomalous samples in the validation set")
            out[name] = f1_optimal_threshold(val_normal, val_anomalous)
        elif name == "fixed":
            out[name] = float(value)
        else:
            raise ValueError(f"unknown threshold strategy {name!r}")
    return out


def anomaly_metrics(
    normal: np.ndarray,
    anomalous: np.ndarray,
    thresholds: Mapping[str, float] | None = None,
    fprs: Sequence[float] = (0.01, 0.1),
    signal_efficiency: float = 0.3,
) -> dict[str, Any]:
    """The metric block of one score on a test set: ``auroc``, ``aupr``, TPR at each FPR,
    background rejection at ``signal_efficiency``, and the confusion at each threshold."""
    normal, anomalous = _scores(normal, anomalous)
    block = {
        "n_normal": int(normal.size),
        "n_anomalous": int(anomalous.size),
        "auroc": auroc(normal, anomalous),
        "aupr": average_precision(normal, anomalous),
        **{f"tpr_at_fpr_{f:g}": tpr_at_fpr(normal, anomalous, f) for f in fprs},
    }
    rejection = background_rejection(normal, anomalous, signal_efficiency)
    # 1/eps_B is unbounded when no background passes: null in JSON, eps_B = 0 says it
    block[f"background_rejection_at_eff_{signal_efficiency:g}"] = (
        rejection if np.isfinite(rejection) else None
    )
    block[f"background_efficiency_at_eff_{signal_efficiency:g}"] = 1.0 / rejection
    if thresholds:
        block["at_threshold"] = {
            name: confusion(normal, anomalous, t) for name, t in thresholds.items()
        }
    return block


# ---- mass sculpting ------------------------------------------------------------------------
def jensen_shannon(a: np.ndarray, b: np.ndarray, bins: np.ndarray) -> float:
    """Jensen-Shannon divergence (bits, in [0, 1]) between the histograms of two samples on
    ``bins``: 0 for identical shapes, 1 for disjoint ones. (SciPy returns the distance, its
    square root.)"""
    p = np.histogram(a, bins=bins)[0].astype(float)
    q = np.histogram(b, bins=bins)[0].astype(float)
    if p.sum() == 0 or q.sum() == 0:
        raise ValueError("both samples need values inside the bins")
    from scipy.spatial import distance

    return float(distance.jensenshannon(p, q, base=2) ** 2)


def mass_sculpting(
    mass: np.ndarray, scores: np.ndarray, thresholds: Mapping[str, float], n_bins: int = 40
) -> dict[str, Any]:
    """How each threshold cut reshapes the mass distribution of normal (QCD) samples: the
    number passing, their median mass against all, and the Jensen-Shannon divergence of
    the passing to the full distribution (the decorrelation figure of merit, lower =
    less sculpting). ``None`` when fewer than 2 samples pass."""
    mass = np.asarray(mass, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    bins = np.linspace(0.0, max(float(np.percentile(mass, 99.5)), 1e-9), n_bins + 1)
    out: dict[str, Any] = {"median_mass_all": float(np.median(mass))}
    for name, t in thresholds.items():
        passed = mass[scores >= t]
        inside = passed[passed <= bins[-1]]
        out[name] = (
            None
            if inside.size < 2
            else {
                "n_passing": int(passed.size),
                "median_mass": float(np.median(passed)),
                "jsd": jensen_shannon(mass, passed, bins),
            }
        )
    return out
