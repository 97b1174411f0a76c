"""Model registry: config name -> model class. Rebuild any model from its ``model.json``."""

from __future__ import annotations

from typing import Any

from aeflow.models.base import Autoencoder, Model, count_parameters
from aeflow.models.conv1d_dae import Conv1dDAE
from aeflow.models.gan import ACGAN, GAN, WGANGP, WGANDiv
from aeflow.models.image_ae import ContractiveAE, ConvAE, DenseAE, LinearAE, SparseAE
from aeflow.models.skip_dae import SkipDAE
from aeflow.models.stacked_ae import StackedAE
from aeflow.models.vae import VAE, GalaxyVAE

REGISTRY: dict[str, type[Model]] = {
    cls.registry_name: cls
    for cls in (
        SkipDAE,
        Conv1dDAE,
        DenseAE,
        ConvAE,
        SparseAE,
        ContractiveAE,
        LinearAE,
        StackedAE,
        VAE,
        GalaxyVAE,
        GAN,
        ACGAN,
        WGANGP,
        WGANDiv,
    )
}

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
