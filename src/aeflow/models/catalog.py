"""What each model is, without importing torch: the config check and the workflow plan read
this; a test checks every entry against its model class.

Adding a model: its module (registered in ``aeflow.models``), one entry here, its schema block
(``workflow/schemas/config.schema.yaml``) and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelTraits:
    """``modality``: the data it takes (``images`` or ``traces``).
    ``generative``: judged on its samples (the generate stage), not on test reconstructions.
    ``samples``: can draw samples (the generate stage may evaluate it).
    ``latent``: has ``encode``/``decode`` of a code space (latent figures, k-NN on codes).
    ``adversarial``: trained by the adversarial loop; ``conditional``: needs class labels.
    """

    modality: str
    generative: bool = False
    samples: bool = False
    latent: bool = False
    adversarial: bool = False
    conditional: bool = False


_GAN = ModelTraits("images", generative=True, samples=True, adversarial=True)

CATALOG: dict[str, ModelTraits] = {
    "skip_dae": ModelTraits("images"),
    "conv1d_dae": ModelTraits("traces"),
    "dense_ae": ModelTraits("images", latent=True),
    "conv_ae": ModelTraits("images", latent=True),
    "sparse_ae": ModelTraits("images", latent=True),
    "contractive_ae": ModelTraits("images", latent=True),
    "linear_ae": ModelTraits("images", latent=True),
    "stacked_ae": ModelTraits("images", latent=True),
    "vae": ModelTraits("images", samples=True, latent=True),
    "galaxy_vae": ModelTraits("images", generative=True, samples=True, latent=True),
    "gan": _GAN,
    "acgan": ModelTraits(
        "images", generative=True, samples=True, adversarial=True, conditional=True
    ),
    "wgan_gp": _GAN,
    "wgan_div": _GAN,
}


def traits(model: str) -> ModelTraits:
    try:
        return CATALOG[model]
    except KeyError:
        raise KeyError(f"unknown model {model!r} (known: {', '.join(CATALOG)})") from None
