"""Variational autoencoder (Kingma & Welling 2014) for images in [0, 1]: the lectures' dense
VAE (784 -> 512 -> 2-D latent) and a convolutional variant, with a beta on the KL term.

Loss per image: the Bernoulli reconstruction term (binary cross-entropy summed over pixels;
or, with ``reconstruction: mse``, squared errors summed over pixels: the Keras example's
784 x MSE) plus beta times KL(q(z|x) || N(0, 1)) in closed form; ``loss`` is its batch mean
(the negative ELBO for beta = 1, in nats per image). ``forward`` decodes the posterior mean (a
deterministic reconstruction); :meth:`decode` turns latent codes into images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aeflow.models.base import Autoencoder


@dataclass(frozen=True)
class VAEConfig:
    image_size: int = 28
    in_channels: int = 1
    architecture: str = "dense"  # dense | conv
    hidden: int = 512  # dense: hidden units; conv: units between the convolutions and z
    channels: tuple[int, ...] = (32, 64)  # conv: widths of the two stride-2 convolutions
    latent_dim: int = 2
    beta: float = 1.0
    reconstruction: str = "bce"  # bce | mse (pixel count x MSE: squared errors summed)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.architecture not in ("dense", "conv"):
            raise ValueError(
                f"model_params.architecture must be 'dense' or 'conv', got {self.architecture!r}"
            )
        for name in ("image_size", "in_channels", "hidden", "latent_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"model_params.{name} must be >= 1")
        if self.beta < 0:
            raise ValueError("model_params.beta must be >= 0")
        if self.reconstruction not in ("bce", "mse"):
            raise ValueError(
                f"model_params.reconstruction must be 'bce' or 'mse', got {self.reconstruction!r}"
            )
        if self.architecture == "conv" and (len(self.channels) != 2 or self.image_size % 4):
            raise ValueError(
                "model_params: the conv VAE takes two channels and an image_size divisible by 4"
            )


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per sample, summed over latent dimensions."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


class VAE(Autoencoder):
    config_class = VAEConfig
    registry_name = "vae"
    modality = "images"

    def __init__(self, config: VAEConfig) -> None:
        super().__init__(config)
        c, s = config.in_channels, config.image_size
        n = c * s * s
        if config.architecture == "dense":
            self.features = nn.Sequential(nn.Flatten(), nn.Linear(n, config.hidden), nn.ReLU())
            self.expand = nn.Sequential(
                nn.Linear(config.latent_dim, config.hidden), nn.ReLU(), nn.Linear(config.hidden, n)
            )
        else:
            c1, c2 = config.channels
            self.features = nn.Sequential(
                nn.Conv2d(c, c1, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(c1, c2, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(c2 * (s // 4) ** 2, config.hidden),
                nn.ReLU(),
            )
            self.expand = nn.Sequential(
                nn.Linear(config.latent_dim, c2 * (s // 4) ** 2),
                nn.ReLU(),
                nn.Unflatten(1, (c2, s // 4, s // 4)),
                nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
                nn.ReLU(),
                nn.ConvTranspose2d(c1, c, 4, stride=2, padding=1),
            )
        self.mu = nn.Linear(config.hidden, config.latent_dim)
        self.logvar = nn.Linear(config.hidden, config.latent_dim)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.mu(h), self.logvar(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean: the code used for latent pictures and k-NN."""
        return self.posterior(x)[0]

    def decode_logits(self, z: torch.Tensor, size=None) -> torch.Tensor:
        c, s = self.config.in_channels, self.config.image_size
        return self.expand(z).reshape(len(z), c, s, s)

    def decode(self, z: torch.Tensor, size=None) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n: int, labels=None, device="cpu", generator=None, noise=None) -> torch.Tensor:
        """``n`` images decoded from the prior N(0, 1) (or from ``noise``): the VAE as a
        generator."""
        if noise is None:
            noise = torch.randn(n, self.config.latent_dim, device=device, generator=generator)
        return self.decode(noise)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, target = batch["input"], batch["target"].float()
        mu, logvar = self.posterior(x)
        mu, logvar = mu.float(), logvar.float()
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = self.decode_logits(z).float()
        if self.config.reconstruction == "mse":  # the Keras example's pixels x MSE
            rec = (torch.sigmoid(logits) - target).pow(2)
        else:
            rec = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
        rec = rec.flatten(1).sum(dim=1).mean()
        kl = kl_divergence(mu, logvar).mean()
        return {"loss": rec + self.config.beta * kl, "reconstruction": rec, "kl": kl}


@dataclass(frozen=True)
class GalaxyVAEConfig(VAEConfig):
    """The galaxy blog's dense VAE, pixels -> 500 -> 50 (49152 -> 500 -> 50 at the blog's
    128x128x3); ``image_size`` and ``in_channels`` are filled from the data when not set."""

    image_size: int = 64
    in_channels: int = 3
    hidden: int = 500
    latent_dim: int = 50


class GalaxyVAE(VAE):
    config_class = GalaxyVAEConfig
    registry_name = "galaxy_vae"
