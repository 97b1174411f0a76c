"""What every suite shares."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xarray as xr

from aeflow.data.split import split_values

# the model applied to a batch of inputs: (N, ...) -> (N, ...)
Predict = Callable[[np.ndarray], np.ndarray]


def inputs_targets(ds: xr.Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A split's inputs and targets (a clear error when the split is empty)."""
    inputs = split_values(ds, split, "input")
    if len(inputs) == 0:
        raise ValueError(f"dataset {ds.attrs.get('dataset')!r} has an empty {split!r} split")
    return inputs, split_values(ds, split, "target")
