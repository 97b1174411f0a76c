"""Dataset kinds: a registry from the config's ``kind`` to its module.

A kind module provides ``MODALITY`` (``"images"`` or ``"traces"``: which evaluation and
figures apply), ``RAW_KEYS``, ``simulate(dataset_cfg) -> dict of raw arrays``,
``check_raw(raw, where)`` (raises :class:`aeflow.data.sources.RawDataError` naming file and
key; returns the checked arrays, samples first) and ``prepare(checked, dataset_cfg,
raw_path, split) -> xarray.Dataset`` (from ``check_raw``'s result; with ``input``,
``target`` and a ``sample`` dim; ``split`` holds each sample's train/val/test label, e.g. for
normalizing by training statistics; the stage adds it as a coordinate). A kind may also
provide ``read_raw(path) -> dict | None`` for a file layout of its own (None: not that
layout, read ``RAW_KEYS`` the usual way), ``fetch(dataset_cfg, out) -> sha256 | None`` for
sources of its own (None: not one of them), and ``select_split(checked, dataset_cfg) ->
(checked, split)`` when the data brings its own split or is subsampled. Adding a kind is a new
module and one line in each table here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_KINDS = {
    "saxs": "aeflow.data.saxs",
    "radio": "aeflow.data.radio",
    "jets": "aeflow.data.jets",
    "images": "aeflow.data.images",
    "fashion_mnist": "aeflow.data.images",  # the images kind with collection fashion_mnist
    "galaxies": "aeflow.data.galaxies",
    "airshowers": "aeflow.data.airshowers",
}

# Known without importing the module (the config check and the Snakefile use it).
MODALITY = {
    "saxs": "images",
    "radio": "traces",
    "jets": "images",
    "images": "images",
    "fashion_mnist": "images",
    "galaxies": "images",
    "airshowers": "images",
}


def read(module: ModuleType, path, name: str | None = None) -> dict:
    """The raw arrays of a kind's file: its own reader if it has one, else ``RAW_KEYS``."""
    from aeflow.data import sources

    reader = getattr(module, "read_raw", None)
    arrays = reader(path) if reader is not None else None
    if arrays is None:
        arrays = sources.read_arrays(path, module.RAW_KEYS, name=name)
    return arrays


def get(kind: str) -> ModuleType:
    try:
        return importlib.import_module(_KINDS[kind])
    except KeyError:
        raise KeyError(f"unknown dataset kind {kind!r} (known: {', '.join(_KINDS)})") from None
