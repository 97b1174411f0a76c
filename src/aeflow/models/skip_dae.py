"""The denoising autoencoder with skip connections of the book's Exercise 17.1.

3x3 convolutions, ``same`` padding, ReLU except the two linear output layers:

    Conv32, Conv32 (=c1), MaxPool, Conv64, Conv64 (=c2), MaxPool, Conv64,
    UpSample, Conv64, Conv64, + c2, UpSample, Conv32, Conv32, + c1, Conv32 (linear), Conv1 (linear)

With the default widths this has 213,025 parameters, like the book's Keras model.
Input and output: (batch, channels, H, W) with H, W multiples of 4.

The loss is the book's MSE. ``profile_weight`` and ``profile_slope_weight`` add the squared
error of the radially averaged pattern and of its slope along the radius (around the direct
beam at (H // 2, W // 2)): the form-factor rings that carry the particle size weigh more than
their share of pixels (:mod:`aeflow.evaluation.rings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from torch import nn

from aeflow.evaluation.rings import ring_index
from aeflow.models.base import Autoencoder


@dataclass(frozen=True)
class SkipDAEConfig:
    in_channels: int = 1
    out_channels: int = 1
    width: int = 32  # channels at full resolution; doubled at half and quarter resolution
    kernel_size: int = 3
    profile_weight: float = 0.0  # squared error of the radial profile, added to the MSE
    profile_slope_weight: float = 0.0  # ... and of its slope along the radius

    def __post_init__(self) -> None:
        if self.kernel_size % 2 != 1:
            raise ValueError(
                f"model_params.kernel_size must be odd for 'same' padding, got {self.kernel_size}"
            )
        for name in ("in_channels", "out_channels", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"model_params.{name} must be >= 1")
        for name in ("profile_weight", "profile_slope_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"model_params.{name} must be >= 0")


def _conv(cin: int, cout: int, k: int, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, padding=k // 2)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SkipDAE(Autoencoder):
    config_class = SkipDAEConfig
    registry_name = "skip_dae"
    modality = "images"

    def __init__(self, config: SkipDAEConfig) -> None:
        super().__init__(config)
        w, k = config.width, config.kernel_size
        self.enc1 = nn.Sequential(_conv(config.in_channels, w, k), _conv(w, w, k))
        self.enc2 = nn.Sequential(_conv(w, 2 * w, k), _conv(2 * w, 2 * w, k))
        self.bottleneck = _conv(2 * w, 2 * w, k)
        self.dec2 = nn.Sequential(_conv(2 * w, 2 * w, k), _conv(2 * w, 2 * w, k))
        self.dec1 = nn.Sequential(_conv(2 * w, w, k), _conv(w, w, k))
        self.head = nn.Sequential(
            _conv(w, w, k, relu=False), _conv(w, config.out_channels, k, relu=False)
        )
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.enc1(x)
        c2 = self.enc2(self.pool(c1))
        h = self.bottleneck(self.pool(c2))
        h = self.dec2(self.up(h)) + c2
        h = self.dec1(self.up(h)) + c1
        return self.head(h)

    @property
    def tracked_terms(self) -> tuple[str, ...]:
        if self.config.profile_weight or self.config.profile_slope_weight:
            return ("mse", "profile", "profile_slope")
        return ()

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        output = self(batch["input"]).float()
        target = batch["target"].float()
        mse = nn.functional.mse_loss(output, target)
        if not self.tracked_terms:
            return {"loss": mse}
        po, pt = radial_profiles(output), radial_profiles(target)
        profile = nn.functional.mse_loss(po, pt)
        slope = nn.functional.mse_loss(po.diff(dim=-1), pt.diff(dim=-1))
        c = self.config
        loss = mse + c.profile_weight * profile + c.profile_slope_weight * slope
        return {"loss": loss, "mse": mse, "profile": profile, "profile_slope": slope}


def radial_profiles(images: torch.Tensor) -> torch.Tensor:
    """Mean of (N, C, H, W) images over the rings around (H // 2, W // 2), per channel
    flattened: (N, C * rings), differentiable."""
    n, c, h, w = images.shape
    keep, rings, counts = (t.to(images.device) for t in _ring_tensors(h, w))
    flat = images.reshape(n * c, h * w).index_select(1, keep)
    sums = torch.zeros(n * c, len(counts), device=images.device, dtype=flat.dtype)
    sums.index_add_(1, rings, flat)
    return (sums / counts.to(flat.dtype)).reshape(n, c * len(counts))


@cache
def _ring_tensors(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pixels inside the full rings, their ring, and the pixels per ring (CPU)."""
    index, size = ring_index(h, w)
    inside = index < size
    rings = torch.as_tensor(index[inside])
    return torch.as_tensor(np.flatnonzero(inside)), rings, torch.bincount(rings, minlength=size)
