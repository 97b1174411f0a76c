"""Per-sample anomaly scores: the autoencoder's reconstruction error and the classical
baselines beside it (PCA reconstruction error, Isolation Forest, a physics observable).

Higher is more anomalous everywhere. Baselines are fitted on the same training samples the
autoencoder saw (the normal ones), flattened.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _flat(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(len(a), -1)


def reconstruction_score(inputs: np.ndarray, outputs: np.ndarray, kind: str = "mse") -> np.ndarray:
    """Per-sample reconstruction error of ``outputs`` against ``inputs`` (any sample shape).

    ``mse`` / ``mae``: mean squared / absolute error over the sample's values; ``bce``: mean
    binary cross-entropy of the output as a probability of the input (values in [0, 1]).
    """
    x, y = _flat(inputs), _flat(outputs)
    if x.shape != y.shape:
        raise ValueError(f"inputs {x.shape} and outputs {y.shape} differ in shape")
    if kind == "mse":
        return ((x - y) ** 2).mean(axis=1)
    if kind == "mae":
        return np.abs(x - y).mean(axis=1)
    if kind == "bce":
        p = np.clip(y, 1e-7, 1 - 1e-7)
        return -(x * np.log(p) + (1 - x) * np.log1p(-p)).mean(axis=1)
    raise ValueError(f"unknown anomaly score {kind!r} (known: mse, mae, bce)")


def latent_mahalanobis(train_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each code from a Gaussian fitted to ``train_codes``
    (the normal training samples' codes): :func:`fit_mahalanobis` applied to ``codes``."""
    return fit_mahalanobis(train_codes)(codes)


def fit_mahalanobis(train_codes: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The squared Mahalanobis distance from a Gaussian fitted to ``train_codes``: how
    unusual a sample is where the autoencoder summarizes it, rather than how well it is
    redrawn. A ridge of 1e-6 of the mean variance keeps a degenerate code direction from
    dividing by zero."""
    train = _flat(train_codes)
    if len(train) <= train.shape[1]:
        raise ValueError(
            f"a Gaussian over {train.shape[1]} code values needs more than {len(train)} "
            "training samples"
        )
    mean = train.mean(axis=0)
    cov = np.cov(train, rowvar=False).reshape(train.shape[1], train.shape[1])
    cov += 1e-6 * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
    inverse = np.linalg.inv(cov)

    def distance(codes: np.ndarray) -> np.ndarray:
        d = _flat(codes) - mean
        return np.einsum("ij,ij->i", d @ inverse, d)

    return distance


def pca_scores(train, data: np.ndarray, n_components: int) -> np.ndarray:
    """Mean squared error of the rank-``n_components`` PCA reconstruction (fitted on
    ``train``: an array, or an iterable of blocks): the linear autoencoder with the same
    code size."""
    return fit_pca_score(train, n_components)(data)


def fit_pca_score(train, n_components: int) -> Callable[[np.ndarray], np.ndarray]:
    """The PCA reconstruction error of :func:`pca_scores` as a function of the data."""
    from aeflow.evaluation.baselines import pca_reconstructor

    recon = pca_reconstructor(train, n_components)
    return lambda data: ((_flat(data) - _flat(recon(data))) ** 2).mean(axis=1)


def isolation_forest_scores(
    train: np.ndarray, data: np.ndarray, n_estimators: int = 200, seed: int = 0
) -> np.ndarray:
    """Isolation Forest (scikit-learn) on the flattened inputs; the score is the negated
    ``score_samples`` (short isolation paths = anomalous = high)."""
    return fit_isolation_forest(train, n_estimators, seed)(data)


def fit_isolation_forest(
    train: np.ndarray, n_estimators: int = 200, seed: int = 0
) -> Callable[[np.ndarray], np.ndarray]:
    """The score of :func:`isolation_forest_scores` as a function of the data (each tree
    sees 256 of the ``train`` samples, scikit-learn's default)."""
    from sklearn.ensemble import IsolationForest

    def flat32(a: np.ndarray) -> np.ndarray:  # (no float64 copy on the way)
        return np.asarray(a, dtype=np.float32).reshape(len(a), -1)

    forest = IsolationForest(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    forest.fit(flat32(train))
    return lambda data: -forest.score_samples(flat32(data))
