"""Per-sample anomaly scores: the autoencoder's reconstruction error and the classical
baselines beside it (PCA reconstruction error, Isolation Forest, a physics observable).

Higher is more anomalous everywhere. Baselines are fitted on the same training samples the
autoencoder saw (the normal ones), flattened.
"""

from __future__ import annotations

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
    (the normal training samples' codes): how unusual a sample is where the autoencoder
    summarizes it, rather than how well it is redrawn. A ridge of 1e-6 of the mean variance
    keeps a degenerate code direction from dividing by zero."""
    train, data = _flat(train_codes), _flat(codes)
    if len(train) <= train.shape[1]:
        raise ValueError(
            f"a Gaussian over {train.shape[1]} code values needs more than {len(train)} "
            "training samples"
        )
    mean = train.mean(axis=0)
    cov = np.cov(train, rowvar=False).reshape(train.shape[1], train.shape[1])
    cov += 1e-6 * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
    d = data - mean
    return np.einsum("ij,ij->i", d @ np.linalg.inv(cov), d)


def pca_scores(train: np.ndarray, data: np.ndarray, n_components: int) -> np.ndarray:
    """Mean squared error of the rank-``n_components`` PCA reconstruction (fitted on
    ``train``): the linear autoencoder with the same code size."""
    from aeflow.evaluation.baselines import pca_reconstructor

    recon = pca_reconstructor(train, n_components)(data)
    return ((_flat(data) - _flat(recon)) ** 2).mean(axis=1)


def isolation_forest_scores(
    train: np.ndarray, data: np.ndarray, n_estimators: int = 200, seed: int = 0
) -> np.ndarray:
    """Isolation Forest (scikit-learn) on the flattened inputs; the score is the negated
    ``score_samples`` (short isolation paths = anomalous = high)."""
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=n_estimators, random_state=seed, n_jobs=1)
    forest.fit(_flat(train).astype(np.float32))
    return -forest.score_samples(_flat(data).astype(np.float32))
