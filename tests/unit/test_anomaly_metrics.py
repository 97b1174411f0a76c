"""Anomaly metrics and thresholds on hand-made scores with known answers."""

import numpy as np
import pytest

from aeflow.evaluation import anomaly as am


def test_auroc_extremes_and_ties():
    assert am.auroc([1, 2, 3], [4, 5]) == 1.0
    assert am.auroc([4, 5], [1, 2, 3]) == 0.0
    assert am.auroc([1, 1], [1]) == 0.5


def test_auroc_by_hand():
    # pairs won by the anomalous scores: 0.9 beats 4, 0.8 beats 3 and ties 1, 0.6 beats 3
    assert am.auroc([0.1, 0.4, 0.35, 0.8], [0.9, 0.8, 0.6]) == pytest.approx(10.5 / 12)


def test_roc_curve_area_equals_auroc_with_ties():
    rng = np.random.default_rng(0)
    normal = rng.integers(0, 20, 300).astype(float)
    anomalous = rng.integers(5, 25, 200).astype(float)
    fpr, tpr, thresholds = am.roc_curve(normal, anomalous)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert thresholds[0] == np.inf
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(am.auroc(normal, anomalous))


def test_average_precision_by_hand():
    # ranking: 0.8 (A), 0.4 (N), 0.35 (A), 0.1 (N): precisions 1 and 2/3 at the two recalls
    assert am.average_precision([0.1, 0.4], [0.35, 0.8]) == pytest.approx((1 + 2 / 3) / 2)
    assert am.average_precision([1, 2], [3, 4]) == 1.0


def test_rates_at_a_false_positive_rate():
    normal = np.arange(1.0, 11.0)  # 1 ... 10
    t = am.threshold_at_fpr(normal, 0.1)
    assert 9 < t <= 10 and (normal >= t).mean() == pytest.approx(0.1)
    assert am.tpr_at_fpr(normal, [9.5, 10, 3], 0.1) == pytest.approx(2 / 3)
    assert (normal >= am.threshold_at_fpr(normal, 0.0)).sum() == 0


def test_background_rejection_by_hand():
    normal = np.arange(100.0)
    anomalous = np.array([200, 150, 90, 10, 5, 4, 3, 2, 1, 0], float)
    # keeping 30 % of the signal puts the cut at 90: 10 of 100 background pass -> 1/0.1
    assert am.background_rejection(normal, anomalous, 0.3) == pytest.approx(10.0)
    assert am.background_rejection([0, 1], [5, 6, 7], 0.3) == float("inf")


def test_threshold_strategies():
    val = np.arange(100.0)
    t = am.percentile_threshold(val, 0.05)
    assert (val >= t).sum() == 5
    assert am.sigma_threshold([1, 2, 3], 2) == pytest.approx(2 + 2 * np.sqrt(2 / 3))
    # F1 at each candidate: 0.9 -> 2/3, 0.3 -> 1/2, 0.25 -> 4/5, 0.2 -> 2/3
    assert am.f1_optimal_threshold([0.1, 0.2, 0.3], [0.25, 0.9]) == 0.25
    got = am.thresholds_from(
        {"percentile": 0.05, "sigma": 3.0, "f1": True, "fixed": 42}, val, np.array([99.5, 120])
    )
    assert set(got) == {"percentile", "sigma", "f1", "fixed"} and got["fixed"] == 42.0
    with pytest.raises(ValueError, match="needs anomalous"):
        am.thresholds_from({"f1": True}, val, None)
    with pytest.raises(ValueError, match="unknown threshold strategy"):
        am.thresholds_from({"magic": 1}, val, None)


def test_confusion_and_metric_block():
    c = am.confusion([0.1, 0.2, 0.3], [0.25, 0.9], 0.25)
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (2, 1, 2, 0)
    assert c["precision"] == pytest.approx(2 / 3) and c["f1"] == pytest.approx(0.8)
    block = am.anomaly_metrics([0.1, 0.2, 0.3], [0.25, 0.9], {"f1": 0.25})
    assert block["auroc"] == pytest.approx(5 / 6)
    assert {"aupr", "tpr_at_fpr_0.01", "tpr_at_fpr_0.1", "background_rejection_at_eff_0.3"} <= set(
        block
    )
    assert block["at_threshold"]["f1"]["tp"] == 2


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        am.auroc([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        am.auroc([np.nan, 1.0], [2.0])


def test_jensen_shannon_by_hand():
    bins = np.array([0.0, 1.0, 2.0, 3.0])
    a = np.array([0.5, 0.5, 1.5, 1.5])  # p = (1/2, 1/2, 0)
    assert am.jensen_shannon(a, a, bins) == 0.0
    assert am.jensen_shannon(a, np.array([2.5]), bins) == pytest.approx(1.0)  # disjoint
    # p = (1/2, 1/2, 0), q = (0, 1/2, 1/2): m = (1/4, 1/2, 1/4); JSD = 1/2 bit
    assert am.jensen_shannon(a, np.array([1.5, 2.5]), bins) == pytest.approx(0.5)


def test_mass_sculpting_sees_a_cut_that_keeps_heavy_jets():
    rng = np.random.default_rng(0)
    mass = rng.uniform(0, 200, 4000)
    unrelated = rng.uniform(size=4000)
    s = am.mass_sculpting(mass, unrelated, {"random": 0.5, "heavy": 2.0})
    assert s["random"]["jsd"] < 0.02 and s["heavy"] is None  # nothing passes 2.0
    s = am.mass_sculpting(mass, mass / 200, {"cut": 0.75})  # keeps m >= 150
    assert s["cut"]["median_mass"] > 150 and s["cut"]["jsd"] > 0.4
