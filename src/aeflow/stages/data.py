"""Stages ``fetch`` and ``prepare``: raw data by simulation, download or copy, then
preprocessed into a Zarr store with provenance."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

import aeflow
from aeflow import memory
from aeflow.atomic import atomic_path
from aeflow.data import kinds, sources
from aeflow.data.split import SPLITS, configured_split
from aeflow.data.store import write_store
from aeflow.stages import PathLike

log = logging.getLogger(__name__)


def fetch_raw(name: str, dataset_cfg: dict[str, Any], out: PathLike) -> str:
    """Produce ``data/raw/<name>.*`` by simulation, download or copy; returns its sha256.

    The file is checked against the kind's raw format before it is renamed into place, so a
    wrong download (say an HTML error page) never sits in ``data/raw`` looking whole.
    """
    source = dataset_cfg["source"]
    kind = kinds.get(dataset_cfg["kind"])
    with atomic_path(out) as tmp:
        own_fetch = getattr(kind, "fetch", None)  # sources of the kind's own (IDX sets ...)
        digest = own_fetch(dataset_cfg, tmp) if own_fetch is not None else None
        converted = digest is not None
        if converted:
            log.info("fetched %s from %s", name, source)
        elif source == "simulate":
            _check_simulation_fits(kind, name, dataset_cfg)
            t0 = time.perf_counter()
            arrays = kind.simulate(dataset_cfg)
            # A simulated file says so when it is read again as someone's `source: <path>`.
            standin = sources.standin_provenance(name, dataset_cfg)
            digest = sources.write_npz(tmp, arrays | {sources.PROVENANCE_KEY: np.array(standin)})
            log.info(
                "simulated %s: %d samples in %.1f s",
                name,
                dataset_cfg["n_samples"],
                time.perf_counter() - t0,
            )
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
        kind.check_raw(kinds.read(kind, tmp, name=what), what)
    log.info("raw %s -> %s (sha256 %s)", name, out, digest)
    return digest


def _check_simulation_fits(kind, name: str, dataset_cfg: dict[str, Any]) -> None:
    """Simulate 4 samples first: their size sets the memory the whole simulation needs."""
    n = dataset_cfg["n_samples"]
    probe = kind.simulate({**dataset_cfg, "n_samples": 4})
    per_sample = sum(np.asarray(a).nbytes for a in probe.values()) / 4
    memory.require(
        per_sample * n,
        memory.SIMULATE_FACTOR,
        f"simulating {n} samples of {name}",
        f"datasets.{name}.n_samples",
    )


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


def prepare(name: str, dataset_cfg: dict[str, Any], raw_path: PathLike, out: PathLike) -> None:
    """Preprocess raw data into ``results/prepared/<name>.zarr`` with provenance attrs."""
    kind = kinds.get(dataset_cfg["kind"])
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
    ds = ds.assign_coords(split=("sample", split.astype(object)))
    ds["split"].attrs = {"long_name": "train / val / test assignment"}
    ds.attrs.update(provenance(name, dataset_cfg, raw_path))
    counts = {s: int(np.sum(split == s)) for s in SPLITS}
    ds.attrs.update({f"n_{s}": c for s, c in counts.items()})
    write_store(ds, out)
    log.info("prepared %s: %s -> %s", name, counts, out)
