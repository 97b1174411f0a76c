"""Stages ``fetch`` and ``prepare``: raw data by simulation, download or copy, then
preprocessed into a Zarr store with provenance."""

from __future__ import annotations

import collections
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

import aeflow
from aeflow import memory
from aeflow.atomic import atomic_path
from aeflow.data import chunks, kinds, sources
from aeflow.data.split import SPLITS, configured_split
from aeflow.data.store import SAMPLE_CHUNK, write_store, write_store_chunks
from aeflow.stages import PathLike

log = logging.getLogger(__name__)


def fetch_raw(
    name: str, dataset_cfg: dict[str, Any], out: PathLike, chunk_bytes: int = chunks.CHUNK_BYTES
) -> str:
    """Produce ``data/raw/<name>.*`` by simulation, download or copy; returns its sha256.

    The file is checked against the kind's raw format before it is renamed into place, so a
    wrong download (say an HTML error page) never sits in ``data/raw`` looking whole.
    """
    source = dataset_cfg["source"]
    traits = kinds.traits(dataset_cfg["kind"])
    kind = traits.hooks()
    with atomic_path(out) as tmp:
        own_fetch = getattr(kind, "fetch", None)  # sources of the kind's own (IDX sets ...)
        digest = own_fetch(dataset_cfg, tmp) if own_fetch is not None else None
        converted = digest is not None
        if converted:
            log.info("fetched %s from %s", name, source)
        elif source == "simulate":
            digest = _simulate(kind, name, dataset_cfg, tmp, chunk_bytes)
        elif source == "download":
            dl = dataset_cfg["download"]
            digest = sources.download(
                tmp,
                url=dl["url"],
                gdrive_id=dl["gdrive_id"],
                sha256=dataset_cfg["sha256"],
                timeout_s=dl["timeout_s"],
            )
        else:
            digest = sources.copy_local(source, tmp, dataset_cfg["sha256"])
        generated = converted or source in ("simulate", "download")
        what = f"{out} ({source})" if generated else source
        if traits.chunked_prepare:
            _, checked = _checked_chunks(kind, tmp, what, chunk_bytes)
            collections.deque(checked, maxlen=0)  # every chunk checked, none kept
        else:
            kind.check_raw(kinds.read(kind, tmp, name=what), what)
    log.info("raw %s -> %s (sha256 %s)", name, out, digest)
    return digest


def _simulate(kind, name: str, dataset_cfg: dict[str, Any], out: Path, chunk_bytes: int) -> str:
    """Simulate the dataset into the ``.npz`` ``out`` chunk by chunk (seeded per block:
    :mod:`aeflow.data.chunks`); returns its sha256. Peak memory is one chunk's."""
    n, seed = dataset_cfg["n_samples"], dataset_cfg["seed"]
    t0 = time.perf_counter()

    def simulate(m: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        try:
            return kind.simulate(dataset_cfg, m, rng)
        except ValueError as exc:  # the simulator's "simulate: ..." -> the config key
            raise ValueError(f"datasets.{name}.{exc}") from None

    probe = simulate(4, chunks.block_rng(seed, 0))  # sizes a sample
    per_sample = chunks.bytes_per_sample(probe)
    chunk = chunks.chunk_samples(per_sample, chunk_bytes)
    memory.require(
        per_sample * min(n, chunk),
        memory.SIMULATE_FACTOR,
        f"simulating {name} in chunks of {chunk} samples",
        f"datasets.{name}.simulate (its image or trace size)",
    )
    # the rows on disk, then their archive (compressed, at most as large)
    memory.require_disk(
        2 * per_sample * n, out, f"simulating {n} samples of {name}", f"datasets.{name}.n_samples"
    )
    # A simulated file says so when it is read again as someone's `source: <path>`.
    standin = np.array(sources.standin_provenance(name, dataset_cfg))
    with chunks.NpzWriter(out) as writer:
        for i, arrays in enumerate(chunks.simulate_chunks(simulate, n, seed, chunk)):
            writer.append(arrays)
            log.info("simulated %s: %d of %d samples", name, min(n, (i + 1) * chunk), n)
        writer.close(extra={sources.PROVENANCE_KEY: standin})
    log.info("simulated %s: %d samples in %.1f s", name, n, time.perf_counter() - t0)
    return sources.sha256_file(out)


def _checked_chunks(kind, raw_path: PathLike, what: str, chunk_bytes: int):
    """(number of samples, iterator of (start, checked arrays)) of a raw file read chunk by
    chunk; an error in a later chunk names its samples."""
    reader = getattr(kind, "open_raw", lambda path, name: None)(raw_path, what)
    if reader is None:
        optional = getattr(kind, "OPTIONAL_RAW_KEYS", ())
        reader = chunks.RawChunks(raw_path, kind.RAW_KEYS, name=what, optional=optional)
    chunk = chunks.chunk_samples(reader.row_bytes * chunks.PREPARE_EXPANSION, chunk_bytes)
    n = reader.n

    def checked():
        for start, arrays in reader.chunks(chunk):
            rows = len(next(iter(arrays.values()))) if arrays else 0
            where = what if n <= chunk else f"{what} (samples {start} to {start + rows - 1})"
            yield start, kind.check_raw(arrays, where)

    return n, checked()


def _kept(kind, dataset_cfg: dict[str, Any], raw_path: str) -> np.ndarray | None:
    """Which samples a kind that drops some keeps (``keep_samples`` of its ``SELECT_KEY``,
    read whole: one small array), else None (all)."""
    if not hasattr(kind, "keep_samples"):
        return None
    reader = chunks.RawChunks(raw_path, [kind.SELECT_KEY], name=raw_path)
    values = next(reader.chunks(max(reader.n, 1)))[1][kind.SELECT_KEY]
    return kind.keep_samples(values, dataset_cfg)


def _split(kind, checked, dataset_cfg: dict[str, Any], name: str, raw_path: PathLike):
    """The samples kept and their train/val/test labels: the data's own split (official
    test set, subsets) where the kind has one, else the configured random split."""
    try:
        if hasattr(kind, "select_split"):
            return kind.select_split(checked, dataset_cfg)
        split = configured_split(len(checked[0]), dataset_cfg["split"])
    except ValueError as exc:
        raise sources.RawDataError(f"{raw_path}: datasets.{name}.{exc}") from None
    return checked, split


def provenance(name: str, dataset_cfg: dict[str, Any], raw_path: PathLike) -> dict[str, Any]:
    """The attrs that say where a prepared store came from and how it was made."""
    attrs = {
        "title": f"aeflow prepared dataset {name!r} (kind {dataset_cfg['kind']})",
        # CF-style metadata: units UDUNITS can parse ("1" = dimensionless, with the scaling
        # in the variable's long_name), coordinates with their physical axes
        "Conventions": "CF-1.11",
        # no time stamp: the same raw file and config give the same bytes (and digest)
        "history": f"aeflow {aeflow.__version__} prepare {name} from {raw_path}",
        "dataset": name,
        "kind": dataset_cfg["kind"],
        "source": dataset_cfg["source"],
        "raw_file": str(raw_path),
        "raw_sha256": sources.sha256_file(raw_path),
        "raw_provenance": sources.raw_provenance(raw_path, dataset_cfg["source"]),
        "aeflow_version": aeflow.__version__,
        "config": json.dumps(dataset_cfg, sort_keys=True),
    }
    attrs |= {f"preprocess_{k}": v for k, v in dataset_cfg["preprocess"].items()}
    attrs |= {f"split_{k}": "none" if v is None else v for k, v in dataset_cfg["split"].items()}
    return attrs


def prepare(
    name: str,
    dataset_cfg: dict[str, Any],
    raw_path: PathLike,
    out: PathLike,
    chunk_bytes: int = chunks.CHUNK_BYTES,
) -> None:
    """Preprocess raw data into ``results/prepared/<name>.zarr`` with provenance attrs (chunk
    by chunk for kinds that can: peak memory is one chunk's)."""
    traits = kinds.traits(dataset_cfg["kind"])
    if traits.chunked_prepare:
        _prepare_chunked(traits.hooks(), name, dataset_cfg, raw_path, out, chunk_bytes)
        return
    kind = traits.hooks()
    memory.require(
        Path(raw_path).stat().st_size,
        memory.PREPARE_FACTOR,
        f"preparing {raw_path}",
        f"datasets.{name}.n_samples (or a smaller datasets.{name}.source)",
    )
    # checked once, first: errors name file and key before anything else
    checked = kind.check_raw(kinds.read(kind, raw_path), str(raw_path))
    checked, split = _split(kind, checked, dataset_cfg, name, raw_path)
    ds = kind.prepare(checked, dataset_cfg, str(raw_path), split)
    write_store(_with_split(ds, split, 0, _attrs(name, dataset_cfg, raw_path, split)), out)
    log.info("prepared %s: %s -> %s", name, _counts(split), out)


def _counts(split: np.ndarray) -> dict[str, int]:
    return {s: int(np.sum(split == s)) for s in SPLITS}


def _attrs(name: str, dataset_cfg: dict[str, Any], raw_path: PathLike, split) -> dict:
    counts = {f"n_{s}": c for s, c in _counts(split).items()}
    layout = {
        "zarr_chunking": f"{SAMPLE_CHUNK} whole samples per chunk along 'sample', unsharded: "
        "training streams windows of consecutive chunks (aeflow.training.stream)"
    }
    return provenance(name, dataset_cfg, raw_path) | counts | layout


def _with_split(ds, split: np.ndarray, start: int, attrs: dict):
    """``ds`` (samples ``start`` on) with its ``sample`` ids, ``split`` coordinate and attrs."""
    ids = np.arange(start, start + ds.sizes["sample"])
    ds = ds.assign_coords(sample=ids, split=("sample", split.astype(object)))
    ds["split"].attrs = {"long_name": "train / val / test assignment"}
    ds.attrs.update(attrs)
    return ds


def _prepare_chunked(kind, name, dataset_cfg, raw_path, out, chunk_bytes: int) -> None:
    """:func:`prepare` chunk by chunk: the samples kept (kinds that drop some, by a key read
    first), their split (the file's own where the kind has one), a pass for the kind's
    statistics (when it has any, e.g. a normalization by the training split), then each chunk
    preprocessed and appended to the store."""
    raw_path = str(raw_path)
    n, _ = _checked_chunks(kind, raw_path, raw_path, chunk_bytes)
    memory.require(
        min(chunk_bytes, Path(raw_path).stat().st_size),
        memory.PREPARE_FACTOR,
        f"preparing {raw_path} chunk by chunk",
        f"datasets.{name}",
    )
    try:
        keep = _kept(kind, dataset_cfg, raw_path)
        # the file's own split where the kind reads one (a key read first), else the
        # configured random split
        split = getattr(kind, "file_split", lambda path: None)(raw_path)
        if split is None:
            split = configured_split(n if keep is None else int(keep.sum()), dataset_cfg["split"])
        elif keep is not None:
            split = split[keep]
    except ValueError as exc:
        raise sources.RawDataError(f"{raw_path}: datasets.{name}.{exc}") from None

    def selected():
        """(position among the kept samples, checked arrays, their split) per chunk."""
        at = 0
        for start, checked in _checked_chunks(kind, raw_path, raw_path, chunk_bytes)[1]:
            if keep is not None:
                checked = kind.select(checked, keep[start : start + len(checked[0])], dataset_cfg)
            m = len(checked[0])
            if m:
                yield at, checked, split[at : at + m]
            at += m

    stats = {}
    if hasattr(kind, "prepare_statistics"):
        parts = ((checked, part) for _, checked, part in selected())
        stats = kind.prepare_statistics(parts, dataset_cfg, raw_path)
    attrs = _attrs(name, dataset_cfg, raw_path, split)

    def prepared():
        for start, checked, part in selected():
            ds = kind.prepare(checked, dataset_cfg, raw_path, part, **stats)
            yield _with_split(ds, part, start, attrs)
            log.info("prepared %s: %d of %d samples", name, start + len(part), len(split))

    write_store_chunks(prepared(), out)
    log.info("prepared %s: %s -> %s", name, _counts(split), out)
