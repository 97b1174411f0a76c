"""The denoising autoencoder with skip connections of the book's Exercise 17.1.

3x3 convolutions, ``same`` padding, ReLU except the two linear output layers:

    Conv32, Conv32 (=c1), MaxPool, Conv64, Conv64 (=c2), MaxPool, Conv64,
    UpSample, Conv64, Conv64, + c2, UpSample, Conv32, Conv32, + c1, Conv32 (linear), Conv1 (linear)

With the default widths this has 213,025 parameters, like the book's Keras model.
Input and output: (batch, channels, H, W) with H, W multiples of 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aeflow.models.base import Autoencoder


@dataclass(frozen=True)
class SkipDAEConfig:
    in_channels: int = 1
    out_channels: int = 1
    width: int = 32  # channels at full resolution; doubled at half and quarter resolution
    kernel_size: int = 3

    def __post_init__(self) -> None:
        if self.kernel_size % 2 != 1:
            raise ValueError(
                f"model_params.kernel_size must be odd for 'same' padding, got {self.kernel_size}"
            )
        for name in ("in_channels", "out_channels", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"model_params.{name} must be >= 1")


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
