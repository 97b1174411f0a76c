"""Deterministic train / validation / test assignment of samples."""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


def assign_split(
    n: int,
    *,
    n_train: int | None,
    test_fraction: float,
    val_fraction: float,
    seed: int,
) -> np.ndarray:
    """Return an array of ``"train"``/``"val"``/``"test"`` labels of length ``n``.

    With ``n_train`` the first ``n_train`` samples (file order) form the train+validation
    pool and the rest is test (the book's split); otherwise ``round(test_fraction * n)``
    samples drawn at random by ``seed`` are test. ``round(val_fraction * pool)`` samples of
    the pool, drawn by ``seed``, are validation.
    """
    rng = np.random.default_rng(seed)
    labels = np.full(n, "train", dtype=object)
    if n_train is not None:
        if n_train > n:
            raise ValueError(f"split.n_train = {n_train} exceeds the {n} samples")
        pool = np.arange(n_train)
        labels[n_train:] = "test"
    else:
        order = rng.permutation(n)
        n_test = round(test_fraction * n)
        labels[order[:n_test]] = "test"
        pool = np.sort(order[n_test:])
    n_val = round(val_fraction * len(pool))
    labels[rng.choice(pool, size=n_val, replace=False)] = "val"
    return labels
