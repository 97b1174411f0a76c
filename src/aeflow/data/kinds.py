"""Dataset kinds: a registry from the config's ``kind`` to its module.

A kind module provides ``RAW_KEYS``, ``simulate(dataset_cfg) -> dict of raw arrays``,
``check_raw(raw, where)`` (raises :class:`aeflow.data.sources.RawDataError` naming file and
key) and ``prepare(raw, dataset_cfg, raw_path) -> xarray.Dataset`` (with ``input``,
``target`` and a ``sample`` dim; the stage adds the split). Adding a kind is a new module and
one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_KINDS = {"saxs": "aeflow.data.saxs"}


def get(kind: str) -> ModuleType:
    try:
        return importlib.import_module(_KINDS[kind])
    except KeyError:
        raise KeyError(f"unknown dataset kind {kind!r} (known: {', '.join(_KINDS)})") from None
