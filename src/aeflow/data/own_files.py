"""Your own files: the arrays a config names, copied from a local source into the raw file.

The bring-your-own kinds (``image_set``, ``labelled_image_set``, ``trace_set``) read a local
``.npz``, HDF5 (``.h5``/``.hdf5``) file or Zarr store (``.zarr``) whose array names the
config gives (``keys``: canonical name -> name in the file). :func:`fetch` copies those arrays,
and nothing else, chunk by chunk into ``data/raw/<dataset>.npz`` under the canonical names,
so a changed file or key gives a new raw file and reruns what follows; its memory does not
grow with the file. Every named array must have a row per sample; a ``split`` array of
strings must hold only ``train`` / ``val`` / ``test`` (booleans mark the test set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aeflow.data import chunks, sources
from aeflow.data.chunks import NpzWriter, RawChunks, chunk_samples
from aeflow.data.sources import RawDataError
from aeflow.data.split import SPLITS

ZARR_SUFFIX = ".zarr"


def named_keys(dataset_cfg: dict[str, Any], required: str) -> dict[str, str]:
    """Canonical name -> name in the file of every array the config names; ``required``
    (``images`` or ``traces``) always, under its own name unless the config renames it."""
    keys = {k: v for k, v in (dataset_cfg.get("keys") or {}).items() if v is not None}
    return {required: keys.get(required, required)} | {
        k: v for k, v in keys.items() if k in ("targets", "labels", "split")
    }


def source_chunks(source: Path, keys: dict[str, str], first: str, chunk_bytes: int):
    """Row slices of the arrays named by ``keys`` (canonical name -> name in the file) of a
    Zarr store, or an .npz / HDF5 file, about ``chunk_bytes`` at a time (``first``: the
    canonical name whose rows count the samples); missing ones name the store and the key."""
    if source.suffix.lower() == ZARR_SUFFIX:
        import zarr

        if not source.is_dir():
            raise RawDataError(f"{source}: Zarr store not found")
        group = zarr.open_group(str(source), mode="r")
        have = sorted(group.array_keys())
        for key in keys.values():
            if key not in have:
                raise RawDataError(f"{source}: missing key {key!r} (has: {', '.join(have)})")
        arrays = {name: group[key] for name, key in keys.items()}
        same_rows(source, keys, first, {name: a.shape for name, a in arrays.items()})
        row = sum(int(np.prod(a.shape[1:])) * a.dtype.itemsize for a in arrays.values())
        n = arrays[first].shape[0]
        step = chunk_samples(row, chunk_bytes)
        for start in range(0, max(n, 1), step):
            yield {name: np.asarray(a[start : start + step]) for name, a in arrays.items()}
        return
    reader = RawChunks(source, list(keys.values()), name=str(source))
    same_rows(source, keys, first, {name: reader.shapes[key] for name, key in keys.items()})
    for _, arrays in reader.chunks(chunk_samples(reader.row_bytes, chunk_bytes)):
        yield {name: arrays[key] for name, key in keys.items()}


def same_rows(source: Path, keys: dict[str, str], first: str, shapes: dict[str, tuple]) -> None:
    """Every named array has a row per sample of ``first`` (read in chunks, a longer one
    would be cut)."""
    n = shapes[first][0] if shapes[first] else 0
    for name, shape in shapes.items():
        rows = shape[0] if shape else 0
        if rows != n:
            raise RawDataError(
                f"{source}: key {keys[name]!r} has {rows} rows; {keys[first]!r} has {n}"
            )


def fetch(
    dataset_cfg: dict[str, Any], out: Path, required: str, chunk_bytes: int | None = None
) -> str:
    """Copy the configured arrays of the local source into ``out`` (.npz, canonical keys)
    chunk by chunk (about ``chunk_bytes``, default :data:`aeflow.data.chunks.CHUNK_BYTES`);
    the sha256 of ``out``."""
    source = Path(dataset_cfg["source"]).expanduser()
    keys = named_keys(dataset_cfg, required)
    named = ", ".join(f"{k} = {v!r}" for k, v in keys.items())
    with NpzWriter(out) as writer:
        for arrays in source_chunks(source, keys, required, chunk_bytes or chunks.CHUNK_BYTES):
            if "split" in arrays and arrays["split"].dtype.kind in "SUO":  # bytes (HDF5) -> str
                values = [v.decode() if isinstance(v, bytes) else str(v) for v in arrays["split"]]
                unknown = sorted(set(values) - set(SPLITS))
                if unknown:  # (before the fixed width below could cut 'training' to 'train')
                    raise RawDataError(
                        f"{source}: key {keys['split']!r} holds {unknown[:3]}; expected "
                        f"{', '.join(SPLITS)} (or booleans marking the test set)"
                    )
                arrays["split"] = np.array(values, dtype="<U5")  # every chunk alike
            writer.append(arrays)
        writer.close({sources.PROVENANCE_KEY: np.array(f"local: {source} ({named})")})
    return sources.sha256_file(out)


def checked_split(arrays: dict[str, np.ndarray], n: int, path: str) -> np.ndarray | None:
    """The raw ``split`` of ``n`` samples as train/val/test strings (booleans: the test set),
    or None without one; bad shapes and labels name the file."""
    if "split" not in arrays:
        return None
    split = np.asarray(arrays["split"])
    if split.shape != (n,):
        raise RawDataError(f"{path}: key 'split' has shape {split.shape}; expected ({n},)")
    if split.dtype == bool:
        split = np.where(split, "test", "train")
    split = split.astype(str)
    unknown = sorted(set(split.tolist()) - set(SPLITS))
    if unknown:
        raise RawDataError(
            f"{path}: key 'split' holds {unknown[:3]}; expected {', '.join(SPLITS)} "
            "(or booleans marking the test set)"
        )
    return split


def file_split(raw_path: str) -> np.ndarray | None:
    """The raw file's own ``split`` (read alone: one small array), else None."""
    reader = RawChunks(raw_path, [], name=raw_path, optional=["split"])
    if "split" not in reader.keys:
        return None
    _, arrays = next(reader.chunks(max(reader.n, 1)))
    split = np.asarray(arrays["split"])
    if split.dtype == bool:
        return np.where(split, "test", "train").astype(object)
    return split.astype(str).astype(object)
