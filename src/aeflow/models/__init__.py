"""Models: one module per family, the torch-free :mod:`~aeflow.models.catalog` of their
traits, the registry (config name -> class), saving/loading trained models and batched
inference.

Importing this package is cheap; torch is imported when a name from the registry is used.
"""

from __future__ import annotations

from typing import Any

_REGISTRY_NAMES = {
    "REGISTRY",
    "Autoencoder",
    "Model",
    "build_model",
    "count_parameters",
    "model_from_description",
}


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        from aeflow.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'aeflow.models' has no attribute {name!r}")
