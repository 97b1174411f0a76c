"""What every aeflow model provides to the one training loop."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn


class Model(nn.Module):
    """Base of all models: a config dataclass (rebuilds the model from ``model.json``)."""

    config_class: ClassVar[type]
    registry_name: ClassVar[str]
    modality: ClassVar[str]  # the data it takes: "images" (N, C, H, W) or "traces" (N, C, T)
    adversarial: ClassVar[bool] = False  # trained by the adversarial loop (GANs)

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def describe(self) -> dict[str, Any]:
        """The architecture as JSON-able data: enough to rebuild the model (model.json)."""
        return {
            "model": self.registry_name,
            "config": dataclasses.asdict(self.config),
            "n_parameters": count_parameters(self),
        }


class Autoencoder(Model):
    """A model trained by minimizing a loss: subclasses implement ``forward``; models whose
    objective is not a plain reconstruction (VAE, sparse, contractive ...) override
    :meth:`loss`.
    """

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Loss terms of a batch; ``"loss"`` is what is minimized. Default: MSE to target."""
        output = self(batch["input"])
        return {"loss": nn.functional.mse_loss(output.float(), batch["target"].float())}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
