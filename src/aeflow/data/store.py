"""Prepared datasets and predictions as Zarr stores (xarray), written atomically."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import xarray as xr

from aeflow.atomic import atomic_path


def sample_chunks(ds: xr.Dataset, sample_chunk: int) -> dict[str, dict]:
    """Zarr encoding that chunks every variable along ``sample`` only (whole images per chunk),
    so a batch of consecutive samples is a read of few chunks."""
    encoding = {}
    for name, var in ds.data_vars.items():
        if "sample" in var.dims:
            encoding[name] = {
                "chunks": tuple(
                    min(sample_chunk, n) if d == "sample" else n for d, n in var.sizes.items()
                )
            }
    return encoding


def write_store(
    ds: xr.Dataset,
    path: str | os.PathLike,
    groups: dict[str, xr.Dataset] | None = None,
    sample_chunk: int = 256,
) -> None:
    """Write ``ds`` (and optional sub-groups) as a Zarr v3 store, atomically.

    Metadata is consolidated so ``xr.open_zarr(path)`` opens it quietly; Zarr 3 warns that
    consolidation is not yet in its spec, which we know and accept here.
    """
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        ds.to_zarr(
            tmp,
            mode="w",
            zarr_format=3,
            consolidated=True,
            encoding=sample_chunks(ds, sample_chunk),
        )
        for name, group in (groups or {}).items():
            group.to_zarr(
                tmp,
                group=name,
                mode="a",
                zarr_format=3,
                consolidated=True,
                encoding=sample_chunks(group, sample_chunk),
            )


def open_store(path: str | os.PathLike, group: str | None = None) -> xr.Dataset:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: Zarr store not found")
    return xr.open_zarr(path, group=group)
