"""Generative-model metrics on hand-made features with known answers, and the small feature
classifier on a toy image task whose classes survive flips and quarter turns."""

import numpy as np
import pytest
import torch

from aeflow.evaluation import feature_net as fn
from aeflow.evaluation import generative as gm


# ---- Fréchet distance --------------------------------------------------------------------
def test_frechet_identical_sets_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 8))
    assert gm.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_frechet_matches_the_diagonal_gaussian_formula():
    rng = np.random.default_rng(1)
    mu_a, mu_b = np.array([0.0, 1.0, -1.0, 2.0]), np.array([1.0, 0.0, 0.5, 2.0])
    var_a, var_b = np.array([1.0, 4.0, 0.25, 2.0]), np.array([2.0, 1.0, 1.0, 0.5])
    a = mu_a + np.sqrt(var_a) * rng.normal(size=(40_000, 4))
    b = mu_b + np.sqrt(var_b) * rng.normal(size=(40_000, 4))
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert gm.frechet_distance(a, b) == pytest.approx(expected, rel=0.03)
    assert gm.frechet_distance(a, b) == pytest.approx(gm.frechet_distance(b, a), rel=1e-6)


def test_frechet_survives_singular_covariances_and_checks_inputs():
    rng = np.random.default_rng(2)
    a = np.c_[rng.normal(size=(50, 3)), np.zeros((50, 2))]  # dead features
    b = np.c_[rng.normal(size=(60, 3)) + 1, np.zeros((60, 2))]
    value = gm.frechet_distance(a, b)
    assert np.isfinite(value) and value > 0
    assert gm.frechet_distance(rng.normal(size=(5, 20)), rng.normal(size=(5, 20))) >= 0
    with pytest.raises(ValueError, match="dimensions"):
        gm.frechet_distance(a, b[:, :4])
    with pytest.raises(ValueError, match="at least 2"):
        gm.frechet_distance(a[:1], b[:1])


# ---- precision and recall ----------------------------------------------------------------
def test_precision_recall_same_distribution_is_high():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4))
    pr = gm.precision_recall(real, fake, k=3, chunk_size=300)
    assert pr["precision"] > 0.9 and pr["recall"] > 0.9


def test_precision_recall_disjoint_clusters_is_zero():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(300, 3))
    fake = rng.normal(size=(300, 3)) + 100
    assert gm.precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}


def test_precision_recall_of_a_collapsed_generator():
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    real = np.concatenate([c + rng.normal(size=(400, 2)) for c in centres])
    fake = centres[1] + rng.normal(size=(1200, 2))  # only the second mode
    pr = gm.precision_recall(real, fake, k=3)
    assert pr["precision"] > 0.95
    assert pr["recall"] == pytest.approx(1 / 3, abs=0.03)


def test_knn_radii_by_hand():
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(gm.knn_radii(x, k=1), [1, 1, 2, 4])
    np.testing.assert_allclose(gm.knn_radii(x, k=2), [3, 2, 3, 6])


# ---- diversity and classes ---------------------------------------------------------------
def test_mean_pairwise_distance_by_hand():
    assert gm.mean_pairwise_distance([[0, 0], [3, 4]]) == pytest.approx(5.0)
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)  # 4 sides, 2 diagonals
    assert gm.mean_pairwise_distance(square) == pytest.approx((4 + 2 * np.sqrt(2)) / 6)
    images = np.zeros((2, 1, 2, 2))
    images[1] = 1  # flattened: distance sqrt(4)
    assert gm.mean_pairwise_distance(images) == pytest.approx(2.0)
    big = np.random.default_rng(6).normal(size=(3000, 2))
    sub = gm.mean_pairwise_distance(big, max_samples=500, seed=1)
    assert sub == gm.mean_pairwise_distance(big, max_samples=500, seed=1)
    assert sub == pytest.approx(np.sqrt(np.pi), rel=0.05)  # E|x - y| for 2-D unit normals
    assert gm.mean_pairwise_distance(np.ones((10, 3))) == 0.0
    with pytest.raises(ValueError):
        gm.mean_pairwise_distance([[1.0, 2.0]])


def test_class_histogram_and_mode_coverage():
    real = gm.class_histogram(np.array([0, 1, 2, 0, 1, 2]), 3)
    np.testing.assert_allclose(real, [1 / 3, 1 / 3, 1 / 3])
    collapsed = gm.class_histogram(np.array([1, 1, 1, 1]), 3)
    np.testing.assert_allclose(collapsed, [0, 1, 0])
    cov = gm.mode_coverage(collapsed, real)
    assert cov["classes_below_half"] == [0, 2]
    assert cov["n_covered"] == 1 and cov["min_ratio"] == 0.0
    assert cov["ratios"] == pytest.approx([0, 3, 0])
    # a share of 0.2 against 0.5 is below half; 0.3 against 0.25 is not
    cov = gm.mode_coverage([0.2, 0.3, 0.5], [0.5, 0.25, 0.25])
    assert cov["classes_below_half"] == [0] and cov["n_covered"] == 2
    assert cov["min_ratio"] == pytest.approx(0.4)
    with pytest.raises(ValueError):
        gm.class_histogram([0, 3], 3)


def test_requested_class_accuracy_by_hand():
    requested = np.array([0, 0, 1, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0, 0])
    assert gm.requested_class_accuracy(requested, predicted) == pytest.approx(3 / 6)
    np.testing.assert_allclose(
        gm.per_class_accuracy(requested, predicted, 4), [1 / 2, 2 / 3, 0, np.nan]
    )
    with pytest.raises(ValueError):
        gm.requested_class_accuracy([0, 1], [0])


def test_summary_collects_everything():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(200, 3)), rng.normal(size=(150, 3))
    out = gm.summary(
        real, fake, real_pred=rng.integers(0, 3, 200), fake_pred=np.zeros(150, int), n_classes=3
    )
    assert out["frechet_distance"] >= 0 and 0 <= out["precision"] <= 1
    assert out["diversity_ratio"] == pytest.approx(out["diversity_fake"] / out["diversity_real"])
    assert out["mode_coverage"]["classes_below_half"] == [1, 2]
    assert set(gm.summary(real, fake)) >= {"frechet_distance", "recall", "diversity_fake"}


# ---- feature classifier ------------------------------------------------------------------
@pytest.mark.parametrize(("channels", "size"), [(3, 32), (1, 28), (3, 64), (1, 8)])
def test_feature_classifier_shapes(channels, size):
    torch.manual_seed(0)
    model = fn.FeatureClassifier(channels, size, n_classes=3, feature_dim=16).eval()
    x = torch.rand(5, channels, size, size)
    assert model.features(x).shape == (5, 16)
    assert model(x).shape == (5, 3)
    assert model.feature_dim == 16 and model.config["image_size"] == size
    n_params = sum(p.numel() for p in model.parameters())
    again = fn.FeatureClassifier(channels, size, n_classes=3, feature_dim=16)
    assert n_params > 0 and n_params == sum(p.numel() for p in again.parameters())
    with pytest.raises(ValueError, match="expected images"):
        model(torch.rand(2, channels + 1, size, size))


def test_feature_classifier_rejects_bad_arguments():
    for kwargs in (
        {"in_channels": 0},
        {"image_size": 4},
        {"n_classes": 1},
        {"widths": ()},
        {"feature_dim": 0},
    ):
        with pytest.raises(ValueError):
            fn.FeatureClassifier(**kwargs)


def test_dihedral_augmentation_keeps_invariant_images():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, 6, 6)
    out = fn.augment_dihedral(x, g)
    assert out.shape == x.shape
    # every output is one of the 8 symmetries of its input
    for xi, oi in zip(x, out, strict=True):
        images = [torch.rot90(v, k, dims=(-2, -1)) for v in (xi, xi.flip(-1)) for k in range(4)]
        assert any(torch.equal(oi, v) for v in images)
    symmetric = torch.ones(8, 1, 4, 4)
    assert torch.equal(fn.augment_dihedral(symmetric, g), symmetric)


def toy_shapes(n: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy disks (0), rings (1) and diagonal crosses (2): classes that flips and quarter
    turns map onto themselves, with jittered centre and radius."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    labels = rng.integers(0, 3, n)
    images = np.empty((n, 1, size, size), np.float32)
    for i, label in enumerate(labels):
        cy, cx = (size - 1) / 2 + rng.uniform(-1.5, 1.5, 2)
        radius = rng.uniform(0.25, 0.4) * size
        dy, dx = yy - cy, xx - cx
        r = np.hypot(dy, dx)
        if label == 0:
            img = r <= radius
        elif label == 1:
            img = np.abs(r - radius) <= 1.0
        else:
            img = ((np.abs(dy - dx) <= 1.0) | (np.abs(dy + dx) <= 1.0)) & (r <= radius)
        images[i, 0] = img + rng.normal(0, 0.15, (size, size))
    return np.clip(images, 0, 1), labels


def test_fit_classifier_learns_a_toy_task():
    torch.set_num_threads(1)
    train_x, train_y = toy_shapes(600, seed=0)
    val_x, val_y = toy_shapes(300, seed=1)
    kwargs = dict(n_classes=3, epochs=4, batch_size=32, lr=3e-3, seed=0, widths=(8, 16, 32))
    model, history = fn.fit_classifier(train_x, train_y, val_x, val_y, **kwargs)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = max(h["val_accuracy"] for h in history)
    assert best > 0.9
    assert fn.accuracy(model, val_x, val_y) == pytest.approx(best)

    feats, probs = fn.extract(model, torch.from_numpy(val_x), batch_size=128)
    assert feats.shape == (300, model.feature_dim) and feats.dtype == np.float32
    assert (feats >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(fn.predict(model, val_x), probs.argmax(axis=1))

    # the same seed gives the same run, and the global RNG is not consumed
    state = torch.get_rng_state()
    _, again = fn.fit_classifier(train_x[:200], train_y[:200], val_x, val_y, **kwargs)
    _, twice = fn.fit_classifier(train_x[:200], train_y[:200], val_x, val_y, **kwargs)
    assert again == twice
    assert torch.equal(state, torch.get_rng_state())


def test_fit_classifier_checks_inputs():
    x, y = toy_shapes(10)
    with pytest.raises(ValueError, match="labels"):
        fn.fit_classifier(x, y[:5], x, y, n_classes=3, epochs=1)
    with pytest.raises(ValueError, match="outside"):
        fn.fit_classifier(x, y + 3, x, y, n_classes=3, epochs=1)
    with pytest.raises(ValueError, match="square"):
        fn.fit_classifier(x[:, 0], y, x, y, n_classes=3, epochs=1)
