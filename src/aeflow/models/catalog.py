"""What each model is, without importing torch: the config check and the workflow plan read
this; a test checks every entry against its model class.

Adding a model: its module (a class with ``registry_name``), one entry here naming that
module, its schema block (``src/aeflow/config.schema.yaml``) and its tests. The
registry (:mod:`aeflow.models.registry`) finds the class through this entry.
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
    ``detector``: tells signal from noise-only samples (trained on the data's ``has_signal``
    flags, judged by ROC and the true-positive rate at fixed false positives).
    ``in_memory``: trains on data held in memory, never streamed (a GAN's start from the
    data's mean, layer-wise pretraining).
    ``maps_channels``: its output may have other channels than its input (``out_channels``:
    a colorization).
    ``module``: the module holding the model's class.
    """

    module: str
    modality: str
    generative: bool = False
    samples: bool = False
    latent: bool = False
    adversarial: bool = False
    conditional: bool = False
    detector: bool = False
    in_memory: bool = False
    maps_channels: bool = False


_GAN = {"generative": True, "samples": True, "adversarial": True, "in_memory": True}
_IMAGE_AE = "aeflow.models.image_ae"

CATALOG: dict[str, ModelTraits] = {
    "skip_dae": ModelTraits("aeflow.models.skip_dae", "images", maps_channels=True),
    "conv1d_dae": ModelTraits("aeflow.models.conv1d_dae", "traces", maps_channels=True),
    "conv1d_classifier": ModelTraits("aeflow.models.trace_classifier", "traces", detector=True),
    "dense_ae": ModelTraits(_IMAGE_AE, "images", latent=True),
    "conv_ae": ModelTraits(_IMAGE_AE, "images", latent=True, maps_channels=True),
    "sparse_ae": ModelTraits(_IMAGE_AE, "images", latent=True),
    "contractive_ae": ModelTraits(_IMAGE_AE, "images", latent=True),
    "linear_ae": ModelTraits(_IMAGE_AE, "images", latent=True),
    "stacked_ae": ModelTraits("aeflow.models.stacked_ae", "images", latent=True, in_memory=True),
    "vae": ModelTraits("aeflow.models.vae", "images", samples=True, latent=True),
    "galaxy_vae": ModelTraits(
        "aeflow.models.vae", "images", generative=True, samples=True, latent=True
    ),
    "gan": ModelTraits("aeflow.models.gan", "images", **_GAN),
    "acgan": ModelTraits("aeflow.models.gan", "images", conditional=True, **_GAN),
    "wgan_gp": ModelTraits("aeflow.models.gan", "images", **_GAN),
    "acwgan_gp": ModelTraits("aeflow.models.gan", "images", conditional=True, **_GAN),
    "wgan_div": ModelTraits("aeflow.models.gan", "images", **_GAN),
}


def traits(model: str) -> ModelTraits:
    try:
        return CATALOG[model]
    except KeyError:
        raise KeyError(f"unknown model {model!r} (known: {', '.join(CATALOG)})") from None
