"""Model registry: config name -> model class. Rebuild any model from its ``model.json``."""

from __future__ import annotations

import importlib
from typing import Any

from aeflow.models.base import Autoencoder, Model, count_parameters
from aeflow.models.catalog import CATALOG


def _model_class(name: str) -> type[Model]:
    """The class of catalog entry ``name``: the one in its module that declares it."""
    module = importlib.import_module(CATALOG[name].module)
    for obj in vars(module).values():
        declared = isinstance(obj, type) and issubclass(obj, Model)
        if declared and obj.__dict__.get("registry_name") == name:
            return obj
    raise ImportError(f"{CATALOG[name].module} declares no model class {name!r}")


REGISTRY: dict[str, type[Model]] = {name: _model_class(name) for name in CATALOG}

__all__ = [
    "REGISTRY",
    "Autoencoder",
    "Model",
    "build_model",
    "count_parameters",
    "model_from_description",
]


def build_model(name: str, params: dict[str, Any] | None = None, **data_shape: Any) -> Model:
    """Build a registered model from its name and config keyword arguments.

    ``data_shape`` (e.g. ``in_channels``, ``image_size``) fills the fields of the model's
    config the user did not set; fields the model does not have are ignored.
    """
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(REGISTRY)})") from None
    fields = cls.config_class.__dataclass_fields__
    data_shape = {k: v for k, v in data_shape.items() if k in fields}
    kwargs = {**data_shape, **(params or {})}
    unknown = set(kwargs) - set(fields)
    if unknown:
        raise ValueError(
            f"model_params: unknown key(s) {sorted(unknown)} for model {name!r} "
            f"(known: {sorted(fields)})"
        )
    return cls(cls.config_class(**kwargs))


def model_from_description(description: dict[str, Any]) -> Model:
    """Rebuild an (untrained) model from the dict written to ``model.json``."""
    return build_model(description["model"], description["config"])
