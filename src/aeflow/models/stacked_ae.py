"""Stacked autoencoder with greedy layer-wise pretraining (Bengio et al. 2007, Hinton &
Salakhutdinov 2006): each encoder layer is first trained as a shallow autoencoder of the
codes of the layer below (which stays frozen), its decoder becomes the mirrored decoder
layer, and then the whole stack is fine-tuned end to end by the common training loop. The
pretraining runs through that loop too (:mod:`aeflow.training.pretrain`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from aeflow.models.base import Autoencoder


@dataclass(frozen=True)
class StackedAEConfig:
    image_size: int = 28
    in_channels: int = 1
    layers: tuple[int, ...] = (256, 64, 32)  # encoder widths; the last is the code
    pretrain_epochs: int = 3  # per layer; 0 = no pretraining (plain deep autoencoder)
    pretrain_learning_rate: float = 1.0e-3

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(w) for w in self.layers))
        if not self.layers or min(self.layers) < 1:
            raise ValueError(f"model_params.layers must be >= 1 each, got {self.layers}")
        if self.pretrain_epochs < 0:
            raise ValueError("model_params.pretrain_epochs must be >= 0")


class StackedAE(Autoencoder):
    """Dense encoder ``pixels -> layers[0] -> ... -> layers[-1]`` (ReLU), mirrored decoder
    with ReLU between layers and a sigmoid output; BCE loss."""

    config_class = StackedAEConfig
    registry_name = "stacked_ae"
    modality = "images"

    def __init__(self, config: StackedAEConfig) -> None:
        super().__init__(config)
        widths = [config.in_channels * config.image_size**2, *config.layers]
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        # dec[k] maps layer k's code back to layer k's input (applied in reverse order)
        self.dec = nn.ModuleList(nn.Linear(b, a) for a, b in itertools.pairwise(widths))

    def encode(self, x: torch.Tensor, depth: int | None = None) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.enc[:depth]:
            h = torch.relu(layer(h))
        return h

    def decode_logits(self, code: torch.Tensor, size=None) -> torch.Tensor:
        h = code
        for k in reversed(range(1, len(self.dec))):
            h = torch.relu(self.dec[k](h))
        c, s = self.config.in_channels, self.config.image_size
        return self.dec[0](h).view(len(code), c, s, s)

    def decode(self, code: torch.Tensor, size=None) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(code))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_logits(self.encode(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.logits(batch["input"]).float()
        return {
            "loss": nn.functional.binary_cross_entropy_with_logits(logits, batch["target"].float())
        }

    def layer_autoencoder(self, k: int) -> LayerAutoencoder:
        """Layer ``k`` with its mirrored decoder as a shallow autoencoder of the codes of
        the layers below (greedy pretraining: :mod:`aeflow.training.pretrain`)."""
        return LayerAutoencoder(self.enc[k], self.dec[k], pixels=k == 0)

    @torch.no_grad()
    def codes(self, inputs: torch.Tensor, depth: int, device) -> torch.Tensor:
        """The outputs of the first ``depth`` encoder layers, in chunks, on the CPU."""
        flat = inputs.flatten(1).float()
        return torch.cat(
            [
                self.encode(flat[s : s + 4096].to(device), depth).cpu()
                for s in range(0, len(flat), 4096)
            ]
        )


class LayerAutoencoder(nn.Module):
    """One encoder layer and its decoder layer (shared with the stack, so training this
    trains them there): ReLU code, BCE of logits against pixels for the first layer, MSE
    of the ReLU output against the codes of the layer below for the others."""

    def __init__(self, enc: nn.Linear, dec: nn.Linear, pixels: bool) -> None:
        super().__init__()
        self.enc, self.dec, self.pixels = enc, dec, pixels

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = batch["input"]
        out = self.dec(torch.relu(self.enc(h)))
        if self.pixels:
            return {"loss": nn.functional.binary_cross_entropy_with_logits(out, h)}
        return {"loss": nn.functional.mse_loss(torch.relu(out), h)}
