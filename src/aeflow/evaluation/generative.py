"""Does a generated distribution match the real one? Metrics on feature vectors.

The features come from a classifier trained on the real labelled images
(:mod:`aeflow.evaluation.feature_net`); the functions here only see arrays (N, D):

- :func:`frechet_distance`: distance between Gaussians fitted to the two feature sets
  (the FID recipe, on our own feature space rather than Inception's);
- :func:`precision_recall`: the k-nearest-neighbour manifold estimate of Kynkäänniemi et
  al. (2019) - precision asks "are the fakes realistic?", recall "is all of the real
  distribution produced?";
- :func:`mean_pairwise_distance`: diversity (a collapsed generator scores near 0);
- :func:`class_histogram`, :func:`mode_coverage`, :func:`requested_class_accuracy`: the
  classes the classifier sees in the generated samples against the real shares and, for a
  conditional generator, against the requested labels.

Pure numpy/scipy.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist, pdist


def _features(x: np.ndarray, name: str, min_samples: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples, features), got shape {x.shape}")
    if len(x) < min_samples:
        raise ValueError(f"{name} needs at least {min_samples} samples, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains non-finite values")
    return x


def _pair(a: np.ndarray, b: np.ndarray, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    a = _features(a, "a", min_samples)
    b = _features(b, "b", min_samples)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    return a, b


# ---- Fréchet distance --------------------------------------------------------------------
def _sqrtm_product(ca: np.ndarray, cb: np.ndarray) -> np.ndarray | None:
    """Real part of ``(ca @ cb)^(1/2)``, or None when the root is not finite or inaccurate."""
    product = ca @ cb
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on (near-)singular matrices
        root = linalg.sqrtm(product)
    if not np.isfinite(root).all():
        return None
    if np.iscomplexobj(root):
        # a small imaginary part is rounding noise of an (almost) singular product
        scale = max(float(np.abs(root).max()), 1e-12)
        if float(np.abs(root.imag).max()) > 1e-3 * scale:
            return None
        root = root.real
    residual = np.linalg.norm(root @ root - product)
    if residual > 1e-3 * max(float(np.linalg.norm(product)), 1e-12):
        return None
    return root


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet (2-Wasserstein) distance between Gaussians fitted to ``a`` (N, D) and ``b``
    (M, D): ``|mu_a - mu_b|^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2))``.

    Covariances are unbiased (ddof 1), hence at least 2 samples per set. When the matrix
    root of ``C_a C_b`` fails (singular covariances: more dimensions than samples, dead
    ReLU features) ``eps * I`` is added to both covariances. Tiny negative results from
    rounding are clamped to 0.
    """
    a, b = _pair(a, b, 2)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    ca = np.atleast_2d(np.cov(a, rowvar=False))
    cb = np.atleast_2d(np.cov(b, rowvar=False))
    root = _sqrtm_product(ca, cb)
    if root is None:
        offset = eps * np.eye(len(ca))
        ca, cb = ca + offset, cb + offset
        root = _sqrtm_product(ca, cb)
        if root is None:
            raise FloatingPointError("matrix square root of the covariance product failed")
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(ca) + np.trace(cb) - 2.0 * np.trace(root))
    return max(value, 0.0)


# ---- precision and recall ----------------------------------------------------------------
def knn_radii(x: np.ndarray, k: int = 3) -> np.ndarray:
    """Distance of every row of ``x`` to its k-th nearest *other* row (N,)."""
    from sklearn.neighbors import NearestNeighbors

    x = _features(x, "x", k + 1)
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return distances[:, k]  # column 0 is the point itself (distance 0)


def _inside_union(
    queries: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk_size: int
) -> np.ndarray:
    """Boolean (len(queries),): whether each query lies in some ball (centre, radius)."""
    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), chunk_size):
        d = cdist(queries[start : start + chunk_size], centres)
        inside[start : start + chunk_size] = (d <= radii[None, :]).any(axis=1)
    return inside


def precision_recall(
    real: np.ndarray, fake: np.ndarray, k: int = 3, chunk_size: int = 1024
) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real``.

    The real manifold is the union of balls around the real samples, each with the radius
    to its k-th nearest other real sample; precision is the fraction of fake samples inside
    it. Recall swaps the roles: the fraction of real samples inside the fake manifold.
    Distances are computed ``chunk_size`` queries at a time (memory ~ chunk_size x N).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    real, fake = _pair(real, fake, k + 1)
    precision = _inside_union(fake, real, knn_radii(real, k), chunk_size).mean()
    recall = _inside_union(real, fake, knn_radii(fake, k), chunk_size).mean()
    return {"precision": float(precision), "recall": float(recall)}


# ---- diversity ---------------------------------------------------------------------------
def mean_pairwise_distance(x: np.ndarray, max_samples: int = 2000, seed: int = 0) -> float:
    """Mean Euclidean distance over all pairs of rows of ``x`` (N, ...), each sample
    flattened; above ``max_samples`` samples a seeded random subset of that size is used."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or len(x) < 2:
        raise ValueError("need at least 2 samples")
    if max_samples < 2:
        raise ValueError(f"max_samples must be >= 2, got {max_samples}")
    x = x.reshape(len(x), -1)
    if len(x) > max_samples:
        rng = np.random.default_rng(seed)
        x = x[np.sort(rng.choice(len(x), size=max_samples, replace=False))]
    return float(pdist(x).mean())


# ---- classes -----------------------------------------------------------------------------
def _labels(y: np.ndarray, name: str, n_classes: int | None = None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and np.array_equal(y, np.round(y))
    )
    if y.size and not integral:
        raise ValueError(f"{name} must hold integer class indices")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or (n_classes is not None and y.max() >= n_classes)):
        raise ValueError(f"{name} has class indices outside [0, {n_classes})")
    return y


def class_histogram(pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Fraction of the samples predicted as each class (n_classes,), summing to 1."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    pred = _labels(pred, "pred", n_classes)
    if pred.size == 0:
        raise ValueError("pred is empty")
    return np.bincount(pred, minlength=n_classes) / pred.size


def mode_coverage(
    generated_fractions: np.ndarray, real_fractions: np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """Compare class shares of generated and real samples (from :func:`class_histogram`).

    ``ratios``: generated / real share per class (None where the real share is 0, such
    classes are ignored); ``min_ratio``: the smallest of them; ``classes_below_half``:
    indices whose generated share is below ``threshold`` (default half) times the real
    share - modes the generator drops; ``n_covered``: the other classes with real samples.
    """
    gen = np.asarray(generated_fractions, dtype=np.float64)
    real = np.asarray(real_fractions, dtype=np.float64)
    if gen.ndim != 1 or gen.shape != real.shape:
        raise ValueError(f"fractions must be 1-D of equal length, got {gen.shape}, {real.shape}")
    present = real > 0
    if not present.any():
        raise ValueError("real_fractions has no class with a positive share")
    ratios = [float(g / r) if r > 0 else None for g, r in zip(gen, real, strict=True)]
    below = [int(i) for i in np.flatnonzero(present & (gen < threshold * real))]
    return {
        "ratios": ratios,
        "min_ratio": float(min(r for r in ratios if r is not None)),
        "classes_below_half": below,
        "n_covered": int(present.sum()) - len(below),
    }


def requested_class_accuracy(requested: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of conditionally generated samples classified as the requested class."""
    requested = _labels(requested, "requested")
    predicted = _labels(predicted, "predicted")
    if requested.shape != predicted.shape or requested.size == 0:
        raise ValueError("requested and predicted must be non-empty and of equal length")
    return float((requested == predicted).mean())


def per_class_accuracy(requested: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """:func:`requested_class_accuracy` within each requested class (n_classes,); NaN for
    classes never requested."""
    requested = _labels(requested, "requested", n_classes)
    predicted = _labels(predicted, "predicted")
    if requested.shape != predicted.shape:
        raise ValueError("requested and predicted must be of equal length")
    hits = np.bincount(requested, weights=requested == predicted, minlength=n_classes)
    counts = np.bincount(requested, minlength=n_classes)
    out = np.full(n_classes, np.nan)
    np.divide(hits, counts, out=out, where=counts > 0)
    return out


# ---- all at once -------------------------------------------------------------------------
def summary(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    *,
    real_pred: np.ndarray | None = None,
    fake_pred: np.ndarray | None = None,
    n_classes: int | None = None,
    k: int = 3,
    max_samples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics above in one JSON-friendly dict: ``frechet_distance``, ``precision``,
    ``recall``, ``diversity_real``/``diversity_fake`` (mean pairwise feature distance) and
    their ratio; with predicted classes of both sets and ``n_classes`` also the class shares
    and :func:`mode_coverage`."""
    out: dict[str, Any] = {"frechet_distance": frechet_distance(real_features, fake_features)}
    out.update(precision_recall(real_features, fake_features, k=k))
    div_real = mean_pairwise_distance(real_features, max_samples, seed)
    div_fake = mean_pairwise_distance(fake_features, max_samples, seed)
    out["diversity_real"], out["diversity_fake"] = div_real, div_fake
    out["diversity_ratio"] = div_fake / div_real if div_real > 0 else None
    if real_pred is not None and fake_pred is not None:
        if n_classes is None:
            raise ValueError("n_classes is needed with predicted classes")
        real_hist = class_histogram(real_pred, n_classes)
        fake_hist = class_histogram(fake_pred, n_classes)
        out["real_class_fractions"] = real_hist.tolist()
        out["fake_class_fractions"] = fake_hist.tolist()
        out["mode_coverage"] = mode_coverage(fake_hist, real_hist)
    return out
