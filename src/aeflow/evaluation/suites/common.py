"""What every suite shares: a split's inputs and targets, and a split read a block at a time.

Suites judge a test set ``evaluate.block_samples`` samples at a time (:func:`split_blocks`):
each block is read from the store, run through the model and the baselines and scored, its
part of the per-sample store handed on to be written, and only per-sample scalars kept. The
metric block is computed from those scalars at the end, so memory does not grow with the
test set and the numbers do not depend on the block size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import xarray as xr

from aeflow.data.split import split_index

# the model applied to a batch of inputs: (N, ...) -> (N, ...)
Predict = Callable[[np.ndarray], np.ndarray]
# receives each block's part of a per-sample store, in sample order
Write = Callable[[xr.Dataset], None]
PCA_COMPONENTS = 32  # of the reconstruction baseline, for a model without a code


def split_blocks(ds: xr.Dataset, split: str, block_samples: int) -> Iterator[xr.Dataset]:
    """The samples of a split, at most ``block_samples`` at a time, in store order: views of
    ``ds`` whose values are read when asked for (a clear error when the split is empty)."""
    positions = split_index(ds, split)
    if len(positions) == 0:
        raise ValueError(f"dataset {ds.attrs.get('dataset')!r} has an empty {split!r} split")
    yield from position_blocks(ds, positions, block_samples)


def position_blocks(ds: xr.Dataset, positions: np.ndarray, block_samples: int):
    """Views of ``ds`` at ``positions`` (along ``sample``), ``block_samples`` at a time."""
    for start in range(0, len(positions), block_samples):
        yield ds.isel(sample=positions[start : start + block_samples])


def position_values(var: xr.DataArray, positions: np.ndarray, block_samples: int):
    """The values of ``var`` at ``positions``, ``block_samples`` at a time (arrays)."""
    return (part.values for part in position_blocks(var, positions, block_samples))


def pca_filter(ds: xr.Dataset, code_size: int | None, block_samples: int, what: str):
    """The PCA reconstruction baseline of pure reconstruction: ``code_size`` components
    (:data:`PCA_COMPONENTS` for a model without a code) fitted on the (normal) training
    samples, read ``block_samples`` at a time; returns the filter and its description."""
    from aeflow.evaluation import baselines as bl

    normal = "is_anomaly" in ds
    k = code_size or PCA_COMPONENTS
    train = split_index(ds, "train", normal_only=normal)
    pca = bl.pca_reconstructor(position_values(ds["input"], train, block_samples), k)
    size = "the model's code size" if code_size else "the model has no code"
    text = (
        f"fitted on the {'normal ' if normal else ''}training {what} of "
        f"{ds.attrs.get('dataset')}, {k} components ({size})"
    )
    return bl.TunedFilter("pca", "n_components", k, pca, {}), text


def concat_values(kept: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-sample values gathered block by block, joined: key -> (N,) array."""
    return {key: np.concatenate(parts) for key, parts in kept.items()}
