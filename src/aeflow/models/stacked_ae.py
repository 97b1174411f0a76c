"""Stacked autoencoder with greedy layer-wise pretraining (Bengio et al. 2007, Hinton &
Salakhutdinov 2006): each encoder layer is first trained as a shallow autoencoder of the
codes of the layer below (which stays frozen), its decoder becomes the mirrored decoder
layer, and then the whole stack is fine-tuned end to end by the common training loop.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import torch
from torch import nn

from aeflow.models.base import Autoencoder

log = logging.getLogger(__name__)


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

    def pretrain_layer(
        self, k: int, codes: torch.Tensor, device, batch_size: int, generator: torch.Generator
    ) -> list[float]:
        """Train ``enc[k]`` and ``dec[k]`` alone as a one-layer autoencoder of ``codes`` (the
        fixed outputs of the layers below): BCE against the pixels for k = 0, MSE against
        the codes above. Other layers are untouched. Returns the mean loss per epoch."""
        enc, dec = self.enc[k], self.dec[k]
        opt = torch.optim.Adam(
            [*enc.parameters(), *dec.parameters()], lr=self.config.pretrain_learning_rate
        )
        losses = []
        for _ in range(self.config.pretrain_epochs):
            order = torch.randperm(len(codes), generator=generator)
            total = 0.0
            for start in range(0, len(codes), batch_size):
                h = codes[order[start : start + batch_size]].to(device)
                out = dec(torch.relu(enc(h)))
                if k == 0:
                    loss = nn.functional.binary_cross_entropy_with_logits(out, h)
                else:
                    loss = nn.functional.mse_loss(torch.relu(out), h)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(h)
            losses.append(total / len(codes))
        return losses

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

    def pretrain(
        self, inputs: torch.Tensor, device, batch_size: int, seed: int = 0
    ) -> list[dict[str, float]]:
        """Greedy layer-wise pretraining on ``inputs`` (N, C, H, W), layer by layer from the
        pixels up. Returns per layer and epoch the mean loss."""
        history: list[dict[str, float]] = []
        if self.config.pretrain_epochs == 0:
            return history
        gen = torch.Generator().manual_seed(seed)
        for k in range(len(self.enc)):
            losses = self.pretrain_layer(k, self.codes(inputs, k, device), device, batch_size, gen)
            for epoch, loss in enumerate(losses, start=1):
                history.append({"layer": k, "epoch": epoch, "loss": loss})
                log.info("pretraining layer %d epoch %d: loss %.4g", k, epoch, loss)
        return history
