"""Deterministic train / validation / test assignment of samples."""

from __future__ import annotations

import os

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


# ---- selecting a split of a prepared store --------------------------------------------------


def configured_split(n: int, split_cfg) -> np.ndarray:
    """:func:`assign_split` of ``n`` samples by a dataset's ``split`` config section."""
    return assign_split(
        n,
        n_train=split_cfg["n_train"],
        test_fraction=split_cfg["test_fraction"],
        val_fraction=split_cfg["val_fraction"],
        seed=split_cfg["seed"],
    )


def split_index(
    ds, split: str, *, normal_only: bool = False, where: str | os.PathLike = ""
) -> np.ndarray:
    """Positions (along ``sample``) of a split's samples; with ``normal_only`` only those not
    marked ``is_anomaly`` (a clear error, naming ``where``, if the data has no such labels)."""
    mask = np.asarray(ds["split"].values == split)
    if normal_only:
        if "is_anomaly" not in ds:
            raise ValueError(
                f"{where}: dataset {ds.attrs.get('dataset')!r} has no 'is_anomaly' labels to "
                "train on normal samples only (anomaly.train_on: normal)"
            )
        mask &= ~ds["is_anomaly"].values.astype(bool)
    return np.flatnonzero(mask)


def split_sample_ids(ds, split: str) -> np.ndarray:
    """The ``sample`` coordinate values (ids in the prepared store) of a split's samples."""
    return ds["sample"].values[split_index(ds, split)]


def split_values(ds, split: str, var: str, limit: int | None = None) -> np.ndarray:
    """The values of ``var`` for (the first ``limit``) samples of one split, in memory."""
    return ds[var].isel(sample=split_index(ds, split)[:limit]).values


def split_images(ds, split: str, var: str = "target", limit: int | None = None) -> np.ndarray:
    """A split's images as float32 (N, C, H, W) (one channel added when the store has none);
    by default the clean ``target`` images (the real data of generative experiments)."""
    values = np.asarray(split_values(ds, split, var, limit), dtype=np.float32)
    return values if "channel" in ds[var].dims else values[:, None]


def split_labels(ds, split: str) -> np.ndarray:
    """A split's class labels as int64 (N,)."""
    return split_values(ds, split, "label").astype(np.int64)
