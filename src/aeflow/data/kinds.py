"""Dataset kinds: a registry from the config's ``kind`` to its module.

A kind module provides ``MODALITY`` (``"images"`` or ``"traces"``: which evaluation and
figures apply), ``RAW_KEYS``, ``simulate(dataset_cfg) -> dict of raw arrays``,
``check_raw(raw, where)`` (raises :class:`aeflow.data.sources.RawDataError` naming file and
key) and ``prepare(raw, dataset_cfg, raw_path, split) -> xarray.Dataset`` (with ``input``,
``target`` and a ``sample`` dim; ``split`` holds each sample's train/val/test label, e.g. for
normalizing by training statistics; the stage adds it as a coordinate). Adding a kind is a new
module and one line in each table here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_KINDS = {"saxs": "aeflow.data.saxs", "radio": "aeflow.data.radio"}

# Known without importing the module (the config check and the Snakefile use it).
MODALITY = {"saxs": "images", "radio": "traces"}


def get(kind: str) -> ModuleType:
    try:
        return importlib.import_module(_KINDS[kind])
    except KeyError:
        raise KeyError(f"unknown dataset kind {kind!r} (known: {', '.join(_KINDS)})") from None
